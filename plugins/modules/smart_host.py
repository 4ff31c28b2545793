#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: smart_host
short_description: Manage the smart hosts of an Exchange Server Send connector
version_added: 0.1.0
description:
  - Add or remove smart hosts of one existing Send connector, as the "Add smart host" dialog of the Exchange admin
    center does, and optionally set how the connector authenticates to them.
  - Adding the first smart host to a connector that routes by DNS switches it to smart-host routing in the same
    C(Set-SendConnector) call. Removing the last one is refused unless O(fallback_to_dns=true), which switches the
    connector back to DNS routing in the same call.
  - Smart hosts compare normalised (V([192.168.3.2]) equals V(192.168.3.2), host names in any case, order ignored). A
    run that changes nothing makes one C(Get-SendConnector) call; a change makes one C(Set-SendConnector) call more,
    with C(@{Add=...; Remove=...}) so that other smart hosts are left alone.
  - When O(connector) does not exist, the task fails after three reads, C(Get-SendConnector) by name, again by name on
    the run's domain controller (Active Directory replication), and every connector's name (one pipeline,
    C(Get-SendConnector | Select-Object -ExpandProperty Name); C(Get-SendConnector) alone where the session offers no
    C(Select-Object)); a connector whose name looks like O(connector) but is another name for Exchange is named in a
    warning beside the error. A name with wildcard characters, a GUID-shaped name or one with characters outside ASCII
    is looked up by reading every connector in the first place.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
attributes:
  check_mode:
    support: full
    details: Reads the connector and reports the command that would run without running it.
  diff_mode:
    support: full
    details: Normalised connector settings before and after; a password is never shown.
  idempotent:
    support: partial
    details: With O(update_password=always) the password is sent, and a change reported, on every run.
options:
  connector:
    description:
      - Name of the Send connector. It must exist; create it with M(mailflow.exchange.send_connector).
      - Matched exactly, also when it contains wildcard characters such as C([) or C(*); leading and trailing spaces
        are dropped, as Exchange does when it stores names.
      - Found by its name only, never by GUID, compared as Exchange compares names (see
        O(mailflow.exchange.send_connector#module:name)); a name with bidirectional control or zero-width characters
        is refused.
    type: str
    required: true
  hosts:
    description:
      - Smart hosts, as IP addresses or FQDNs. An IPv6 address with a zone id (V(fe80::1%eth0)) is refused.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) adds the listed smart hosts that are missing; V(absent) removes the listed ones that are there.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), make O(hosts) exactly the connector's smart hosts, removing any other.
    type: bool
    default: false
  fallback_to_dns:
    description:
      - Allow removing the last smart host; the connector then routes by DNS again (C(-DNSRoutingEnabled $true) in the
        same call). Without it, such a task fails and changes nothing.
    type: bool
    default: false
  smart_host_auth_mechanism:
    description:
      - How the connector authenticates to its smart hosts, V(None), V(BasicAuth), V(BasicAuthRequireTLS),
        V(ExchangeServer) or V(ExternalAuthoritative) (any case). Exchange parameter C(-SmartHostAuthMechanism).
      - The same option as O(mailflow.exchange.send_connector#module:smart_host_auth_mechanism). Not to be confused
        with O(auth), how the module itself authenticates to Exchange.
      - V(BasicAuth) and V(BasicAuthRequireTLS) need O(authentication_credential) in the same task (its user name at
        least; the password may be left out when the connector already has that user's credential).
      - The old name C(auth_mechanism) is deprecated and will be removed in version 2.0.0 of the collection.
    type: str
    aliases: [auth_mechanism]
  authentication_credential:
    description:
      - User name and password for V(BasicAuth) and V(BasicAuthRequireTLS). Exchange parameter
        C(-AuthenticationCredential).
    type: dict
    suboptions:
      username:
        description: User name; read back and compared.
        type: str
        required: true
      password:
        description:
          - Password; never shown in output, diff or commands.
          - Needed whenever the credential is sent (a new connector or credential, another user name, or
            O(update_password=always)). Without it the user name is only compared, so the output of
            M(mailflow.exchange.send_connector_info) can be given back as input.
        type: str
  update_password:
    description:
      - V(on_create) sends the password only when the user name changes (or no credential is set yet).
      - V(always) sends it on every run; the task then reports a change unless Exchange answers that nothing was
        modified (the same password again).
    type: str
    choices: [always, on_create]
    default: on_create
  smart_host_profile:
    description:
      - A provider preset, as in M(mailflow.exchange.send_connector) (see its
        O(mailflow.exchange.send_connector#module:smart_host_profile) for what each sets and refuses).
      - With state V(present) it also sets the connector values the provider needs (port, TLS, certificate level,
        authentication, ...); O(smart_host_auth_mechanism) given here wins. Its refusals stop the task before any change.
    type: str
    choices: [m365_mx, m365_submission, amazon_ses, sendgrid, mailgun, google_relay, generic]
seealso:
  - module: mailflow.exchange.send_connector
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Add the smart host 192.168.3.2 to the documented example connector, without authentication
  mailflow.exchange.smart_host:
    server: ex01.contoso.com
    connector: Smart host to Internet
    hosts: [192.168.3.2]
    smart_host_auth_mechanism: None

- name: Make relay1 and relay2 the only smart hosts, with basic authentication inside TLS
  mailflow.exchange.smart_host:
    connector: Smart host to Internet
    hosts: [relay1.contoso.net, relay2.contoso.net]
    exclusive: true
    smart_host_auth_mechanism: BasicAuthRequireTLS
    authentication_credential:
      username: relay-user
      password: "{{ relay_password }}"

- name: Remove the last smart host and route by DNS again
  mailflow.exchange.smart_host:
    connector: Smart host to Internet
    hosts: [relay1.contoso.net, relay2.contoso.net]
    state: absent
    fallback_to_dns: true
"""

RETURN = r"""
smart_hosts:
  description: The connector's smart hosts after the task (normalised).
  returned: success
  type: list
  elements: str
  sample: [192.168.3.2]
connector:
  description: The connector after the task, normalised, with the keys of M(mailflow.exchange.send_connector)'s options.
  returned: success
  type: dict
  sample:
    name: Smart host to Internet
    dns_routing_enabled: false
    smart_hosts: [192.168.3.2]
profile:
  description: The provider preset of O(smart_host_profile) and what it did, as M(mailflow.exchange.send_connector) returns it.
  returned: success and O(smart_host_profile) given
  type: dict
commands:
  description: The Exchange Management Shell lines that ran (or would run in check mode); a credential shows as V((Get-Credential\)).
  returned: always
  type: list
  elements: str
  sample: ["Set-SendConnector -Identity 'Smart host to Internet' -SmartHosts @{Add='192.168.3.2'}"]
errors:
  description: "Every validation error, each as C(path: message), when the task is invalid."
  returned: failure
  type: list
  elements: str
"""

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import engine as _engine
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_manager
# The item's rules and its translation to a send_connectors item live in module_utils (the role uses them too).
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.smart_host import RENAME, argument_spec, translate, validate


def main():
    module = exchange_module(argument_spec(), validate=validate, supports_check_mode=True)
    # translate, then apply: the smart hosts of an existing connector (never created here), named as the user wrote them
    item = _engine.Item.from_params(translate(module.params), rename=dict(RENAME, name="connector"), create=False)

    def work(manager):
        [res] = _engine.apply(manager, [item])
        out = _engine.module_result(res, manager, module._diff)
        out["smart_hosts"] = res["connector"].get("smart_hosts") or []
        return out

    run_with_manager(module, work)


if __name__ == "__main__":
    main()

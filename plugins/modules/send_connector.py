#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: send_connector
short_description: Manage an Exchange Server Send connector
version_added: 0.1.0
description:
  - Create, change or remove a Send connector of Exchange Server 2016, 2019 or Subscription Edition, for example one that
    routes outbound mail through smart hosts, over PowerShell remoting.
  - Only the settings a task gives are managed. Both sides are compared after normalising them, so V(*) equals
    V(SMTP:*;1), V([192.168.3.2]) equals V(192.168.3.2), V(35MB) equals V(35 MB (36,700,160 bytes\)), enum values and
    host names compare in any case, and the order of address spaces, smart hosts and source servers does not matter.
  - The task is validated (JSON Schema, including the parameter rules Exchange documents) before anything is sent; all
    violations are reported at once, each with its path. The connector as it would be after the change is validated
    again after the single read, before the single write.
  - A run that changes an existing connector, or changes nothing, makes exactly one read (C(Get-SendConnector)); a
    change makes one call more (C(Set-) or C(Remove-SendConnector)). Switching between DNS and smart-host routing
    happens in that one call.
  - When the read does not find O(name) (a create, or V(absent) with nothing to remove), every connector's name is read
    once more (one pipeline, C(Get-SendConnector | Select-Object -ExpandProperty Name); where the session offers no
    C(Select-Object), C(Get-SendConnector) alone), after the C(New-SendConnector) (in check mode instead of it), and a
    connector whose name looks like O(name) but is another name for Exchange (Cyrillic or Greek letters, fullwidth
    forms, the Kelvin sign, another Unicode normalisation form) is named in a warning. A name with wildcard characters, a GUID-shaped name or one with
    characters outside ASCII is looked up by reading every connector in the first place, and needs no second read.
    With nothing to remove, the first read does not show the connector, and the run's domain controller is asked once
    more by name before that (Active Directory replication), so such a run makes three reads.
  - Exchange refuses to create a connector whose name only looks like an existing one's when Active Directory counts
    the names as the same (C(Relay-\u212Aelay) with the KELVIN SIGN beside C(Relay-Kelay)); the task then fails
    naming the existing connector, and nothing is changed.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
attributes:
  check_mode:
    support: full
    details: Reads the connector and reports the command that would run without running it.
  diff_mode:
    support: full
    details: Normalised settings before and after; a password is never shown.
  idempotent:
    support: partial
    details:
      - The password of O(authentication_credential) cannot be read back from Exchange. With O(update_password=always)
        it is sent, and the task reports a change, on every run.
      - O(usage) is set only when the connector is created.
options:
  name:
    description:
      - Name of the Send connector; it identifies the connector in the whole organisation.
      - At most 64 characters, without backslash, slash, comma, equals sign, plus sign, angle brackets, semicolon,
        double quote or number sign; leading and trailing spaces are dropped, as Exchange does when it stores the
        name. The name is matched exactly, also when it contains wildcard characters such as C([) or C(*).
      - The connector is found by its name only, never by its GUID or distinguished name (a name that reads as a GUID
        names the connector with that name, not the one with that GUID). Names are compared as Exchange compares them
        (.NET ordinal, ignoring case with one-to-one upper-casing only), so C(Relay-\u212Aelay) (KELVIN SIGN) is not
        C(Relay-Kelay). A name that only looks like an existing connector's (other scripts, fullwidth letters, another
        Unicode normalisation form) gives a warning naming both.
      - A name with bidirectional control characters or zero-width characters (for example U+202E, U+200B, U+FEFF) is
        refused; the client is stricter than Exchange here.
    type: str
    required: true
  state:
    description:
      - V(present) creates the connector or brings the given settings to the wanted values.
      - V(absent) removes it (C(Remove-SendConnector -Confirm:$false)).
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description:
      - V(on_create) sends the password of O(authentication_credential) only when the connector is created or the user
        name changes, so that the task stays idempotent.
      - V(always) sends it on every run (use it to rotate a password); the task then reports a change unless Exchange
        answers that nothing was modified (the same password again).
    type: str
    choices: [always, on_create]
    default: on_create
  smart_host_profile:
    description:
      - A provider preset. It sets the connector values the provider needs (port, O(require_tls), O(tls_auth_level) and
        O(tls_domain), O(smart_host_auth_mechanism), O(smtp_max_messages_per_connection), O(cloud_services_mail_enabled)),
        refuses what the provider cannot work with, before any change, and warns about what a person must know.
      - Options the task gives win over the preset. The result's C(profile) lists the values that came from the preset;
        with C(--diff) the C(after) side names the preset and the changed values it gave (C(smart_host_profile)).
      - V(m365_mx) the tenant's MX endpoint (C(*.mail.protection.outlook.com)) on port 25, TLS with V(DomainValidation) of
        C(mail.protection.outlook.com), no AUTH, O(cloud_services_mail_enabled); warns without O(tls_certificate_name).
      - V(m365_submission) C(smtp.office365.com:587) with V(BasicAuthRequireTLS) and a mailbox user; always warns that
        Microsoft is retiring Basic authentication for client submission (C(550 5.7.30)) and names the alternative, the MX
        endpoint with a certificate-based inbound connector (V(m365_mx)).
      - V(amazon_ses) port 587 (25 and 2587 allowed), TLS, V(BasicAuthRequireTLS); refuses a password shaped like an AWS
        secret access key and temporary (C(ASIA)) keys.
      - V(sendgrid) port 587 (25, 2525), TLS, V(BasicAuthRequireTLS), at most 5000 messages per connection; refuses a
        user name other than C(apikey).
      - V(mailgun) port 587 (25, 2525), TLS, V(BasicAuthRequireTLS); refuses a login without C(@) and a password shaped
        like a Mailgun API key.
      - V(google_relay) C(smtp-relay.gmail.com:587) with TLS; SMTP AUTH only as V(BasicAuthRequireTLS); warns without
        O(fqdn) (Google wants the EHLO name or sender in your domains).
      - V(generic) TLS required with V(CertificateValidation); refuses V(BasicAuth) without TLS.
      - Every preset refuses port 465 and 2465 (implicit TLS; a Send connector speaks STARTTLS only) and warns when a
        smart host is not one of the provider's hosts. The README's preset table gives each provider's source.
    type: str
    choices: [m365_mx, m365_submission, amazon_ses, sendgrid, mailgun, google_relay, generic]
  address_spaces:
    description:
      - Address spaces the connector routes mail for; required to create it.
      - Each is V(*), V(contoso.com), V(*.contoso.com), V(contoso.com;2), V(SMTP:contoso.com;1), or a mapping with
        C(domain), C(type) (default V(SMTP)) and C(cost) (1-100, default 1). An V(X400) space is written as in
        RFC 1685 (V(X400:o=MySite;p=MyOrg;a=adatum;c=us;1)); V(--) is for EdgeSync connectors only and refused.
      - Another type names the addresses of a non-SMTP system, for example V(NOTES:Domain/Org;2). Its type is letters,
        digits and C(-), its space any text, and a space that contains C(;) needs the cost at the end. Such a connector
        needs O(smart_hosts) and O(dns_routing_enabled=false).
      - A value that looks like a URL is refused as a likely mistake, although Exchange would store it as an address
        space of that type. That is one with C(//) after the type (V(http://contoso.com)) or whose type is a URL scheme
        (C(http), C(https), C(ftp), C(ftps), C(sftp), C(file), C(ldap), C(ldaps), C(mailto), C(ws), C(wss), C(data),
        C(urn), in any case).
      - A list sets the whole list; a mapping with C(add) and/or C(remove) lists changes only those entries.
      - An address space (type and domain) appears once per connector. Added with another cost, it replaces the one
        the connector has; removed, it goes whatever its cost.
      - Exchange parameter C(-AddressSpaces).
    type: raw
  usage:
    description:
      - Usage type V(Custom), V(Internal), V(Internet) or V(Partner) (any case). It only sets a default maximum message
        size.
      - Used only when the connector is created. Exchange can neither change nor show it later, so for an existing
        connector it is ignored (not compared, no warning); to change it, remove the connector and create it again.
      - Exchange parameter C(-Usage).
    type: str
  dns_routing_enabled:
    description:
      - V(true) routes by DNS MX records, V(false) through O(smart_hosts).
      - When O(smart_hosts) are given and this is not, it is set to V(false) in the same call, as Exchange requires.
      - Creating a connector without O(smart_hosts) needs V(true) stated. Exchange would route it by DNS anyway, and
        with address space V(*) that is direct delivery to the whole Internet, so the modules do not take it as a
        default (the client is stricter than Exchange here). Removing the last smart host of a connector needs V(true)
        as well; the connector then routes by DNS in the same call.
      - Exchange parameter C(-DNSRoutingEnabled).
    type: bool
  smart_hosts:
    description:
      - Smart hosts (IP addresses or FQDNs) the connector relays mail through. V([192.168.3.2]) is accepted as well.
        An IPv6 address with a zone id (V(fe80::1%eth0)) is refused (a zone means nothing to the Exchange servers).
      - A list sets the whole list; a mapping with C(add) and/or C(remove) lists is sent as C(@{Add=...; Remove=...}).
      - Exchange parameter C(-SmartHosts).
    type: raw
  smart_host_auth_mechanism:
    description:
      - How the connector authenticates to its smart hosts, V(None), V(BasicAuth), V(BasicAuthRequireTLS),
        V(ExchangeServer) or V(ExternalAuthoritative) (any case).
      - V(BasicAuth) and V(BasicAuthRequireTLS) need O(authentication_credential) in the same task (its user name at
        least; the password may be left out when the connector already has that user's credential).
      - Exchange parameter C(-SmartHostAuthMechanism).
    type: str
  authentication_credential:
    description:
      - User name and password the connector sends to its smart hosts. The user name is read back and compared; the
        password is not readable, see O(update_password).
      - Exchange parameter C(-AuthenticationCredential).
    type: dict
    suboptions:
      username:
        description: User name.
        type: str
        required: true
      password:
        description:
          - Password; never shown in output, diff or commands.
          - Needed whenever the credential is sent (a new connector or credential, another user name, or
            O(update_password=always)). Without it the user name is only compared, so the output of
            M(mailflow.exchange.send_connector_info) can be given back as input.
        type: str
  source_transport_servers:
    description:
      - Mailbox servers that host the connector, by name. A list sets the whole list; a mapping with C(add) and/or
        C(remove) changes only those.
      - Exchange parameter C(-SourceTransportServers).
    type: raw
  is_scoped_connector:
    description:
      - Whether only transport servers in the source servers' AD site may use the connector. Exchange parameter
        C(-IsScopedConnector).
    type: bool
  port:
    description:
      - TCP port used to reach the smart hosts, 0-65535. Exchange parameter C(-Port).
    type: int
  fqdn:
    description:
      - Name the connector uses in EHLO/HELO and to pick its TLS certificate; an empty string clears it (V(.) is
        refused, it is no host name).
      - Exchange parameter C(-Fqdn).
    type: str
  require_tls:
    description:
      - Whether every message must go out over TLS. Exchange parameter C(-RequireTLS).
    type: bool
  ignore_starttls:
    description:
      - Whether to ignore the STARTTLS offer of the remote server; must be V(false) with O(require_tls=true).
      - Exchange parameter C(-IgnoreSTARTTLS).
    type: bool
  tls_auth_level:
    description:
      - V(EncryptionOnly), V(CertificateValidation) or V(DomainValidation) (any case); an empty string clears it.
      - Needs O(require_tls=true) and O(ignore_starttls=false).
      - Exchange parameter C(-TlsAuthLevel).
    type: str
  tls_domain:
    description:
      - Domain (V(contoso.com) or V(*.contoso.com)) the smart host certificate must match with V(DomainValidation);
        an empty string clears it. V(*) is refused (it would match every certificate; the client is stricter than
        Exchange here). Exchange parameter C(-TlsDomain).
    type: str
  tls_certificate_name:
    description:
      - Certificate the connector presents, as C(<I>issuer<S>subject); an empty string clears it.
      - Exchange parameter C(-TlsCertificateName).
    type: str
  max_message_size:
    description:
      - Largest message the connector sends, as bytes, a number with B, KB, MB, GB or TB (V(35MB)), or V(unlimited).
      - Exchange rounds bytes up to a whole KB; the comparison does the same. Exchange parameter C(-MaxMessageSize).
    type: raw
  protocol_logging_level:
    description:
      - V(None) or V(Verbose) (any case). Exchange parameter C(-ProtocolLoggingLevel).
    type: str
  enabled:
    description:
      - Whether the connector is used for routing. Exchange parameter C(-Enabled).
    type: bool
  comment:
    description:
      - Free text; an empty string clears it. Exchange parameter C(-Comment).
    type: str
  connection_inactivity_timeout:
    description:
      - Idle time before the connector closes a connection, as C([d.]hh:mm:ss) or a number of seconds, from
        V(00:00:01) to V(1.00:00:00). Exchange parameter C(-ConnectionInactivityTimeOut).
    type: raw
  smtp_max_messages_per_connection:
    description:
      - Messages sent over one connection (at least 1). Exchange parameter C(-SmtpMaxMessagesPerConnection).
    type: int
  force_helo:
    description:
      - Whether to send HELO instead of EHLO. Exchange parameter C(-ForceHELO).
    type: bool
  domain_secure_enabled:
    description:
      - Mutual TLS domain security; needs DNS routing and address spaces without wildcards. Exchange parameter
        C(-DomainSecureEnabled).
    type: bool
  error_policies:
    description:
      - V(Default), or any of V(DowngradeDnsFailures), V(DowngradeCustomFailures), V(UpgradeCustomFailures).
      - Exchange parameter C(-ErrorPolicies).
    type: list
    elements: str
  use_external_dns_servers_enabled:
    description:
      - Whether to use the external DNS servers of the transport service. Exchange parameter
        C(-UseExternalDNSServersEnabled).
    type: bool
  source_ip_address:
    description:
      - Local IPv4 address the connector sends from (Edge Transport servers only). Exchange parameter
        C(-SourceIPAddress).
    type: str
  frontend_proxy_enabled:
    description:
      - Whether outbound mail is proxied through the Front End Transport service. Exchange parameter
        C(-FrontendProxyEnabled).
    type: bool
  cloud_services_mail_enabled:
    description:
      - Hybrid header handling for mail to Exchange Online; use it only when Microsoft tells you to.
      - Exchange parameter C(-CloudServicesMailEnabled).
    type: bool
  connector_type:
    description:
      - V(Default), or V(XPremises) for a connector to Microsoft 365 (any case). Exchange parameter C(-ConnectorType).
    type: str
seealso:
  - module: mailflow.exchange.smart_host
  - module: mailflow.exchange.send_connector_info
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Route all outbound mail through the smart host 192.168.3.2 (the documented Exchange example)
  mailflow.exchange.send_connector:
    server: ex01.contoso.com
    name: Smart host to Internet
    address_spaces: ['*']
    usage: Custom
    dns_routing_enabled: false
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None

- name: Authenticate to the smart host, only inside TLS, from two source servers
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    smart_hosts: [relay.contoso.net]
    smart_host_auth_mechanism: BasicAuthRequireTLS
    authentication_credential:
      username: relay-user
      password: "{{ relay_password }}"
    source_transport_servers: [EX01, EX02]
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: relay.contoso.net
    max_message_size: 35MB

- name: Rotate the smart host password
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    authentication_credential:
      username: relay-user
      password: "{{ new_relay_password }}"
    update_password: always

- name: Deliver mail for one partner domain directly by DNS (a create without smart hosts must say so)
  mailflow.exchange.send_connector:
    name: Partner by DNS
    address_spaces: ['partner.example;5']
    dns_routing_enabled: true
    require_tls: true

- name: Add one address space and one smart host, keep the others
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces:
      add: ['fabrikam.com;2']
    smart_hosts:
      add: [192.168.3.3]

- name: Set the connection once for every module of the collection
  module_defaults:
    group/mailflow.exchange.exchange:
      server: ex01.contoso.com
      auth: kerberos
      domain_controller: dc01.contoso.com
  block:
    - name: Remove a connector
      mailflow.exchange.send_connector:
        name: Old relay
        state: absent
"""

RETURN = r"""
connector:
  description:
    - The connector after the task, normalised, with the same keys as the module's options (and C(name)), so it can be
      given back as input. Empty after O(state=absent).
    - In check mode, the state the change would produce.
  returned: always
  type: dict
  sample:
    name: Smart host to Internet
    address_spaces: ['SMTP:*;1']
    dns_routing_enabled: false
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None
    port: 25
    max_message_size: 36700160
    connection_inactivity_timeout: '00:10:00'
profile:
  description: The provider preset of O(smart_host_profile), when given, and what it did.
  returned: success and O(smart_host_profile) given
  type: dict
  contains:
    name:
      description: The preset.
      type: str
    provider:
      description: The provider's name.
      type: str
    source:
      description: Where the provider's rules come from.
      type: str
    set:
      description: The settings whose values came from the preset (the task did not give them).
      type: dict
    findings:
      description: What the preset found (also shown as warnings), each with C(severity), C(code), C(message) and C(hint).
      type: list
      elements: dict
  sample:
    name: sendgrid
    provider: Twilio SendGrid SMTP relay
    set: {port: 587, require_tls: true, smtp_max_messages_per_connection: 5000}
    findings: []
commands:
  description:
    - The Exchange Management Shell lines that ran (or, in check mode, would run). A credential is shown as
      V((Get-Credential\)).
  returned: always
  type: list
  elements: str
  sample:
    - New-SendConnector -Name 'Smart host to Internet' -AddressSpaces 'SMTP:*;1' -Usage Custom -DNSRoutingEnabled $false
      -SmartHosts '192.168.3.2' -SmartHostAuthMechanism None
errors:
  description: "Every validation error, each as C(path: message), when the task is invalid."
  returned: failure
  type: list
  elements: str
  sample: ["smart_hosts[0]: 'bad host!' is neither an IP address nor a host name"]
"""

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import engine as _engine
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_manager
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import implied


def argument_spec():
    spec = {key: dict(val) for key, val in _connectors.COMMON_SPEC.items()}  # shared with send_connectors' items
    spec.update(_options.argument_spec())
    return spec


def validate(params):
    """The task's problems (all of them, paths and rules in words) before any call."""
    name = params.get("name")
    # state absent checks the name only (the settings are ignored): an empty name would make
    # Get-SendConnector return every connector.
    if params.get("state") == "absent":
        return _schema.validate({"name": name}, "task")
    resolved = _connectors.with_preset(params)
    return resolved.errors + _schema.validate(dict(implied(resolved.task), name=name), "task")


def main():
    module = exchange_module(argument_spec(), validate=validate, supports_check_mode=True)
    item = _engine.Item.from_params(module.params)

    def work(manager):
        [res] = _engine.apply(manager, [item])
        return _engine.module_result(res, manager, module._diff)

    run_with_manager(module, work)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: send_connector_info
short_description: Read Exchange Server Send connectors
version_added: 0.1.0
description:
  - Return all Send connectors of the organisation, or the one named O(name), with one C(Get-SendConnector) call.
  - Each connector has the same keys as the options of M(mailflow.exchange.send_connector), normalised the same way,
    so it can be given back to that module as input; C(guid), C(identity) and C(distinguished_name) are added.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
  - mailflow.exchange.exchange.attributes_read_only
options:
  name:
    description:
      - Name of one Send connector. Without it, every Send connector is returned.
      - A name that does not exist returns an empty list; it is not an error. An empty name is refused (Exchange would
        return every connector).
    type: str
  clixml_path:
    description:
      - Read the connectors from this file instead of from Exchange. The file is what
        C(Get-SendConnector | Export-Clixml -Path FILE) writes (UTF-8 or UTF-16), so an administrator without remote
        PowerShell rights can hand over an export for review.
      - The file is read on the host that runs the module (the controller with a local connection). No connection
        is made; O(server) and the other connection options are not used.
      - O(name) selects the connector of that name, compared as on a connection (by name only, never by GUID;
        wildcards are plain characters). The connectors come back in the file's order, with the same keys and values
        as read from Exchange.
      - A file that cannot be read, is not CLIXML, or holds an object that is not a Send connector fails the task
        with a message that names the file.
    type: path
seealso:
  - module: mailflow.exchange.send_connector
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Read the connector of the documented smart host example
  mailflow.exchange.send_connector_info:
    server: ex01.contoso.com
    name: Smart host to Internet
  register: found

- name: Show its smart hosts
  ansible.builtin.debug:
    msg: "{{ found.connectors[0].smart_hosts }}"
  when: found.connectors | length > 0

- name: Read every Send connector
  mailflow.exchange.send_connector_info:
    server: ex01.contoso.com
  register: all_connectors

# On the Exchange server: Get-SendConnector | Export-Clixml -Path C:\Temp\GetSendConnector.xml
# (the file of this example is microsoft/CSS-Exchange's HealthChecker test data GetSendConnector.xml);
# the connector it returns is the sample under RETURN.
- name: Review the Send connectors of an export, without a connection to Exchange
  mailflow.exchange.send_connector_info:
    clixml_path: /srv/exchange-exports/GetSendConnector.xml
  register: exported

- name: Check the export against the settings a task would ask for
  ansible.builtin.assert:
    that:
      - exported.connectors[0].name == 'Mail to O365'
      - exported.connectors[0].smart_hosts == ['microsoft-com.mail.protection.outlook.com']
      - exported.connectors[0].max_message_size == 36700160
      - exported.connectors[0].tls_certificate_name == '<I>CN=localhost<S>CN=localhost'
"""

RETURN = r"""
connectors:
  description:
    - The connectors, each with the keys of M(mailflow.exchange.send_connector)'s options (except C(usage), which
      Exchange does not show, and the password) plus C(name), C(guid), C(identity) and C(distinguished_name).
  returned: always
  type: list
  elements: dict
  sample:
    # send_connector_info with clixml_path on GetSendConnector.xml (microsoft/CSS-Exchange HealthChecker test data)
    - name: Mail to O365
      guid: 0292c782-9804-4d8b-ae0e-e1c7ab90852b
      identity: Mail to O365
      distinguished_name: >-
        CN=Mail to O365,CN=Connections,CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups,CN=Exchange
        Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=First Organization,CN=Microsoft
        Exchange,CN=Services,CN=Configuration,DC=exlab,DC=dom
      address_spaces: ['SMTP:*;1']
      dns_routing_enabled: false
      smart_hosts: [microsoft-com.mail.protection.outlook.com]
      smart_host_auth_mechanism: None
      authentication_credential: null
      source_transport_servers: [WIN-CTD3L0RGEN4]
      is_scoped_connector: false
      port: 25
      fqdn: null
      require_tls: false
      ignore_starttls: false
      tls_auth_level: null
      tls_domain: null
      tls_certificate_name: <I>CN=localhost<S>CN=localhost
      max_message_size: 36700160
      protocol_logging_level: None
      enabled: true
      comment: null
      connection_inactivity_timeout: '00:10:00'
      smtp_max_messages_per_connection: 20
      force_helo: false
      domain_secure_enabled: false
      error_policies: [Default]
      use_external_dns_servers_enabled: false
      source_ip_address: 0.0.0.0
      frontend_proxy_enabled: false
      cloud_services_mail_enabled: true
      connector_type: Default
"""

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.manager import ConnectorManager
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session


def connector_info(raw):
    info = {"name": raw.get("Name")}
    info.update(_options.identity_from_exchange(raw))
    info.update(_options.from_exchange(raw))
    return info


def validate(params):
    name = params.get("name")
    if name is not None and not name.strip():
        # Get-SendConnector treats an empty identity like none and returns every connector (docs/exchange-rules.md 1.3).
        return ["name: must not be empty or blank; leave name out to list every connector"]
    problem = _values.check_name(name)
    return ["name: %s" % problem] if problem else []


def matching(found, name):
    """The connectors named ``name`` (by name only, as Exchange compares names: _identity); all without a name."""
    if name is None:
        return list(found)
    return _identity.find(found, name)


def main():
    module = exchange_module({"name": {"type": "str"}, "clixml_path": {"type": "path"}}, validate=validate,
                             supports_check_mode=True)
    if module.params.get("name") is not None:
        module.params["name"] = module.params["name"].strip()  # as Exchange stores it
    name = module.params.get("name")

    if module.params.get("clixml_path"):
        try:
            found = _wire.send_connectors_file(module.params["clixml_path"])
        except ValueError as err:
            module.fail_json(msg=str(err))
        module.exit_json(changed=False, connectors=[connector_info(raw) for raw in matching(found, name)])

    def work(session):
        manager = ConnectorManager(session, module.params.get("domain_controller"))
        if name is None:
            return {"changed": False, "connectors": [connector_info(raw) for raw in manager.get_raw(None)]}
        # -Identity is matched as a wildcard and takes a GUID-shaped name as a GUID: such a name is read with all
        # and matched here, by name only.
        wild = _identity.needs_read_all(name)
        found = matching(manager.get_raw(None if wild else name), name)
        return {"changed": False, "connectors": [connector_info(raw) for raw in found]}

    run_with_session(module, work)


if __name__ == "__main__":
    main()

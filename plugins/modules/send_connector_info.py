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
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the connector.
    support: full
    details: Only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second run reports no change.
    support: full
options:
  name:
    description:
      - Name of one Send connector. Without it, every Send connector is returned.
      - A name that does not exist returns an empty list; it is not an error. An empty name is refused (Exchange would
        return every connector).
    type: str
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
    - name: Smart host to Internet
      guid: 382bea8f-fb9a-4bc1-a16f-ee14abbb09b2
      identity: Smart host to Internet
      address_spaces: ['SMTP:*;1']
      dns_routing_enabled: false
      smart_hosts: [192.168.3.2]
      smart_host_auth_mechanism: None
      authentication_credential: null
      source_transport_servers: [EX01]
      port: 25
      max_message_size: 36700160
      connection_inactivity_timeout: '00:10:00'
      error_policies: [Default]
"""

from ansible_collections.mailflow.exchange.plugins.module_utils import _options, _values
from ansible_collections.mailflow.exchange.plugins.module_utils._manager import ConnectorManager
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session


def connector_info(raw):
    info = {"name": raw.get("Name")}
    info.update(_options.identity_from_exchange(raw))
    info.update(_options.from_exchange(raw))
    return info


def validate(params):
    name = params.get("name")
    if name is not None and not name.strip():
        # Get-SendConnector treats an empty identity like none and returns every connector (contract 1.3).
        return ["name: must not be empty or blank; leave name out to list every connector"]
    problem = _values.check_name(name)
    return ["name: %s" % problem] if problem else []


def main():
    module = exchange_module({"name": {"type": "str"}}, validate=validate, supports_check_mode=True)
    if module.params.get("name") is not None:
        module.params["name"] = module.params["name"].strip()  # as Exchange stores it

    def work(session):
        manager = ConnectorManager(session, module.params.get("domain_controller"))
        name = module.params.get("name")
        if name is None:
            found = manager.get_raw(None)
        else:
            # -Identity is matched as a wildcard: a name with [ ] * ? is read with all and matched exactly here.
            wild = any(c in name for c in _values.WILDCARDS)
            found = [raw for raw in manager.get_raw(None if wild else name)
                     if name.lower() in (str(raw.get("Name", "")).lower(), str(raw.get("Guid", "")).lower())]
        return {"changed": False, "connectors": [connector_info(raw) for raw in found]}

    run_with_session(module, work)


if __name__ == "__main__":
    main()

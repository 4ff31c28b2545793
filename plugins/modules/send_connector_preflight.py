#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: send_connector_preflight
short_description: Check Send connectors before a change - as they will be, their smart hosts and their routes
version_added: 0.6.0
description:
  - The checks to make before changing Send connectors, in one module run and one Exchange session, changing nothing.
  - Works out every connector as M(mailflow.exchange.send_connectors) would leave it (the same items, the same check
    mode - one C(Get-SendConnector)), so a setting the items do not give is the connector's own.
  - Probes every distinct smart host of those connectors from the machine that runs the module, with the settings
    its connector will have, as M(mailflow.exchange.smtp_probe) does (DNS, SMTP, STARTTLS, the certificate against
    C(tls_auth_level) and C(tls_domain), AUTH, SIZE). A smart host used by several connectors with the same settings
    is probed once.
  - Checks the Exchange side of every route as M(mailflow.exchange.send_connector_route) does (the certificate
    C(tls_certificate_name) on each source server, the source servers, C(max_message_size) against the
    organisation's C(MaxSendSize) and the smart hosts' SIZE from the probe, the front-end proxy); the probe runs
    while Exchange answers those reads.
  - The three results are those of the three modules, under RV(results), RV(probe) and RV(route); the findings of
    both checks have a C(severity), a C(message) and a C(hint).
  - The role C(mailflow.exchange.smart_host_routing) runs it as its preflight and stops before any change on a finding
    whose severity is in C(smart_host_routing_fail_on).
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
  - mailflow.exchange.exchange.attributes_read_only
options:
  connectors:
    description:
      - The connectors as O(mailflow.exchange.send_connectors#module:connectors) takes them, with the same options
        and the same checks (the whole list is checked before anything is read).
      - Nothing is changed, whatever each item's O(mailflow.exchange.send_connectors#module:connectors[].state).
    type: list
    elements: dict
    required: true
  probe:
    description:
      - How the smart hosts are probed (the options of M(mailflow.exchange.smtp_probe) that are not the connector's
        own settings).
    type: dict
    default: {}
    suboptions:
      enabled:
        description:
          - V(false) leaves the smart hosts alone; the route checks then know no smart host SIZE.
        type: bool
        default: true
      ca_cert:
        description:
          - PEM file of the CA certificates that validate the smart hosts' certificates (for the connectors'
            C(tls_auth_level) checks). Without it, the system's trust store is used.
        type: path
      timeout:
        description: Seconds for each connection step of a probe (above 0, at most 3600).
        type: float
        default: 10
      connect_addresses:
        description:
          - Smart host name to the address to connect to instead of resolving the name (a test system, a
            split-horizon DNS). The name is still what the certificate is checked against.
        type: dict
        default: {}
      helo_name:
        description:
          - The EHLO name for connectors without an C(fqdn) of their own. Defaults to this machine's FQDN.
        type: str
      login:
        description:
          - With a BasicAuth connector whose item gives the password, test AUTH LOGIN with it (V(false) checks
            only that the smart host offers AUTH).
        type: bool
        default: true
  fail_on:
    description:
      - Fail the task when a probe or route finding of one of these severities is found (all results are returned
        either way). The role passes V([]) and decides itself.
    type: list
    elements: str
    choices: [error, warning, info]
    default: [error]
notes:
  - Reads only. The probe connects to the smart hosts (and may log in with the item's credential, see
    O(probe.login)); nothing is sent through them.
seealso:
  - module: mailflow.exchange.send_connectors
  - module: mailflow.exchange.smtp_probe
  - module: mailflow.exchange.send_connector_route
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Check two connectors before creating them
  mailflow.exchange.send_connector_preflight:
    server: ex01.contoso.com
    connectors:
      - name: Smart host to Internet
        address_spaces: ["SMTP:*;1"]
        smart_hosts: [relay.contoso.net]
        source_transport_servers: [EX01, EX02]
        require_tls: true
        tls_auth_level: DomainValidation
        tls_domain: relay.contoso.net
      - name: Partner relay
        address_spaces: [fabrikam.com]
        smart_hosts: [relay.contoso.net]
        port: 587
    probe:
      ca_cert: /etc/pki/contoso-ca.pem
  register: preflight

- name: Show every finding with its hint
  ansible.builtin.debug:
    msg: "[{{ item.severity }}] {{ item.label | default(item.connector) }}: {{ item.message }} (hint: {{ item.hint }})"
  loop: "{{ preflight.probe.findings | default([]) + preflight.route.findings | default([]) }}"
"""

RETURN = r"""
results:
  description:
    - One entry per item, as M(mailflow.exchange.send_connectors) returns it in check mode - C(connector) is the
      connector as it will be, C(commands) what would run.
  returned: when the connectors were read
  type: list
  elements: dict
commands:
  description: The Exchange Management Shell lines a change would run.
  returned: when the connectors were read
  type: list
  elements: str
probe:
  description:
    - M(mailflow.exchange.smtp_probe)'s result for the smart hosts - C(probes) (one per target, with C(label) naming the
      connectors), C(findings) (each with C(severity), C(code), C(message), C(hint), C(label)) and C(summary).
    - Not returned when nothing was probed (no connector routes through smart hosts, or O(probe.enabled=false)).
  returned: when a smart host was probed
  type: dict
route:
  description:
    - M(mailflow.exchange.send_connector_route)'s result for the connectors as they will be (C(findings),
      C(connectors), C(servers), C(max_send_size), C(cmdlets)).
    - When its reads failed, only C(failed) (V(true)) and C(msg).
  returned: when the connectors were read
  type: dict
"""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import engine as _engine
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_manager
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as _checks
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import route as _route
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import run as _probe
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import targets as _targets
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import ExchangeError, TransportError

SEVERITIES = ["error", "warning", "info"]


def argument_spec():
    return {
        "connectors": {"type": "list", "elements": "dict", "required": True, "options": _connectors.item_argument_spec()},
        "probe": {"type": "dict", "default": {}, "options": {
            "enabled": {"type": "bool", "default": True},
            "ca_cert": {"type": "path"},
            "timeout": {"type": "float", "default": 10},
            "connect_addresses": {"type": "dict", "default": {}},
            "helo_name": {"type": "str"},
            "login": {"type": "bool", "default": True},
        }},
        "fail_on": {"type": "list", "elements": "str", "choices": SEVERITIES, "default": ["error"]},
    }


def _input_problems(params):
    """The items' rules (as send_connectors), then the probe's own options (as smtp_probe words them)."""
    problems = _connectors.validate_items(params["connectors"])[1] if isinstance(params.get("connectors"), list) else []
    probe = params.get("probe") if isinstance(params.get("probe"), dict) else {}
    if probe.get("ca_cert"):
        problems.extend("probe." + p for p in _probe.ca_cert_problems(probe["ca_cert"]))
    timeout = probe.get("timeout")
    if isinstance(timeout, (int, float)) and not 0 < timeout <= _probe.MAX_TIMEOUT:
        problems.append("probe.timeout: must be a number of seconds above 0 and at most %g" % _probe.MAX_TIMEOUT)
    if probe.get("helo_name"):
        problems.extend(_checks.helo_name("probe.helo_name", probe["helo_name"]))
    for host, address in (probe.get("connect_addresses") or {}).items():
        if not isinstance(address, str) or not address.strip():
            problems.append("probe.connect_addresses.%s: must be a host name or an IP address" % host)
    return problems


def probe_params(targets, probe):
    """smtp_probe's parameters for ``targets``, through smtp_probe's own argument spec and checks."""
    raw = {"targets": targets, "ca_cert": probe.get("ca_cert"), "timeout": probe["timeout"],
           "helo_name": probe.get("helo_name"), "fail_on": []}
    checked = ArgumentSpecValidator(_probe.argument_spec(), **_probe.CONSTRAINTS).validate(raw)
    problems = [str(err) for err in checked.errors] + (_probe.validate(checked.validated_parameters)[1] if not checked.errors else [])
    if problems:
        raise ExchangeError("the smart hosts of the connectors as they will be cannot be probed: %s" % "; ".join(problems))
    return checked.validated_parameters


def main():
    module = exchange_module(argument_spec(), validate=_input_problems, supports_check_mode=True,
                             label=lambda problems, raw: _connectors.labelled(problems, raw.get("connectors")))
    params = module.params
    items = [_engine.Item.from_params(item, "connectors[%d]" % index) for index, item in enumerate(params["connectors"])]
    probe = params["probe"]

    def work(manager):
        results = _engine.apply(manager, items)  # the manager is in check mode: nothing is written
        out = {"changed": False, "results": results, "commands": list(manager.commands)}
        targets = _targets.probe_targets(results, params["connectors"], probe["connect_addresses"], probe.get("helo_name"),
                                         probe["login"]) if probe["enabled"] else []
        running = None
        if targets:
            try:
                running = _probe.start(probe_params(targets, probe))  # probes while Exchange answers the route's reads
            except ExchangeError as err:  # reported like a probe that could not run (smtp_probe's failure)
                out["probe"] = {"changed": False, "msg": err.message, "probes": [], "findings": []}
        present = [r["connector"] for r in results if r.get("state") == "present"]
        try:
            out["route"] = _route.check(manager.session.run, present, lambda: running.result()[1]["probes"] if running else [])
        except TransportError:
            raise  # the session is gone: the run fails (and its pool is not kept)
        except ExchangeError as err:  # a read Exchange refused (e.g. RBAC): the plan and the probe still count
            out["route"] = {"failed": True, "msg": err.message}
        if running:
            out["probe"] = running.result()[1]
        messages = []
        if (out.get("probe") or {}).get("msg"):
            messages.append(out["probe"]["msg"])
        failing = [f for f in (out.get("probe") or {}).get("findings", []) if f["severity"] in params["fail_on"]]
        if failing:
            messages.append("%d smart host finding(s) with severity in fail_on: %s" % (len(failing), "; ".join(
                "%s: %s %s: %s" % (_probe.where(f), f["severity"], f["code"], f["message"]) for f in failing)))
        if out["route"].get("failed"):
            messages.append("the Exchange side of the routes could not be checked: %s" % out["route"]["msg"])
        else:
            route_failing = _route.failing(out["route"]["findings"], params["fail_on"])
            if route_failing:
                messages.append(route_failing)
        if messages:
            out["failed"] = True
            out["msg"] = "send_connector_preflight: " + "; ".join(messages)
        return out

    run_with_manager(module, work, check_mode=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: send_connector_route
short_description: Check the Exchange side of Send connector routes before a change
version_added: 0.4.0
description:
  - Checks what a Send connector needs on the Exchange side, per connector and per source server, and reports
    findings in the style of M(mailflow.exchange.smtp_probe) (which checks the smart host's side).
  - The certificate C(tls_certificate_name) names, on every source server - missing, outside its
    validity period or ending within 30 days (warning) or 60 days (info), not enabled for SMTP, without its
    private key, status other than Valid, or several matching certificates (a renewal that left the old one; the
    finding names the one Exchange uses, the longest-lived).
  - Each source server - missing from the organisation, not a Mailbox server, or, for a scoped connector
    (C(is_scoped_connector)), in another Active Directory site than the first source server.
  - C(max_message_size) above the organisation's C(MaxSendSize) (C(Get-TransportConfig)), or above
    the smart host's SIZE divided by 1.33 (Exchange's content conversion can grow a message by a third). The
    SIZE comes from O(smart_host_sizes) or O(probes).
  - C(frontend_proxy_enabled) - names the Mailbox servers whose Front End Transport service the
    mail will leave from.
  - Each finding names the text the administrator would otherwise meet later, for example the SmtpSend protocol
    log line C(TLS negotiation failed with error UnknownCredentials) and the queue's
    C(421 4.4.1 Connection timed out).
  - One session; the reads are per run, not per connector - C(Get-ExchangeServer), C(Get-TransportConfig),
    C(Get-TransportService), and C(Get-ExchangeCertificate -Server) once per distinct source server of a
    connector that sets a C(tls_certificate_name) (so 4 cmdlets when those connectors share one source server,
    whatever their number). Without O(connectors), one C(Get-SendConnector) more reads every connector.
  - Only reads. The role C(mailflow.exchange.smart_host_routing) runs it in its preflight and stops before any
    change on an error finding.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
  - mailflow.exchange.exchange.attributes_read_only
options:
  connectors:
    description:
      - The connectors to check, each a mapping with the keys of M(mailflow.exchange.send_connector)'s options, as
        M(mailflow.exchange.send_connector_info) returns them or as C(results[].connector) of
        M(mailflow.exchange.send_connectors) in check mode (the connector as it will be). These keys are used;
        others are ignored.
      - C(name) (required) - the connector's name, used in the findings.
      - C(source_transport_servers) - the source servers. Empty or not given on a connector that does not exist
        yet - Exchange will use the server that runs C(New-SendConnector), which behind remote-PowerShell proxying
        is not necessarily the one O(server) names; an C(info) finding says so.
      - C(tls_certificate_name) - C(<I>issuer<S>subject) of the certificate the source servers present in STARTTLS.
      - C(max_message_size) - bytes, a size such as C(35MB), or C(unlimited).
      - C(is_scoped_connector), C(frontend_proxy_enabled) - booleans.
      - C(smart_hosts) - matched against O(smart_host_sizes) and O(probes).
      - Without O(connectors), every Send connector of the organisation is read (one C(Get-SendConnector)) and
        checked as it is.
    type: list
    elements: dict
  smart_host_sizes:
    description:
      - The SIZE each smart host advertises in its EHLO answer, in bytes (V(0) for no limit), keyed by smart host.
    type: dict
    default: {}
  probes:
    description:
      - The C(probes) list of a M(mailflow.exchange.smtp_probe) result; each entry's C(host) and the SIZE of its
        EHLO answer (after TLS when there was TLS) are used like O(smart_host_sizes) (which wins for a host in both).
    type: list
    elements: dict
    default: []
  fail_on:
    description:
      - Fail the task when a finding of one of these severities is reported (the findings are returned either way).
      - The role passes V([]) and decides itself.
    type: list
    elements: str
    choices: [error, warning, info]
    default: [error]
notes:
  - The certificate checks read the certificate store of every source server through C(Get-ExchangeCertificate
    -Server), which needs a role that may run it (Organization Management or Server Management; View-Only
    Organization Management does not include it).
  - Exchange validates C(TlsCertificateName) against the first source server only when the connector is saved;
    every source server presents the certificate when it sends, so every one is checked here.
seealso:
  - module: mailflow.exchange.smtp_probe
  - module: mailflow.exchange.send_connectors
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Check every Send connector's route as it is now
  mailflow.exchange.send_connector_route:
    server: ex01.contoso.com
  register: route

- name: Check the connector a change will create, with the smart host's SIZE from a probe
  mailflow.exchange.send_connector_route:
    server: ex01.contoso.com
    connectors:
      - name: Smart host to Internet
        source_transport_servers: [EX01, EX02]
        tls_certificate_name: <I>CN=Contoso Issuing CA, O=Contoso<S>CN=mail.contoso.com
        max_message_size: 35MB
        smart_hosts: [relay.contoso.net]
    smart_host_sizes:
      relay.contoso.net: 26214400
    fail_on: []
  register: route

- name: Show the findings with their hints
  ansible.builtin.debug:
    msg: "[{{ item.severity }}] {{ item.connector }} {{ item.server or '' }}: {{ item.message }} (hint: {{ item.hint }})"
  loop: "{{ route.findings }}"
"""

RETURN = r"""
findings:
  description: Every problem found, errors first.
  returned: always
  type: list
  elements: dict
  contains:
    connector:
      description: The connector's name.
      type: str
    server:
      description: The source server the finding is about, null for a finding about the connector.
      type: str
    severity:
      description: V(error) (mail will not flow), V(warning) or V(info).
      type: str
    code:
      description:
        - V(certificate_missing), V(certificate_expired), V(certificate_expiring), V(certificate_no_private_key),
          V(certificate_status), V(certificate_not_smtp), V(certificate_duplicate), V(source_server_missing),
          V(source_server_not_mailbox), V(source_server_other_site), V(source_servers_default),
          V(max_size_above_org), V(max_size_above_smart_host), V(frontend_proxy).
      type: str
    message:
      description: What is wrong, naming the certificate, server and values.
      type: str
    hint:
      description: What to do about it.
      type: str
    meets:
      description: The text the administrator would otherwise meet later (protocol log, queue, NDR, cmdlet error).
      type: str
  sample:
    - connector: Smart host to Internet
      server: EX02
      severity: error
      code: certificate_missing
      message: "the certificate tls_certificate_name names (<I>CN=Contoso Issuing CA, O=Contoso<S>CN=mail.contoso.com)
        is not on source server EX02"
      hint: import the certificate (with its private key) on EX02 and enable it for SMTP ...
      meets: "SmtpSend protocol log: 'TLS negotiation failed with error UnknownCredentials' on EX02, then queue
        LastError: '451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection timed out'"
connectors:
  description: Per connector, what was checked.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The connector's name.
      type: str
    source_transport_servers:
      description: The source servers checked.
      type: list
      elements: str
    servers:
      description:
        - Per source server - C(name), C(found), C(site), C(roles), C(is_mailbox), and C(certificate) (the certificate
          Exchange will use for C(tls_certificate_name) - C(thumbprint), C(issuer), C(subject), C(services),
          C(not_before), C(not_after), C(has_private_key), C(status) - or null).
      type: list
      elements: dict
    max_message_size:
      description: The connector's MaxMessageSize in bytes, or V(unlimited).
      type: raw
    smart_host_sizes:
      description: The SIZE limits known for its smart hosts.
      type: dict
    frontend_servers:
      description: With C(frontend_proxy_enabled), the Mailbox servers the mail leaves from.
      type: list
      elements: str
servers:
  description:
    - Every Exchange server read - C(name), C(fqdn), C(site), C(roles), C(is_mailbox), C(is_edge),
      C(max_per_domain_outbound_connections) (C(Get-TransportService)).
  returned: always
  type: list
  elements: dict
max_send_size:
  description: The organisation's MaxSendSize in bytes (C(Get-TransportConfig)), or V(unlimited).
  returned: always
  type: raw
  sample: 10485760
read:
  description:
    - Without O(connectors), every Send connector it read, with the keys and values
      M(mailflow.exchange.send_connector_info) returns (the audit of P(mailflow.exchange.smart_host_routing#role) uses
      them, so one session serves both).
  returned: when O(connectors) is not given
  type: list
  elements: dict
cmdlets:
  description: The cmdlets this run used, in order (the cost is per run, not per connector).
  returned: always
  type: list
  elements: str
  sample: [Get-ExchangeServer, Get-TransportConfig, Get-TransportService, Get-ExchangeCertificate -Server EX01]
"""

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import route as _route_findings
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session

ARGUMENT_SPEC = {
    # Unknown keys are ignored (the connector as send_connector_info returns it has many more), so the
    # suboptions are checked by validate() rather than by the argument spec.
    "connectors": {"type": "list", "elements": "dict"},
    "smart_host_sizes": {"type": "dict", "default": {}},
    "probes": {"type": "list", "elements": "dict", "default": []},
    "fail_on": {"type": "list", "elements": "str", "choices": ["error", "warning", "info"], "default": ["error"]},
}
ORDER = {"error": 0, "warning": 1, "info": 2}


def _connector(item, path):
    """One connector item: (the keys the checks use, problems)."""
    problems = []
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("%s.name: is required (the connector's name)" % path)
    out = {"name": name.strip() if isinstance(name, str) else name}
    for key in ("source_transport_servers", "smart_hosts"):
        value = item.get(key)
        if value is None:
            out[key] = []
        elif not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append("%s.%s: must be a list of names" % (path, key))
        else:
            out[key] = [v.strip() for v in value]
    try:
        out["tls_certificate_name"] = _values.canonical_certificate_name(item.get("tls_certificate_name"))
    except _values.BadValue as err:
        problems.append("%s.tls_certificate_name: %s" % (path, err))
    try:
        out["max_message_size"] = _values.parse_size(item.get("max_message_size"))
    except _values.BadValue as err:
        problems.append("%s.max_message_size: %s" % (path, err))
    for key in ("is_scoped_connector", "frontend_proxy_enabled"):
        value = item.get(key)
        if value is not None and not isinstance(value, bool):
            problems.append("%s.%s: must be true or false" % (path, key))
        out[key] = bool(value)
    return out, problems


def validate(params):
    problems = []
    for index, item in enumerate(params.get("connectors") or []):
        if not isinstance(item, dict):
            problems.append("connectors[%d]: must be a mapping of connector settings" % index)
            continue
        problems.extend(_connector(item, "connectors[%d]" % index)[1])
    for host, size in (params.get("smart_host_sizes") or {}).items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append("smart_host_sizes.%s: must be a number of bytes (0 for no limit)" % host)
    return problems


def probe_sizes(probes):
    """host -> SIZE from smtp_probe's probes (the EHLO after TLS when there was one)."""
    sizes = {}
    for probe in probes or []:
        if not isinstance(probe, dict) or not probe.get("host"):
            continue
        for key in ("ehlo_tls", "ehlo"):
            ehlo = probe.get(key)
            if isinstance(ehlo, dict) and isinstance(ehlo.get("size"), int) and not isinstance(ehlo.get("size"), bool):
                sizes[str(probe["host"]).lower()] = ehlo["size"]
                break
    return sizes


def main():
    module = exchange_module(ARGUMENT_SPEC, validate=validate, supports_check_mode=True)
    params = module.params

    def work(session):
        cmdlets = []

        def run(cmdlet, args=None, shown=None):
            cmdlets.append(shown or cmdlet)
            return session.run(cmdlet, args or [])

        read = None
        if params.get("connectors") is None:
            connectors = []
            read = []
            for raw in run("Get-SendConnector"):
                state = _options.from_exchange(raw)
                state["name"] = raw.get("Name")
                connectors.append(_connector(state, "connector")[0])
                # as send_connector_info returns it, so one session serves a caller that needs both (the audit)
                read.append(dict({"name": raw.get("Name")}, **_options.identity_from_exchange(raw), **state))
        else:
            connectors = [_connector(item, "connectors[%d]" % i)[0] for i, item in enumerate(params["connectors"])]
        servers = {}
        for raw in run("Get-ExchangeServer"):
            found = _route_findings.server(raw)
            servers[found["name"].lower()] = found
        config = run("Get-TransportConfig")
        max_send = _values.parse_size((config[0] if config else {}).get("MaxSendSize")) if config else None
        for raw in run("Get-TransportService"):
            entry = servers.get(str(raw.get("Name") or "").lower())
            if entry is not None:
                entry["max_per_domain_outbound_connections"] = raw.get("MaxPerDomainOutboundConnections")
        needed = []
        for connector in connectors:
            if connector.get("tls_certificate_name"):
                for source in connector["source_transport_servers"]:
                    key = source.lower().split(".", 1)[0]
                    if key in servers and key not in needed:
                        needed.append(key)
        certificates = {}
        for key in needed:
            name = servers[key]["name"]
            found = run("Get-ExchangeCertificate", [("Server", name)], "Get-ExchangeCertificate -Server %s" % name)
            certificates[key] = [_route_findings.certificate(raw) for raw in found]
        sizes = probe_sizes(params.get("probes"))
        sizes.update({str(k).lower(): v for k, v in (params.get("smart_host_sizes") or {}).items()})
        findings, report = _route_findings.route_findings(connectors, servers, certificates, max_send, sizes)
        findings.sort(key=lambda f: ORDER.get(f["severity"], 3))
        result = {"changed": False, "findings": findings, "connectors": report,
                  "servers": sorted(servers.values(), key=lambda s: s["name"].lower()),
                  "max_send_size": max_send, "cmdlets": cmdlets}
        if read is not None:
            result["read"] = read
        failing = [f for f in findings if f["severity"] in (params.get("fail_on") or [])]
        if failing:
            result["failed"] = True
            result["msg"] = "send_connector_route: %d finding(s) of severity %s: %s" % (
                len(failing), "/".join(params["fail_on"]),
                "; ".join("%s%s: %s (hint: %s)" % (f["connector"], " on %s" % f["server"] if f["server"] else "",
                                                   f["message"], f["hint"]) for f in failing))
        return result

    run_with_session(module, work)


if __name__ == "__main__":
    main()

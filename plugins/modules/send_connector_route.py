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

from ansible_collections.mailflow.exchange.plugins.module_utils._probe import route as _route
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session

ARGUMENT_SPEC = {
    # Unknown keys are ignored (the connector as send_connector_info returns it has many more), so the
    # suboptions are checked by validate() rather than by the argument spec.
    "connectors": {"type": "list", "elements": "dict"},
    "smart_host_sizes": {"type": "dict", "default": {}},
    "probes": {"type": "list", "elements": "dict", "default": []},
    "fail_on": {"type": "list", "elements": "str", "choices": ["error", "warning", "info"], "default": ["error"]},
}


def main():
    module = exchange_module(ARGUMENT_SPEC, validate=_route.validate, supports_check_mode=True)
    params = module.params

    def work(session):
        result = _route.check(session.run, params.get("connectors"), params.get("probes"), params.get("smart_host_sizes"))
        message = _route.failing(result["findings"], params.get("fail_on"))
        if message:
            result["failed"] = True
            result["msg"] = "send_connector_route: " + message
        return result

    run_with_session(module, work)


if __name__ == "__main__":
    main()

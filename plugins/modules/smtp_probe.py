#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smtp_probe
short_description: Probe smart hosts over SMTP and compare them with a Send connector's settings
version_added: "0.1.0"
description:
  - Opens one read-only SMTP conversation to each smart host, like an Exchange Send connector
    would start it, and records what an administrator checks by hand with C(openssl s_client -starttls smtp)
    or swaks. DNS A/AAAA, TCP connect and latency, implicit TLS detection, the banner, EHLO capabilities,
    STARTTLS, TLS version and cipher, the certificate (subject, names, issuer, validity, SHA-256, chain
    verdict, RFC 6125 name match), EHLO after TLS, AUTH mechanisms before and after TLS, an optional
    AUTH LOGIN, an optional MAIL/RCPT test that quits before DATA.
  - Given the connector's intended settings (O(require_tls), O(tls_auth_level), O(tls_domain),
    O(smart_host_auth_mechanism), O(max_message_size)) it returns RV(findings), one per mismatch, with
    a severity and a hint, for example BasicAuthRequireTLS but no STARTTLS, BasicAuth but AUTH LOGIN not
    offered, a certificate that does not name the smart host, SIZE below MaxMessageSize, or a certificate
    expiring within 30 days.
  - The task fails only when a finding has a severity listed in O(fail_on).
  - The probe runs from where the module runs (usually the controller), which is not the path the
    Exchange transport servers use. To prove the real path, send a test message with O(send_test_message)
    and trace it with M(mailflow.exchange.message_trace).
  - Several hosts are probed at the same time, each within O(timeout) seconds.
author:
  - mailflow.exchange contributors (@mailflow)
requirements:
  - cryptography (to read the smart host's certificate)
options:
  hosts:
    description:
      - The smart hosts, as configured on the connector (FQDNs or IP literals; C([192.168.3.2]) is accepted).
    type: list
    elements: str
    required: true
    aliases: [smart_hosts]
  port:
    description:
      - The TCP port, like the connector's C(Port). Port 465 is tried with TLS on connect first.
    type: int
    default: 25
  connect_address:
    description:
      - Connect to this IP address instead of resolving the host name, while SNI and the certificate name
        checks still use the host name. Only with a single entry in O(hosts).
    type: str
  ca_cert:
    description:
      - A PEM file of CA certificates to verify the smart host's certificate chain against.
      - Without it the system trust store of the machine running the module is used.
    type: path
  tls_domain:
    description:
      - The connector's C(TlsDomain), V(contoso.com) or V(*.contoso.com); the certificate must carry it
        when O(tls_auth_level=DomainValidation).
    type: str
  require_tls:
    description:
      - The connector's C(RequireTLS). When true, a smart host without STARTTLS is an error.
    type: bool
    default: false
  tls_auth_level:
    description:
      - The connector's C(TlsAuthLevel). C(CertificateValidation) and C(DomainValidation) make an
        untrusted chain an error; C(DomainValidation) also checks O(tls_domain).
      - Exchange accepts it only with O(require_tls=true).
    type: str
    choices: [EncryptionOnly, CertificateValidation, DomainValidation]
  smart_host_auth_mechanism:
    description:
      - The connector's C(SmartHostAuthMechanism). C(BasicAuth) and C(BasicAuthRequireTLS) need AUTH LOGIN
        (Exchange never uses AUTH PLAIN); C(BasicAuthRequireTLS) needs it after STARTTLS and a certificate
        naming the smart host.
    type: str
    default: "None"
    choices: ["None", BasicAuth, BasicAuthRequireTLS, ExchangeServer, ExternalAuthoritative]
  authentication_credential:
    description:
      - The connector's C(AuthenticationCredential). When given, the probe tries AUTH LOGIN with it.
      - The credential is sent only inside TLS whose certificate passed every check the probe makes (a chain that
        verifies against O(ca_cert) or the system store, valid dates, the smart host's name, and O(tls_domain) when
        given), or without TLS when the connector would do that too (O(smart_host_auth_mechanism=BasicAuth) without
        O(require_tls)). Otherwise AUTH is not attempted, and the C(AUTH_NOT_ATTEMPTED) finding says why.
    type: dict
    suboptions:
      username:
        description: The user name.
        type: str
        required: true
      password:
        description: The password. Never returned or logged; the transcript shows it as asterisks.
        type: str
        required: true
  max_message_size:
    description:
      - The connector's C(MaxMessageSize), as bytes (V(36700160)), with a unit (V(35MB), V(35 MB)) or V(unlimited).
      - An error when the smart host's SIZE is smaller.
    type: str
  timeout:
    description:
      - Seconds allowed for each host's whole probe (DNS, connect, conversation).
    type: float
    default: 10
  fail_on:
    description:
      - The severities of findings that fail the task.
    type: list
    elements: str
    choices: [error, warning, info]
    default: [error]
  helo_name:
    description:
      - The name to say in EHLO, like the connector's C(Fqdn), as a host name or an address literal such as V([192.0.2.1]).
        Defaults to this machine's FQDN.
      - Like every value that goes into an SMTP command (O(mail_from), O(rcpt_to), O(send_test_message)), it is
        checked before any connection; a CR, LF or NUL character is refused.
    type: str
  mail_from:
    description:
      - With O(rcpt_to), test MAIL FROM and RCPT TO and quit before DATA (no message is sent).
    type: str
  rcpt_to:
    description:
      - Recipients for the MAIL/RCPT test.
    type: list
    elements: str
    default: []
  send_test_message:
    description:
      - Submit one complete message through the first host that accepts it (STARTTLS when offered,
        AUTH LOGIN with O(authentication_credential) when given) and return its Message-ID.
      - The role uses this to send its test message into Exchange's SMTP endpoint.
      - Skipped in check mode.
    type: dict
    suboptions:
      from:
        description: The sender address (also the envelope sender), V(chris@contoso.com) or V(Chris <chris@contoso.com>).
        type: str
        required: true
        aliases: [sender]
      to:
        description: The recipients.
        type: list
        elements: str
        required: true
        aliases: [recipients]
      subject:
        description: The subject.
        type: str
        default: mailflow.exchange smtp_probe test message
      body:
        description: The text body.
        type: str
        default: This is a test message sent by mailflow.exchange.smtp_probe.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The probe only reads. O(send_test_message) is skipped in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details: Probing changes nothing; every O(send_test_message) run sends a new message and reports C(changed).
notes:
  - Uses only the Python standard library (socket, ssl) for SMTP and C(cryptography) to read certificates;
    names are resolved with the system resolver.
seealso:
  - module: mailflow.exchange.message_trace
"""

EXAMPLES = r"""
- name: Check the smart host against the connector's settings before applying them
  mailflow.exchange.smtp_probe:
    hosts: [relay.contoso.net]
    port: 587
    require_tls: true
    tls_auth_level: DomainValidation
    tls_domain: relay.contoso.net
    smart_host_auth_mechanism: BasicAuthRequireTLS
    authentication_credential:
      username: exchange-relay@contoso.com
      password: "{{ relay_password }}"
    max_message_size: 35MB
    helo_name: mail.contoso.com
  register: probe

- name: Probe a smart host by IP under its name, and only report (never fail)
  mailflow.exchange.smtp_probe:
    hosts: [relay.contoso.net]
    connect_address: 192.0.2.10
    ca_cert: /etc/pki/contoso-root.pem
    fail_on: []
  register: probe

- name: Show every finding
  ansible.builtin.debug:
    msg: "{{ item.severity }} {{ item.code }}: {{ item.message }} ({{ item.hint }})"
  loop: "{{ probe.findings }}"

- name: Test relaying without sending a message
  mailflow.exchange.smtp_probe:
    hosts: [relay.contoso.net]
    mail_from: postmaster@contoso.com
    rcpt_to: [someone@fabrikam.com]

- name: Submit a test message into Exchange and keep its Message-ID for message_trace
  mailflow.exchange.smtp_probe:
    hosts: [ex01.contoso.com]
    send_test_message:
      from: chris@contoso.com
      to: [pat@fabrikam.com]
      subject: Smart host test
  register: submitted
"""

RETURN = r"""
probes:
  description: One record per host, in the order of O(hosts).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host as given (brackets removed).
      type: str
    port:
      description: The port probed.
      type: int
    connect_address:
      description: The O(connect_address) used, if any.
      type: str
    address:
      description: The IP address the probe connected to.
      type: str
    dns:
      description: C(name), C(a) and C(aaaa) address lists, C(ip_literal), C(error).
      type: dict
    tcp:
      description: C(ok), C(address), C(latency_ms) (connect time), C(error).
      type: dict
    implicit_tls:
      description: True when the port speaks TLS on connect instead of sending a banner.
      type: bool
    banner:
      description: C(code), C(text) and C(host) of the greeting.
      type: dict
    ehlo:
      description:
        - The EHLO before TLS. C(name) (what was sent), C(code), C(greeting), and the capabilities
          C(starttls), C(size) (bytes, 0 for no limit, null when not advertised), C(auth) (mechanisms),
          C(pipelining), C(eightbitmime), C(chunking), C(keywords) (all EHLO keywords).
      type: dict
    starttls:
      description: C(code) and C(text) of the reply to STARTTLS, when sent.
      type: dict
    tls:
      description: C(version), C(cipher), C(bits), C(error), and C(chain) (as in the C(certificate) entry).
      type: dict
    certificate:
      description:
        - The server certificate. C(subject), C(common_name), C(sans), C(ip_sans), C(issuer), C(serial) (hex),
          C(not_before), C(not_after), C(days_left), C(expired), C(not_yet_valid), C(self_signed), C(sha256).
        - C(chain) with C(verified), C(reason) and C(store) (the O(ca_cert) path or C(system)).
        - C(host_match) (C(matched), C(matched_name)) against the host, and C(tls_domain_match) against O(tls_domain).
      type: dict
    ehlo_tls:
      description: The EHLO after TLS, shaped like RV(probes[].ehlo).
      type: dict
    auth:
      description:
        - C(mechanisms_before_tls), C(mechanisms_after_tls), and C(login) (C(attempted), C(ok), C(code),
          C(text), C(username), C(skipped) (why AUTH was not attempted), C(withheld) (true when the probe held the
          credential back because the peer was not verified or the connection was not encrypted)) when
          O(authentication_credential) is given.
      type: dict
    mail_rcpt:
      description: C(mail_from), C(mail_code), C(mail_text) and C(rcpt) (C(address), C(code), C(text) each).
      type: dict
    transcript:
      description: The conversation, C(S:) from the server, C(C:) from the probe, C(*) notes; credentials are redacted.
      type: list
      elements: str
    error:
      description: Why the conversation stopped early, if it did.
      type: str
    duration_ms:
      description: How long the probe of this host took.
      type: float
  sample:
    - host: relay.contoso.net
      port: 25
      address: 192.0.2.10
      banner: {code: 220, text: relay.contoso.net ESMTP ready, host: relay.contoso.net}
      implicit_tls: false
      tls: {version: TLSv1.3, cipher: TLS_AES_256_GCM_SHA384, bits: 256}
findings:
  description: Every mismatch between the smart hosts and the intended settings.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The smart host.
      type: str
    severity:
      description: C(error), C(warning) or C(info).
      type: str
    code:
      description:
        - A stable identifier, for example C(DNS_NO_ADDRESS), C(TCP_CONNECT_FAILED), C(IMPLICIT_TLS),
          C(STARTTLS_NOT_OFFERED), C(CERT_UNTRUSTED), C(CERT_NAME_MISMATCH), C(CERT_TLS_DOMAIN_MISMATCH),
          C(CERT_EXPIRED), C(CERT_EXPIRES_SOON), C(TLS_VERSION_OLD), C(AUTH_NOT_OFFERED), C(AUTH_LOGIN_NOT_OFFERED),
          C(AUTH_FAILED), C(AUTH_NOT_ATTEMPTED), C(RELAY_DENIED), C(SIZE_TOO_SMALL), C(EHLO_NAME).
      type: str
    message:
      description: What was found.
      type: str
    hint:
      description: What to do about it.
      type: str
  sample:
    - host: relay.contoso.net
      severity: error
      code: AUTH_LOGIN_NOT_OFFERED
      message: relay.contoso.net offers only AUTH PLAIN after STARTTLS; Exchange authenticates to smart hosts with AUTH LOGIN only
      hint: Enable the LOGIN mechanism on the smart host.
summary:
  description: The number of findings per severity.
  returned: always
  type: dict
  sample: {error: 1, warning: 0, info: 2}
message_id:
  description: The Message-ID of the test message, when O(send_test_message) sent one.
  returned: when a test message was sent
  type: str
  sample: <mailflow-probe.3f2c9a0e5b7d4c1e9a8b7c6d5e4f3a2b@contoso.com>
test_message:
  description:
    - What happened to the test message. C(host), C(address), C(port), C(message_id), C(code), C(text),
      C(queued), C(tls), C(tls_verified), C(error), C(transcript); or C(skipped) and C(reason) in check mode.
    - With O(authentication_credential) the message is sent only when the credential may be sent (see there).
  returned: when O(send_test_message) is given
  type: dict
"""

import ipaddress
import socket
import ssl

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailflow.exchange.plugins.module_utils._smtp_probe_cert import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    valid_tls_domain,
)
from ansible_collections.mailflow.exchange.plugins.module_utils import _smtp_probe_input as checks
from ansible_collections.mailflow.exchange.plugins.module_utils._smtp_probe import (
    ProbeSettings,
    build_message,
    probe_hosts,
    send_message,
)
from ansible_collections.mailflow.exchange.plugins.module_utils._smtp_probe_findings import (
    AUTH_MECHANISMS,
    SEVERITIES,
    TLS_AUTH_LEVELS,
    Intent,
    evaluate,
    parse_size,
)


def argument_spec() -> dict:
    return dict(
        hosts=dict(type="list", elements="str", required=True, aliases=["smart_hosts"]),
        port=dict(type="int", default=25),
        connect_address=dict(type="str"),
        ca_cert=dict(type="path"),
        tls_domain=dict(type="str"),
        require_tls=dict(type="bool", default=False),
        tls_auth_level=dict(type="str", choices=list(TLS_AUTH_LEVELS)),
        smart_host_auth_mechanism=dict(type="str", default="None", choices=list(AUTH_MECHANISMS)),
        authentication_credential=dict(
            type="dict",
            options=dict(
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            ),
        ),
        max_message_size=dict(type="str"),
        timeout=dict(type="float", default=10),
        fail_on=dict(type="list", elements="str", choices=list(SEVERITIES), default=["error"]),
        helo_name=dict(type="str"),
        mail_from=dict(type="str"),
        rcpt_to=dict(type="list", elements="str", default=[]),
        send_test_message=dict(
            type="dict",
            options={
                "from": dict(type="str", required=True, aliases=["sender"]),
                "to": dict(type="list", elements="str", required=True, aliases=["recipients"]),
                "subject": dict(type="str", default="mailflow.exchange smtp_probe test message"),
                "body": dict(type="str", default="This is a test message sent by mailflow.exchange.smtp_probe."),
            },
        ),
    )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def validate(module: AnsibleModule) -> tuple[list[str], Intent]:
    """Check combinations (every problem at once) and build the intent; fails the module on errors."""
    p = module.params
    errors = []
    hosts = []
    for index, raw in enumerate(p["hosts"]):
        if raw is None or not str(raw).strip():
            continue
        problems, host = checks.smart_host(f"hosts[{index}]", raw)
        errors.extend(problems)
        if host:
            hosts.append(host)
    if not hosts and not errors:
        errors.append("hosts: give at least one smart host")
    errors.extend(command_value_problems(p))
    if p["connect_address"] and not _is_ip(p["connect_address"].strip("[]")):
        errors.append(f"connect_address: {p['connect_address']!r} is not an IP address")
    if p["ca_cert"]:
        try:
            ssl.create_default_context(cafile=p["ca_cert"])
        except (OSError, ssl.SSLError) as exc:
            errors.append(f"ca_cert: cannot load {p['ca_cert']} as PEM CA certificates ({getattr(exc, 'strerror', None) or exc})")
    if p["connect_address"] and len([h for h in p["hosts"] if h and str(h).strip()]) != 1:
        errors.append("connect_address: only allowed with exactly one entry in hosts")
    if not 1 <= p["port"] <= 65535:
        errors.append(f"port: {p['port']} is not a TCP port (1-65535)")
    if p["timeout"] <= 0:
        errors.append("timeout: must be a positive number of seconds")
    if p["tls_auth_level"] and not p["require_tls"]:
        errors.append("tls_auth_level: Exchange accepts TlsAuthLevel only with RequireTLS; set require_tls: true")
    if p["tls_auth_level"] == "DomainValidation" and not p["tls_domain"]:
        errors.append("tls_domain: required when tls_auth_level is DomainValidation")
    if p["tls_domain"] and not valid_tls_domain(p["tls_domain"]):
        errors.append(f"tls_domain: {p['tls_domain']!r} is not a domain; use contoso.com or *.contoso.com (no embedded wildcards)")
    max_size = None
    unlimited = False
    if p["max_message_size"] is not None:
        try:
            max_size = parse_size(p["max_message_size"])
            unlimited = max_size is None
        except ValueError as exc:
            errors.append(f"max_message_size: {exc}")
    if bool(p["mail_from"]) != bool(p["rcpt_to"]):
        errors.append("mail_from and rcpt_to: give both for the MAIL/RCPT test, or neither")
    if errors:
        module.fail_json(msg="Invalid parameters: " + "; ".join(errors), errors=errors)
    intent = Intent(
        require_tls=p["require_tls"],
        tls_auth_level=p["tls_auth_level"],
        tls_domain=p["tls_domain"],
        auth_mechanism=p["smart_host_auth_mechanism"],
        max_message_size=max_size,
        max_message_unlimited=unlimited,
        credential_given=bool(p["authentication_credential"]),
        connect_address_given=bool(p["connect_address"]),
        helo_name_given=bool(p["helo_name"]),
    )
    return hosts, intent


def command_value_problems(p: dict) -> list[str]:
    """Every value that goes into an SMTP command line or header, checked before any connection."""
    errors = []
    if p["helo_name"]:
        errors.extend(checks.helo_name("helo_name", p["helo_name"]))
    if p["mail_from"]:
        errors.extend(checks.address("mail_from", p["mail_from"]))
    for index, rcpt in enumerate(p["rcpt_to"] or []):
        errors.extend(checks.address(f"rcpt_to[{index}]", rcpt))
    spec = p["send_test_message"]
    if spec:
        errors.extend(checks.header_address("send_test_message.from", spec["from"])[0])
        if not spec["to"]:
            errors.append("send_test_message.to: give at least one recipient")
        for index, rcpt in enumerate(spec["to"] or []):
            errors.extend(checks.header_address(f"send_test_message.to[{index}]", rcpt)[0])
        errors.extend(checks.header_text("send_test_message.subject", spec["subject"]))
    return errors


def default_helo_name() -> str:
    """This machine's FQDN when it is a valid EHLO argument, else localhost."""
    name = socket.getfqdn()
    return name if not checks.helo_name("helo_name", name) else "localhost"


def settings_for(module: AnsibleModule, host: str, helo_name: str) -> ProbeSettings:
    p = module.params
    cred = p["authentication_credential"] or {}
    return ProbeSettings(
        host=host,
        port=p["port"],
        connect_address=p["connect_address"],
        timeout=p["timeout"],
        helo_name=helo_name,
        ca_cert=p["ca_cert"],
        tls_domain=p["tls_domain"],
        username=cred.get("username"),
        password=cred.get("password"),
        auth_mechanism=p["smart_host_auth_mechanism"],
        require_tls=p["require_tls"],
        mail_from=p["mail_from"],
        rcpt_to=list(p["rcpt_to"] or []),
    )


def submit_test_message(module: AnsibleModule, all_settings: list[ProbeSettings], probes: list[dict]) -> dict:
    spec = module.params["send_test_message"]
    if module.check_mode:
        return {"skipped": True, "reason": "check mode: no test message was sent"}
    first = all_settings[0]
    msg = build_message(spec["from"], spec["to"], spec["subject"], spec["body"], first.helo_name)
    sender = checks.header_address("send_test_message.from", spec["from"])[1]
    recipients = [checks.header_address("send_test_message.to", r)[1] for r in spec["to"]]
    result: dict = {}
    for settings, probe in zip(all_settings, probes):
        if not probe.get("address"):
            continue
        result = send_message(settings, probe["address"], msg, require_tls=module.params["require_tls"], envelope_from=sender, envelope_to=recipients)
        if result["queued"]:
            break
    return result or {"host": None, "queued": False, "error": "no host was reachable", "message_id": str(msg["Message-ID"])}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    hosts, intent = validate(module)
    helo_name = module.params["helo_name"] or default_helo_name()
    all_settings = [settings_for(module, host, helo_name) for host in hosts]
    probes = probe_hosts(all_settings)
    findings = [finding for probe in probes for finding in evaluate(probe, intent)]
    summary = {severity: sum(1 for f in findings if f["severity"] == severity) for severity in SEVERITIES}
    result: dict = dict(changed=False, probes=probes, findings=findings, summary=summary)

    if module.params["send_test_message"]:
        test = submit_test_message(module, all_settings, probes)
        result["test_message"] = test
        if test.get("skipped"):
            module.warn("send_test_message was skipped in check mode")
        elif test.get("queued"):
            result["changed"] = True
            result["message_id"] = test["message_id"]
        else:
            module.fail_json(msg=f"The test message was not accepted: {test.get('error') or test.get('code')} {test.get('text') or ''}".strip(), **result)

    failing = [f for f in findings if f["severity"] in module.params["fail_on"]]
    if failing:
        listed = "; ".join(f"{f['host']}: {f['severity']} {f['code']}: {f['message']}" for f in failing)
        module.fail_json(msg=f"smtp_probe found {len(failing)} finding(s) with severity in fail_on: {listed}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

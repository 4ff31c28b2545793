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
  - Certificate problems follow what Exchange checks with those settings. Opportunistic TLS and C(EncryptionOnly)
    validate nothing, so an untrusted, expired or misnamed certificate is only a warning there (an info with
    O(ignore_starttls)). C(CertificateValidation) and C(DomainValidation) make the chain and its dates an error.
    C(DomainValidation) also makes O(tls_domain) an error, and C(BasicAuthRequireTLS) the smart host's name.
  - The task fails only when a finding has a severity listed in O(fail_on).
  - The probe runs from where the module runs (usually the controller), which is not the path the
    Exchange transport servers use. To prove the real path, send a test message with O(send_test_message)
    and trace it with M(mailflow.exchange.message_trace).
  - Several hosts are probed at the same time (up to 20 at once), each within O(timeout) seconds. O(targets) probes
    smart hosts of several connectors, each with its own settings, in one run.
author:
  - mailflow.exchange contributors (@mailflow)
requirements:
  - cryptography (to read the smart host's certificate)
  - jsonschema (the collection's rules for connector settings)
options:
  hosts:
    description:
      - The smart hosts, as configured on the connector (FQDNs or IP literals; C([192.168.3.2]) is accepted).
        All are probed with the top-level settings.
      - Exactly one of O(hosts) and O(targets) is required.
    type: list
    elements: str
    aliases: [smart_hosts]
  targets:
    description:
      - Smart hosts to probe each with its own connector settings, all concurrently in one run (for example every
        smart host of every connector a play manages).
      - Each setting not given in an item falls back to the top-level option of the same name.
      - Every item is checked before any connection, and all problems come back together, each with its path such as
        C(targets[3].port).
      - RV(probes) and RV(findings) carry the item's O(targets[].label).
    type: list
    elements: dict
    suboptions:
      host:
        description: The smart host (FQDN or IP literal).
        type: str
        required: true
      label:
        description: Free text echoed back in RV(probes[].label) and RV(findings[].label), for example the connector's name.
        type: str
      port:
        description: As the top-level O(port).
        type: int
      connect_address:
        description: As the top-level O(connect_address), for this smart host.
        type: str
      require_tls:
        description: As the top-level O(require_tls).
        type: bool
      ignore_starttls:
        description: As the top-level O(ignore_starttls).
        type: bool
      tls_auth_level:
        description: As the top-level O(tls_auth_level).
        type: str
      tls_domain:
        description: As the top-level O(tls_domain).
        type: str
      smart_host_auth_mechanism:
        description: As the top-level O(smart_host_auth_mechanism).
        type: str
      max_message_size:
        description: As the top-level O(max_message_size).
        type: raw
      helo_name:
        description: As the top-level O(helo_name).
        type: str
      authentication_credential:
        description: As the top-level O(authentication_credential).
        type: dict
        suboptions:
          username:
            description: The user name.
            type: str
            required: true
          password:
            description: The password. Never returned or logged. Without it AUTH LOGIN is not tested.
            type: str
  port:
    description:
      - The TCP port, like the connector's C(Port). Port 465 is tried with TLS on connect first.
    type: int
    default: 25
  connect_address:
    description:
      - Connect to this IP address instead of resolving the host name, while SNI and the certificate name
        checks still use the host name. Only with a single entry in O(hosts); with O(targets) give it per item.
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
  ignore_starttls:
    description:
      - The connector's C(IgnoreSTARTTLS). Exchange then never starts TLS with the smart host, so with
        O(smart_host_auth_mechanism=BasicAuth) it sends the password in clear (an error finding), and
        C(BasicAuthRequireTLS) cannot work at all.
      - Exchange accepts it only with O(require_tls=false) and without O(tls_auth_level).
      - The probe itself still starts TLS when offered, to report the certificate.
    type: bool
    default: false
  tls_auth_level:
    description:
      - The connector's C(TlsAuthLevel), one of C(EncryptionOnly), C(CertificateValidation), C(DomainValidation)
        (in any letter case, as Exchange accepts it). C(CertificateValidation) and C(DomainValidation) make an
        untrusted or expired chain an error; C(DomainValidation) also checks O(tls_domain).
      - Exchange accepts it only with O(require_tls=true).
    type: str
  smart_host_auth_mechanism:
    description:
      - The connector's C(SmartHostAuthMechanism), one of C(None), C(BasicAuth), C(BasicAuthRequireTLS),
        C(ExchangeServer), C(ExternalAuthoritative) (in any letter case).
      - C(BasicAuth) and C(BasicAuthRequireTLS) need AUTH LOGIN (Exchange never uses AUTH PLAIN);
        C(BasicAuthRequireTLS) needs it after STARTTLS and a certificate naming the smart host. C(BasicAuth)
        without O(require_tls) sends the password in clear whenever STARTTLS is missing.
    type: str
    default: "None"
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
        description:
          - The password. Never returned or logged; the transcript shows it as asterisks.
          - Without it (the user name only, as M(mailflow.exchange.send_connector_info) returns a credential) AUTH LOGIN
            is not tested.
        type: str
  max_message_size:
    description:
      - The connector's C(MaxMessageSize), as bytes (V(36700160)), with a unit (V(35MB), V(35 MB)) or V(unlimited),
        read like the connector modules read it (rounded up to whole KB, at most 2147483647 bytes).
      - An error when the smart host's SIZE is smaller.
    type: raw
  timeout:
    description:
      - Seconds allowed for each host's whole probe (DNS, connect, conversation), above 0 and at most 3600.
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

- name: Probe the smart hosts of several connectors, each with its own settings, in one task
  mailflow.exchange.smtp_probe:
    targets:
      - host: relay.contoso.net
        label: Contoso relay
        port: 587
        smart_host_auth_mechanism: basicauthrequiretls  # enum values in any letter case
        authentication_credential:
          username: exchange-relay@contoso.com
          password: "{{ relay_password }}"
      - host: 192.0.2.25
        label: Partner relay
        require_tls: true
        tls_auth_level: CertificateValidation
    max_message_size: 35MB  # for every target that does not set its own
    helo_name: mail.contoso.com
    fail_on: []
  register: probe

- name: Show every finding
  ansible.builtin.debug:
    msg: "{{ item.label | default(item.host, true) }}: {{ item.severity }} {{ item.code }}: {{ item.message }} ({{ item.hint }})"
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
  description: One record per host, in the order of O(hosts) or O(targets).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host as given (brackets removed).
      type: str
    label:
      description: The O(targets[].label) of the item, null with O(hosts).
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
      description:
        - C(version), C(cipher), C(bits), C(error), and C(chain) (as in the C(certificate) entry).
        - C(peer_verified), true when the certificate passed every check the probe makes (the condition for sending
          a credential).
      type: dict
    certificate:
      description:
        - The server certificate. C(subject), C(common_name), C(sans), C(ip_sans), C(issuer), C(serial) (hex),
          C(not_before), C(not_after), C(days_left), C(expired), C(not_yet_valid), C(self_signed), C(sha256).
        - C(chain) with C(verified), C(reason), C(problem) (C(unknown_ca), C(self_signed), C(expired), C(not_yet_valid),
          C(revoked) or C(other)) and C(store) (the O(ca_cert) path or C(system)).
        - C(host_match) (C(matched), C(matched_name)) against the host, and C(tls_domain_match) against O(tls_domain).
      type: dict
    ehlo_tls:
      description: The EHLO after TLS, shaped like RV(probes[].ehlo).
      type: dict
    auth:
      description:
        - C(mechanisms_before_tls), C(mechanisms_after_tls), and C(login) (C(attempted), C(ok), C(code),
          C(text), C(username), C(stage) (C(command) when the server refused AUTH LOGIN itself, C(credential) once
          the user name went out), C(skipped) (why AUTH was not attempted), C(withheld) (true when the probe held the
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
    error_kind:
      description: C(timeout) when the server stopped answering, C(session) for any other early stop, null otherwise.
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
    label:
      description: The O(targets[].label) of the item the finding is about, null with O(hosts).
      type: str
    severity:
      description: C(error), C(warning) or C(info).
      type: str
    code:
      description:
        - A stable identifier, one of C(DNS_NO_ADDRESS), C(TCP_CONNECT_FAILED), C(SMTP_TIMEOUT), C(NO_SMTP_SESSION),
          C(BANNER_REFUSED), C(IMPLICIT_TLS), C(EHLO_REJECTED), C(EHLO_NAME), C(EHLO_NAME_NOT_FQDN), C(STARTTLS_NOT_OFFERED),
          C(STARTTLS_REFUSED), C(STARTTLS_IGNORED), C(TLS_HANDSHAKE_FAILED), C(TLS_VERSION_OLD), C(CERT_UNTRUSTED),
          C(CERT_NAME_MISMATCH), C(CERT_TLS_DOMAIN_MISMATCH), C(CERT_EXPIRED), C(CERT_NOT_YET_VALID),
          C(CERT_EXPIRES_SOON), C(AUTH_BEFORE_TLS), C(AUTH_CLEARTEXT), C(AUTH_CLEARTEXT_POSSIBLE), C(AUTH_NOT_OFFERED),
          C(AUTH_LOGIN_NOT_OFFERED), C(AUTH_OFFERED), C(AUTH_NOT_TESTED), C(AUTH_NOT_ATTEMPTED), C(AUTH_REFUSED),
          C(AUTH_FAILED), C(AUTH_REQUIRED), C(MAIL_REFUSED), C(RELAY_DENIED), C(RCPT_REFUSED), C(SIZE_TOO_SMALL),
          C(SIZE_NOT_ADVERTISED), C(SESSION_ABORTED), C(BANNER_OTHER_NAME).
        - C(BANNER_OTHER_NAME) (info, only beside an error) quotes the banner of a server that greets under another name
          than the smart host's, so the port may lead to another SMTP server.
        - C(AUTH_NOT_ATTEMPTED) says why the probe held a credential back; C(AUTH_REFUSED) is the smart host refusing
          AUTH LOGIN itself, C(AUTH_FAILED) a refused user name or password; C(RELAY_DENIED) is a refused recipient
          whose text or enhanced status (X.7.1) means relaying is not allowed, whatever the reply code.
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
from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mailflow.exchange.plugins.module_utils._module_input import checked_module
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.schema import HAS_JSONSCHEMA, JSONSCHEMA_IMPORT_ERROR
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.cert import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import submit as _submit
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.run import (
    CONSTRAINTS,
    argument_spec,
    failing,
    probe,
    validate,
)


def main() -> None:
    module = checked_module(argument_spec(), validate=lambda p: validate(p)[1], supports_check_mode=True, **CONSTRAINTS)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    if not HAS_JSONSCHEMA:
        module.fail_json(msg=missing_required_lib("jsonschema"), exception=JSONSCHEMA_IMPORT_ERROR)
    targets, errors = validate(module.params)
    if errors:  # only without jsonschema (checked_module then leaves the check to this module)
        module.fail_json(msg="Invalid parameters: " + "; ".join(errors), errors=errors)
    all_settings, result = probe(module.params, targets)

    if module.params["send_test_message"]:
        test = _submit.submit(module.params["send_test_message"], all_settings, result["probes"], module.check_mode)
        result["test_message"] = test
        if test.get("skipped"):
            module.warn(_submit.SKIPPED_WARNING)
        elif test.get("queued"):
            result["changed"] = True
            result["message_id"] = test["message_id"]
        else:
            module.fail_json(msg=_submit.refusal(test), **result)

    count, listed = failing(result["findings"], module.params["fail_on"])
    if count:
        module.fail_json(msg=f"smtp_probe found {count} finding(s) with severity in fail_on: {listed}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

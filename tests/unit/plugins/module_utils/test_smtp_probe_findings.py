"""Findings rules and name matching (pure logic; the wire is covered by tests/integration/smtp_probe/test_smtp_probe.py)."""

from __future__ import annotations

import copy
import importlib

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import parse_ehlo
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.cert import (
    dns_name_matches,
    match_host,
    match_tls_domain,
)
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.findings import Intent, evaluate, is_relay_refusal
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.rules import exchange_tls_checks


@pytest.mark.parametrize(
    "pattern, host, expected",
    [
        ("relay.contoso.net", "RELAY.contoso.net.", True),
        ("*.contoso.net", "relay.contoso.net", True),
        ("*.contoso.net", "a.relay.contoso.net", False),  # one label only
        ("*.contoso.net", "contoso.net", False),
        ("*.net", "contoso.net", False),  # not directly under a TLD
        ("re*.contoso.net", "relay.contoso.net", False),  # partial wildcards refused
        ("relay.*.net", "relay.contoso.net", False),
        ("relay.contoso.net", "relay.contoso.com", False),
    ],
)
def test_rfc6125_dns_name_rules(pattern, host, expected):
    assert dns_name_matches(pattern, host) is expected


def cert(sans=(), ips=(), cn=None):
    return {"sans": list(sans), "ip_sans": list(ips), "common_name": cn}


def test_common_name_only_counts_without_dns_sans():
    assert match_host(cert(cn="relay.contoso.net"), "relay.contoso.net")["matched"] is True
    assert match_host(cert(sans=["other.contoso.net"], cn="relay.contoso.net"), "relay.contoso.net")["matched"] is False
    assert match_host(cert(ips=["192.0.2.1"]), "[192.0.2.1]")["matched"] is True
    assert match_host(cert(sans=["192.0.2.1"]), "192.0.2.1")["matched"] is False  # an IP needs an iPAddress SAN


def test_tls_domain_rules():
    assert match_tls_domain(cert(sans=["*.contoso.net"]), "*.contoso.net")["matched"] is True
    assert match_tls_domain(cert(sans=["relay.contoso.net"]), "*.contoso.net")["matched"] is True
    assert match_tls_domain(cert(sans=["a.relay.contoso.net"]), "*.contoso.net")["matched"] is False
    assert match_tls_domain(cert(sans=["*.contoso.net"]), "contoso.net")["matched"] is False
    assert match_tls_domain(cert(sans=["contoso.net"]), "contoso.net")["matched"] is True


def test_parse_ehlo_capabilities():
    caps = parse_ehlo(["relay Hello", "SIZE 1000", "PIPELINING", "8BITMIME", "CHUNKING", "STARTTLS", "AUTH LOGIN PLAIN", "AUTH=LOGIN"])
    assert caps["size"] == 1000 and caps["auth"] == ["LOGIN", "PLAIN"]
    assert caps["pipelining"] and caps["eightbitmime"] and caps["chunking"] and caps["starttls"]
    assert parse_ehlo(["relay", "SIZE"])["size"] == 0


GOOD = {
    "host": "relay.contoso.net",
    "port": 25,
    "connect_address": None,
    "address": "192.0.2.10",
    "dns": {"name": "relay.contoso.net", "a": ["192.0.2.10"], "aaaa": [], "ip_literal": False, "error": None},
    "tcp": {"ok": True, "address": "192.0.2.10", "latency_ms": 1.0, "error": None},
    "implicit_tls": False,
    "banner": {"code": 220, "text": "relay ready", "host": "relay.contoso.net"},
    "ehlo": {"name": "ex01.contoso.com", "code": 250, "greeting": "hi", **parse_ehlo(["hi", "SIZE 36700160", "STARTTLS"])},
    "starttls": {"code": 220, "text": "go ahead"},
    "tls": {
        "version": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "bits": 256,
        "error": None,
        "chain": {"verified": True, "reason": "ok", "store": "system"},
    },
    "certificate": {
        "subject": "CN=relay.contoso.net",
        "common_name": "relay.contoso.net",
        "sans": ["relay.contoso.net"],
        "ip_sans": [],
        "not_before": "2024-01-01T00:00:00Z",
        "not_after": "2030-01-01T00:00:00Z",
        "days_left": 400,
        "expired": False,
        "not_yet_valid": False,
        "chain": {"verified": True, "reason": "ok", "store": "system"},
        "host_match": {"matched": True, "matched_name": "relay.contoso.net"},
        "tls_domain_match": {"matched": True, "matched_name": "relay.contoso.net"},
    },
    "ehlo_tls": {"name": "ex01.contoso.com", "code": 250, "greeting": "hi", **parse_ehlo(["hi", "SIZE 36700160", "AUTH LOGIN"])},
    "auth": {
        "mechanisms_before_tls": [],
        "mechanisms_after_tls": ["LOGIN"],
        "login": {"attempted": True, "ok": True, "code": 235, "text": "ok", "username": "u"},
    },
    "mail_rcpt": None,
    "error": None,
}
STRICT = Intent(
    require_tls=True,
    tls_auth_level="DomainValidation",
    tls_domain="relay.contoso.net",
    auth_mechanism="BasicAuthRequireTLS",
    max_message_size=36700160,
    credential_given=True,
)


def findings(record, intent=STRICT):
    return {(f["severity"], f["code"]) for f in evaluate(record, intent)}


def variant(**changes):
    record = copy.deepcopy(GOOD)
    for path, value in changes.items():
        target = record
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return record


def test_a_good_record_has_no_findings():
    assert findings(GOOD) == set()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"certificate__days_left": 12}, ("warning", "CERT_EXPIRES_SOON")),
        ({"certificate__days_left": 45}, ("info", "CERT_EXPIRES_SOON")),
        ({"tls__version": "TLSv1"}, ("warning", "TLS_VERSION_OLD")),
        ({"ehlo_tls__size": 10485760}, ("error", "SIZE_TOO_SMALL")),
        ({"ehlo__code": 501}, ("error", "EHLO_REJECTED")),
        ({"banner__code": 554}, ("error", "BANNER_REFUSED")),
        ({"auth__mechanisms_after_tls": ["PLAIN", "XOAUTH2"]}, ("error", "AUTH_LOGIN_NOT_OFFERED")),
        ({"auth__mechanisms_after_tls": []}, ("error", "AUTH_NOT_OFFERED")),
        ({"auth__login__ok": False, "auth__login__code": 535}, ("error", "AUTH_FAILED")),
        ({"certificate__host_match__matched": False}, ("error", "CERT_NAME_MISMATCH")),
        ({"certificate__tls_domain_match__matched": False}, ("error", "CERT_TLS_DOMAIN_MISMATCH")),
        ({"certificate__chain__verified": False, "certificate__chain__reason": "self-signed certificate"}, ("error", "CERT_UNTRUSTED")),
        ({"starttls__code": 454}, ("error", "STARTTLS_REFUSED")),
        ({"implicit_tls": True}, ("error", "IMPLICIT_TLS")),
        ({"dns__a": [], "dns__error": "NXDOMAIN"}, ("error", "DNS_NO_ADDRESS")),
        ({"tcp__ok": False, "tcp__error": "refused"}, ("error", "TCP_CONNECT_FAILED")),
    ],
)
def test_each_rule(changes, expected):
    assert expected in findings(variant(**changes))


def test_severity_follows_the_intended_settings():
    loose = Intent()
    untrusted = variant(certificate__chain__verified=False, certificate__chain__reason="x", certificate__host_match__matched=False)
    # opportunistic TLS validates nothing: worth a warning, not an error
    assert findings(untrusted, loose) == {("warning", "CERT_UNTRUSTED"), ("warning", "CERT_NAME_MISMATCH"), ("info", "AUTH_OFFERED")}
    assert ("warning", "CERT_NAME_MISMATCH") in findings(untrusted, Intent(require_tls=True))
    assert ("error", "CERT_NAME_MISMATCH") in findings(untrusted, Intent(auth_mechanism="BasicAuthRequireTLS"))
    assert ("warning", "CERT_UNTRUSTED") in findings(untrusted, Intent(auth_mechanism="BasicAuthRequireTLS"))
    assert ("error", "CERT_UNTRUSTED") in findings(untrusted, Intent(require_tls=True, tls_auth_level="CertificateValidation"))
    # IgnoreSTARTTLS: Exchange never sees the certificate
    assert ("info", "CERT_UNTRUSTED") in findings(untrusted, Intent(ignore_starttls=True))
    no_tls = variant(ehlo__starttls=False, starttls=None, tls=None, certificate=None, ehlo_tls=None)
    no_tls["auth"] = {"mechanisms_before_tls": ["LOGIN"], "mechanisms_after_tls": [], "login": None}
    assert ("info", "STARTTLS_NOT_OFFERED") in findings(no_tls, loose)
    assert ("error", "STARTTLS_NOT_OFFERED") in findings(no_tls, Intent(auth_mechanism="BasicAuthRequireTLS"))
    basic = findings(no_tls, Intent(auth_mechanism="BasicAuth"))
    assert {("error", "AUTH_CLEARTEXT"), ("warning", "AUTH_BEFORE_TLS"), ("info", "AUTH_NOT_TESTED")} <= basic


@pytest.mark.parametrize(
    "intent, severity",
    [
        (Intent(), "warning"),
        (Intent(require_tls=True), "warning"),
        (Intent(require_tls=True, tls_auth_level="EncryptionOnly"), "warning"),
        (Intent(auth_mechanism="BasicAuthRequireTLS", credential_given=True), "warning"),
        (Intent(require_tls=True, tls_auth_level="CertificateValidation"), "error"),
        (Intent(require_tls=True, tls_auth_level="DomainValidation", tls_domain="relay.contoso.net"), "error"),
        (Intent(ignore_starttls=True), "info"),
    ],
)
def test_an_expired_certificate_is_an_error_only_where_exchange_validates(intent, severity):
    expired = variant(certificate__expired=True, certificate__days_left=-3, certificate__chain__verified=False,
                      certificate__chain__reason="certificate has expired", certificate__chain__problem="expired")
    got = {item for item in findings(expired, intent) if item[1].startswith("CERT_")}
    assert got == {(severity, "CERT_EXPIRED")}


def test_the_rule_agrees_with_the_lab_oracle():
    """The probe's rule and the lab's independent copy (what the lab's delivery enforces) say the same for every valid setting."""
    lab = importlib.import_module("exchange_lab.mail.smtp_send")
    for require_tls in (False, True):
        for level in ((None, "EncryptionOnly", "CertificateValidation", "DomainValidation") if require_tls else (None,)):
            for mechanism in ("None", "BasicAuth", "BasicAuthRequireTLS"):
                for host in ("relay.contoso.net", "192.0.2.10"):
                    for domain_secure in (False, True):
                        settings = lab.SendSettings(connector_name="c", smart_hosts=[host], require_tls=require_tls, tls_auth_level=level,
                                                    tls_domain="contoso.net" if level == "DomainValidation" else None, auth_mechanism=mechanism)
                        settings.domain_secure = domain_secure
                        validate, wanted = lab.certificate_checks(settings, host)
                        ours = exchange_tls_checks(require_tls, False, level, mechanism, host_is_ip=host[0].isdigit(), domain_secure=domain_secure)
                        case = (require_tls, level, mechanism, host, domain_secure)
                        assert ours.chain == validate, case
                        assert ours.tls_domain == (wanted == "contoso.net"), case
                        if level == "DomainValidation" and mechanism == "BasicAuthRequireTLS" and not host[0].isdigit():
                            # Known difference: the lab checks only TlsDomain here; the probe also wants the smart host's
                            # FQDN, as docs/exchange-rules.md section 3 says BasicAuthRequireTLS always does.
                            assert ours.host_name and wanted == "contoso.net", case
                            continue
                        assert ours.host_name == (wanted == host), case


@pytest.mark.parametrize(
    "code, text, relay",
    [
        (554, "5.7.1 <pat@fabrikam.com>: Relay access denied", True),  # Postfix reject_unauth_destination
        (550, "5.7.1 Unable to relay", True),  # Exchange
        (454, "4.7.1 <pat@fabrikam.com>: Relay access denied", True),  # Postfix, soft_bounce / defer
        (550, "5.7.1 Client does not have permissions to send as this sender", True),
        (550, "5.1.1 <pat@fabrikam.com>: Recipient address rejected: User unknown", False),
        (452, "4.5.3 Too many recipients", False),
        (250, "2.1.5 Ok", False),
    ],
)
def test_relay_refusal_is_recognised_by_enhanced_status_or_text(code, text, relay):
    assert is_relay_refusal(code, text) is relay


def test_auth_before_starttls_and_cleartext_risk():
    offered_early = variant(auth__mechanisms_before_tls=["LOGIN", "PLAIN"])
    assert ("warning", "AUTH_BEFORE_TLS") in findings(offered_early)
    basic = findings(GOOD, Intent(auth_mechanism="BasicAuth", credential_given=True))
    assert ("warning", "AUTH_CLEARTEXT_POSSIBLE") in basic and not any(item[1] == "AUTH_CLEARTEXT" for item in basic)
    ignored = variant(auth__mechanisms_before_tls=["LOGIN"])
    assert ("error", "AUTH_CLEARTEXT") in findings(ignored, Intent(auth_mechanism="BasicAuth", ignore_starttls=True, credential_given=True))
    assert ("error", "STARTTLS_IGNORED") in findings(GOOD, Intent(auth_mechanism="BasicAuthRequireTLS", ignore_starttls=True, credential_given=True))


def test_auth_refused_is_not_a_wrong_password():
    refused = variant(auth__login__ok=False, auth__login__code=504, auth__login__text="5.5.4 Unrecognized authentication type",
                      auth__login__stage="command")
    assert ("error", "AUTH_REFUSED") in findings(refused) and ("error", "AUTH_FAILED") not in findings(refused)


def test_dns_failure_with_connect_address_is_only_information():
    record = variant(dns__a=[], dns__error="NXDOMAIN", connect_address="192.0.2.10")
    intent = copy.copy(STRICT)
    intent.connect_address_given = True
    assert findings(record, intent) == {("info", "DNS_NO_ADDRESS")}


def test_unlimited_max_size_against_a_limited_host():
    assert ("warning", "SIZE_TOO_SMALL") in findings(GOOD, Intent(max_message_unlimited=True))
    assert ("info", "SIZE_NOT_ADVERTISED") in findings(variant(ehlo_tls__size=None), Intent(max_message_size=1))


def test_relay_and_auth_required_codes():
    relay = variant(
        mail_rcpt={"mail_from": "a@b", "mail_code": 250, "mail_text": "ok", "rcpt": [{"address": "x@y", "code": 550, "text": "5.7.1 Unable to relay"}]}
    )
    assert ("error", "RELAY_DENIED") in findings(relay)
    postfix = variant(mail_rcpt={"mail_from": "a@b", "mail_code": 250, "mail_text": "ok",
                                 "rcpt": [{"address": "x@y", "code": 554, "text": "5.7.1 <x@y>: Relay access denied"}]})
    assert ("error", "RELAY_DENIED") in findings(postfix) and ("error", "RCPT_REFUSED") not in findings(postfix)
    auth = variant(mail_rcpt={"mail_from": "a@b", "mail_code": 530, "mail_text": "5.7.0 Authentication required", "rcpt": []})
    assert ("error", "AUTH_REQUIRED") in findings(auth)


def test_every_finding_has_the_documented_shape():
    for item in evaluate(variant(implicit_tls=True, certificate__days_left=3), STRICT):
        assert set(item) == {"host", "severity", "code", "message", "hint"}
        assert item["severity"] in ("error", "warning", "info") and item["message"] and item["hint"]


@pytest.mark.parametrize(
    "reason, words",
    [
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)", "did not speak TLS"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "no TLS version in common"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", "no cipher suite in common"),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "client certificate"),
        ("EOF occurred in violation of protocol", "closed the connection"),
        ("something new", "something new"),
    ],
)
def test_tls_handshake_failures_read_distinctly(reason, words):
    record = variant(tls__error=reason, tls__version=None, certificate=None)
    (finding,) = [f for f in evaluate(record, STRICT) if f["code"] == "TLS_HANDSHAKE_FAILED"]
    assert words in finding["message"] and finding["severity"] == "error"

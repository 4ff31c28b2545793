"""The audit's rule table (module_utils/_connectors/audit.py): each rule fires on its case and stays quiet on a good connector;
the report's forms (JUnit XML parsed, Markdown, JSON, console lines). The audit over the lab:
tests/integration/role/test_audit_lab.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import audit as _audit

GOOD = {"name": "Good", "enabled": True, "dns_routing_enabled": False, "smart_hosts": ["relay.contoso.net"], "port": 587,
        "address_spaces": ["SMTP:*;1"], "smart_host_auth_mechanism": "BasicAuthRequireTLS",
        "authentication_credential": {"username": "relay"}, "require_tls": True, "tls_auth_level": "CertificateValidation",
        "tls_domain": None, "tls_certificate_name": None, "fqdn": None, "cloud_services_mail_enabled": False}
M365 = dict(GOOD, name="M365", smart_hosts=["contoso-com.mail.protection.outlook.com"], port=25, smart_host_auth_mechanism="None",
            authentication_credential=None, tls_auth_level="DomainValidation", tls_domain="mail.protection.outlook.com",
            cloud_services_mail_enabled=True, fqdn="mail.contoso.com", tls_certificate_name="<I>CN=CA<S>CN=mail.contoso.com")

CASES = [
    ("M365_CLOUD_SERVICES_MAIL", dict(M365, cloud_services_mail_enabled=False)),
    ("M365_TLS_CERTIFICATE_NAME", dict(M365, tls_certificate_name=None)),
    ("M365_TLS_AUTH_LEVEL", dict(M365, tls_auth_level="EncryptionOnly", tls_domain=None)),
    ("M365_TLS_DOMAIN", dict(M365, tls_domain="contoso.com")),
    ("M365_FQDN_CERTIFICATE", dict(M365, fqdn="relay.fabrikam.com")),
    ("M365_FQDN_CERTIFICATE", dict(M365, fqdn=None)),
    ("BASIC_AUTH_WITHOUT_TLS", dict(GOOD, smart_host_auth_mechanism="BasicAuth", require_tls=False, tls_auth_level=None)),
    ("ENCRYPTION_ONLY_PUBLIC", dict(GOOD, smart_hosts=["email-smtp.eu-west-1.amazonaws.com"], tls_auth_level="EncryptionOnly")),
    ("DOMAIN_VALIDATION_WITHOUT_TLS_DOMAIN", dict(GOOD, tls_auth_level="DomainValidation", tls_domain=None)),
    ("PORT_465", dict(GOOD, port=465)),
    ("DISABLED", dict(GOOD, enabled=False)),
    ("M365_SUBMISSION_BASIC_AUTH", dict(GOOD, smart_hosts=["smtp.office365.com"], authentication_credential={"username": "a@b.c"})),
    ("PROVIDER", dict(GOOD, smart_hosts=["smtp.sendgrid.net"])),  # user name is not apikey
]


def codes(connector, probes=None):
    return [f["code"] for f in _audit.judge(connector, probes)]


def test_good_connectors_have_no_findings():
    assert codes(GOOD) == []
    assert codes(M365) == []
    assert codes(dict(GOOD, name="DNS", dns_routing_enabled=True, smart_hosts=[], tls_auth_level="DomainValidation")) == []
    assert codes(dict(GOOD, smart_hosts=["smtp.sendgrid.net"], authentication_credential={"username": "apikey"})) == []


@pytest.mark.parametrize("code,connector", CASES, ids=[c[0] + "-%d" % i for i, c in enumerate(CASES)])
def test_each_rule_fires_with_reason_and_fix(code, connector):
    found = [f for f in _audit.judge(connector) if f["code"] == code]
    assert found, codes(connector)
    assert all(f["reason"] and f["fix"] and f["detail"] for f in found)


def test_m365_is_recognised_by_its_address_space_too():
    mixed = dict(GOOD, smart_hosts=["relay.contoso.net"], address_spaces=["SMTP:contoso.mail.onmicrosoft.com;1"])
    assert "M365_CLOUD_SERVICES_MAIL" in codes(mixed)


def test_probe_findings_belong_to_the_connectors_of_their_label():
    probes = [{"label": "Good, Other", "host": "relay.contoso.net", "severity": "error", "code": "DNS_NO_ADDRESS",
               "message": "relay.contoso.net has no A or AAAA record", "hint": "h"},
              {"label": "Good", "host": "relay.contoso.net", "severity": "warning", "code": "CERT_EXPIRES_SOON",
               "message": "expires", "hint": "renew"},
              {"label": "Good", "host": "relay.contoso.net", "severity": "info", "code": "X", "message": "m", "hint": "h"},
              {"label": "Else", "host": "x", "severity": "error", "code": "TCP_CONNECT_FAILED", "message": "m", "hint": "h"}]
    found = _audit.judge(GOOD, probes)
    assert [f["code"] for f in found] == ["SMART_HOST_DNS", "PROBE"]
    assert found[1]["severity"] == "warning" and found[1]["fix"] == "renew"


def test_a_probe_finding_an_audit_rule_already_says_is_not_repeated():
    clear = dict(GOOD, smart_host_auth_mechanism="BasicAuth", require_tls=False, tls_auth_level=None)
    probes = [{"label": "Good", "host": "relay.contoso.net", "severity": "warning", "code": "AUTH_CLEARTEXT_POSSIBLE",
               "message": "m", "hint": "h"}]
    assert codes(clear, probes) == ["BASIC_AUTH_WITHOUT_TLS"]


def test_report_forms():
    connectors = [GOOD, dict(GOOD, name="Bad <&> \"one\"", port=465, enabled=False)]
    report = _audit.audit(connectors, [], "Exchange (ex01)", 2)
    assert report["totals"] == {"connectors": 2, "errors": 1, "warnings": 1, "connectors_with_errors": 1,
                                "connectors_ok": 1, "smart_hosts_probed": 2, "route_checked": False}
    root = ET.fromstring(_audit.to_junit(report))
    cases = root.find("testsuite").findall("testcase")
    assert [c.get("name") for c in cases] == ["Good", 'Bad <&> "one"']
    assert [f.get("type") for f in cases[1].findall("failure")] == ["PORT_465"]
    assert "DISABLED" in cases[1].find("system-out").text
    assert json.loads(_audit.to_json(report)) == report
    markdown = _audit.to_markdown(report)
    assert "| Bad <&> \"one\" | error | PORT_465, DISABLED |" in markdown
    lines = _audit.summary_lines(report)
    assert lines[0].startswith("2 Send connector(s): 1 error(s), 1 warning(s)") and len(lines) == 2
    many = _audit.audit([dict(GOOD, name="C%d" % i, enabled=False) for i in range(30)])
    assert len(_audit.summary_lines(many)) == 22  # one screen: totals, 20 connectors, "and 10 more"


def test_route_findings_join_their_connector():
    route = [{"connector": "Good", "server": "EX02", "severity": "error", "code": "certificate_missing",
              "message": "not on EX02", "hint": "import it", "meets": "UnknownCredentials"},
             {"connector": "Good", "server": None, "severity": "info", "code": "source_servers_default", "message": "m",
              "hint": "h", "meets": None},
             {"connector": "Other", "server": None, "severity": "error", "code": "x", "message": "m", "hint": "h"}]
    (found,) = _audit.judge(GOOD, None, route)
    assert found["code"] == "ROUTE" and found["severity"] == "error" and found["fix"] == "import it"
    assert found["detail"] == "certificate_missing on EX02: not on EX02 (otherwise: UnknownCredentials)"
    assert _audit.audit([GOOD], None, "x", None, route)["totals"]["route_checked"] is True


def test_every_rule_has_a_reason_and_a_fix():
    for rule in _audit.RULES + list(_audit.PROBE_RULES.values()):
        assert rule.reason.strip() and rule.fix.strip() and rule.severity in _audit.SEVERITIES

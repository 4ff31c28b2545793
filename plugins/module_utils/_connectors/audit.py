# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The audit of an organisation's Send connectors: THE rule table (each rule with its reason and its
fix), the judgement of every connector (as ``send_connector_info`` returns it) and of the probe of
its smart hosts, and the report in four forms: Markdown, JUnit XML (one test case per connector,
one failure per error finding), JSON and a one-screen console summary. Pure functions: nothing
here talks to Exchange or to a smart host.

Rules of CSS-Exchange's HealthChecker for connectors to Microsoft 365 (docs/Diagnostics/HealthChecker/
ExoConnectorCheck.md: a connector is "to Exchange Online" when a smart host is
``*.mail.protection.outlook.com`` or an address space is ``*.mail.onmicrosoft.com``), each here with
the reason HealthChecker does not print; the connector rules of this collection; the provider rules of
``_presets`` for connectors whose smart hosts belong to a known provider; and the probe's findings.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import rules as _rules

SEVERITIES = ("error", "warning", "info")
M365_HOST = ".mail.protection.outlook.com"
M365_SPACE = ".mail.onmicrosoft.com"
M365_TLS_DOMAIN = "mail.protection.outlook.com"


def _hosts(c: dict[str, Any]) -> list[str]:
    return [str(h).lower() for h in c.get("smart_hosts") or []]


def _spaces(c: dict[str, Any]) -> list[str]:
    """The domains of the SMTP address spaces (``SMTP:contoso.com;1`` -> ``contoso.com``)."""
    out = []
    for space in c.get("address_spaces") or []:
        text = str(space.get("domain") if isinstance(space, dict) else space)
        if ":" in text:
            kind, text = text.split(":", 1)
            if kind.lower() != "smtp":
                continue
        out.append(text.split(";")[0].lower())
    return out


def is_m365(c: dict[str, Any]) -> bool:
    """HealthChecker's test: a smart host in Exchange Online Protection, or an address space of the tenant's routing domain."""
    return (not c.get("dns_routing_enabled") and any(h.endswith(M365_HOST) for h in _hosts(c))) or any(
        s.endswith(M365_SPACE) for s in _spaces(c))


def _mech(c: dict[str, Any]) -> str:
    return str(c.get("smart_host_auth_mechanism") or "None")


def _smart_hosted(c: dict[str, Any]) -> bool:
    return c.get("dns_routing_enabled") is False and bool(c.get("smart_hosts"))


class Rule:
    def __init__(self, code: str, severity: str, title: str, reason: str, fix: str,
                 check: Callable[[dict[str, Any]], Optional[str]], origin: str = "mailflow.exchange") -> None:
        self.code = code
        self.severity = severity
        self.title = title
        self.reason = reason
        self.fix = fix
        self.check = check
        self.origin = origin

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "title": self.title, "reason": self.reason, "fix": self.fix,
                "origin": self.origin}


def _cloud_mail(c: dict[str, Any]) -> Optional[str]:
    if is_m365(c) and c.get("cloud_services_mail_enabled") is not True:
        return "CloudServicesMailEnabled is %s" % c.get("cloud_services_mail_enabled")
    return None


def _cert_name(c: dict[str, Any]) -> Optional[str]:
    if is_m365(c) and not c.get("tls_certificate_name"):
        return "TlsCertificateName is not set"
    return None


def _tls_level(c: dict[str, Any]) -> Optional[str]:
    if is_m365(c) and c.get("tls_auth_level") not in ("CertificateValidation", "DomainValidation"):
        return "TlsAuthLevel is %s" % (c.get("tls_auth_level") or "not set")
    return None


def _tls_domain(c: dict[str, Any]) -> Optional[str]:
    if is_m365(c) and c.get("tls_auth_level") == "DomainValidation" and str(c.get("tls_domain") or "").lower() != M365_TLS_DOMAIN:
        return "TlsDomain is %s with DomainValidation" % (c.get("tls_domain") or "not set")
    return None


def _fqdn_cert(c: dict[str, Any]) -> Optional[str]:
    name = str(c.get("tls_certificate_name") or "")
    if not is_m365(c) or not name:
        return None
    fqdn = str(c.get("fqdn") or "")
    if not fqdn:
        return "Fqdn is not set while TlsCertificateName names %s" % name
    subject = name.split("<S>", 1)[1] if "<S>" in name else name
    if fqdn.lower() not in subject.lower():
        return "Fqdn %s is not in the certificate subject %s" % (fqdn, subject)
    return None


def _basic_without_tls(c: dict[str, Any]) -> Optional[str]:
    # whether Exchange sends only over TLS is the probe's one rule (_probe.rules), not restated here
    if _smart_hosted(c) and _mech(c) == "BasicAuth" and not _rules.exchange_tls_checks(
            bool(c.get("require_tls")), bool(c.get("ignore_starttls")), c.get("tls_auth_level"), "BasicAuth",
            domain_secure=bool(c.get("domain_secure_enabled"))).requires_tls:
        return "SmartHostAuthMechanism BasicAuth with RequireTLS false"
    return None


def _public_provider(c: dict[str, Any]) -> Optional[str]:
    for host in _hosts(c):
        for preset in _presets.PRESETS.values():
            if preset.host_matches(host):
                return preset.title
    return None


def _encryption_only_public(c: dict[str, Any]) -> Optional[str]:
    if not _smart_hosted(c) or c.get("tls_auth_level") not in (None, "EncryptionOnly"):
        return None
    if is_m365(c):
        return None  # M365_TLS_AUTH_LEVEL says it
    provider = _public_provider(c)
    if provider:
        return "TlsAuthLevel is %s for %s" % (c.get("tls_auth_level") or "not set", provider)
    return None


def _domain_validation_without_domain(c: dict[str, Any]) -> Optional[str]:
    # Exchange refuses to store it on a smart-host connector (TlsDomain is required there), so it comes from an export
    # or an older state; with DNS routing TlsDomain is optional (the certificate is checked against the MX host's domain)
    if _smart_hosted(c) and c.get("tls_auth_level") == "DomainValidation" and not c.get("tls_domain") and not is_m365(c):
        return "TlsAuthLevel DomainValidation without TlsDomain"
    return None


def _port_465(c: dict[str, Any]) -> Optional[str]:
    if _smart_hosted(c) and c.get("port") in _presets.IMPLICIT_TLS_PORTS:
        return "Port is %s" % c.get("port")
    return None


def _disabled(c: dict[str, Any]) -> Optional[str]:
    if c.get("enabled") is False:
        return "Enabled is false"
    return None


def _m365_submission(c: dict[str, Any]) -> Optional[str]:
    if _smart_hosted(c) and "smtp.office365.com" in _hosts(c) and _mech(c) in ("BasicAuth", "BasicAuthRequireTLS"):
        return "smart host smtp.office365.com with %s" % _mech(c)
    return None


_RETIREMENT = _presets.PRESETS["m365_submission"].findings({})[0]

RULES: list[Rule] = [
    Rule("M365_CLOUD_SERVICES_MAIL", "error", "Connector to Microsoft 365 without CloudServicesMailEnabled",
         "Without it the transport drops the X-MS-Exchange-Organization headers on the way to Exchange Online, so the "
         "tenant cannot tell the mail comes from its own organisation: it is classified as anonymous and external "
         "(spam filtering, transport rules and attribution go wrong).",
         "Set-SendConnector -CloudServicesMailEnabled $true (the Hybrid Configuration Wizard sets it).",
         _cloud_mail, "HealthChecker ExoConnectorCheck"),
    Rule("M365_TLS_CERTIFICATE_NAME", "error", "Connector to Microsoft 365 without TlsCertificateName",
         "Exchange Online recognises mail from the on-premises organisation by the certificate it presents (the "
         "certificate-based inbound connector); without TlsCertificateName the transport offers whatever certificate it "
         "picks, so relaying through Exchange Online and tenant attribution fail.",
         "Set-SendConnector -TlsCertificateName '<I>issuer<S>subject' of the certificate the tenant's inbound connector "
         "expects (TlsSenderCertificateName).",
         _cert_name, "HealthChecker ExoConnectorCheck"),
    Rule("M365_TLS_AUTH_LEVEL", "warning", "Connector to Microsoft 365 does not validate the certificate",
         "With no TlsAuthLevel or EncryptionOnly the connector accepts any certificate, so anyone who can redirect the "
         "traffic (DNS, routing) receives the organisation's mail unnoticed.",
         "Set-SendConnector -TlsAuthLevel DomainValidation -TlsDomain mail.protection.outlook.com (or "
         "CertificateValidation).",
         _tls_level, "HealthChecker ExoConnectorCheck"),
    Rule("M365_TLS_DOMAIN", "warning", "Connector to Microsoft 365 validates another domain",
         "With DomainValidation Exchange checks the smart host's certificate against TlsDomain; Exchange Online's "
         "certificate is for mail.protection.outlook.com, so any other value fails TLS (mail queues) or checks nothing "
         "useful.",
         "Set-SendConnector -TlsDomain mail.protection.outlook.com.",
         _tls_domain, "HealthChecker ExoConnectorCheck"),
    Rule("M365_FQDN_CERTIFICATE", "warning", "Fqdn does not match the certificate of TlsCertificateName",
         "The connector says its Fqdn in EHLO and presents the certificate of TlsCertificateName; Exchange Online "
         "matches both against the tenant's inbound connector, so an Fqdn outside the certificate makes the session "
         "look like another sender's.",
         "Set-SendConnector -Fqdn to a name in the certificate (its subject or a subject alternative name).",
         _fqdn_cert, "HealthChecker (Fqdn / TlsCertificateName)"),
    Rule("BASIC_AUTH_WITHOUT_TLS", "error", "Basic authentication without TLS",
         "BasicAuth sends the user name and password base64-encoded; when the smart host offers no STARTTLS, or an "
         "attacker strips the offer, they cross the network in clear text.",
         "Set-SendConnector -SmartHostAuthMechanism BasicAuthRequireTLS (and -RequireTLS $true).",
         _basic_without_tls),
    Rule("ENCRYPTION_ONLY_PUBLIC", "warning", "Public provider without certificate validation",
         "The smart host is a public service on the Internet; with no TlsAuthLevel or EncryptionOnly the connector "
         "sends mail, and the credential, to whoever answers under that name.",
         "Set-SendConnector -TlsAuthLevel CertificateValidation (smart_host_profile sets it).",
         _encryption_only_public),
    Rule("DOMAIN_VALIDATION_WITHOUT_TLS_DOMAIN", "error", "DomainValidation without TlsDomain",
         "DomainValidation checks the certificate against TlsDomain; without it a smart-host connector has no domain "
         "to check, and TLS with the smart host fails (mail queues).",
         "Set-SendConnector -TlsDomain <the smart host certificate's domain>, or -TlsAuthLevel CertificateValidation.",
         _domain_validation_without_domain),
    Rule("PORT_465", "error", "Port 465 (implicit TLS)",
         "Port 465 (and SES's 2465) expects TLS at connect (SMTPS); an Exchange Send connector speaks STARTTLS only, "
         "so every connection hangs and mail queues.",
         "Set-SendConnector -Port 587 (or 25) with -RequireTLS $true.",
         _port_465),
    Rule("DISABLED", "warning", "Disabled connector",
         "A disabled connector routes nothing: mail for its address spaces takes another connector or stays queued, "
         "and the settings kept here are not what the organisation uses.",
         "Set-SendConnector -Enabled $true, or Remove-SendConnector when it is no longer needed.",
         _disabled),
    Rule("M365_SUBMISSION_BASIC_AUTH", "warning", "Microsoft 365 client submission with Basic authentication",
         _RETIREMENT["message"] + ".", _RETIREMENT["hint"] + ".", _m365_submission, "Microsoft 365 announcement"),
]

# Finding codes of the probe that have their own audit rule.
DNS_CODE = "DNS_NO_ADDRESS"
# Probe findings an audit rule already says for the connector (not repeated).
COVERED = {"AUTH_CLEARTEXT_POSSIBLE": "BASIC_AUTH_WITHOUT_TLS", "IMPLICIT_TLS": "PORT_465"}
PROBE_RULES = {
    "SMART_HOST_DNS": Rule(
        "SMART_HOST_DNS", "error", "Smart host does not resolve",
        "The transport servers must resolve every smart host name to connect; a name without A/AAAA records leaves the "
        "connector without a route (mail queues with 4.4.x errors).",
        "Fix the DNS record, or use the smart host's IP address.", lambda c: None, "smtp_probe"),
    "PROBE": Rule(
        "PROBE", "error", "The smart host probe",
        "The smart host was probed from the controller as the connector will reach it (DNS, TCP, STARTTLS, "
        "certificate, AUTH offers, SIZE); the probe's own message says what it found.",
        "See the finding's hint.", lambda c: None, "smtp_probe"),
    "ROUTE": Rule(
        "ROUTE", "error", "The Exchange side of the route",
        "send_connector_route checked what the connector needs on the Exchange side: the certificate of "
        "TlsCertificateName on every source server, the source servers themselves, MaxMessageSize against the "
        "organisation's MaxSendSize; its message says what it found and what the administrator would meet later.",
        "See the finding's hint.", lambda c: None, "send_connector_route"),
    "PROVIDER": Rule(
        "PROVIDER", "error", "The provider's rules (smart_host_profile)",
        "The connector's smart hosts belong to a known provider; its settings break a rule of that provider (the "
        "README's preset table gives the source).",
        "Apply the provider preset with smart_host_profile, or change the setting named.", lambda c: None, "_presets"),
}


def _finding(rule: Rule, detail: str, severity: Optional[str] = None, **extra: Any) -> dict[str, Any]:
    found = {"code": rule.code, "severity": severity or rule.severity, "title": rule.title, "detail": detail,
             "reason": rule.reason, "fix": rule.fix}
    found.update(extra)
    return found


def judge(connector: dict[str, Any], probes: Optional[list[dict[str, Any]]] = None,
          route: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Every finding of one connector: the rules, the provider's rules, the probe findings of its smart hosts and the
    route findings (send_connector_route) of the connector."""
    findings = []
    for rule in RULES:
        detail = rule.check(connector)
        if detail:
            findings.append(_finding(rule, detail))
    provider = _presets.guess(connector)
    if provider and provider != "m365_mx" and _smart_hosted(connector):
        # m365_mx is covered by HealthChecker's rules above; the other providers by their preset's refusals
        for error in _presets.PRESETS[provider].refuse(connector):
            if error.startswith("port: ") and _port_465(connector):
                continue  # PORT_465 says it
            findings.append(_finding(PROBE_RULES["PROVIDER"], "%s (%s)" % (error, provider)))
    name = str(connector.get("name") or "")
    for probe in probes or []:
        labels = [x.strip() for x in str(probe.get("label") or "").split(", ")]
        if name not in labels:
            continue
        if COVERED.get(str(probe.get("code"))) in {f["code"] for f in findings}:
            continue
        if probe.get("code") == DNS_CODE and probe.get("severity") == "error":
            findings.append(_finding(PROBE_RULES["SMART_HOST_DNS"], probe.get("message") or "", host=probe.get("host")))
        elif probe.get("severity") in ("error", "warning"):
            findings.append(_finding(PROBE_RULES["PROBE"], "%s: %s" % (probe.get("code"), probe.get("message")),
                                     severity=probe.get("severity"), host=probe.get("host"),
                                     fix="%s" % (probe.get("hint") or PROBE_RULES["PROBE"].fix)))
    for found in route or []:
        if str(found.get("connector") or "") != name or found.get("severity") not in ("error", "warning"):
            continue
        where = " on %s" % found["server"] if found.get("server") else ""
        meets = " (otherwise: %s)" % found["meets"] if found.get("meets") else ""
        findings.append(_finding(PROBE_RULES["ROUTE"], "%s%s: %s%s" % (found.get("code"), where, found.get("message"), meets),
                                 severity=found.get("severity"), server=found.get("server"),
                                 fix=str(found.get("hint") or PROBE_RULES["ROUTE"].fix)))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order.get(f["severity"], 9), f["code"] in ("PROBE", "ROUTE")))


_KEEP = ("name", "enabled", "dns_routing_enabled", "smart_hosts", "port", "address_spaces", "smart_host_auth_mechanism",
         "require_tls", "tls_auth_level", "tls_domain", "tls_certificate_name", "fqdn", "cloud_services_mail_enabled")


def audit(connectors: list[dict[str, Any]], probes: Optional[list[dict[str, Any]]] = None, source: str = "Exchange",
          probed: Optional[int] = None, route: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """The report (a plain dict, the JSON form): every connector with its findings, the totals, the rule table."""
    entries = []
    for connector in connectors:
        if not isinstance(connector, dict):
            continue
        findings = judge(connector, probes, route)
        entries.append({"name": connector.get("name"), "settings": {k: connector.get(k) for k in _KEEP if k in connector},
                        "findings": findings,
                        "status": "error" if any(f["severity"] == "error" for f in findings) else
                        "warning" if findings else "ok"})
    totals = {"connectors": len(entries),
              "errors": sum(1 for e in entries for f in e["findings"] if f["severity"] == "error"),
              "warnings": sum(1 for e in entries for f in e["findings"] if f["severity"] == "warning"),
              "connectors_with_errors": sum(1 for e in entries if e["status"] == "error"),
              "connectors_ok": sum(1 for e in entries if e["status"] == "ok"),
              "smart_hosts_probed": probed, "route_checked": route is not None}
    rules = [r.as_dict() for r in RULES] + [r.as_dict() for r in PROBE_RULES.values()]
    return {"source": source, "totals": totals, "connectors": entries, "rules": rules}


# --- the report's forms -------------------------------------------------------------------------
def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    t = report["totals"]
    lines = ["# Send connector audit", "",
             "Source: %s. %d connector(s): %d with errors, %d without findings; %d error(s), %d warning(s)%s." % (
                 report["source"], t["connectors"], t["connectors_with_errors"], t["connectors_ok"], t["errors"],
                 t["warnings"], "" if t.get("smart_hosts_probed") is None else
                 "; %d smart host probe(s)" % t["smart_hosts_probed"]),
             "", "| Connector | Status | Findings |", "|---|---|---|"]
    for entry in report["connectors"]:
        lines.append("| %s | %s | %s |" % (_cell(entry["name"]), entry["status"],
                                           _cell(", ".join(f["code"] for f in entry["findings"]) or "-")))
    for entry in report["connectors"]:
        lines += ["", "## %s" % entry["name"], ""]
        s = entry["settings"]
        lines.append("Smart hosts: %s; port %s; auth %s; RequireTLS %s; TlsAuthLevel %s." % (
            ", ".join(str(h) for h in s.get("smart_hosts") or []) or "none (DNS)", s.get("port"),
            s.get("smart_host_auth_mechanism"), s.get("require_tls"), s.get("tls_auth_level") or "not set"))
        if not entry["findings"]:
            lines += ["", "No findings."]
            continue
        for f in entry["findings"]:
            lines += ["", "- **%s** `%s` %s: %s" % (f["severity"].upper(), f["code"], _cell(f["title"]), _cell(f["detail"])),
                      "  - Why: %s" % _cell(f["reason"]), "  - Fix: %s" % _cell(f["fix"])]
    lines += ["", "## Rules", "", "| Code | Severity | Rule | Origin |", "|---|---|---|---|"]
    for rule in report["rules"]:
        lines.append("| `%s` | %s | %s | %s |" % (rule["code"], rule["severity"], _cell(rule["title"]), _cell(rule["origin"])))
    return "\n".join(lines) + "\n"


def to_junit(report: dict[str, Any]) -> str:
    t = report["totals"]
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<testsuites name="mailflow.exchange audit" tests="%d" failures="%d" errors="0">' % (t["connectors"], t["errors"]),
           '  <testsuite name="Send connectors" tests="%d" failures="%d" errors="0" skipped="0">' % (t["connectors"], t["errors"])]
    for entry in report["connectors"]:
        out.append('    <testcase classname="send_connector" name=%s>' % quoteattr(str(entry["name"])))
        for f in entry["findings"]:
            if f["severity"] != "error":
                continue
            out.append('      <failure type=%s message=%s>%s</failure>' % (
                quoteattr(f["code"]), quoteattr("%s: %s" % (f["title"], f["detail"])),
                escape("Why: %s\nFix: %s" % (f["reason"], f["fix"]))))
        others = [f for f in entry["findings"] if f["severity"] != "error"]
        if others:
            out.append("      <system-out>%s</system-out>" % escape("\n".join(
                "%s %s: %s (fix: %s)" % (f["severity"].upper(), f["code"], f["detail"], f["fix"]) for f in others)))
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def summary_lines(report: dict[str, Any], width: int = 20) -> list[str]:
    """The one-screen console summary: the totals, then one line per connector with findings (at most ``width``)."""
    t = report["totals"]
    lines = ["%d Send connector(s): %d error(s), %d warning(s); %d connector(s) with errors, %d without findings" % (
        t["connectors"], t["errors"], t["warnings"], t["connectors_with_errors"], t["connectors_ok"])]
    flagged = [e for e in report["connectors"] if e["findings"]]
    for entry in flagged[:width]:
        lines.append("%-7s %s: %s" % (entry["status"].upper(), entry["name"], ", ".join(f["code"] for f in entry["findings"])))
    if len(flagged) > width:
        lines.append("... and %d more connector(s) with findings (see the report files)" % (len(flagged) - width))
    return lines

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Findings: what a probe record means for a Send connector with given settings. Pure functions
over the record built by ``_smtp_probe`` (no network), so every rule is unit-testable.

The rules follow the failure modes of smart-host mail flow (unreachable host, name not
resolving, implicit TLS port, no STARTTLS while TLS is required, certificate chain/name/expiry
versus TlsAuthLevel/TlsDomain/BasicAuthRequireTLS, AUTH PLAIN only while Exchange speaks AUTH
LOGIN, bad credentials, relay denied, SIZE below MaxMessageSize, EHLO name, old TLS).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional

SEVERITIES = ("error", "warning", "info")
AUTH_MECHANISMS = ("None", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "ExternalAuthoritative")
TLS_AUTH_LEVELS = ("EncryptionOnly", "CertificateValidation", "DomainValidation")
EXPIRY_WARNING_DAYS = 30
EXPIRY_INFO_DAYS = 60

_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B)?\s*$", re.IGNORECASE)
_BYTES_IN_PARENS = re.compile(r"\(\s*([\d,.\s]+)\s*bytes\s*\)", re.IGNORECASE)


def parse_size(value: Any) -> Optional[int]:
    """``36700160``, ``"35MB"``, ``"35 MB (36,700,160 bytes)"`` -> bytes; ``"unlimited"`` -> None.

    Raises ValueError with the rule when the text is not a size.
    """
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes, a number with B/KB/MB/GB/TB, or 'unlimited'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    text = str(value).strip()
    if text.lower() == "unlimited":
        return None
    parens = _BYTES_IN_PARENS.search(text)
    if parens:
        return int(re.sub(r"[^\d]", "", parens.group(1)))
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size: use bytes (36700160), a unit (35MB) or 'unlimited'")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "B").upper()])


@dataclasses.dataclass
class Intent:
    """The connector settings the smart host has to satisfy."""

    require_tls: bool = False
    tls_auth_level: Optional[str] = None
    tls_domain: Optional[str] = None
    auth_mechanism: str = "None"
    max_message_size: Optional[int] = None  # None = not given
    max_message_unlimited: bool = False
    credential_given: bool = False
    connect_address_given: bool = False
    helo_name_given: bool = True

    @property
    def basic_auth(self) -> bool:
        return self.auth_mechanism in ("BasicAuth", "BasicAuthRequireTLS")

    @property
    def tls_required(self) -> bool:
        return self.require_tls or bool(self.tls_auth_level) or self.auth_mechanism == "BasicAuthRequireTLS"


class _Collector:
    def __init__(self, host: str) -> None:
        self.host = host
        self.items: list[dict[str, str]] = []

    def add(self, severity: str, code: str, message: str, hint: str) -> None:
        self.items.append({"host": self.host, "severity": severity, "code": code, "message": message, "hint": hint})


def _tls_reason(intent: Intent) -> str:
    reasons = []
    if intent.require_tls:
        reasons.append("require_tls is true")
    if intent.tls_auth_level:
        reasons.append(f"tls_auth_level is {intent.tls_auth_level}")
    if intent.auth_mechanism == "BasicAuthRequireTLS":
        reasons.append("smart_host_auth_mechanism is BasicAuthRequireTLS")
    return " and ".join(reasons)


def _network(rec: dict[str, Any], intent: Intent, out: _Collector) -> bool:
    """DNS, TCP, implicit TLS, banner. Returns False when nothing more can be judged."""
    host, port = rec["host"], rec["port"]
    dns = rec.get("dns") or {}
    if dns and not dns.get("ip_literal") and not (dns.get("a") or dns.get("aaaa")):
        if intent.connect_address_given:
            out.add(
                "info",
                "DNS_NO_ADDRESS",
                f"{host} does not resolve from here ({dns.get('error') or 'no A/AAAA record'}); probed {rec['connect_address']} instead",
                "Every source transport server of the connector must resolve the smart host name; check DNS there.",
            )
        else:
            out.add(
                "error",
                "DNS_NO_ADDRESS",
                f"{host} has no A or AAAA record ({dns.get('error') or 'empty answer'})",
                "Fix the DNS record, or use an IP literal as smart host; every source transport server must resolve the name.",
            )
            return False
    tcp = rec.get("tcp")
    if tcp and not tcp["ok"]:
        out.add(
            "error",
            "TCP_CONNECT_FAILED",
            f"cannot connect to {host} ({tcp['address']}) port {port}: {tcp['error']}",
            "Check the port (Set-SendConnector -Port, default 25), firewalls and anti-virus mass-mailing blocks "
            "between the transport servers and the smart host.",
        )
        return False
    if rec.get("implicit_tls"):
        out.add(
            "error",
            "IMPLICIT_TLS",
            f"{host} port {port} expects TLS on connect (SMTPS, like port 465)",
            "Exchange Send connectors only speak STARTTLS; use the smart host's port 25 or 587 with STARTTLS instead.",
        )
    banner = rec.get("banner")
    if banner is None:
        explained = any(i["severity"] == "error" or i["code"] in ("TLS_HANDSHAKE_FAILED", "STARTTLS_REFUSED") for i in out.items)
        if rec.get("error") and not explained:
            out.add(
                "error",
                "NO_SMTP_SESSION",
                f"no SMTP session with {host} port {port}: {rec['error']}",
                "The port answers but not with an SMTP banner in time; check that it is the smart host's SMTP port.",
            )
        return False
    if banner["code"] != 220:
        out.add(
            "error",
            "BANNER_REFUSED",
            f"{host} refused the session: {banner['code']} {banner['text']}",
            "The smart host rejects this client before EHLO (often an IP allowlist or a connection limit).",
        )
        return False
    return True


def _ehlo(rec: dict[str, Any], intent: Intent, out: _Collector) -> bool:
    ehlo = rec.get("ehlo")
    if not ehlo:
        return False
    if ehlo["code"] != 250:
        out.add(
            "error",
            "EHLO_REJECTED",
            f"EHLO {ehlo['name']} was answered {ehlo['code']} {ehlo.get('greeting', '')}",
            "Set the connector's Fqdn to a name the smart host accepts (a resolvable FQDN); Exchange otherwise uses the server's internal FQDN.",
        )
        return False
    if not intent.helo_name_given:
        out.add(
            "info",
            "EHLO_NAME",
            f"the probe said EHLO {ehlo['name']} (this machine's name)",
            "Exchange says EHLO with the connector's Fqdn, or the transport server's FQDN when Fqdn is empty; pass helo_name to test that name.",
        )
    elif "." not in ehlo["name"].strip("[]"):
        out.add(
            "warning",
            "EHLO_NAME_NOT_FQDN",
            f"EHLO name {ehlo['name']} is not fully qualified",
            "Many smart hosts reject a bare host name in EHLO; set the connector's Fqdn to a full DNS name.",
        )
    return True


def _tls(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    ehlo = rec["ehlo"]
    tls = rec.get("tls")
    required = intent.tls_required
    if not rec.get("implicit_tls") and not ehlo.get("starttls"):
        if required:
            out.add(
                "error",
                "STARTTLS_NOT_OFFERED",
                f"{host} does not offer STARTTLS, but {_tls_reason(intent)}",
                "Enable STARTTLS on the smart host (or check for a firewall doing ESMTP inspection that strips it); Exchange queues the mail otherwise.",
            )
        else:
            out.add(
                "info",
                "STARTTLS_NOT_OFFERED",
                f"{host} does not offer STARTTLS: mail to it travels unencrypted",
                "Enable STARTTLS on the smart host if the path is not otherwise protected.",
            )
        return
    starttls = rec.get("starttls")
    if starttls and starttls["code"] != 220:
        out.add(
            "error" if required else "warning",
            "STARTTLS_REFUSED",
            f"{host} answered STARTTLS with {starttls['code']} {starttls['text']}",
            "The smart host advertises STARTTLS but cannot start it; check its certificate configuration.",
        )
        return
    if not tls:
        return
    if tls.get("error") or not tls.get("version"):
        out.add(
            "error" if required else "warning",
            "TLS_HANDSHAKE_FAILED",
            f"TLS handshake with {host} failed: {tls.get('error')}",
            "Compare the protocol versions and ciphers the smart host allows with what Windows Schannel on the transport servers allows (TLS 1.2).",
        )
        return
    if tls["version"] in ("SSLv3", "TLSv1", "TLSv1.1"):
        out.add(
            "warning",
            "TLS_VERSION_OLD",
            f"{host} negotiated {tls['version']} ({tls['cipher']})",
            "Exchange 2016+ servers are usually hardened to TLS 1.2 or newer; enable TLS 1.2 on the smart host.",
        )
    _certificate(rec, intent, out)


def _certificate(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    cert = rec.get("certificate")
    if not cert:
        return
    chain = cert["chain"]
    subject = cert["subject"]
    if cert["expired"]:
        out.add("error", "CERT_EXPIRED", f"the certificate of {host} ({subject}) expired on {cert['not_after']}", "Renew the smart host's certificate.")
    elif cert.get("not_yet_valid"):
        out.add(
            "error",
            "CERT_NOT_YET_VALID",
            f"the certificate of {host} is valid only from {cert['not_before']}",
            "Check the clocks and the certificate's validity dates.",
        )
    elif cert["days_left"] <= EXPIRY_WARNING_DAYS:
        out.add(
            "warning",
            "CERT_EXPIRES_SOON",
            f"the certificate of {host} expires in {cert['days_left']} day(s), on {cert['not_after']}",
            "Renew the smart host's certificate before it expires.",
        )
    elif cert["days_left"] <= EXPIRY_INFO_DAYS:
        out.add(
            "info",
            "CERT_EXPIRES_SOON",
            f"the certificate of {host} expires in {cert['days_left']} days, on {cert['not_after']}",
            "Plan the renewal of the smart host's certificate.",
        )
    # An expired (or not yet valid) certificate also fails the chain check for that reason alone:
    # CERT_EXPIRED above names it with the right hint, "install the issuing CA" would mislead.
    dated = (cert["expired"] or cert.get("not_yet_valid")) and re.search(r"expired|not yet valid", str(chain.get("reason") or ""))
    if not chain["verified"] and not dated:
        validating = intent.tls_auth_level in ("CertificateValidation", "DomainValidation")
        severity = "error" if validating else "warning" if intent.auth_mechanism == "BasicAuthRequireTLS" else "info"
        store = "ca_cert " + chain["store"] if chain["store"] != "system" else "the system trust store"
        out.add(
            severity,
            "CERT_UNTRUSTED",
            f"the certificate chain of {host} does not verify against {store}: {chain['reason']}",
            "Install the issuing CA in the Trusted Root store of every source transport server (and pass it as "
            "ca_cert here), or use a publicly trusted certificate.",
        )
    host_match = cert["host_match"]
    if not host_match["matched"]:
        names = ", ".join(cert["sans"] + cert["ip_sans"]) or cert.get("common_name") or "none"
        if intent.auth_mechanism == "BasicAuthRequireTLS":
            severity, why = "error", "BasicAuthRequireTLS needs the exact smart host FQDN in the certificate"
        elif intent.require_tls:
            severity, why = "warning", "TLS is required for this connector"
        else:
            severity, why = "info", "opportunistic TLS does not check the name"
        hint = "Issue the smart host a certificate whose subjectAltName contains the smart host name exactly as configured on the connector."
        if rec.get("dns", {}) and rec["dns"].get("ip_literal"):
            hint = "The smart host is an IP literal: certificates rarely carry IP addresses; configure the smart host by its FQDN instead."
        out.add(severity, "CERT_NAME_MISMATCH", f"the certificate of {host} does not name {host} (it names: {names}); {why}", hint)
    if intent.tls_domain:
        td = cert.get("tls_domain_match") or {"matched": False}
        if not td["matched"]:
            severity = "error" if intent.tls_auth_level == "DomainValidation" else "warning"
            out.add(
                severity,
                "CERT_TLS_DOMAIN_MISMATCH",
                f"the certificate of {host} does not match tls_domain {intent.tls_domain} (it names: {', '.join(cert['sans']) or cert.get('common_name')})",
                "With TlsAuthLevel DomainValidation Exchange requires the TlsDomain in the certificate; fix TlsDomain or the smart host's certificate.",
            )


def _auth(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    tls_done = bool(rec.get("tls") and rec["tls"].get("version"))
    before = rec["auth"]["mechanisms_before_tls"]
    after = rec["auth"]["mechanisms_after_tls"]
    if intent.basic_auth:
        if intent.auth_mechanism == "BasicAuthRequireTLS":
            where, offered = "after STARTTLS", after if tls_done else []
        else:
            where, offered = ("after STARTTLS", after) if tls_done else ("without TLS", before)
        if not offered:
            extra = f" (it offers AUTH {' '.join(before)} only before TLS)" if before and where == "after STARTTLS" else ""
            extra = f" (it offers AUTH {' '.join(after)} only after TLS)" if after and where == "without TLS" else extra
            out.add(
                "error",
                "AUTH_NOT_OFFERED",
                f"{host} offers no AUTH {where}{extra}, but smart_host_auth_mechanism is {intent.auth_mechanism}",
                "Enable SMTP AUTH LOGIN on the smart host for this port (after TLS for BasicAuthRequireTLS), or set "
                "the connector's SmartHostAuthMechanism to None if the smart host relays by IP.",
            )
        elif "LOGIN" not in offered:
            out.add(
                "error",
                "AUTH_LOGIN_NOT_OFFERED",
                f"{host} offers only AUTH {' '.join(offered)} {where}; Exchange authenticates to smart hosts with AUTH LOGIN only",
                "Enable the LOGIN mechanism on the smart host (Exchange cannot use PLAIN, CRAM-MD5 or XOAUTH2); expect '451 5.7.3' in the queue otherwise.",
            )
        if intent.auth_mechanism == "BasicAuth" and not tls_done and before:
            out.add(
                "warning",
                "AUTH_CLEARTEXT",
                f"credentials for {host} would be sent without TLS",
                "Use BasicAuthRequireTLS with a smart host that offers STARTTLS.",
            )
        if not intent.credential_given:
            out.add(
                "info",
                "AUTH_NOT_TESTED",
                f"no authentication_credential given: AUTH LOGIN to {host} was not tried",
                "Pass the connector's AuthenticationCredential to test the user name and password.",
            )
    elif intent.auth_mechanism == "None" and (after or before) and not intent.credential_given:
        out.add(
            "info",
            "AUTH_OFFERED",
            f"{host} offers AUTH {' '.join(after or before)}; the connector will not authenticate",
            "Fine when the smart host relays for the transport servers' IP addresses; otherwise choose BasicAuthRequireTLS.",
        )
    login = rec["auth"].get("login")
    if login and login.get("attempted") and not login.get("ok"):
        out.add(
            "error",
            "AUTH_FAILED",
            f"AUTH LOGIN as {login['username']} to {host} failed: {login['code']} {login['text']}",
            "Check the user name and password (Set-SendConnector -AuthenticationCredential); 5.7.139/5.7.57 mean "
            "the provider disabled basic SMTP AUTH for the account.",
        )
    elif login and login.get("withheld"):
        out.add(
            "warning",
            "AUTH_NOT_ATTEMPTED",
            f"{login['skipped']} (to {host}); the credential was not sent and not tested",
            "The probe sends a credential only to a smart host whose certificate verified (trusted chain, valid dates, "
            "the smart host's name, tls_domain) or in clear when the connector would (BasicAuth without require_tls); "
            "fix the certificate or pass its CA as ca_cert.",
        )
    elif login and login.get("skipped") and intent.basic_auth:
        out.add("info", "AUTH_NOT_ATTEMPTED", f"{login['skipped']} (to {host})", "See the other findings for why.")


def _mail_rcpt(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    mr = rec.get("mail_rcpt")
    if not mr:
        return
    if mr["mail_code"] is not None and mr["mail_code"] >= 400:
        code = "AUTH_REQUIRED" if mr["mail_code"] == 530 else "MAIL_REFUSED"
        out.add(
            "error" if mr["mail_code"] >= 500 else "warning",
            code,
            f"MAIL FROM:<{mr['mail_from']}> to {host} was answered {mr['mail_code']} {mr['mail_text']}",
            "The smart host wants authentication or refuses this sender; check SmartHostAuthMechanism and the sender domain.",
        )
    for rcpt in mr["rcpt"]:
        if rcpt["code"] >= 400:
            relay = rcpt["code"] == 550 and "relay" in (rcpt["text"] or "").lower()
            out.add(
                "error" if rcpt["code"] >= 500 else "warning",
                "RELAY_DENIED" if relay else "RCPT_REFUSED",
                f"RCPT TO:<{rcpt['address']}> at {host} was answered {rcpt['code']} {rcpt['text']}",
                "Allow every source transport server's IP address to relay on the smart host, or authenticate (BasicAuthRequireTLS).",
            )


def _size(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    ehlo = rec.get("ehlo_tls") or rec.get("ehlo")
    if not ehlo or ehlo.get("code") != 250:
        return
    size = ehlo.get("size")
    if intent.max_message_size is None and not intent.max_message_unlimited:
        return
    if size is None:
        out.add(
            "info",
            "SIZE_NOT_ADVERTISED",
            f"{host} does not advertise SIZE: oversized mail is refused only after DATA, if at all",
            "Ask the smart host's owner for its message size limit and keep MaxMessageSize below it.",
        )
        return
    if size == 0:
        return  # SIZE 0: no fixed limit
    if intent.max_message_unlimited:
        out.add(
            "warning",
            "SIZE_TOO_SMALL",
            f"{host} accepts at most {size} bytes (SIZE) but max_message_size is unlimited",
            f"Set the connector's MaxMessageSize to {size} bytes or less, so Exchange NDRs large mail itself instead of the smart host answering 552 5.3.4.",
        )
    elif intent.max_message_size is not None and size < intent.max_message_size:
        out.add(
            "error",
            "SIZE_TOO_SMALL",
            f"{host} accepts at most {size} bytes (SIZE) but max_message_size is {intent.max_message_size} bytes",
            f"Lower the connector's MaxMessageSize to {size} bytes or less, or raise the smart host's limit; large messages otherwise fail with 552 5.3.4.",
        )


def evaluate(rec: dict[str, Any], intent: Intent) -> list[dict[str, str]]:
    """All findings for one probe record."""
    out = _Collector(rec["host"])
    if _network(rec, intent, out) and _ehlo(rec, intent, out):
        _tls(rec, intent, out)
        _auth(rec, intent, out)
        _mail_rcpt(rec, intent, out)
        _size(rec, intent, out)
        explained = any(i["severity"] == "error" or i["code"] in ("TLS_HANDSHAKE_FAILED", "STARTTLS_REFUSED") for i in out.items)
        if rec.get("error") and not explained:
            out.add(
                "error", "SESSION_ABORTED", f"the SMTP session with {rec['host']} stopped early: {rec['error']}", "See the transcript for the last exchange."
            )
    return out.items

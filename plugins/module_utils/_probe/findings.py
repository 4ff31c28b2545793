# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Findings: what a probe record means for a Send connector with given settings. Pure functions
over the record built by ``smtp.py`` (no network), so every rule is unit-testable.

The rules follow the failure modes of smart-host mail flow (unreachable host, name not
resolving, implicit TLS port, no STARTTLS while TLS is required, certificate chain/name/expiry
versus TlsAuthLevel/TlsDomain/BasicAuthRequireTLS, AUTH PLAIN only while Exchange speaks AUTH
LOGIN, bad credentials, relay denied, SIZE below MaxMessageSize, EHLO name, old TLS).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._probe.rules import (
    TlsChecks,
    certificate_severity,
    cleartext_allowed,
    exchange_tls_checks,
)

SEVERITIES = ("error", "warning", "info")
EXPIRY_WARNING_DAYS = 30
EXPIRY_INFO_DAYS = 60


@dataclasses.dataclass
class Intent:
    """The connector settings the smart host has to satisfy."""

    require_tls: bool = False
    ignore_starttls: bool = False
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
        """Whether Exchange sends only over TLS with these settings (the one rule: _smtp_probe_rules)."""
        return self.checks(host_is_ip=False).requires_tls

    def checks(self, host_is_ip: bool) -> TlsChecks:
        """What Exchange validates on this smart host's certificate (the one rule, in _smtp_probe_rules)."""
        return exchange_tls_checks(self.require_tls, self.ignore_starttls, self.tls_auth_level, self.auth_mechanism, host_is_ip)


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
        error = str(tcp["error"] or "")
        if "timed out" in error:
            hint = ("Nothing answered within the timeout: a firewall drops the packets or the host is down. Check the port "
                    "(Set-SendConnector -Port, default 25) and the firewalls between the transport servers and the smart host.")
        elif "refused" in error.lower():
            hint = ("The host answered but nothing listens on that port, or one of the firewalls between the transport servers "
                    "and the smart host rejects it. Check the port (Set-SendConnector -Port, default 25) and that the smart "
                    "host's SMTP service runs.")
        else:
            hint = ("Check the port (Set-SendConnector -Port, default 25), firewalls and anti-virus mass-mailing blocks "
                    "between the transport servers and the smart host.")
        out.add("error", "TCP_CONNECT_FAILED", f"cannot connect to {host} ({tcp['address']}) port {port}: {error}", hint)
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
        if rec.get("error") and not explained and rec.get("error_kind") == "timeout":
            out.add(
                "error",
                "SMTP_TIMEOUT",
                f"{host} port {port} accepted the connection but sent no SMTP greeting: {rec['error']}",
                "The port answers TCP but the service does not speak (an overloaded or stuck MTA, a proxy, or not an SMTP port).",
            )
        elif rec.get("error") and not explained:
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


def _host_is_ip(rec: dict[str, Any]) -> bool:
    return bool((rec.get("dns") or {}).get("ip_literal"))


def _tls(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    ehlo = rec["ehlo"]
    tls = rec.get("tls")
    required = intent.tls_required
    if intent.ignore_starttls and required:
        # Only BasicAuthRequireTLS gets here: RequireTLS/TlsAuthLevel with IgnoreSTARTTLS are refused as input.
        out.add(
            "error",
            "STARTTLS_IGNORED",
            f"{_tls_reason(intent)} but ignore_starttls is true: Exchange will not start TLS with {host}, so it cannot send mail there",
            "Set ignore_starttls to false (or choose BasicAuth, which sends the password in clear).",
        )
    elif intent.ignore_starttls and (rec.get("implicit_tls") or ehlo.get("starttls")):
        out.add(
            "info",
            "STARTTLS_IGNORED",
            f"{host} offers STARTTLS but ignore_starttls is true: mail to it travels unencrypted",
            "Set ignore_starttls to false unless the smart host's TLS is known to be broken.",
        )
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
        what, hint = tls_failure(tls.get("error"))
        out.add("error" if required else "warning", "TLS_HANDSHAKE_FAILED", f"TLS handshake with {host} failed: {what}", hint)
        return
    if tls["version"] in ("SSLv3", "TLSv1", "TLSv1.1"):
        out.add(
            "warning",
            "TLS_VERSION_OLD",
            f"{host} negotiated {tls['version']} ({tls['cipher']})",
            "Exchange 2016+ servers are usually hardened to TLS 1.2 or newer; enable TLS 1.2 on the smart host.",
        )
    _certificate(rec, intent, out)


# OpenSSL reasons of a failed handshake (not a certificate verdict) -> what it means, and what to do.
_TLS_FAILURES = (
    (("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNEXPECTED_RECORD", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"),
     "the server did not speak TLS after agreeing to STARTTLS",
     "Something between here and the smart host (an SMTP proxy or inspecting firewall) or the smart host itself answers STARTTLS "
     "but does not start TLS; check its TLS configuration."),
    (("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW", "VERSION_TOO_HIGH"),
     "no TLS version in common",
     "Enable TLS 1.2 (and 1.3) on the smart host; Exchange servers are usually hardened to TLS 1.2 or newer."),
    (("HANDSHAKE_FAILURE", "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "INSUFFICIENT_SECURITY"),
     "no cipher suite in common",
     "Compare the cipher suites the smart host allows with what Windows Schannel on the transport servers allows (TLS 1.2 ECDHE with AES-GCM)."),
    (("CERTIFICATE_REQUIRED", "PEER_DID_NOT_RETURN_A_CERTIFICATE"),
     "the smart host demands a client certificate",
     "Give the connector a certificate the smart host accepts (TlsCertificateName), or relax the smart host's client certificate requirement."),
    (("EOF", "CONNECTION RESET", "UNEXPECTED EOF", "BROKEN PIPE"),
     "the smart host closed the connection during the handshake",
     "The smart host dropped the TLS handshake; its logs say why (often a protocol version or cipher policy)."),
)


def tls_failure(error: Any) -> tuple[str, str]:
    """A failed TLS handshake in words (with OpenSSL's reason kept) and its hint."""
    text = str(error or "unknown error")
    upper = text.upper().replace(" ", "_")
    for markers, words, hint in _TLS_FAILURES:
        if any(m.replace(" ", "_") in upper for m in markers):
            return f"{words} ({text})", hint
    return text, "Compare the protocol versions and ciphers the smart host allows with what Windows Schannel on the transport servers allows (TLS 1.2)."


_STORE_HINT = ("pass the issuing CA as ca_cert here and install it in the Trusted Root store of every source transport server, "
               "or use a publicly trusted certificate")


def _untrusted(host: str, chain: dict[str, Any], store: str) -> tuple[str, str]:
    """The message and hint for a chain that did not verify, by what went wrong."""
    problem, reason = chain.get("problem"), chain.get("reason")
    if problem == "unknown_ca":
        return (f"the certificate of {host} is issued by a CA that is not trusted by {store} (unknown CA: {reason})",
                f"Install the issuing CA: {_STORE_HINT}.")
    if problem == "self_signed":
        return (f"the certificate of {host} is self-signed and not trusted by {store} ({reason})",
                f"Trust that certificate explicitly or replace it with one from a CA: {_STORE_HINT}.")
    if problem == "revoked":
        return (f"the certificate of {host} is revoked ({reason})", "Replace the smart host's certificate.")
    return (f"the certificate chain of {host} does not verify against {store}: {reason}",
            f"Check the chain the smart host sends (intermediate certificates included): {_STORE_HINT}.")


def _certificate(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    cert = rec.get("certificate")
    if not cert:
        return
    checks = intent.checks(_host_is_ip(rec))
    chain = cert["chain"]
    subject = cert["subject"]
    dated_severity = certificate_severity(checks.chain, checks)
    checked = "Exchange rejects it" if checks.chain else "Exchange does not check the dates here"
    if cert["expired"]:
        out.add(
            dated_severity,
            "CERT_EXPIRED",
            f"the certificate of {host} ({subject}) expired on {cert['not_after']}; {checked} ({checks.why})",
            "Renew the smart host's certificate.",
        )
    elif cert.get("not_yet_valid"):
        out.add(
            dated_severity,
            "CERT_NOT_YET_VALID",
            f"the certificate of {host} is valid only from {cert['not_before']}; {checked} ({checks.why})",
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
    dated = (cert["expired"] or cert.get("not_yet_valid")) and (
        chain.get("problem") in ("expired", "not_yet_valid") or re.search(r"expired|not yet valid", str(chain.get("reason") or ""))
    )
    if not chain["verified"] and not dated:
        store = "ca_cert " + chain["store"] if chain["store"] != "system" else "the system trust store"
        message, hint = _untrusted(host, chain, store)
        qualifier = "Exchange rejects it" if checks.chain else "Exchange does not validate the chain here"
        out.add(dated_severity, "CERT_UNTRUSTED", f"{message}; {qualifier} ({checks.why})", hint)
    host_match = cert["host_match"]
    if not host_match["matched"]:
        names = ", ".join(cert["sans"] + cert["ip_sans"]) or cert.get("common_name") or "none"
        if checks.host_name:
            why = "BasicAuthRequireTLS needs the exact smart host FQDN in the certificate"
        else:
            why = f"Exchange does not check the name here ({checks.why})"
        hint = "Issue the smart host a certificate whose subjectAltName contains the smart host name exactly as configured on the connector."
        if _host_is_ip(rec):
            hint = "The smart host is an IP literal: certificates rarely carry IP addresses; configure the smart host by its FQDN instead."
        out.add(
            certificate_severity(checks.host_name, checks),
            "CERT_NAME_MISMATCH",
            f"the certificate of {host} does not name {host} (it names: {names}); {why}",
            hint,
        )
    if intent.tls_domain:
        td = cert.get("tls_domain_match") or {"matched": False}
        if not td["matched"]:
            why = "DomainValidation requires it" if checks.tls_domain else f"Exchange does not check it here ({checks.why})"
            out.add(
                certificate_severity(checks.tls_domain, checks),
                "CERT_TLS_DOMAIN_MISMATCH",
                f"the certificate of {host} does not match tls_domain {intent.tls_domain} "
                f"(it names: {', '.join(cert['sans']) or cert.get('common_name')}); {why}",
                "With TlsAuthLevel DomainValidation Exchange requires the TlsDomain in the certificate; fix TlsDomain or the smart host's certificate.",
            )


def _auth(rec: dict[str, Any], intent: Intent, out: _Collector) -> None:
    host = rec["host"]
    tls_done = bool(rec.get("tls") and rec["tls"].get("version"))
    before = rec["auth"]["mechanisms_before_tls"]
    after = rec["auth"]["mechanisms_after_tls"]
    starttls_offered = bool((rec.get("ehlo") or {}).get("starttls")) and not rec.get("implicit_tls")
    if before and not rec.get("implicit_tls"):
        where = "before STARTTLS" if starttls_offered else "on a connection without TLS (no STARTTLS)"
        out.add(
            "warning",
            "AUTH_BEFORE_TLS",
            f"{host} offers AUTH {' '.join(before)} {where}: a client can send its password in clear",
            "Offer AUTH only inside TLS (Postfix: smtpd_tls_auth_only = yes; Exchange receive connectors: RequireTLS), "
            "so that no client configuration can leak a password.",
        )
    # What the connector itself would do: TLS when offered (unless IgnoreSTARTTLS), AUTH where it ends up.
    connector_tls = tls_done and not intent.ignore_starttls
    if intent.basic_auth:
        if intent.auth_mechanism == "BasicAuthRequireTLS":
            where, offered = "after STARTTLS", after if connector_tls else []
        elif connector_tls:
            where, offered = "after STARTTLS", after
        else:
            where, offered = ("without TLS (ignore_starttls)" if intent.ignore_starttls else "without TLS"), before
        if not offered:
            extra = f" (it offers AUTH {' '.join(before)} only before TLS)" if before and where == "after STARTTLS" else ""
            extra = f" (it offers AUTH {' '.join(after)} only after TLS)" if after and where.startswith("without TLS") else extra
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
        if cleartext_allowed(intent.auth_mechanism, intent.require_tls):
            if not connector_tls and "LOGIN" in before:
                because = "ignore_starttls is true" if intent.ignore_starttls else f"{host} offers no usable STARTTLS"
                out.add(
                    "error",
                    "AUTH_CLEARTEXT",
                    f"the connector would send its smart host password to {host} in clear: smart_host_auth_mechanism is BasicAuth and {because}",
                    "Use BasicAuthRequireTLS (with ignore_starttls false) and a smart host that offers STARTTLS; "
                    "change the password if it has gone out in clear.",
                )
            elif connector_tls:
                out.add(
                    "warning",
                    "AUTH_CLEARTEXT_POSSIBLE",
                    f"smart_host_auth_mechanism BasicAuth without require_tls: whenever STARTTLS is missing on the way to {host} "
                    "(stripped by a firewall or an attacker), Exchange sends the password in clear",
                    "Use BasicAuthRequireTLS, or set require_tls to true.",
                )
        if not intent.credential_given:
            out.add(
                "info",
                "AUTH_NOT_TESTED",
                f"no authentication_credential password given: AUTH LOGIN to {host} was not tried",
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
        if login.get("stage") == "command":
            out.add(
                "error",
                "AUTH_REFUSED",
                f"{host} refused AUTH LOGIN itself (before any credential was sent): {login['code']} {login['text']}",
                "The smart host does not accept AUTH LOGIN on this connection (often: only after STARTTLS, or AUTH disabled for "
                "this client); check its AUTH settings.",
            )
        else:
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


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def is_relay_refusal(code: int, text: Optional[str]) -> bool:
    """A refused RCPT that means "not allowed to relay": the text says so (Postfix 'Relay access denied', Exchange
    'Unable to relay'), or the enhanced status is X.7.1 (delivery not authorized), whatever the basic code (550, 554, 454)."""
    if code < 400:
        return False
    text = text or ""
    if "relay" in text.lower():
        return True
    match = _ENHANCED.match(text)
    return bool(match and match.group(2) == "7" and match.group(3) == "1")


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
            relay = is_relay_refusal(rcpt["code"], rcpt["text"])
            out.add(
                "error" if rcpt["code"] >= 500 else "warning",
                "RELAY_DENIED" if relay else "RCPT_REFUSED",
                f"RCPT TO:<{rcpt['address']}> at {host} was answered {rcpt['code']} {rcpt['text']}",
                "Allow every source transport server's IP address to relay on the smart host, or authenticate (BasicAuthRequireTLS)."
                if relay else "The smart host refuses this recipient; check the address and the smart host's recipient rules.",
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
        if rec.get("error") and not explained and rec.get("error_kind") == "timeout":
            out.add(
                "error",
                "SMTP_TIMEOUT",
                f"{rec['host']} stopped answering during the SMTP session: {rec['error']}",
                "The smart host accepted the session and then stalled; check its load, its tarpitting/greylisting settings, or raise timeout.",
            )
        elif rec.get("error") and not explained:
            out.add(
                "error", "SESSION_ABORTED", f"the SMTP session with {rec['host']} stopped early: {rec['error']}", "See the transcript for the last exchange."
            )
    _who_answered(rec, out)
    return out.items


def _who_answered(rec: dict[str, Any], out: _Collector) -> None:
    """When something is wrong, the banner of a server that greets under another name: a port that leads to
    another SMTP server (a local MTA, another relay) shows itself there first."""
    banner = rec.get("banner") or {}
    announced = str(banner.get("host") or "").rstrip(".")
    host = str(rec["host"]).rstrip(".")
    if not announced or _host_is_ip(rec) or announced.lower() == host.lower():
        return
    if not any(item["severity"] == "error" for item in out.items):
        return
    out.add(
        "info",
        "BANNER_OTHER_NAME",
        f"{host} port {rec['port']} greets as {announced}: {banner.get('code')} {banner.get('text')}",
        "If that is not the smart host, the port leads to another SMTP server: check the connector's port "
        "(Set-SendConnector -Port) and where the name and port lead from the transport servers.",
    )

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Certificate facts for the SMTP probe: parse a DER certificate with ``cryptography`` and match
names the way RFC 6125 says (DNS-ID in subjectAltName, CN only when there is no DNS SAN, a
wildcard only as the whole left-most label and never across labels or directly under a TLD).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import is_ip

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = _exc


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _not_valid(cert: Any, which: str) -> datetime.datetime:
    """notBefore/notAfter as aware UTC datetimes (newer cryptography has the *_utc names)."""
    value = getattr(cert, f"not_valid_{which}_utc", None)
    if value is None:
        value = getattr(cert, f"not_valid_{which}")
    return _utc(value)


def describe_certificate(der: bytes, now: Optional[datetime.datetime] = None) -> dict[str, Any]:
    """The facts of one certificate: subject, SANs, issuer, serial, validity, SHA-256."""
    cert = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    dns_names: list[str] = []
    ip_names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ip_names = [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    not_before = _not_valid(cert, "before")
    not_after = _not_valid(cert, "after")
    seconds_left = (not_after - now).total_seconds()
    return {
        "subject": cert.subject.rfc4514_string(),
        "common_name": common_names[0] if common_names else None,
        "sans": dns_names,
        "ip_sans": ip_names,
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": int(seconds_left // 86400),
        "expired": seconds_left < 0,
        "not_yet_valid": now < not_before,
        "self_signed": cert.subject == cert.issuer,
        "sha256": hashlib.sha256(der).hexdigest().upper(),
    }


def _labels(name: str) -> list[str]:
    return name.strip().rstrip(".").lower().split(".")


def dns_name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 §6.4: does the certificate name ``pattern`` cover ``hostname``?

    A wildcard is honoured only as the complete left-most label (``*.contoso.com``), matches
    exactly one label, and needs at least two labels after it (``*.com`` matches nothing).
    Partial wildcards (``f*.contoso.com``) and wildcards elsewhere never match.
    """
    p_labels, h_labels = _labels(pattern), _labels(hostname)
    if not pattern or not hostname or "" in p_labels or "" in h_labels:
        return False
    if any("*" in label for label in p_labels[1:]):
        return False
    if "*" in p_labels[0]:
        if p_labels[0] != "*" or len(p_labels) < 3 or len(h_labels) != len(p_labels):
            return False
        return h_labels[1:] == p_labels[1:]
    return p_labels == h_labels


def match_host(cert: dict[str, Any], hostname: str) -> dict[str, Any]:
    """Match a host name (or IP literal) against a described certificate."""
    if is_ip(hostname, brackets=True):
        wanted = ipaddress.ip_address(hostname.strip("[]"))
        hit = next((ip for ip in cert["ip_sans"] if ipaddress.ip_address(ip) == wanted), None)
        return {"matched": hit is not None, "matched_name": hit, "checked": "ip_sans"}
    names = cert["sans"] if cert["sans"] else ([cert["common_name"]] if cert["common_name"] else [])
    hit = next((n for n in names if dns_name_matches(n, hostname)), None)
    return {"matched": hit is not None, "matched_name": hit, "checked": "sans" if cert["sans"] else "common_name"}


def match_tls_domain(cert: dict[str, Any], tls_domain: str) -> dict[str, Any]:
    """Exchange DomainValidation: does the certificate carry ``tls_domain``?

    ``contoso.com`` is matched like a host name (a ``*.contoso.com`` certificate name does NOT
    cover the bare domain). ``*.contoso.com`` is satisfied by the same wildcard in the certificate
    or by any single-label name directly under ``contoso.com``.
    """
    names = cert["sans"] if cert["sans"] else ([cert["common_name"]] if cert["common_name"] else [])
    wanted = tls_domain.strip().rstrip(".").lower()
    if wanted.startswith("*."):
        parent = _labels(wanted[2:])
        for name in names:
            labels = _labels(name)
            if labels == _labels(wanted) or (len(labels) == len(parent) + 1 and labels[1:] == parent and "*" not in labels[0]):
                return {"matched": True, "matched_name": name}
        return {"matched": False, "matched_name": None}
    hit = next((n for n in names if dns_name_matches(n, wanted)), None)
    return {"matched": hit is not None, "matched_name": hit}

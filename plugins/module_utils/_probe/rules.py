# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The two rules the probe's findings and its own behaviour hang on, written once:

1. What Exchange checks on a smart host's certificate, from the connector's settings
   (``exchange_tls_checks``). Opportunistic TLS validates nothing; ``TlsAuthLevel``
   CertificateValidation validates the chain (which includes the validity dates),
   DomainValidation also wants ``TlsDomain`` in the certificate; ``BasicAuthRequireTLS`` wants
   the smart host's FQDN in the certificate. A certificate problem is an error exactly when
   Exchange checks that property (mail would queue), otherwise a warning, and only worth an info
   when Exchange does not even use TLS (``IgnoreSTARTTLS``) (``certificate_severity``).
   Sources: the New-SendConnector/Set-SendConnector parameter descriptions (TlsAuthLevel,
   TlsDomain, SmartHostAuthMechanism, IgnoreSTARTTLS, RequireTLS) in
   MicrosoftDocs/office-docs-powershell. ``DomainSecureEnabled`` (mutual TLS) validates the chain and
   the next hop's name, but needs DNS routing, so it never applies to a smart-host connector; the
   rule takes it for completeness and the module does not offer it. The Exchange lab keeps its own,
   independent copy of this rule (tests/lab/exchange_lab/mail/smtp_send.py) as the oracle.

2. When the probe itself may send a credential (``credential_refusal``). Whatever Exchange would
   check, the probe sends AUTH only to a peer whose certificate passed every check it can make
   (chain against ``ca_cert`` or the system store, validity dates, the smart host's name, and
   ``tls_domain`` when given), and over an unencrypted connection only when the intended settings
   say the connector would do the same (``BasicAuth`` without ``RequireTLS``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

VALIDATING_LEVELS = ("CertificateValidation", "DomainValidation")


@dataclasses.dataclass(frozen=True)
class TlsChecks:
    """What a Send connector with given settings does with TLS towards its smart host."""

    uses_tls: bool  # Exchange sends STARTTLS when offered (not IgnoreSTARTTLS)
    requires_tls: bool  # no TLS, no mail (RequireTLS, a TlsAuthLevel, BasicAuthRequireTLS)
    chain: bool  # the chain and its validity dates are validated
    host_name: bool  # the certificate must name the smart host (FQDN)
    tls_domain: bool  # the certificate must carry TlsDomain
    why: str  # which settings make Exchange check (for messages), or why it does not


def exchange_tls_checks(
    require_tls: bool = False,
    ignore_starttls: bool = False,
    tls_auth_level: Optional[str] = None,
    auth_mechanism: str = "None",
    host_is_ip: bool = False,
    domain_secure: bool = False,
) -> TlsChecks:
    """THE rule: which certificate properties Exchange validates for these connector settings.

    A TlsAuthLevel counts only with RequireTLS (Exchange refuses it otherwise, and so does the probe's input).
    """
    level = (tls_auth_level or "") if require_tls else ""
    chain = level in VALIDATING_LEVELS or domain_secure
    domain = level == "DomainValidation"
    # BasicAuthRequireTLS: "the smart host's server certificate must contain the exact FQDN configured as the smart host"
    # (docs/exchange-rules.md section 3), whatever TlsAuthLevel says; domain security checks the next hop's name.
    host_name = (auth_mechanism == "BasicAuthRequireTLS" and not host_is_ip) or (domain_secure and not domain)
    requires = bool(require_tls or level or auth_mechanism == "BasicAuthRequireTLS" or domain_secure)
    reasons = []
    if level in VALIDATING_LEVELS:
        reasons.append(f"tls_auth_level is {level}")
    if domain_secure:
        reasons.append("domain_secure_enabled is true")
    if auth_mechanism == "BasicAuthRequireTLS" and not host_is_ip:
        reasons.append("smart_host_auth_mechanism is BasicAuthRequireTLS")
    if reasons:
        why = " and ".join(reasons)
    elif ignore_starttls:
        why = "ignore_starttls is true: Exchange does not use TLS with this smart host"
    elif requires:
        why = "Exchange requires TLS here but does not validate the certificate (no CertificateValidation or DomainValidation)"
    else:
        why = "opportunistic TLS: Exchange does not validate the certificate"
    return TlsChecks(
        uses_tls=not ignore_starttls, requires_tls=requires, chain=chain, host_name=host_name, tls_domain=domain, why=why
    )


def certificate_severity(checked: bool, checks: TlsChecks) -> str:
    """A certificate problem is an error when Exchange checks that property, else a warning (info without TLS)."""
    if checked:
        return "error"
    return "warning" if checks.uses_tls else "info"


def cleartext_allowed(auth_mechanism: str, require_tls: bool) -> bool:
    """Would the connector itself send its password without TLS? Only BasicAuth without RequireTLS."""
    return auth_mechanism == "BasicAuth" and not require_tls


def peer_problems(tls: Optional[dict[str, Any]], certificate: Optional[dict[str, Any]], tls_domain: Optional[str]) -> list[str]:
    """Why the TLS peer is not verified, in words (empty when every check passed)."""
    if not tls or not tls.get("version"):
        return []
    if not certificate:
        return ["the server presented no certificate"]
    problems = []
    chain = certificate.get("chain") or {}
    if not chain.get("verified"):
        problems.append(f"its certificate chain did not verify ({chain.get('reason') or 'unknown reason'})")
    host_match = certificate.get("host_match") or {}
    if not host_match.get("matched"):
        problems.append("its certificate does not name the smart host")
    if tls_domain:
        td = certificate.get("tls_domain_match") or {}
        if not td.get("matched"):
            problems.append(f"its certificate does not carry tls_domain {tls_domain}")
    return problems


def credential_refusal(tls_up: bool, problems: list[str], cleartext_ok: bool) -> Optional[str]:
    """None when the probe may send the credential now, else why it must not (a sentence)."""
    if tls_up:
        if problems:
            return "the TLS peer is not verified: " + "; ".join(problems)
        return None
    if cleartext_ok:
        return None
    return (
        "the connection is not encrypted, and only smart_host_auth_mechanism BasicAuth without require_tls "
        "sends a password in clear"
    )

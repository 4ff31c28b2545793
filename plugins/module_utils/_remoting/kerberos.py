# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Kerberos for the session layer (``session.py``): the WSMan options Kerberos needs, the user
name in the form Kerberos expects, and one clear sentence for each way a Kerberos login fails.

How the ticket is obtained (pyspnego does it, we only choose the inputs):

* ``username`` and ``password`` given: pyspnego asks the KDC for a ticket and keeps it in a
  private in-memory credential cache for this run; the user's own cache is never read or written.
* no ``password``: the ticket comes from the credential cache (``KRB5CCNAME``, filled by
  ``kinit`` beforehand), for ``username`` if given, else for the cache's default principal.

With ``auth: negotiate`` pyspnego silently falls back to NTLM when Kerberos fails, so the
Kerberos reason would be lost behind an NTLM 401. :class:`NegotiateDiagnostics` keeps the
reason pyspnego logs at that moment (no second login attempt, so no extra bad-password count).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import is_ip

KERBEROS_AUTHS = ("kerberos", "negotiate")
# The service class of the SPN. Windows' WinRM client asks for HTTP/<server>; an Exchange
# alternate service account behind a load balancer only has HTTP/ names (pypsrp's default is host/).
SERVICE = "HTTP"

_SPNEGO_LOGGER = "spnego._negotiate"


def uses_kerberos(auth: Optional[str]) -> bool:
    return (auth or "kerberos") in KERBEROS_AUTHS


def wsman_options(auth: Optional[str]) -> dict[str, Any]:
    """Extra ``pypsrp.wsman.WSMan`` keyword arguments for ``auth``."""
    return {"negotiate_service": SERVICE} if uses_kerberos(auth) else {}


def principal_name(username: Optional[str], auth: Optional[str]) -> Optional[str]:
    """``admin@contoso.com`` -> ``admin@CONTOSO.COM`` for Kerberos (realms are upper case in AD).

    Raises ValueError with a one-sentence message for a ``DOMAIN\\user`` name with ``kerberos``.
    """
    if not username or not uses_kerberos(auth):
        return username
    if "\\" in username:
        if auth == "kerberos":
            raise ValueError(
                "username %r is in DOMAIN\\user form, which Kerberos does not understand: give the UPN (user@%s)"
                % (username, username.split("\\", 1)[0].upper() or "REALM")
            )
        return username  # negotiate: NTLM understands it
    user, sep, realm = username.rpartition("@")
    if not sep:
        return username
    return "%s@%s" % (user, realm.upper())


def _principal(settings: dict[str, Any]) -> Optional[str]:
    """The user name as Kerberos sees it (realm upper-cased), for messages."""
    try:
        return principal_name(settings.get("username"), settings.get("auth"))
    except ValueError:
        return settings.get("username")


def _realm_of(principal: Optional[str]) -> Optional[str]:
    if principal and "@" in principal:
        return principal.rpartition("@")[2]
    return None


def _chain_text(err: BaseException) -> str:
    """str() of the exception and of everything it was raised from, one string."""
    parts = []
    seen = set()
    current: Any = err
    while current is not None and id(current) not in seen and len(parts) < 10:
        seen.add(id(current))
        parts.append("%s: %s" % (type(current).__name__, current))
        base = getattr(current, "base_error", None)
        if isinstance(base, BaseException) and id(base) not in seen:
            parts.append("%s: %s" % (type(base).__name__, base))
        current = current.__cause__ or current.__context__
    return " | ".join(parts)


# (pattern on the error text, reason key); the first match wins, so order matters.
_PATTERNS = (
    (r"no module named '?(gssapi|krb5)|protocol kerberos is not available|kerberos is not available", "missing_lib"),
    (r"clock skew too great", "clock_skew"),
    (r"pre-?authentication failed|password incorrect|decrypt integrity check failed", "wrong_password"),
    (r"client '?[^ ]*'? not found in kerberos database|client not found in kerberos database", "unknown_principal"),
    (r"server '?[^ ]*'? not found in kerberos database|server not found in kerberos database", "no_spn"),
    (r"cannot contact any kdc", "kdc_unreachable"),
    (r"cannot find kdc for realm", "unknown_realm"),
    (r"does not specify default realm|no default realm", "no_default_realm"),
    (r"password has expired", "password_expired"),
    (r"credentials have been revoked", "revoked"),
    (r"ticket expired", "ticket_expired"),
    (r"kdc has no support for encryption type|no supported encryption types", "enctype"),
    (
        r"no kerberos credentials available|can't find client principal|no credentials cache found"
        r"|matching credential not found|no credentials were supplied",
        "no_ticket",
    ),
)


def classify(text: str) -> Optional[str]:
    """The reason key of a Kerberos error text (see ``_PATTERNS``), or None."""
    lowered = text.lower()
    for pattern, key in _PATTERNS:
        if re.search(pattern, lowered):
            return key
    return None


def message_for(key: str, settings: dict[str, Any], text: str = "") -> str:
    """One sentence for reason ``key``; ``settings`` are the session settings (server, username...)."""
    server = str(settings.get("server") or "")
    principal = _principal(settings)
    who = principal or "the default principal"
    realm = _realm_of(principal) or _quoted_realm(text) or "the default realm"
    ccache = _ccache_in(text) or os.environ.get("KRB5CCNAME") or "the default credential cache"
    config = os.environ.get("KRB5_CONFIG") or "/etc/krb5.conf"
    auth = settings.get("auth") or "kerberos"
    if key == "missing_lib":
        return _missing_extra_sentence(auth, settings.get("password"))
    if key == "clock_skew":
        return (
            "Kerberos login for %s failed because this machine's clock and the KDC's differ by more than the allowed "
            "skew (usually 5 minutes): synchronise the time with the domain (NTP)" % who
        )
    if key == "wrong_password":
        return "Kerberos login for %s failed: the KDC rejected the password (check password)" % who
    if key == "unknown_principal":
        return (
            "Kerberos login failed: the KDC of realm %s does not know the user %s; give username as the user's UPN "
            "(user@REALM)" % (realm, who)
        )
    if key == "no_spn":
        if is_ip(server, brackets=True):
            return (
                "Kerberos cannot get a ticket for HTTP/%s because server is an IP address: give the Exchange server's "
                "DNS host name as server (Kerberos service names are registered for host names)" % server
            )
        return (
            "Kerberos cannot get a ticket for HTTP/%s: the realm has no such service principal; give the server's own "
            "DNS host name as server, not an alias (a load-balanced name needs an alternate service account with "
            "that SPN)" % server
        )
    if key == "kdc_unreachable":
        return (
            "Kerberos login failed: no KDC of realm %s answered; check the kdc entries for that realm in %s "
            "(KRB5_CONFIG) or its DNS SRV records, and that port 88 is reachable" % (realm, config)
        )
    if key == "unknown_realm":
        return (
            "Kerberos login failed: realm %s is neither in %s (KRB5_CONFIG) nor found in DNS; add it under [realms] "
            "or check the realm part of username" % (realm, config)
        )
    if key == "no_default_realm":
        return (
            "Kerberos login failed: username %s has no realm and %s sets no default_realm; give username as "
            "user@REALM" % (who, config)
        )
    if key == "password_expired":
        return "Kerberos login for %s failed: the password has expired; change it, then try again" % who
    if key == "revoked":
        return "Kerberos login for %s failed: the account is disabled, locked out or expired" % who
    if key == "ticket_expired":
        return "the Kerberos ticket for %s in %s has expired: run kinit again, or give password" % (who, ccache)
    if key == "enctype":
        return (
            "Kerberos login for %s failed: the KDC and this machine share no encryption type; enable AES for the "
            "account or check permitted_enctypes in %s" % (who, config)
        )
    if key == "no_ticket":
        return (
            "Kerberos has no ticket for %s: no password was given and the credential cache %s holds none; run kinit "
            "%s first, or give password" % (who, ccache, principal or "<user@REALM>")
        )
    return "Kerberos login for %s failed: %s" % (who, text)


def _missing_extra_sentence(auth: str, password: Any) -> str:
    why = "auth %s" % auth if auth == "kerberos" or password else "auth negotiate without a password (a ticket from kinit)"
    return (
        "%s needs the collection's Kerberos extra, which this Python on the controller does not have: install it with "
        "pip install -r requirements-kerberos.txt from the collection's folder (pyspnego[kerberos], gssapi, krb5; pip "
        "builds them with gcc and the Kerberos headers, Debian: gcc libkrb5-dev krb5-user)" % why
    )


def kerberos_available() -> bool:
    """True when pyspnego can do Kerberos here: gssapi and krb5 import (and find libkrb5)."""
    try:
        import gssapi  # noqa: F401  pylint: disable=unused-import
        import krb5  # noqa: F401  pylint: disable=unused-import
    except (ImportError, OSError):
        return False
    return True


def missing_extra(auth: Optional[str], password: Any) -> Optional[str]:
    """The one sentence to show when ``auth`` needs Kerberos and the Kerberos extra is not installed, else None.

    ``kerberos`` always needs it; ``negotiate`` only without a password (a ticket from kinit: with a password
    pyspnego's Negotiate can still use NTLM).
    """
    auth = auth or "kerberos"
    if auth == "kerberos" or (auth == "negotiate" and not password):
        if not kerberos_available():
            return _missing_extra_sentence(auth, password)
    return None


def _quoted_realm(text: str) -> Optional[str]:
    match = re.search(r"realm ['\"]?([^'\" ,]+)['\"]?", text, re.IGNORECASE)
    return match.group(1) if match else None


def _ccache_in(text: str) -> Optional[str]:
    match = re.search(r"default cache: ([^) ,]+)", text)
    return match.group(1) if match else None


def explain(err: BaseException, settings: dict[str, Any], diagnostics: Optional["NegotiateDiagnostics"] = None) -> Optional[str]:
    """One sentence for a failed Kerberos login, or None when ``err`` is not a Kerberos failure.

    ``settings`` are the session settings (``auth``, ``server``, ``username``, ``url``).
    For ``negotiate``, the Kerberos reason captured by ``diagnostics`` is used when the error
    itself is the NTLM fallback's (an HTTP 401 or an NTLM credential error).
    """
    auth = settings.get("auth") or "kerberos"
    if not uses_kerberos(auth):
        return None
    text = _chain_text(err)
    key = classify(text)
    if auth == "negotiate":
        kerberos_text = diagnostics.kerberos_error if diagnostics else None
        if kerberos_text and (key is None or key == "no_ticket"):
            kerberos_key = classify(kerberos_text)
            if kerberos_key:
                return "negotiate could not use Kerberos and the NTLM fallback was refused: " + message_for(
                    kerberos_key, settings, kerberos_text
                )
        if key is None or "ntlm" in text.lower():
            return None  # an NTLM failure: the session layer's own message fits
    if key:
        return message_for(key, settings, text)
    if auth == "kerberos" and "authenticationerror" in text.lower():
        return (
            "%s refused the Kerberos ticket of %s (HTTP 401): the account may not be allowed remote PowerShell, the "
            "server's clock may differ from the KDC's, or its key for HTTP/%s does not match (a load-balanced name "
            "needs an alternate service account)"
            % (settings.get("url") or settings.get("server"), _principal(settings) or "the default principal",
               settings.get("server"))
        )
    return None


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken log record must not break the login
            return
        if "kerberos" in message.lower() and "failed" in message.lower():
            self.messages.append(message)


class NegotiateDiagnostics:
    """Keep the reason pyspnego's Negotiate gives up on Kerberos (it then tries NTLM).

    pyspnego logs ``Failed to create first token for SPNEGO protocol kerberos: <reason>`` at
    DEBUG on ``spnego._negotiate``; the handler keeps those lines while the session opens.
    Nothing is printed: the logger does not propagate while the handler is attached.
    """

    def __init__(self) -> None:
        self._handler = _Capture()
        self._logger = logging.getLogger(_SPNEGO_LOGGER)
        self._saved: tuple[int, bool] = (logging.NOTSET, True)

    def __enter__(self) -> "NegotiateDiagnostics":
        self._saved = (self._logger.level, self._logger.propagate)
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.DEBUG)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: Any) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._saved[0])
        self._logger.propagate = self._saved[1]

    @property
    def kerberos_error(self) -> Optional[str]:
        return self._handler.messages[-1] if self._handler.messages else None

"""Kerberos HTTP authentication for the WSMan endpoint, like Exchange's ``/PowerShell``.

The server advertises ``WWW-Authenticate: Negotiate`` (IIS's Negotiate:Kerberos provider) and
accepts a Kerberos AP-REQ sent either raw (pypsrp ``auth="kerberos"``) or inside SPNEGO
(``auth="negotiate"``), under the ``Negotiate`` or ``Kerberos`` scheme. NTLM is refused: that is
what an Exchange server with only Kerberos enabled does. The acceptor is pyspnego's server side
backed by MIT GSSAPI; it reads its key from the keytab named by ``KRB5_KTNAME`` (see
``exchange_lab.kdc``), and accepts any service principal in that keytab.

The authenticated principal ``admin@LAB.TEST`` becomes the lab user ``admin``. The completed
context then seals and unseals WinRM messages (``transport.encryption``) exactly as NTLM does.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import typing as t

import spnego
import spnego.exceptions

from exchange_lab.transport.auth import AuthResult, ConnectionAuth, bare_user

log = logging.getLogger("exchange_lab.transport.kerberos")

SCHEMES = ("negotiate", "kerberos")
CHALLENGE = "Negotiate"


class KerberosAuthenticator:
    """Accept Kerberos (raw or SPNEGO-wrapped) and map the client principal to a lab user."""

    name = "kerberos"

    def __init__(
        self,
        allowed: t.Callable[[str], str | None],
        *,
        keytab: str | None = None,
        realm: str | None = None,
    ) -> None:
        """``allowed`` maps a bare user name to the lab's user (None: unknown).

        ``keytab`` sets ``KRB5_KTNAME`` for this process; ``realm`` (optional) refuses clients
        from any other realm.
        """
        if keytab:
            os.environ["KRB5_KTNAME"] = keytab if ":" in keytab else f"FILE:{keytab}"
        self._allowed = allowed
        self._realm = realm.upper() if realm else None
        keytab_path = os.environ.get("KRB5_KTNAME", "FILE:/etc/krb5.keytab").split(":", 1)[-1]
        if not os.path.exists(keytab_path):
            log.warning(
                "Kerberos: no keytab at %s, so every Kerberos login will fail; set KRB5_KTNAME and KRB5_CONFIG "
                "(python -m exchange_lab kdc prints them)",
                keytab_path,
            )

    def check(self, authorization: str | None, conn: ConnectionAuth) -> AuthResult:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() not in SCHEMES:
            if conn.user:  # the connection is authenticated (later requests carry no header)
                return AuthResult(conn.user)
            return AuthResult(None, [CHALLENGE])
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            return self._refuse(conn, "the Authorization token is not base64")
        if token.startswith(b"NTLMSSP\x00"):
            return self._refuse(conn, "NTLM is not accepted, only Kerberos")
        if conn.pending is None or token[:1] == b"\x60":
            conn.pending = spnego.server(protocol="negotiate", options=spnego.NegotiateOptions.none)
            conn.user = None
            conn.context = None
        context = conn.pending
        try:
            out = context.step(token)
        except (spnego.exceptions.SpnegoError, ValueError, KeyError, AttributeError) as exc:
            return self._refuse(conn, f"the Kerberos token was rejected: {reason(exc)}")
        out_header = f"{scheme} {base64.b64encode(out).decode()}" if out else None
        if not context.complete:
            return AuthResult(None, [out_header or CHALLENGE])
        conn.pending = None
        if context.negotiated_protocol != "kerberos":
            return self._refuse(conn, f"{context.negotiated_protocol} is not accepted, only Kerberos")
        principal = context.client_principal or ""
        user, _, realm = principal.rpartition("@")
        if self._realm and realm.upper() != self._realm:
            return self._refuse(conn, f"principal {principal} is not from realm {self._realm}")
        lab_user = self._allowed(bare_user(user or principal))
        if not lab_user:
            return self._refuse(conn, f"principal {principal} is not a lab user")
        log.info("Kerberos: %s authenticated as lab user %s", principal, lab_user)
        conn.user = lab_user
        conn.context = context
        return AuthResult(lab_user, reply_header=out_header)

    @staticmethod
    def _refuse(conn: ConnectionAuth, why: str) -> AuthResult:
        log.info("Kerberos: 401, %s", why)
        conn.pending = None
        conn.user = None
        conn.context = None
        return AuthResult(None, [CHALLENGE])


def reason(exc: BaseException) -> str:
    """The GSSAPI minor message of a pyspnego error (e.g. ``Clock skew too great``), else str()."""
    base = getattr(exc, "base_error", None)
    text = str(base or exc)
    marker = "Minor ("
    if marker in text:
        minor = text.split(marker, 1)[1]
        return minor.split("): ", 1)[-1].split(", Context:", 1)[0].strip()
    return text

"""HTTP authentication for the WSMan endpoint: Basic, NTLM and Negotiate (pyspnego acceptor).

An :class:`Authenticator` is shared by the server; a :class:`ConnectionAuth` lives with one TCP
connection. Basic authenticates every request; NTLM/Negotiate authenticate the connection once
(multi-leg, 401 challenges) and their context then seals messages (WinRM encryption).

A Kerberos acceptor can be added as another :class:`SpnegoAuthenticator` configuration: it only
needs ``protocol="kerberos"`` (or ``negotiate`` with a keytab in ``KRB5_KTNAME``) and the
``Kerberos`` challenge scheme; the per-connection flow is the same.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import typing as t

import spnego
import spnego.exceptions


def bare_user(name: str) -> str:
    """``CONTOSO\\admin`` and ``admin@contoso.com`` -> ``admin``."""
    name = name.split("\\", 1)[-1]
    return name.split("@", 1)[0]


@dataclasses.dataclass
class AuthResult:
    """Outcome of checking one request.

    ``user`` set: go on (``reply_header`` may carry a final token for the 200).
    ``user`` None: answer 401 with ``challenge`` as WWW-Authenticate values.
    """

    user: str | None
    challenge: list[str] = dataclasses.field(default_factory=list)
    reply_header: str | None = None


@dataclasses.dataclass
class ConnectionAuth:
    """Per-connection state: the authenticated user and the security context (if any)."""

    user: str | None = None
    context: t.Any = None  # spnego context once complete: seals/unseals WinRM messages
    pending: t.Any = None  # spnego context in the middle of a handshake

    @property
    def can_encrypt(self) -> bool:
        return self.context is not None


class Authenticator(t.Protocol):
    name: str

    def check(self, authorization: str | None, conn: ConnectionAuth) -> AuthResult: ...


class BasicAuthenticator:
    name = "basic"

    def __init__(self, verify: t.Callable[[str, str], str | None], realm: str = "WSMan") -> None:
        self._verify = verify
        self._realm = realm

    def check(self, authorization: str | None, conn: ConnectionAuth) -> AuthResult:
        challenge = [f'Basic realm="{self._realm}"']
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return AuthResult(None, challenge)
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(None, challenge)
        lab_user = self._verify(bare_user(user), password)
        if not lab_user:
            return AuthResult(None, challenge)
        conn.user = lab_user
        return AuthResult(lab_user)


def _user_line(domain: str, user: str, password: str) -> str:
    """One NTLM_USER_FILE line: Heimdal ``DOMAIN:USER:PASSWORD``, or the smbpasswd form with hashes
    when the password contains a colon (the Heimdal form cannot carry one)."""
    if ":" not in password and ":" not in user:
        return f"{domain}:{user}:{password}"
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # pyspnego's own hash helpers (pinned 0.12.4)

    name = f"{domain}\\{user}" if domain else user
    return f"{name}:1000:{lmowfv1(password).hex().upper()}:{ntowfv1(password).hex().upper()}:[U]:LCT-00000000"


def write_ntlm_user_file(path: str, users: list[tuple[str, str, str]], realms: list[str]) -> None:
    """Write pyspnego's NTLM_USER_FILE (mode 0600, atomically).

    NTLM matches the domain the client typed exactly, so each user is listed as
    ``DOMAIN\\user``, bare ``user`` and ``user@realm`` for the user's domain and every realm given.
    """
    lines: list[str] = []
    for domain, user, password in users:
        lines.append(_user_line(domain, user, password))
        lines.append(_user_line("", user, password))
        for realm in sorted({domain, *realms}):
            if realm:
                lines.append(_user_line("", f"{user}@{realm}", password))
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


class SpnegoAuthenticator:
    """NTLM or Negotiate (SPNEGO, NTLM inside; raw NTLM tokens accepted too) via pyspnego.

    pyspnego's NTLM acceptor reads credentials from the file named by ``NTLM_USER_FILE``
    (``user_file``). For Kerberos, pass ``protocol="kerberos"`` (challenge scheme ``Kerberos``)
    or ``"negotiate"`` with ``server_kwargs={"hostname": ..., "service": "HTTP"}`` and a keytab
    in ``KRB5_KTNAME``; ``user_file`` may then be None.
    """

    SCHEMES = {"ntlm": "NTLM", "negotiate": "Negotiate", "kerberos": "Kerberos"}

    def __init__(
        self,
        protocol: str,
        user_file: str | None,
        allowed: t.Callable[[str], str | None],
        server_kwargs: dict[str, t.Any] | None = None,
    ) -> None:
        if protocol not in self.SCHEMES:
            raise ValueError(f"unsupported SPNEGO protocol {protocol!r}")
        self.name = protocol
        self._protocol = protocol
        self._scheme = self.SCHEMES[protocol]
        self._allowed = allowed
        self._server_kwargs = dict(server_kwargs or {})
        if user_file:
            os.environ["NTLM_USER_FILE"] = user_file

    def check(self, authorization: str | None, conn: ConnectionAuth) -> AuthResult:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() not in ("negotiate", "ntlm", "kerberos"):
            if conn.user:  # connection already authenticated (no header on later requests)
                return AuthResult(conn.user)
            return AuthResult(None, [self._scheme])
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            conn.pending = None
            return AuthResult(None, [self._scheme])
        if conn.pending is None or token.startswith(b"NTLMSSP\x00\x01") or token[:1] == b"\x60":
            # A new handshake (first leg) replaces whatever the connection had.
            conn.pending = spnego.server(protocol=self._protocol, **self._server_kwargs)
            conn.user = None
            conn.context = None
        context = conn.pending
        try:
            out = context.step(token)
        except (spnego.exceptions.SpnegoError, ValueError, KeyError):
            conn.pending = None
            return AuthResult(None, [self._scheme])
        out_header = f"{self._scheme} {base64.b64encode(out).decode()}" if out else None
        if not context.complete:
            return AuthResult(None, [out_header or self._scheme])
        conn.pending = None
        lab_user = self._allowed(bare_user(context.client_principal or ""))
        if not lab_user:
            return AuthResult(None, [self._scheme])
        conn.user = lab_user
        conn.context = context
        return AuthResult(lab_user, reply_header=out_header)

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The SMTP probe: one read-only SMTP conversation per smart host, done the way an Exchange Send
connector would start it (banner, EHLO, STARTTLS, EHLO again, AUTH LOGIN), recording what a
mail admin would look at with ``openssl s_client -starttls smtp`` or swaks. Standard library
sockets and ``ssl`` only; certificates are parsed with ``cryptography``.

Nothing here raises to the caller: every problem ends up in the returned record (``error`` and
the per-stage fields), and the findings are derived from that record elsewhere.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import email.message
import email.policy
import email.utils
import ipaddress
import socket
import ssl
import threading
import time
import uuid
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._probe.cert import (
    describe_certificate,
    match_host,
    match_tls_domain,
)
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import is_ip
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.rules import (
    cleartext_allowed,
    credential_refusal,
    peer_problems,
)

IMPLICIT_TLS_PORTS = (465,)
DNS_GRACE = 1.0  # seconds a lookup that only reports on the name may still take after the conversation
REDACTED = "********"


class ProbeError(Exception):
    """A stage of the conversation could not complete (message says which and why)."""


class ProbeTimeout(ProbeError):
    pass


@dataclasses.dataclass
class ProbeSettings:
    host: str
    port: int = 25
    connect_address: Optional[str] = None
    timeout: float = 10.0
    helo_name: str = "localhost"
    ca_cert: Optional[str] = None
    tls_domain: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    auth_mechanism: str = "None"  # the connector's SmartHostAuthMechanism
    require_tls: bool = False
    mail_from: Optional[str] = None
    rcpt_to: list[str] = dataclasses.field(default_factory=list)
    label: Optional[str] = None  # free text echoed back (e.g. the connector's name)

    @property
    def is_ip(self) -> bool:
        return is_ip(self.host, brackets=True)

    @property
    def cleartext_auth(self) -> bool:
        """The connector itself would send AUTH LOGIN without TLS (BasicAuth without RequireTLS)."""
        return cleartext_allowed(self.auth_mechanism, self.require_tls)


@dataclasses.dataclass
class Reply:
    code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines).strip()


class Transcript:
    """``S:`` server, ``C:`` client, ``*`` probe notes; credentials never enter it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def server(self, line: str) -> None:
        self.lines.append(f"S: {line}")

    def client(self, line: str) -> None:
        self.lines.append(f"C: {line}")

    def note(self, line: str) -> None:
        self.lines.append(f"* {line}")


class SmtpLink:
    """A line-oriented SMTP client connection with a per-host deadline."""

    def __init__(self, sock: socket.socket, deadline: float, transcript: Transcript) -> None:
        self.sock = sock
        self.deadline = deadline
        self.transcript = transcript
        self._buffer = b""

    def remaining(self, cap: Optional[float] = None) -> float:
        left = self.deadline - time.monotonic()
        if cap is not None:
            left = min(left, cap)
        if left <= 0:
            raise ProbeTimeout("the per-host timeout was used up")
        return left

    def _read_line(self, stage: str, cap: Optional[float]) -> str:
        while b"\n" not in self._buffer:
            self.sock.settimeout(self.remaining(cap))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                raise ProbeTimeout(f"timed out waiting for the {stage} reply") from None
            except ssl.SSLError as exc:
                raise ProbeError(f"TLS error while waiting for the {stage} reply: {exc.reason or exc}") from None
            except OSError as exc:
                raise ProbeError(f"connection error while waiting for the {stage} reply: {exc.strerror or exc}") from None
            if not data:
                raise ProbeError(f"the server closed the connection while we waited for the {stage} reply")
            self._buffer += data
            if len(self._buffer) > 65536:
                raise ProbeError(f"the {stage} reply is not SMTP (no line end in 64 KiB)")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_reply(self, stage: str, cap: Optional[float] = None) -> Reply:
        lines: list[str] = []
        code = 0
        while True:
            line = self._read_line(stage, cap)
            self.transcript.server(line)
            if len(line) < 3 or not line[:3].isdigit():
                raise ProbeError(f"the {stage} reply is not SMTP: {line[:80]!r}")
            code = int(line[:3])
            lines.append(line[4:])
            if len(line) == 3 or line[3] != "-":
                return Reply(code, lines)

    def send(self, line: str, stage: str, shown: Optional[str] = None) -> Reply:
        if "\r" in line or "\n" in line or "\x00" in line:
            # Input is checked before any connection; this is the last line of defence against a
            # second command smuggled into this one.
            raise ProbeError(f"refused to send {stage}: the line contains CR, LF or NUL")
        self.transcript.client(line if shown is None else shown)
        self.sock.settimeout(self.remaining())
        try:
            self.sock.sendall(line.encode("utf-8") + b"\r\n")
        except OSError as exc:
            raise ProbeError(f"connection error while sending {stage}: {exc}") from None
        return self.read_reply(stage)

    def start_tls(self, context: ssl.SSLContext, server_hostname: Optional[str]) -> None:
        """Wrap the socket in TLS (raises ssl errors to the caller, who decides what they mean)."""
        self.sock.settimeout(self.remaining())
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self._buffer = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# -- contexts -------------------------------------------------------------------------------
def _relax_versions(context: ssl.SSLContext) -> None:
    """Let the probe see (and report) old TLS versions instead of failing the handshake."""
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1
    except (ValueError, AttributeError):
        pass


def verifying_context(ca_cert: Optional[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
    context.check_hostname = False  # names are matched per RFC 6125 by the probe itself
    context.verify_mode = ssl.CERT_REQUIRED
    _relax_versions(context)
    return context


def plain_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _relax_versions(context)
    return context


# OpenSSL X509_V_ERR_* codes -> what went wrong, so that each failure can be named distinctly.
_VERIFY_PROBLEMS = {
    2: "unknown_ca",  # unable to get issuer certificate
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",  # depth zero self-signed
    19: "self_signed",  # self-signed certificate in chain
    20: "unknown_ca",  # unable to get local issuer certificate
    21: "unknown_ca",  # unable to verify the first certificate
    23: "revoked",
}


def verify_problem(exc: ssl.SSLCertVerificationError) -> str:
    """``unknown_ca``, ``self_signed``, ``expired``, ``not_yet_valid``, ``revoked`` or ``other``."""
    return _VERIFY_PROBLEMS.get(getattr(exc, "verify_code", 0) or 0, "other")


# -- EHLO -----------------------------------------------------------------------------------
def parse_ehlo(lines: list[str]) -> dict[str, Any]:
    """Capabilities from the lines of a 250 EHLO reply (the first line is the greeting)."""
    caps: dict[str, Any] = {
        "starttls": False,
        "size": None,
        "auth": [],
        "pipelining": False,
        "eightbitmime": False,
        "chunking": False,
        "keywords": [],
    }
    for line in lines[1:]:
        parts = line.replace("=", " ", 1).split() if line.upper().startswith("AUTH=") else line.split()
        if not parts:
            continue
        keyword = parts[0].upper()
        caps["keywords"].append(keyword)
        if keyword == "STARTTLS":
            caps["starttls"] = True
        elif keyword == "SIZE":
            caps["size"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        elif keyword == "AUTH":
            for mech in parts[1:]:
                if mech.upper() not in caps["auth"]:
                    caps["auth"].append(mech.upper())
        elif keyword == "PIPELINING":
            caps["pipelining"] = True
        elif keyword == "8BITMIME":
            caps["eightbitmime"] = True
        elif keyword == "CHUNKING":
            caps["chunking"] = True
    return caps


def _ehlo(link: SmtpLink, name: str) -> dict[str, Any]:
    reply = link.send(f"EHLO {name}", "EHLO")
    result: dict[str, Any] = {"name": name, "code": reply.code, "greeting": reply.lines[0] if reply.lines else ""}
    if reply.code == 250:
        result.update(parse_ehlo(reply.lines))
        return result
    helo = link.send(f"HELO {name}", "HELO")
    result.update(parse_ehlo([]))
    result["helo_code"] = helo.code
    return result


# -- the probe ------------------------------------------------------------------------------
def empty_record(settings: ProbeSettings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "connect_address": settings.connect_address,
        "address": None,
        "dns": None,
        "tcp": None,
        "implicit_tls": False,
        "banner": None,
        "ehlo": None,
        "starttls": None,
        "tls": None,
        "certificate": None,
        "ehlo_tls": None,
        "label": settings.label,
        "auth": {"mechanisms_before_tls": [], "mechanisms_after_tls": [], "login": None},
        "mail_rcpt": None,
        "transcript": [],
        "error": None,
        "error_kind": None,
        "duration_ms": 0,
    }


class _Lookup:
    """A/AAAA for one name through the system resolver (getaddrinfo), started at once, read with a deadline.

    getaddrinfo cannot be interrupted: a lookup that hangs finishes in its daemon thread, left behind.
    """

    def __init__(self, host: str, port: int) -> None:
        self.name = host.strip("[]")
        self.port = port
        self._outcome: dict[str, Any] = {}
        self._thread: Optional[threading.Thread] = None
        if not is_ip(self.name, brackets=True):
            self._thread = threading.Thread(target=self._run, name=f"smtp-probe-dns-{self.name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome["infos"] = socket.getaddrinfo(self.name, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            self._outcome["error"] = getattr(exc, "strerror", None) or str(exc)

    def result(self, timeout: float) -> dict[str, Any]:
        name = self.name
        if self._thread is None:
            version = ipaddress.ip_address(name).version
            return {"name": name, "a": [name] if version == 4 else [], "aaaa": [name] if version == 6 else [], "ip_literal": True, "error": None}
        result: dict[str, Any] = {"name": name, "a": [], "aaaa": [], "ip_literal": False, "error": None}
        self._thread.join(max(0.0, timeout))
        if self._thread.is_alive():
            result["error"] = f"name resolution did not answer within {max(0.0, timeout):.3g} seconds"
            return result
        if "error" in self._outcome:
            result["error"] = self._outcome["error"]
            return result
        for info in self._outcome.get("infos", []):
            family, sockaddr = info[0], info[4]
            key = "a" if family == socket.AF_INET else "aaaa" if family == socket.AF_INET6 else None
            if key and sockaddr[0] not in result[key]:
                result[key].append(sockaddr[0])
        return result


def _connect(address: str, port: int, deadline: float, transcript: Transcript) -> tuple[SmtpLink, float]:
    started = time.monotonic()
    left = deadline - started
    if left <= 0:
        raise ProbeTimeout("the per-host timeout was used up before connecting")
    transcript.note(f"connecting to {address}:{port}")
    try:
        sock = socket.create_connection((address, port), timeout=left)
    except socket.timeout:
        raise ProbeTimeout(f"TCP connect to {address}:{port} timed out") from None
    except OSError as exc:
        raise ProbeError(f"TCP connect to {address}:{port} failed: {exc.strerror or exc}") from None
    latency = (time.monotonic() - started) * 1000.0
    transcript.note(f"connected in {latency:.1f} ms")
    return SmtpLink(sock, deadline, transcript), latency


class _Prober:
    """One host's conversation; fills ``record`` as it goes."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.s = settings
        self.record = empty_record(settings)
        self.transcript = Transcript()
        self.deadline = time.monotonic() + settings.timeout
        self.sni = None if settings.is_ip else settings.host.rstrip(".")
        self.peer_problems: list[str] = []  # why the TLS peer is not verified (no credential goes to it)
        self._pending_dns: Optional[_Lookup] = None

    # connection helpers ----------------------------------------------------------------------
    def _reconnect(self) -> SmtpLink:
        return _connect(self.record["address"], self.s.port, self.deadline, self.transcript)[0]

    def _tls_on_connect(self, link: SmtpLink, verify: bool) -> None:
        link.start_tls(verifying_context(self.s.ca_cert) if verify else plain_context(), self.sni)

    def _redo_until_tls(self, implicit: bool) -> SmtpLink:
        """A fresh session up to the TLS handshake, without certificate verification."""
        self.transcript.note("certificate not trusted: reconnecting without verification to read the rest (no credential will be sent)")
        link = self._reconnect()
        if implicit:
            self._tls_on_connect(link, verify=False)
            link.read_reply("banner")
        else:
            link.read_reply("banner")
            _ehlo(link, self.s.helo_name)
            if link.send("STARTTLS", "STARTTLS").code != 220:
                raise ProbeError("STARTTLS was refused on the second connection")
            link.start_tls(plain_context(), self.sni)
        return link

    def _handshake(self, link: SmtpLink, implicit: bool) -> SmtpLink:
        """TLS with chain verification; on a verification failure record why and go on unverified."""
        chain = {"verified": False, "reason": None, "problem": None, "store": self.s.ca_cert or "system"}
        self.record["tls"] = {"version": None, "cipher": None, "bits": None, "chain": chain, "error": None}
        try:
            link.start_tls(verifying_context(self.s.ca_cert), self.sni)
            chain["verified"], chain["reason"] = True, "ok"
        except ssl.SSLCertVerificationError as exc:
            chain["reason"] = exc.verify_message or str(exc)
            chain["problem"] = verify_problem(exc)
            self.transcript.note(f"certificate verification failed: {chain['reason']}")
            link.close()
            link = self._redo_until_tls(implicit)
        tls_sock = link.sock
        if not isinstance(tls_sock, ssl.SSLSocket):
            raise ProbeError("internal: TLS was not established")
        cipher = tls_sock.cipher() or (None, None, None)
        self.record["tls"].update({"version": tls_sock.version(), "cipher": cipher[0], "bits": cipher[2]})
        self.transcript.note(f"TLS established: {tls_sock.version()} {cipher[0]}")
        der = tls_sock.getpeercert(binary_form=True)
        if der:
            cert = describe_certificate(der)
            cert["chain"] = chain
            cert["host_match"] = match_host(cert, self.s.host)
            cert["tls_domain_match"] = match_tls_domain(cert, self.s.tls_domain) if self.s.tls_domain else None
            self.record["certificate"] = cert
        self.peer_problems = peer_problems(self.record["tls"], self.record["certificate"], self.s.tls_domain)
        self.record["tls"]["peer_verified"] = not self.peer_problems
        if self.peer_problems:
            self.transcript.note("TLS peer not verified: " + "; ".join(self.peer_problems))
        return link

    # stages -----------------------------------------------------------------------------------
    def dns(self) -> list[str]:
        lookup = _Lookup(self.s.host, self.s.port)
        if self.s.connect_address:
            # The name is only reported on: look it up while the conversation goes on (a slow resolver
            # must not eat the budget of a probe that does not need it), read it at the end.
            self._pending_dns = lookup
            return [self.s.connect_address.strip("[]")]
        dns = lookup.result(max(0.1, self.deadline - time.monotonic()))
        self.record["dns"] = dns
        return dns["a"] + dns["aaaa"]

    def _finish_dns(self) -> None:
        if self._pending_dns is not None:
            # Informational only: give it at most DNS_GRACE more seconds (a resolver's 5 s retry would otherwise
            # add itself to every probe that did not need the name).
            self.record["dns"] = self._pending_dns.result(max(0.05, min(DNS_GRACE, self.deadline - time.monotonic())))
            self._pending_dns = None

    def connect(self, addresses: list[str]) -> SmtpLink:
        errors = []
        for address in addresses:
            try:
                link, latency = _connect(address, self.s.port, self.deadline, self.transcript)
            except ProbeError as exc:
                errors.append(str(exc))
                self.record["tcp"] = {"ok": False, "address": address, "latency_ms": None, "error": str(exc)}
                continue
            self.record["address"] = address
            self.record["tcp"] = {"ok": True, "address": address, "latency_ms": round(latency, 1), "error": None}
            return link
        raise ProbeError("; ".join(errors) or "no address to connect to")

    def banner(self, link: SmtpLink) -> SmtpLink:
        implicit = self.s.port in IMPLICIT_TLS_PORTS
        if not implicit:
            try:
                # A server that speaks TLS first says nothing: wait at most half the budget.
                reply = link.read_reply("banner", cap=max(1.0, self.s.timeout / 2.0))
                self._set_banner(reply)
                return link
            except ProbeTimeout:
                self.transcript.note("no banner: trying a TLS handshake on connect (implicit TLS?)")
                link.close()
                link = self._reconnect()
                try:
                    link.start_tls(plain_context(), self.sni)
                except (ssl.SSLError, OSError):
                    raise ProbeTimeout("no SMTP banner and no TLS handshake on connect: the server does not answer") from None
                link.close()
                link = self._reconnect()
        self.record["implicit_tls"] = True
        try:
            link = self._handshake(link, implicit=True)
        except (ssl.SSLError, OSError) as exc:
            if self.s.port in IMPLICIT_TLS_PORTS:
                self.record["implicit_tls"] = False
                self.transcript.note(f"no TLS on connect ({exc}); reading a plain banner")
                link.close()
                link = self._reconnect()
                self.record["tls"] = None
                self._set_banner(link.read_reply("banner"))
                return link
            if self.record["tls"] is not None:
                self.record["tls"]["error"] = str(getattr(exc, "reason", None) or exc)
            raise ProbeError(f"TLS handshake on connect failed: {exc}") from None
        self._set_banner(link.read_reply("banner"))
        return link

    def _set_banner(self, reply: Reply) -> None:
        host = reply.lines[0].split()[0] if reply.lines and reply.lines[0].split() else None
        self.record["banner"] = {"code": reply.code, "text": reply.text, "host": host}

    def auth_login(self, link: SmtpLink, mechanisms: list[str], tls: bool) -> None:
        s = self.s
        if not s.username:
            return
        login: dict[str, Any] = {
            "attempted": False, "ok": False, "code": None, "text": None, "username": s.username, "skipped": None, "withheld": False,
        }
        self.record["auth"]["login"] = login
        refusal = credential_refusal(tls, self.peer_problems, s.cleartext_auth)
        if refusal:
            login["skipped"] = f"AUTH was not attempted: {refusal}"
            login["withheld"] = True
            self.transcript.note(login["skipped"])
            return
        if "LOGIN" not in mechanisms:
            login["skipped"] = "AUTH was not attempted: the server does not offer AUTH LOGIN here"
            return
        login["attempted"] = True
        login["stage"] = "command"
        reply = link.send("AUTH LOGIN", "AUTH LOGIN")
        if reply.code == 334:
            login["stage"] = "credential"
            encoded_user = base64.b64encode(s.username.encode("utf-8")).decode("ascii")
            reply = link.send(encoded_user, "AUTH LOGIN user name", shown=f"{REDACTED} (user name, base64)")
            if reply.code == 334:
                encoded_password = base64.b64encode((s.password or "").encode("utf-8")).decode("ascii")
                reply = link.send(encoded_password, "AUTH LOGIN password", shown=f"{REDACTED} (password)")
        login.update({"code": reply.code, "text": reply.text, "ok": reply.code == 235})

    def mail_rcpt(self, link: SmtpLink) -> None:
        s = self.s
        if not s.mail_from and not s.rcpt_to:
            return
        result: dict[str, Any] = {"mail_from": s.mail_from or "", "mail_code": None, "mail_text": None, "rcpt": []}
        self.record["mail_rcpt"] = result
        reply = link.send(f"MAIL FROM:<{s.mail_from or ''}>", "MAIL FROM")
        result.update({"mail_code": reply.code, "mail_text": reply.text})
        if reply.code != 250:
            return
        for address in s.rcpt_to:
            reply = link.send(f"RCPT TO:<{address}>", "RCPT TO")
            result["rcpt"].append({"address": address, "code": reply.code, "text": reply.text})
        link.send("RSET", "RSET")

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        link: Optional[SmtpLink] = None
        try:
            addresses = self.dns()
            if not addresses:
                raise ProbeError(f"{self.s.host} has no A or AAAA record: {self.record['dns']['error'] or 'no address'}")
            link = self.connect(addresses)
            link = self.banner(link)
            if self.record["banner"]["code"] != 220:
                raise ProbeError(f"the server refused the session: {self.record['banner']['code']} {self.record['banner']['text']}")
            ehlo = _ehlo(link, self.s.helo_name)
            self.record["ehlo"] = ehlo
            tls = self.record["implicit_tls"]
            if tls:
                self.record["ehlo_tls"] = ehlo
                self.record["auth"]["mechanisms_after_tls"] = list(ehlo["auth"])
            else:
                self.record["auth"]["mechanisms_before_tls"] = list(ehlo["auth"])
                if ehlo["starttls"]:
                    reply = link.send("STARTTLS", "STARTTLS")
                    self.record["starttls"] = {"code": reply.code, "text": reply.text}
                    if reply.code == 220:
                        try:
                            link = self._handshake(link, implicit=False)
                        except (ssl.SSLError, OSError) as exc:
                            self.record["tls"]["error"] = str(getattr(exc, "reason", None) or exc)
                            raise ProbeError(f"TLS handshake after STARTTLS failed: {self.record['tls']['error']}") from None
                        tls = True
                        self.record["ehlo_tls"] = _ehlo(link, self.s.helo_name)
                        self.record["auth"]["mechanisms_after_tls"] = list(self.record["ehlo_tls"]["auth"])
            mechanisms = self.record["auth"]["mechanisms_after_tls"] if tls else self.record["auth"]["mechanisms_before_tls"]
            self.auth_login(link, mechanisms, tls)
            self.mail_rcpt(link)
            try:
                link.send("QUIT", "QUIT")
            except ProbeError:
                pass  # some servers just close
        except ProbeError as exc:
            self.record["error"] = str(exc)
            self.record["error_kind"] = "timeout" if isinstance(exc, ProbeTimeout) else "session"
            self.transcript.note(f"stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - a probe must never raise; report instead
            self.record["error"] = f"unexpected {type(exc).__name__}: {exc}"
            self.transcript.note(f"stopped: {self.record['error']}")
        finally:
            if link is not None:
                link.close()
            self._finish_dns()
        self.record["transcript"] = self.transcript.lines
        self.record["duration_ms"] = round((time.monotonic() - started) * 1000.0, 1)
        return self.record


def probe_host(settings: ProbeSettings) -> dict[str, Any]:
    """Probe one smart host; always returns a record, never raises."""
    return _Prober(settings).run()


MAX_PARALLEL = 20  # probes at the same time; every probe is bounded by its own timeout


def probe_hosts(all_settings: list[ProbeSettings], max_parallel: int = MAX_PARALLEL) -> list[dict[str, Any]]:
    """Probe every target concurrently (at most ``max_parallel`` at once); records in the given order.

    Every probe ends within its timeout (sockets have deadlines, name resolution gives up), so the
    whole run takes about ``ceil(len / max_parallel)`` timeouts at worst.
    """
    if not all_settings:
        return []
    workers = max(1, min(max_parallel, len(all_settings)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-probe") as pool:
        return list(pool.map(probe_host, all_settings))


# -- test message -----------------------------------------------------------------------------
def build_message(sender: str, recipients: list[str], subject: str, body: str, helo_name: str) -> email.message.EmailMessage:
    # strict: a header the email library would have to repair raises instead (the input was checked before)
    msg = email.message.EmailMessage(policy=email.policy.SMTP.clone(raise_on_defect=True))
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else helo_name
    msg["Message-ID"] = f"<mailflow-probe.{uuid.uuid4().hex}@{domain}>"
    msg.set_content(body)
    return msg


def _dot_stuff(data: bytes) -> bytes:
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def _open_submission(
    settings: ProbeSettings, address: str, deadline: float, transcript: Transcript, context: ssl.SSLContext
) -> tuple[SmtpLink, dict[str, Any], bool]:
    """Connect, read the banner, EHLO, and STARTTLS when offered, with ``context``; -> (link, ehlo, tls)."""
    link = _connect(address, settings.port, deadline, transcript)[0]
    try:
        sni = None if settings.is_ip else settings.host.rstrip(".")
        tls = False
        if settings.port in IMPLICIT_TLS_PORTS:
            link.start_tls(context, sni)
            tls = True
        banner = link.read_reply("banner")
        if banner.code != 220:
            raise ProbeError(f"the server refused the session: {banner.code} {banner.text}")
        ehlo = _ehlo(link, settings.helo_name)
        if ehlo["starttls"] and not tls:
            reply = link.send("STARTTLS", "STARTTLS")
            if reply.code == 220:
                link.start_tls(context, sni)
                tls = True
                ehlo = _ehlo(link, settings.helo_name)
        return link, ehlo, tls
    except BaseException:
        link.close()
        raise


def _submission_peer_problems(link: SmtpLink, settings: ProbeSettings) -> list[str]:
    """After a verified chain: does the certificate also name the host we meant to reach?"""
    sock = link.sock
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        return ["the server presented no certificate"]
    cert = describe_certificate(der)
    cert["chain"] = {"verified": True}
    cert["host_match"] = match_host(cert, settings.host)
    return peer_problems({"version": sock.version()}, cert, None)


def send_message(
    settings: ProbeSettings,
    address: str,
    msg: email.message.EmailMessage,
    require_tls: bool,
    envelope_from: Optional[str] = None,
    envelope_to: Optional[list[str]] = None,
) -> dict[str, Any]:
    """Submit one complete message (STARTTLS when offered, AUTH LOGIN when a credential is given).

    The credential is sent only inside TLS whose certificate verified (chain against ``ca_cert``
    or the system store, and the host's name), or without TLS when the settings say the connector
    would do that too (BasicAuth without RequireTLS). A message without a credential may go over
    TLS that did not verify, as Exchange's opportunistic TLS would.
    """
    transcript = Transcript()
    deadline = time.monotonic() + settings.timeout
    recipients = list(envelope_to) if envelope_to is not None else [a.addr_spec for a in msg["To"].addresses]
    sender = envelope_from if envelope_from is not None else email.utils.parseaddr(str(msg["From"]))[1]
    result: dict[str, Any] = {
        "host": settings.host,
        "address": address,
        "port": settings.port,
        "message_id": str(msg["Message-ID"]),
        "code": None,
        "text": None,
        "queued": False,
        "tls": False,
        "tls_verified": False,
        "error": None,
        "transcript": transcript.lines,
    }
    link: Optional[SmtpLink] = None
    try:
        try:
            link, ehlo, tls = _open_submission(settings, address, deadline, transcript, verifying_context(settings.ca_cert))
            problems = _submission_peer_problems(link, settings) if tls and settings.username else []
            result["tls_verified"] = tls and not problems
        except ssl.SSLCertVerificationError as exc:
            problems = [f"its certificate chain did not verify ({exc.verify_message or exc})"]
            transcript.note(f"certificate verification failed: {exc.verify_message or exc}")
            if settings.username:
                raise ProbeError("AUTH was not attempted and the message was not sent: the TLS peer is not verified: " + problems[0]) from None
            transcript.note("reconnecting without certificate verification (no credential is sent on this connection)")
            link, ehlo, tls = _open_submission(settings, address, deadline, transcript, plain_context())
        result["tls"] = tls
        if require_tls and not tls:
            raise ProbeError("require_tls is set but the server did not offer STARTTLS; the message was not sent")
        if settings.username:
            refusal = credential_refusal(tls, problems, settings.cleartext_auth)
            if refusal:
                raise ProbeError(f"AUTH was not attempted and the message was not sent: {refusal}")
            if "LOGIN" not in ehlo["auth"]:
                raise ProbeError("a credential was given but the server does not offer AUTH LOGIN")
            reply = link.send("AUTH LOGIN", "AUTH LOGIN")
            if reply.code == 334:
                reply = link.send(base64.b64encode(settings.username.encode()).decode(), "AUTH LOGIN user name", shown=f"{REDACTED} (user name, base64)")
            if reply.code == 334:
                reply = link.send(base64.b64encode((settings.password or "").encode()).decode(), "AUTH LOGIN password", shown=f"{REDACTED} (password)")
            if reply.code != 235:
                raise ProbeError(f"authentication failed: {reply.code} {reply.text}")
        steps = [(f"MAIL FROM:<{sender}>", "MAIL FROM")] + [(f"RCPT TO:<{r}>", "RCPT TO") for r in recipients]
        for line, stage in steps:
            reply = link.send(line, stage)
            if reply.code not in (250, 251):
                raise ProbeError(f"{stage} refused: {reply.code} {reply.text}")
        reply = link.send("DATA", "DATA")
        if reply.code != 354:
            raise ProbeError(f"DATA refused: {reply.code} {reply.text}")
        payload = _dot_stuff(msg.as_bytes(policy=email.policy.SMTP.clone(max_line_length=998))) + b".\r\n"
        transcript.client(f"<message {result['message_id']}, {len(payload)} bytes>")
        link.sock.sendall(payload)
        reply = link.read_reply("end of DATA")
        result.update({"code": reply.code, "text": reply.text, "queued": reply.code == 250})
        try:
            link.send("QUIT", "QUIT")
        except ProbeError:
            pass
    except (ProbeError, ssl.SSLError, OSError) as exc:
        result["error"] = str(exc)
        transcript.note(f"stopped: {exc}")
    finally:
        if link is not None:
            link.close()
    return result

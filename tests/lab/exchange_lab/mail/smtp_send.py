"""Delivery of one message to a Send connector's smart hosts over real SMTP.

The client speaks SMTP on a plain socket so that every line can go to the SmtpSend protocol log
and every setting of the connector is honoured: ``Port``, ``Fqdn`` (EHLO name), ``ForceHELO``,
``IgnoreSTARTTLS``, ``RequireTLS``, ``TlsAuthLevel``/``TlsDomain`` (checked against the lab's CA
bundle), ``SmartHostAuthMechanism`` (AUTH LOGIN for BasicAuth / BasicAuthRequireTLS),
``AuthenticationCredential``, ``ConnectionInactivityTimeOut`` and fail-over across ``SmartHosts``.
The message goes with ``BDAT <size> LAST`` when the smart host offers CHUNKING (as Exchange does),
otherwise with DATA.

Which certificate checks a delivery makes is the lab's own copy of Exchange's rule
(:func:`certificate_checks`); the collection's probe has its own, and the tests compare the two.

Errors are reported with the text Exchange puts in a queue's LastError (the shapes quoted in roles/smart_host_routing/README.md, "Failure messages and their hints").
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import socket
import ssl
import typing as t

from cryptography import x509
from cryptography.x509.oid import NameOID

from exchange_lab.mail.protocol_log import SendSessionLog
from exchange_lab.mail.resolver import HostsResolver, NameNotFound

# Windows socket error codes that Exchange quotes in LastError.
WSAECONNREFUSED = 10061
WSAETIMEDOUT = 10060

STARTTLS_REQUIRED = "451 5.7.3 STARTTLS is required to send mail"
BASIC_AUTH_UNAVAILABLE = "451 5.7.3 Require basic authentication"
EXCHANGE_AUTH_UNAVAILABLE = "451 5.7.3 Cannot achieve Exchange Server authentication"
DNS_FAILED = "451 4.4.0 DNS query failed. The error was: SMTPSEND.DNS.NonExistentDomain; nonexistent domain"
SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed maximum message size"


@dataclasses.dataclass
class Envelope:
    mail_from: str
    recipients: list[str]
    data: bytes  # the complete message, CRLF line ends
    message_id: str
    record_id: int


@dataclasses.dataclass
class SendSettings:
    """The connector settings the client needs, plus the lab's TLS trust anchors."""

    connector_name: str
    smart_hosts: list[str]
    port: int = 25
    ehlo_name: str = "localhost"
    force_helo: bool = False
    ignore_starttls: bool = False
    require_tls: bool = False
    tls_auth_level: str | None = None
    tls_domain: str | None = None
    domain_secure: bool = False
    auth_mechanism: str = "None"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_bundle: str | None = None
    # Why the source server cannot present the certificate TlsCertificateName names (None: it can, or the
    # connector names none). Exchange then fails STARTTLS with UnknownCredentials and the session times out.
    local_certificate_problem: str | None = None

    @classmethod
    def from_connector(cls, connector: dict[str, t.Any], server_fqdn: str, ca_bundle: str | None, timeout_cap: float) -> "SendSettings":
        credential = connector.get("AuthenticationCredential") or {}
        timeout = float(connector.get("ConnectionInactivityTimeOut") or 600)
        return cls(
            connector_name=str(connector.get("Name", "")),
            smart_hosts=[str(h).strip("[]") for h in connector.get("SmartHosts") or []],
            port=int(connector.get("Port") or 25),
            ehlo_name=str(connector.get("Fqdn") or server_fqdn),
            force_helo=bool(connector.get("ForceHELO")),
            ignore_starttls=bool(connector.get("IgnoreSTARTTLS")),
            require_tls=bool(connector.get("RequireTLS")),
            tls_auth_level=connector.get("TlsAuthLevel") or None,
            tls_domain=connector.get("TlsDomain") or None,
            domain_secure=bool(connector.get("DomainSecureEnabled")),
            auth_mechanism=str(connector.get("SmartHostAuthMechanism") or "None"),
            username=credential.get("UserName"),
            password=credential.get("Password"),
            timeout=min(timeout, timeout_cap),
            ca_bundle=ca_bundle,
        )


class HostFailure(Exception):
    """One smart host could not take the message.

    ``status`` is the SMTP-style text; ``kind`` says how Exchange words it in LastError:
    ``socket`` (could not connect), ``dns``, ``session`` (the connection timed out or dropped
    mid-session), ``response`` (the host or a local TLS/AUTH rule refused); ``permanent`` marks a 5xx answer to MAIL/RCPT/DATA or a size refusal (NDR).
    """

    def __init__(self, status: str, kind: str, permanent: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.kind = kind
        self.permanent = permanent


@dataclasses.dataclass
class DeliveryResult:
    accepted: list[str] = dataclasses.field(default_factory=list)  # recipients the smart host took
    rejected: dict[str, str] = dataclasses.field(default_factory=dict)  # recipient -> permanent status
    final_reply: str = ""  # the smart host's answer to the end of DATA
    server_hostname: str = ""  # the smart host as configured
    server_ip: str = ""
    local_endpoint: str = ""
    transient_error: str | None = None  # LED text when the remaining recipients stay queued
    unreachable: bool = False  # no smart host could even be connected to (DNS or socket errors only)
    permanent_error: str | None = None  # status when the whole message is returned (NDR)
    last_host: str = ""
    last_ip: str = ""
    attempts: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (host, status)


class _Wire:
    """SMTP lines over a (possibly TLS-wrapped) socket, every line also logged."""

    def __init__(self, sock: socket.socket, log: SendSessionLog) -> None:
        self.sock = sock
        self.log = log
        self._buffer = b""

    def send(self, line: str, logged: str | None = None) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        self.log.event(">", line if logged is None else logged)

    def read_reply(self) -> tuple[int, list[str]]:
        lines: list[str] = []
        while True:
            raw = self._readline()
            lines.append(raw)
            if len(raw) < 4 or raw[3] != "-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else 0
        self.log.event("<", " ".join([lines[0]] + [line[4:] for line in lines[1:]]))
        return code, lines

    def _readline(self) -> str:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("connection closed by the remote host")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def starttls(self, context: ssl.SSLContext, server_name: str | None) -> None:
        self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        self._buffer = b""


def _reply_text(lines: list[str]) -> str:
    return " ".join(line[4:] if len(line) > 3 else line for line in lines).strip()


def _status(code: int, lines: list[str]) -> str:
    return f"{code} {_reply_text(lines)}".strip()


def _capabilities(lines: list[str]) -> dict[str, str]:
    caps: dict[str, str] = {}
    for line in lines[1:]:
        words = line[4:].strip().split(None, 1)
        if words:
            caps[words[0].upper()] = words[1] if len(words) > 1 else ""
    return caps


def certificate_names(der: bytes) -> tuple[str, list[str]]:
    """(subject, DNS names) of a DER certificate; the CN counts when there is no SAN."""
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return cert.subject.rfc4514_string(), names


def name_matches(cert_name: str, wanted: str) -> bool:
    """RFC 6125 style: ``*.contoso.com`` in a certificate covers exactly one extra label.

    A TlsDomain of ``*.contoso.com`` accepts any certificate name in or below contoso.com.
    """
    cert_name, wanted = cert_name.lower().rstrip("."), wanted.lower().rstrip(".")
    if wanted.startswith("*."):
        base = wanted[2:]
        bare = cert_name[2:] if cert_name.startswith("*.") else cert_name
        return bare == base or bare.endswith("." + base)
    if cert_name.startswith("*."):
        head, _, rest = wanted.partition(".")
        return bool(head) and rest == cert_name[2:]
    return cert_name == wanted


def _verify_reason(err: ssl.SSLCertVerificationError) -> str:
    code = getattr(err, "verify_code", 0)
    if code in (9, 10):
        return "NotTimeValid"
    if code in (18, 19, 20, 21):
        return "UntrustedRoot"
    return getattr(err, "verify_message", "") or "ChainError"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class SmartHostClient:
    """Delivers envelopes through one connector's smart hosts, in order, with fail-over."""

    def __init__(self, settings: SendSettings, resolver: HostsResolver) -> None:
        self.settings = settings
        self.resolver = resolver

    def deliver(self, envelope: Envelope, log_factory: t.Callable[[], SendSessionLog]) -> DeliveryResult:
        result = DeliveryResult()
        failures: list[tuple[str, str, HostFailure]] = []
        for host in self.settings.smart_hosts:
            address = ""
            try:
                address = self.resolver.resolve(host)
                self._session(host, address, envelope, log_factory(), result)
                result.server_hostname, result.server_ip = host, address
                result.last_host, result.last_ip = host, address
                return result
            except NameNotFound:
                failure = HostFailure(DNS_FAILED, "dns")
            except HostFailure as exc:
                failure = exc
            result.attempts.append((host, failure.status))
            result.last_host, result.last_ip = host, address
            if failure.permanent:
                result.permanent_error = failure.status
                return result
            failures.append((host, address, failure))
        result.transient_error = self._last_error(failures)
        result.unreachable = bool(failures) and all(f.kind in ("dns", "socket") for _h, _a, f in failures)
        return result

    def _last_error(self, failures: list[tuple[str, str, HostFailure]]) -> str:
        if not failures:
            return "451 4.4.0 No smart host is configured on the Send connector"
        _host, address, failure = failures[-1]
        if failure.kind == "dns":
            return failure.status
        if failure.kind == "socket":
            return f"451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect -> {failure.status}"
        if failure.kind == "session":
            return f"451 4.4.397 Error communicating with target host. -> {failure.status}"
        endpoint = f"{address}:{self.settings.port}"
        return (
            f'451 4.4.0 Primary target IP address responded with: "{failure.status}." Attempted failover to alternate host, '
            "but that did not succeed. Either there are no alternate hosts, or delivery failed to all alternate hosts. "
            f"The last endpoint attempted was {endpoint}"
        )

    # -- one SMTP session ---------------------------------------------------------------

    def _session(self, host: str, address: str, env: Envelope, log: SendSessionLog, result: DeliveryResult) -> None:
        s = self.settings
        log.remote = f"{address}:{s.port}"
        log.event("*", "", "attempting to connect")
        if not _is_loopback(address):
            # The lab is a test bed: it never sends traffic off this machine. A smart host such as
            # the documented 192.168.3.2 behaves like a host behind a firewall that drops SYNs.
            log.event("*", "", f"Failed to connect. Winsock error code: {WSAETIMEDOUT} (the lab delivers only to loopback addresses)")
            raise HostFailure(f"SocketError: Socket error code {WSAETIMEDOUT}", "socket")
        try:
            sock = socket.create_connection((address, s.port), timeout=s.timeout)
        except TimeoutError:
            log.event("*", "", f"Failed to connect. Winsock error code: {WSAETIMEDOUT}")
            raise HostFailure(f"SocketError: Socket error code {WSAETIMEDOUT}", "socket") from None
        except OSError:
            log.event("*", "", f"Failed to connect. Winsock error code: {WSAECONNREFUSED}")
            raise HostFailure(f"SocketError: Socket error code {WSAECONNREFUSED}", "socket") from None
        local_ip, local_port = sock.getsockname()[:2]
        log.local = f"{local_ip}:{local_port}"
        result.local_endpoint = log.local
        log.event("+")
        wire = _Wire(sock, log)
        try:
            self._dialogue(host, wire, env, result)
        except TimeoutError:
            log.event("*", "", "Connection timed out waiting for the remote server")
            raise HostFailure("421 4.4.1 Connection timed out", "session") from None
        except OSError as exc:
            log.event("*", "", f"Connection lost: {exc.__class__.__name__}")
            raise HostFailure(f"421 4.4.2 Connection dropped due to {exc.__class__.__name__}", "session") from None
        finally:
            try:
                wire.sock.close()
            finally:
                log.event("-", "", "Local")

    def _expect(self, wire: _Wire, ok: t.Container[int]) -> tuple[int, list[str]]:
        code, lines = wire.read_reply()
        if code not in ok:
            self._quit(wire)
            raise HostFailure(_status(code, lines), "response", permanent=False)
        return code, lines

    def _quit(self, wire: _Wire) -> None:
        try:
            wire.send("QUIT")
            wire.read_reply()
        except OSError:
            pass

    def _greet(self, wire: _Wire) -> dict[str, str]:
        s = self.settings
        if s.force_helo:
            wire.send(f"HELO {s.ehlo_name}")
            self._expect(wire, (250,))
            return {}
        wire.send(f"EHLO {s.ehlo_name}")
        _code, lines = self._expect(wire, (250,))
        return _capabilities(lines)

    def _dialogue(self, host: str, wire: _Wire, env: Envelope, result: DeliveryResult) -> None:
        s = self.settings
        self._expect(wire, (220,))
        caps = self._greet(wire)
        must_tls = s.require_tls or s.auth_mechanism == "BasicAuthRequireTLS"
        tls = False
        if "STARTTLS" in caps and not s.ignore_starttls:
            wire.send("STARTTLS")
            self._expect(wire, (220,))
            self._handshake(host, wire)
            tls = True
            caps = self._greet(wire)
        elif must_tls:
            self._quit(wire)
            raise HostFailure(STARTTLS_REQUIRED, "response")
        if s.auth_mechanism in ("BasicAuth", "BasicAuthRequireTLS"):
            self._auth_login(wire, caps, tls)
        elif s.auth_mechanism == "ExchangeServer":
            # Exchange-to-Exchange GSSAPI/X-EXPS is not emulated: a smart host that offers neither
            # (every non-Exchange relay) fails the way Exchange reports it.
            self._quit(wire)
            raise HostFailure(EXCHANGE_AUTH_UNAVAILABLE, "response")
        self._transfer(wire, caps, env, result)

    def _handshake(self, host: str, wire: _Wire) -> None:
        s = self.settings
        if s.local_certificate_problem:
            # Exchange cannot load the credentials for its own side of the handshake: SChannel reports
            # UnknownCredentials, the session stalls and the queue shows a time-out (a failure mode of roles/smart_host_routing/README.md, "Failure messages and their hints").
            wire.log.event("*", "", "TLS negotiation failed with error UnknownCredentials")
            wire.log.event("*", "", f"Local certificate problem: {s.local_certificate_problem}")
            raise TimeoutError(s.local_certificate_problem)
        validate_chain, wanted = certificate_checks(s, host)
        context = ssl.create_default_context(cafile=s.ca_bundle) if validate_chain else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        if not validate_chain:
            context.verify_mode = ssl.CERT_NONE
        try:
            wire.starttls(context, host if not _is_ip(host) else None)
        except ssl.SSLCertVerificationError as exc:
            reason = _verify_reason(exc)
            wire.log.event("*", "", f"TLS negotiation failed with error {reason}")
            raise HostFailure(f"454 4.7.5 Certificate validation failure: {reason}", "response") from None
        except (ssl.SSLError, OSError) as exc:
            wire.log.event("*", "", f"TLS negotiation failed with error {exc.__class__.__name__}")
            raise HostFailure("421 4.4.2 TLS negotiation failed", "response") from None
        sock = t.cast(ssl.SSLSocket, wire.sock)
        der = sock.getpeercert(binary_form=True) or b""
        subject, names = certificate_names(der) if der else ("", [])
        wire.log.event("*", "", "Received certificate")
        wire.log.event("*", subject, "Certificate subject")
        wire.log.event("*", " ".join(names), "Certificate alternate names")
        cipher = sock.cipher()
        wire.log.event("*", "", f"TLS protocol {sock.version()} negotiation succeeded using cipher {cipher[0] if cipher else ''}")
        if wanted and not any(name_matches(n, wanted) for n in names):
            wire.log.event("*", "", f"TLS negotiation failed with error RemoteCertificateNameMismatch ({wanted})")
            self._quit(wire)
            raise HostFailure(f"454 4.7.5 Certificate validation failure: RemoteCertificateNameMismatch ({wanted})", "response")

    def _auth_login(self, wire: _Wire, caps: dict[str, str], tls: bool) -> None:
        s = self.settings
        if s.auth_mechanism == "BasicAuthRequireTLS" and not tls:
            self._quit(wire)
            raise HostFailure(STARTTLS_REQUIRED, "response")
        mechanisms = caps.get("AUTH", "").upper().split()
        if "LOGIN" not in mechanisms:
            self._quit(wire)
            raise HostFailure(BASIC_AUTH_UNAVAILABLE, "response")
        wire.send("AUTH LOGIN")
        self._expect(wire, (334,))
        wire.send(base64.b64encode((s.username or "").encode()).decode(), logged="****")
        self._expect(wire, (334,))
        wire.send(base64.b64encode((s.password or "").encode()).decode(), logged="****")
        code, lines = wire.read_reply()
        if code != 235:
            self._quit(wire)
            raise HostFailure(_status(code, lines), "response")

    def _transfer(self, wire: _Wire, caps: dict[str, str], env: Envelope, result: DeliveryResult) -> None:
        size = len(env.data)
        limit = caps.get("SIZE", "")
        if limit.isdigit() and int(limit) > 0 and size > int(limit):
            self._quit(wire)
            raise HostFailure(SIZE_EXCEEDED, "response", permanent=True)
        wire.log.event("*", "", f"sending message with RecordId {env.record_id} and InternetMessageId {env.message_id}")
        wire.send(f"MAIL FROM:<{env.mail_from}>" + (f" SIZE={size}" if "SIZE" in caps else ""))
        code, lines = wire.read_reply()
        if code != 250:
            self._quit(wire)
            raise HostFailure(_status(code, lines), "response", permanent=code >= 500)
        accepted = []
        for rcpt in env.recipients:
            wire.send(f"RCPT TO:<{rcpt}>")
            code, lines = wire.read_reply()
            if code in (250, 251):
                accepted.append(rcpt)
            elif code >= 500:
                result.rejected[rcpt] = _status(code, lines)
            else:
                self._quit(wire)
                raise HostFailure(_status(code, lines), "response")
        if not accepted:
            self._quit(wire)
            return
        if "CHUNKING" in caps:
            # Exchange sends the whole message as one chunk to a host that offers CHUNKING; the
            # SmtpSend log shows the BDAT command, not the message bytes.
            data = env.data if env.data.endswith(b"\r\n") else env.data + b"\r\n"
            wire.send(f"BDAT {len(data)} LAST")
            wire.sock.sendall(data)
        else:
            wire.send("DATA")
            self._expect(wire, (354,))
            wire.sock.sendall(_dot_stuff(env.data) + b".\r\n")
        code, lines = wire.read_reply()
        if code != 250:
            self._quit(wire)
            raise HostFailure(_status(code, lines), "response", permanent=code >= 500)
        result.accepted = accepted
        result.final_reply = _status(code, lines)
        self._quit(wire)


def certificate_checks(settings: SendSettings, host: str) -> tuple[bool, str | None]:
    """What Exchange checks of the smart host's certificate for this connector (the lab's copy).

    Returns (validate the chain and the validity dates, the name the certificate must carry or None).
    Opportunistic TLS (RequireTLS off, or TlsAuthLevel unset / EncryptionOnly) validates nothing:
    an expired or self-issued certificate still encrypts. TlsAuthLevel CertificateValidation or
    DomainValidation (which Exchange accepts only with RequireTLS) and DomainSecureEnabled (mutual
    TLS, DNS routing) validate the chain and dates; DomainValidation also wants TlsDomain (or the
    smart host) in the certificate, domain security the next hop's domain. BasicAuthRequireTLS
    alone wants the smart host's FQDN in the certificate but does not validate the chain.
    """
    level = (settings.tls_auth_level or "") if settings.require_tls else ""
    validate = level in ("CertificateValidation", "DomainValidation") or settings.domain_secure
    wanted: str | None = None
    if level == "DomainValidation":
        wanted = settings.tls_domain or host
    elif settings.domain_secure:
        wanted = host
    elif settings.auth_mechanism == "BasicAuthRequireTLS" and not _is_ip(host):
        wanted = host
    return validate, wanted


def _dot_stuff(data: bytes) -> bytes:
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False

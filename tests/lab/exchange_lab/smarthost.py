"""A test smart host: ``python -m exchange_lab smarthost --state DIR ...`` or :class:`SmartHost`.

An aiosmtpd server that behaves like the relays Exchange Send connectors deliver to, with the
knobs that make smart-host mail flow fail in real life:

* plain SMTP, STARTTLS (``--starttls``) or implicit TLS on connect (``--implicit-tls``, port 465 style);
* a server certificate for names of our choosing, optionally expired or from a CA the client does
  not trust (the trusted CA's PEM is ``<state>/ca.pem``, ``ca_cert`` in the ready JSON);
* AUTH LOGIN and/or PLAIN with accepted credentials, optionally advertised only after TLS;
  a wrong credential gets ``535 5.7.3 Authentication unsuccessful``;
* SIZE advertised and enforced (``552 5.3.4``);
* a client allowlist: others get ``550 5.7.1 Unable to relay`` at RCPT (unless authenticated);
  with AUTH configured and no allowlist, unauthenticated clients get ``530 5.7.0`` at MAIL.

Received messages go to the Maildir ``<state>/maildir`` (files in ``new/``), each with the
envelope prepended as ``X-Smarthost-*`` headers, and one JSON line per event (``message``,
``auth``) is appended to ``<state>/events.jsonl``. Passwords are never written anywhere.

Python use (several smart hosts in one test are fine, each with its own state dir)::

    from exchange_lab.smarthost import SmartHost, SmartHostConfig
    with SmartHost(SmartHostConfig(state_dir=tmp, starttls=True, auth=["LOGIN"],
                                   users={"relay": "s3cret"})) as host:
        info = host.ready          # host, port, mode, ca_cert, cert_names, auth, maildir, pid, ...
        ...                        # deliver mail to info["host"]:info["port"]
        host.wait_for_messages(1)  # -> [ReceivedMessage(...)]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import email
import email.message
import email.policy
import ipaddress
import json
import logging
import mailbox
import os
import signal
import sys
import threading
import time
import typing as t

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from exchange_lab.aioserver import ServerThread, listening_socket
from exchange_lab.smarthost_certs import CertificateSet, make_certificates

# aiosmtpd warns about its own deprecated attributes on every AUTH; keep the lab's output clean.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class _TlsFailureOneLine(logging.Filter):
    """A client refusing our certificate (expired, unknown CA: what the lab is for) is one line, not
    aiosmtpd's two chained tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__name__ == "TLSSetupException":
            cause = error.__cause__
            record.msg = "%r TLS handshake failed: %s"
            record.args = (record.args[0] if isinstance(record.args, tuple) and record.args else "client", cause or "unknown error")
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("mail.log").addFilter(_TlsFailureOneLine())

MECHANISMS = ("LOGIN", "PLAIN")
DEFAULT_SIZE = 36700160  # 35 MB, Exchange's default MaxMessageSize
DEFAULT_BANNER = "smarthost.lab.test"
HEADER_PREFIX = "X-Smarthost-"

# aiosmtpd's own replies rewritten to carry the enhanced status codes real relays send.
_REPLY_REWRITES = {
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 Message size exceeds fixed maximum message size",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum message size",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
}


class SmartHostError(Exception):
    """A smart host configuration that cannot work (the message names the option)."""


@dataclasses.dataclass
class SmartHostConfig:
    state_dir: str
    host: str = "127.0.0.1"
    port: int = 0
    starttls: bool = False
    implicit_tls: bool = False
    require_starttls: bool = False  # refuse MAIL before STARTTLS (530 5.7.0)
    cert_names: list[str] | None = None  # default: banner name, localhost, 127.0.0.1
    cert_expired: bool = False
    cert_unknown_ca: bool = False
    cert_valid_days: int | None = None  # expire this many days from now (default: far future)
    auth: list[str] = dataclasses.field(default_factory=list)  # subset of MECHANISMS
    auth_require_tls: bool = False
    users: dict[str, str] = dataclasses.field(default_factory=dict)
    size: int = DEFAULT_SIZE  # 0 = SIZE not advertised, nothing enforced
    allow_clients: list[str] | None = None  # IPs or CIDRs; None = every client may relay
    banner_name: str = DEFAULT_BANNER
    data_delay: float = 0.0  # seconds before the answer to the end of DATA (a slow smart host)

    @property
    def mode(self) -> str:
        if self.implicit_tls:
            return "implicit-tls"
        return "starttls" if self.starttls else "plain"

    def validate(self) -> None:
        if self.starttls and self.implicit_tls:
            raise SmartHostError("--starttls and --implicit-tls exclude each other: pick one TLS mode")
        unknown = [m for m in self.auth if m not in MECHANISMS]
        if unknown:
            raise SmartHostError(f"--auth: unsupported mechanism(s) {', '.join(unknown)}; choose from {', '.join(MECHANISMS)}")
        if self.auth and not self.users:
            raise SmartHostError("--auth needs accepted credentials: give --user/--password or --users-file")
        if self.auth_require_tls and self.mode == "plain":
            raise SmartHostError("--auth-require-tls needs --starttls or --implicit-tls")
        # --cert-names alone is tolerated in plain mode (callers often pass it by default); asking for a
        # broken certificate without TLS is a mistake worth naming.
        cert_options = [
            name
            for name, on in (("--cert-expired", self.cert_expired), ("--cert-unknown-ca", self.cert_unknown_ca), ("--cert-valid-days", self.cert_valid_days is not None))
            if on
        ]
        if cert_options and self.mode == "plain":
            raise SmartHostError(f"{', '.join(cert_options)}: a certificate is only served with --starttls or --implicit-tls")
        if self.cert_expired and self.cert_valid_days is not None:
            raise SmartHostError("--cert-expired and --cert-valid-days exclude each other")
        if self.require_starttls and not self.starttls:
            raise SmartHostError("--require-starttls needs --starttls")
        if self.size < 0:
            raise SmartHostError("--size must be 0 (no limit) or a positive number of bytes")
        for entry in self.allow_clients or []:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SmartHostError(f"--allow-clients: {entry!r} is not an IP address or network") from None


@dataclasses.dataclass
class ReceivedMessage:
    key: str  # Maildir key (file name in new/)
    path: str
    peer: str
    helo: str
    mail_from: str
    rcpt_to: list[str]
    tls: bool
    tls_version: str
    auth_user: str
    auth_mechanism: str
    message: email.message.EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", "")).strip()


class _Server(SMTP):
    """aiosmtpd's SMTP with Exchange-like reply texts and TLS awareness."""

    async def push(self, status: t.AnyStr) -> None:  # type: ignore[override]
        if isinstance(status, str):
            status = _REPLY_REWRITES.get(status, status)  # type: ignore[assignment]
        await super().push(status)

    def tls_version(self) -> str:
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        return ssl_object.version() if ssl_object is not None else ""


class _Handler:
    """aiosmtpd handler: relay policy, credential checks and the Maildir writer."""

    def __init__(self, config: SmartHostConfig, maildir: mailbox.Maildir, events_path: str) -> None:
        self.config = config
        self.maildir = maildir
        self.events_path = events_path
        self._lock = threading.Lock()
        self._networks = [ipaddress.ip_network(e, strict=False) for e in config.allow_clients or []]

    # -- helpers ---------------------------------------------------------------------------
    def record(self, event: dict[str, t.Any]) -> None:
        event = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}
        with self._lock, open(self.events_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, sort_keys=True) + "\n")

    def _allowed(self, peer: t.Any) -> bool:
        if self.config.allow_clients is None:
            return True
        try:
            address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except (ValueError, TypeError, IndexError):
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in net for net in self._networks)

    @staticmethod
    def _peer_text(peer: t.Any) -> str:
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, (tuple, list)) and len(peer) >= 2 else str(peer)

    # -- aiosmtpd authenticator ------------------------------------------------------------
    def authenticate(self, server: SMTP, session: t.Any, envelope: t.Any, mechanism: str, auth_data: t.Any) -> AuthResult:
        user = password = ""
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
        ok = bool(user) and self.config.users.get(user) == password
        self.record({"event": "auth", "peer": self._peer_text(session.peer), "mechanism": mechanism, "user": user, "ok": ok})
        if not ok:
            return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")
        return AuthResult(success=True, auth_data={"user": user, "mechanism": mechanism})

    # -- SMTP hooks ------------------------------------------------------------------------
    async def handle_EHLO(self, server: SMTP, session: t.Any, envelope: t.Any, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        out = [f"250-{server.hostname} Hello [{session.peer[0]}]"]
        for line in responses[1:-1]:
            if line.startswith("250-AUTH") and not self.config.auth:
                continue
            out.append(line)
        out.append("250 HELP")
        return out

    async def handle_HELO(self, server: SMTP, session: t.Any, envelope: t.Any, hostname: str) -> str:
        session.host_name = hostname
        return f"250 {server.hostname} Hello [{session.peer[0]}]"

    async def handle_MAIL(self, server: SMTP, session: t.Any, envelope: t.Any, address: str, options: list[str]) -> str:
        if self.config.auth and self.config.allow_clients is None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server: SMTP, session: t.Any, envelope: t.Any, address: str, options: list[str]) -> str:
        if not session.authenticated and not self._allowed(session.peer):
            return "550 5.7.1 Unable to relay"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: t.Any, envelope: t.Any) -> str:
        if self.config.data_delay > 0:
            await asyncio.sleep(self.config.data_delay)  # the client waits for the final answer meanwhile
        auth = session.auth_data if isinstance(session.auth_data, dict) else {}
        tls_version = server.tls_version() if isinstance(server, _Server) else ""
        envelope_info = {
            "peer": self._peer_text(session.peer),
            "helo": session.host_name or "",
            "mail_from": envelope.mail_from or "",
            "rcpt_to": list(envelope.rcpt_tos),
            "tls": bool(tls_version),
            "tls_version": tls_version,
            "auth_user": auth.get("user", ""),
            "auth_mechanism": auth.get("mechanism", ""),
        }
        headers = "".join(
            f"{HEADER_PREFIX}{name}: {value}\r\n"
            for name, value in (
                ("Peer", envelope_info["peer"]),
                ("Helo", envelope_info["helo"] or "-"),
                ("Mail-From", f"<{envelope_info['mail_from']}>"),
                ("Rcpt-To", ", ".join(f"<{r}>" for r in envelope_info["rcpt_to"])),
                ("TLS", tls_version or "no"),
                ("Auth-User", envelope_info["auth_user"] or "-"),
                ("Auth-Mechanism", envelope_info["auth_mechanism"] or "-"),
            )
        ).encode("utf-8")
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        with self._lock:
            key = self.maildir.add(headers + content)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        self.record({"event": "message", "key": key, "message_id": str(parsed.get("Message-ID", "")).strip(), "size": len(content), **envelope_info})
        return f"250 2.6.0 {key} Queued mail for delivery"


class SmartHost:
    """One test smart host running an asyncio loop in a background thread."""

    def __init__(self, config: SmartHostConfig) -> None:
        config.validate()
        self.config = config
        self.state_dir = os.path.abspath(config.state_dir)
        self.maildir_path = os.path.join(self.state_dir, "maildir")
        self.events_path = os.path.join(self.state_dir, "events.jsonl")
        self.certificates: CertificateSet | None = None
        self.ready: dict[str, t.Any] = {}
        self._runner = ServerThread("smarthost")

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> dict[str, t.Any]:
        """Bind, start serving and return the ready info (also kept in ``self.ready``).

        After :meth:`stop`, ``start()`` again serves on the same port with the same CA and
        certificate ("smart host down, then up").
        """
        if self._runner.running:
            raise SmartHostError("smart host already running")
        os.makedirs(self.state_dir, exist_ok=True)
        cfg = self.config
        names = list(cfg.cert_names or [cfg.banner_name, "localhost", "127.0.0.1"])
        if cfg.mode != "plain" and self.certificates is None:  # a restart keeps its CA and certificate
            self.certificates = make_certificates(
                self.state_dir, names, expired=cfg.cert_expired, unknown_ca=cfg.cert_unknown_ca, valid_days=cfg.cert_valid_days
            )
        maildir = mailbox.Maildir(self.maildir_path, create=True)
        handler = _Handler(cfg, maildir, self.events_path)
        wanted_port = cfg.port or self.ready.get("port", 0)  # a restart comes back on the same port
        try:
            sock = listening_socket(cfg.host, wanted_port)
        except OSError as exc:
            raise SmartHostError(f"--host/--port: cannot listen on {cfg.host}:{wanted_port}: {exc.strerror or exc}") from None
        port = sock.getsockname()[1]
        self._runner.name = f"smarthost-{port}"
        ssl_context = self.certificates.context if (self.certificates and cfg.implicit_tls) else None
        try:
            self._runner.start(sock, lambda: self._factory(handler), ssl_context)
        except OSError as exc:
            raise SmartHostError(f"smart host failed to start: {exc}") from None
        self.ready = {
            "host": cfg.host,
            "port": port,
            "mode": cfg.mode,
            "banner_name": cfg.banner_name,
            "ca_cert": self.certificates.ca_cert if self.certificates else None,
            "server_cert": self.certificates.server_cert if self.certificates else None,
            "cert_names": names if self.certificates else [],
            "cert_expired": bool(self.certificates and cfg.cert_expired),
            "cert_unknown_ca": bool(self.certificates and cfg.cert_unknown_ca),
            "cert_valid_days": cfg.cert_valid_days if self.certificates else None,
            "auth": list(cfg.auth),
            "auth_require_tls": cfg.auth_require_tls,
            "size": cfg.size,
            "allow_clients": cfg.allow_clients,
            "maildir": self.maildir_path,
            "events": self.events_path,
            "state": self.state_dir,
            "pid": os.getpid(),
        }
        return self.ready

    def _factory(self, handler: _Handler) -> _Server:
        cfg = self.config
        tls_context = self.certificates.context if (self.certificates and cfg.starttls) else None
        return _Server(
            handler,
            hostname=cfg.banner_name,
            ident="ESMTP exchange_lab smart host ready",
            data_size_limit=cfg.size or None,
            tls_context=tls_context,
            require_starttls=cfg.require_starttls,
            # Under implicit TLS the whole connection is encrypted, so AUTH is allowed from the start.
            auth_require_tls=cfg.auth_require_tls and cfg.mode == "starttls",
            auth_exclude_mechanism=[m for m in MECHANISMS if m not in cfg.auth],
            authenticator=handler.authenticate,
            enable_SMTPUTF8=True,
            timeout=60,
            loop=self._runner.loop,
        )

    def stop(self) -> None:
        """Stop serving and close every open session; safe to call twice."""
        self._runner.stop()

    def __enter__(self) -> "SmartHost":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was received -----------------------------------------------------------------
    def events(self) -> list[dict[str, t.Any]]:
        if not os.path.exists(self.events_path):
            return []
        with open(self.events_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def messages(self) -> list[ReceivedMessage]:
        """Every message in ``maildir/new`` (oldest first), envelope headers parsed."""
        return read_maildir(self.maildir_path)

    def wait_for_messages(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Poll the Maildir until ``count`` messages are there (returns what is there at the timeout)."""
        deadline = time.monotonic() + timeout
        found = self.messages()
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            found = self.messages()
        return found


def read_maildir(path: str) -> list[ReceivedMessage]:
    """Parse the Maildir a smart host wrote (usable without a running SmartHost)."""
    new_dir = os.path.join(path, "new")
    if not os.path.isdir(new_dir):
        return []
    entries = sorted((os.stat(os.path.join(new_dir, n)).st_mtime_ns, n) for n in os.listdir(new_dir) if not n.startswith("."))
    result = []
    for _, name in entries:
        file_path = os.path.join(new_dir, name)
        with open(file_path, "rb") as handle:
            msg = email.message_from_binary_file(handle, policy=email.policy.default)
        header = lambda n: str(msg.get(HEADER_PREFIX + n, "")).strip()  # noqa: E731
        rcpts = [r.strip().strip("<>") for r in header("Rcpt-To").split(",") if r.strip()]
        result.append(
            ReceivedMessage(
                key=name.split(":", 1)[0],
                path=file_path,
                peer=header("Peer"),
                helo="" if header("Helo") == "-" else header("Helo"),
                mail_from=header("Mail-From").strip("<>"),
                rcpt_to=rcpts,
                tls=header("TLS") not in ("", "no"),
                tls_version="" if header("TLS") == "no" else header("TLS"),
                auth_user="" if header("Auth-User") == "-" else header("Auth-User"),
                auth_mechanism="" if header("Auth-Mechanism") == "-" else header("Auth-Mechanism"),
                message=msg,
            )
        )
    return result


# -- command line ----------------------------------------------------------------------------
def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _read_users_file(path: str) -> dict[str, str]:
    """``{"user": "password"}`` as JSON, or lines ``user:password`` (``#`` comments)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    users = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            raise SmartHostError(f"--users-file {path} line {number}: expected user:password")
        user, password = line.split(":", 1)
        users[user.strip()] = password
    return users


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, help="directory for the CA, certificates, maildir/ and events.jsonl")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (see the ready JSON)")
    parser.add_argument("--ready-file", help="also write the ready JSON line to this file")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--starttls", action="store_true", help="offer STARTTLS")
    tls.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (like port 465)")
    parser.add_argument("--require-starttls", action="store_true", help="refuse MAIL before STARTTLS (530 5.7.0)")
    parser.add_argument("--cert-names", nargs="+", metavar="NAME", help="names in the server certificate (default: banner name, localhost, 127.0.0.1)")
    parser.add_argument("--cert-expired", action="store_true", help="serve a certificate that expired yesterday")
    parser.add_argument("--cert-unknown-ca", action="store_true", help="serve a certificate from a CA that is not in ca_cert")
    parser.add_argument("--cert-valid-days", type=int, metavar="N", help="serve a certificate that expires N days from now")
    parser.add_argument("--auth", type=_csv, default=[], metavar="LOGIN,PLAIN", help="AUTH mechanisms to advertise")
    parser.add_argument("--auth-require-tls", action="store_true", help="advertise and accept AUTH only after STARTTLS")
    parser.add_argument("--user", help="accepted user name")
    parser.add_argument("--password", help="accepted password (prefer --users-file or SMARTHOST_PASSWORD)")
    parser.add_argument("--users-file", help='accepted credentials: JSON {"user": "password"} or lines user:password')
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="SIZE to advertise and enforce in bytes; 0 = none")
    parser.add_argument("--allow-clients", type=_csv, default=None, metavar="IP,...", help="clients allowed to relay without AUTH; others get 550 5.7.1 at RCPT")
    parser.add_argument("--banner-name", default=DEFAULT_BANNER, help="host name in the banner and EHLO reply")
    parser.add_argument("--data-delay", type=float, default=0.0, metavar="SECONDS", help="wait this long before answering the end of DATA")


def config_from_args(args: argparse.Namespace) -> SmartHostConfig:
    users: dict[str, str] = {}
    if args.users_file:
        users.update(_read_users_file(args.users_file))
    if args.user:
        password = args.password if args.password is not None else os.environ.get("SMARTHOST_PASSWORD")
        if password is None:
            raise SmartHostError("--user needs --password (or the SMARTHOST_PASSWORD environment variable)")
        users[args.user] = password
    return SmartHostConfig(
        state_dir=args.state,
        host=args.host,
        port=args.port,
        starttls=args.starttls,
        implicit_tls=args.implicit_tls,
        require_starttls=args.require_starttls,
        cert_names=args.cert_names,
        cert_expired=args.cert_expired,
        cert_unknown_ca=args.cert_unknown_ca,
        cert_valid_days=args.cert_valid_days,
        auth=[m.upper() for m in args.auth],
        auth_require_tls=args.auth_require_tls,
        users=users,
        size=args.size,
        allow_clients=args.allow_clients,
        banner_name=args.banner_name,
        data_delay=args.data_delay,
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        host = SmartHost(config_from_args(args))
        ready = host.start()
    except (SmartHostError, OSError) as exc:
        print(f"smarthost: error: {exc}", file=sys.stderr)
        return 2
    line = json.dumps(ready, sort_keys=True)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
        os.replace(tmp, args.ready_file)
    print(line, flush=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(1)
    host.stop()
    return 0

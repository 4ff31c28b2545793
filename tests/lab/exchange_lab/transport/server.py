"""HTTP(S) front of the WSMan endpoint: one thread per connection, keep-alive, auth, encryption.

Request path: ``/PowerShell`` (any case, optional trailing slash) or 404. Then authentication
(401 with WWW-Authenticate until it succeeds), WinRM decryption when the body is
multipart/encrypted, fault injection (``faults: [{on_request: N, kind: wsman_fault|drop}]``),
and the WSMan operation. Faults on the answer of a write (``{on_write: N, kind:
write_answer_fault|write_answer_drop}``) let the Nth write happen and then spoil the next Receive
reply, the one that carries the write's result; ``{on_command: N, kind: command_drop}`` closes the
connection on the Nth Command request, before its cmdlet runs, and ``command_late`` (with
``seconds``) answers it that much later while the cmdlet runs; ``receive_late`` (also ``on_command``, with
``seconds``) answers the first Receive that carries that pipeline's output that much later (the same Receive sent
again gets the same answer, see WSManService._receive). Logs: one line per WSMan request on stderr, never
credentials.
"""

from __future__ import annotations

import http.server
import logging
import socket
import socketserver
import ssl
import sys
import threading
import time
import typing as t

from exchange_lab.config import ANSWER_FAULTS, FaultDef
from exchange_lab.metrics import Metrics
from exchange_lab.transport import auth, encryption, soap
from exchange_lab.transport.service import WSManService

log = logging.getLogger("exchange_lab.transport")

MAX_BODY = 16 * 1024 * 1024
VALID_PATHS = ("/powershell", "/powershell/")


class FaultPlan:
    """Counts WSMan requests (1-based) and says which one gets an injected fault."""

    def __init__(self, faults: list[FaultDef], metrics: Metrics) -> None:
        self._by_request = {f.on_request: f.kind for f in faults if f.on_request and f.kind in ("wsman_fault", "drop")}
        self._answers = sorted((f for f in faults if f.kind in ANSWER_FAULTS and f.on_write), key=lambda f: f.on_write or 0)
        self._by_command = {f.on_command: f for f in faults
                            if f.kind in ("command_drop", "command_late", "receive_late") and f.on_command}
        self._late_receive: FaultDef | None = None  # receive_late: armed by its Command, spent by the next output
        self._commands = 0
        self._count = 0
        self._lock = threading.Lock()
        self._metrics = metrics

    def next(self) -> tuple[int, str | None]:
        with self._lock:
            self._count += 1
            number = self._count
        self._metrics.incr("wsman_requests")
        return number, self._by_request.get(number)

    def command_fault(self, action: str) -> FaultDef | None:
        """The ``command_drop``/``command_late`` fault of this request when it is the Nth Command request."""
        if not action.endswith("/Command"):
            return None
        with self._lock:
            self._commands += 1
            fault = self._by_command.get(self._commands)
            if fault is not None and fault.kind == "receive_late":
                self._late_receive = fault
                return None
            return fault

    def late_receive(self, action: str, reply: bytes) -> FaultDef | None:
        """The armed ``receive_late`` fault when this is a Receive reply that carries output, once."""
        if self._late_receive is None or not action.endswith("/Receive") or b"Stream" not in reply:
            return None
        with self._lock:
            fault, self._late_receive = self._late_receive, None
            return fault

    def answer_fault(self, action: str) -> FaultDef | None:
        """The fault for this reply when it is the first Receive answered since the Nth write, once."""
        if not self._answers or not action.endswith("/Receive"):
            return None
        writes = self._metrics.snapshot().get("writes", 0)
        with self._lock:
            for fault in self._answers:
                if writes >= (fault.on_write or 0):
                    self._answers.remove(fault)
                    return fault
        return None


class WSManHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        service: WSManService,
        authenticator: auth.Authenticator,
        faults: FaultPlan,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.faults = faults
        self.ssl_context = ssl_context
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, WSManHandler)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    def finish_request(self, request: t.Any, client_address: t.Any) -> None:
        # Runs in the connection's own thread: the TLS handshake must not block the accept loop.
        if self.ssl_context is not None:
            try:
                request.settimeout(30)
                request = self.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError) as exc:
                log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        with self._conn_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)

    def shutdown_request(self, request: t.Any) -> None:
        try:
            request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        request.close()

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # the peer went away (or we are shutting down)
            log.debug("connection from %s ended: %s", client_address[0], sys.exc_info()[1])
            return
        log.exception("unexpected error on the connection from %s", client_address[0])


class WSManHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: WSManHTTPServer

    def setup(self) -> None:
        super().setup()
        try:  # headers and body go out in separate writes: avoid Nagle + delayed-ACK stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_auth = auth.ConnectionAuth()

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.client_address[0], format % args)

    # -- HTTP verbs --------------------------------------------------------------------------------

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.path.split("?", 1)[0].lower() not in VALID_PATHS:
            self._reply(404, b"", "text/html")
            return
        try:
            result = self.server.authenticator.check(self.headers.get("Authorization"), self.conn_auth)
        except Exception:  # noqa: BLE001 - a backend bug must not kill the connection thread
            log.exception("authentication failed with an internal error")
            self._reply(500, b"", None)
            return
        if result.user is None:
            self._reply(401, b"", None, [("WWW-Authenticate", c) for c in result.challenge])
            return
        extra = [("WWW-Authenticate", result.reply_header)] if result.reply_header else []
        content_type = self.headers.get("Content-Type", "")
        encrypted = encryption.is_encrypted(content_type)
        if encrypted:
            if not self.conn_auth.can_encrypt:
                self._reply(400, b"", None, extra)
                return
            try:
                body = encryption.unwrap(self.conn_auth.context, body, content_type)
            except Exception as exc:  # noqa: BLE001 - any decryption failure is the client's
                log.info("cannot decrypt a request from %s: %s", self.client_address[0], exc)
                self._reply(400, b"", None, extra)
                return
        elif body and self.server.ssl_context is None and self.conn_auth.can_encrypt:
            # Like WinRM with AllowUnencrypted=false: NTLM/Negotiate over HTTP must seal the body.
            self._reply(400, b"", None, extra)
            return
        if not body:
            self._reply(200, b"", None, extra)  # the empty request that sets up the security context
            return
        self._wsman(body, result.user, encrypted, extra)

    def do_GET(self) -> None:
        self._read_body()
        status = 405 if self.path.split("?", 1)[0].lower() in VALID_PATHS else 404
        self._reply(status, b"", "text/html")

    do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815 - stdlib naming

    # -- internals ---------------------------------------------------------------------------------

    def _wsman(self, body: bytes, user: str, encrypted: bool, extra: list[tuple[str, str]]) -> None:
        started = time.monotonic()
        number, fault_kind = self.server.faults.next()
        request: soap.Request | None = None
        status = 200
        try:
            request = soap.parse_request(body)
            command_fault = self.server.faults.command_fault(request.action)
            if command_fault is not None and command_fault.kind == "command_drop":
                fault_kind = "drop"
            if fault_kind == "drop":
                log.info("#%d %s %s: dropping the connection (injected fault)", number, user, _short(request.action))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault_kind == "wsman_fault":
                raise soap.SoapError(
                    soap.CODE_INTERNAL_ERROR,
                    "w:InternalError",
                    "The WS-Management service cannot process the request. An internal error occurred "
                    "(fault injected by the Exchange lab).",
                    sender=False,
                )
            reply = self.server.service.handle(request, user, self.client_address[0])
            if command_fault is not None and command_fault.kind == "command_late":
                log.info("#%d %s Command: answering %.1f s late (injected fault)", number, user, command_fault.seconds)
                time.sleep(command_fault.seconds)  # the cmdlet runs meanwhile; a client with a shorter timeout gives up
            late = self.server.faults.late_receive(request.action, reply)
            if late is not None:
                # the answer is ready (and kept for a repeat of this Receive); a client whose read timeout is
                # shorter gives up and sends the same Receive again
                log.info("#%d %s Receive: answering %.1f s late (injected fault)", number, user, late.seconds)
                time.sleep(late.seconds)
            answer = self.server.faults.answer_fault(request.action)
            if answer is not None:
                log.info("#%d %s %s: the answer of write %d gets %s (injected fault)", number, user,
                         _short(request.action), answer.on_write, answer.kind)
                if answer.kind == "write_answer_drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                raise soap.SoapError(
                    soap.CODE_INTERNAL_ERROR,
                    "w:InternalError",
                    "The WS-Management service cannot process the request. An internal error occurred "
                    "(fault injected by the Exchange lab after the write).",
                    sender=False,
                )
        except soap.SoapError as exc:
            status = 500
            reply = soap.fault(
                request.message_id if request else "",
                exc.code,
                exc.subcode,
                exc.message,
                self.server.service.machine,
                exc.sender,
            )
        except Exception:  # noqa: BLE001 - never crash the server on one request
            log.exception("#%d internal error", number)
            status = 500
            reply = soap.fault(
                request.message_id if request else "",
                soap.CODE_INTERNAL_ERROR,
                "w:InternalError",
                "The WS-Management service cannot process the request because of an internal error.",
                self.server.service.machine,
                False,
            )
        log.info(
            "#%d %s %s %s -> %d (%.0f ms)",
            number,
            self.client_address[0],
            user,
            _short(request.action if request else "?"),
            status,
            (time.monotonic() - started) * 1000,
        )
        if encrypted:
            protocol = encryption.protocol_of(self.headers.get("Content-Type", ""))
            payload = encryption.wrap(self.conn_auth.context, reply, protocol)
            self._reply(status, payload, encryption.content_type(protocol), extra)
        else:
            self._reply(status, reply, "application/soap+xml;charset=UTF-8", extra)

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None after answering 400/413 itself."""
        status = 413
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while len(data) <= MAX_BODY:
                try:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    status = 400
                    break
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length, status = -1, 400
            if 0 <= length <= MAX_BODY:
                return self.rfile.read(length) if length else b""
        self.close_connection = True
        self._reply(status, b"", None)
        return None

    def _reply(
        self, status: int, body: bytes, content_type: str | None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()


def _short(action: str) -> str:
    return action.rsplit("/", 1)[-1]

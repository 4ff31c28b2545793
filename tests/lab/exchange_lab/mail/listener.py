"""The organisation's receive connector: an aiosmtpd server feeding :class:`MailTransport`.

It accepts mail from the organisation's users (sender in an accepted domain) for external
recipients and refuses to relay anything else, with Exchange's texts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import typing as t

from aiosmtpd.smtp import SMTP

from exchange_lab.mail.service import MailTransport

logging.getLogger("mail.log").setLevel(logging.ERROR)

RELAY_DENIED = "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
NO_MAILBOX = "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"


class _Handler:
    def __init__(self, transport: MailTransport) -> None:
        self.transport = transport

    async def handle_RCPT(self, server: SMTP, session: t.Any, envelope: t.Any, address: str, options: list[str]) -> str:
        if self.transport.is_internal(address):
            return NO_MAILBOX  # the lab has no mailbox store: only outbound mail flows
        if not self.transport.is_internal(envelope.mail_from or ""):
            return RELAY_DENIED
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_MAIL(self, server: SMTP, session: t.Any, envelope: t.Any, address: str, options: list[str]) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_DATA(self, server: SMTP, session: t.Any, envelope: t.Any) -> str:
        peer = session.peer[0] if session.peer else ""
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        loop = asyncio.get_running_loop()
        accepted = await loop.run_in_executor(
            None, self.transport.accept, envelope.mail_from, list(envelope.rcpt_tos), data, peer, session.host_name or ""
        )
        return accepted.reply


class ReceiveConnector:
    """An SMTP listener on its own asyncio loop thread."""

    def __init__(self, transport: MailTransport, host: str, port: int = 0) -> None:
        self.transport = transport
        self.host = host
        self.requested_port = port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._error: BaseException | None = None

    def _factory(self) -> SMTP:
        return SMTP(
            _Handler(self.transport),
            hostname=self.transport.fqdn(self.transport.config.local_server),
            ident="Microsoft ESMTP MAIL Service ready",
            data_size_limit=self.transport.settings.receive_max_message_size,
            enable_SMTPUTF8=True,
            timeout=300,
            loop=self._loop,
        )

    def start(self) -> int:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, started), name=f"smtp-receive-{self.port}", daemon=True)
        self._thread.start()
        started.wait(30)
        if self._error is not None:
            raise OSError(f"SMTP listener failed to start: {self._error}")
        return self.port

    def _run(self, sock: socket.socket, started: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(loop.create_server(self._factory, sock=sock))
        except BaseException as exc:  # reported by start()
            self._error = exc
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = list(asyncio.all_tasks(loop))
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

"""The organisation's receive connector: an aiosmtpd server feeding :class:`MailTransport`.

It accepts mail from the organisation's users (sender in an accepted domain) for external
recipients and refuses to relay anything else, with Exchange's texts.
"""

from __future__ import annotations

import asyncio
import logging
import typing as t

from aiosmtpd.smtp import SMTP

from exchange_lab.aioserver import ServerThread, listening_socket
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
        self._runner = ServerThread("smtp-receive")

    def _factory(self) -> SMTP:
        return SMTP(
            _Handler(self.transport),
            hostname=self.transport.fqdn(self.transport.config.local_server),
            ident="Microsoft ESMTP MAIL Service ready",
            data_size_limit=self.transport.settings.receive_max_message_size,
            enable_SMTPUTF8=True,
            timeout=300,
            loop=self._runner.loop,
        )

    def start(self) -> int:
        sock = listening_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        self._runner.name = f"smtp-receive-{self.port}"
        try:
            self._runner.start(sock, self._factory)
        except OSError as exc:
            raise OSError(f"SMTP listener failed to start: {exc}") from None
        return self.port

    def stop(self) -> None:
        self._runner.stop(10)

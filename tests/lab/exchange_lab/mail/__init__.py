"""The lab's mail transport: receive connector, routing, queues, delivery, logs, transport cmdlets.

    routing.py       Send connector selection (the "Mail routing" page), pure logic
    smtp_send.py     delivery to smart hosts over real SMTP with the connector's settings
    service.py       MailTransport: accept -> route -> queue -> deliver, tracking events
    queues.py        queues per server (Get-Queue), persisted under <state>/mail
    tracking.py      MSGTRK files (Message tracking page) and the Get-MessageTrackingLog search
    protocol_log.py  SmtpSend protocol log files (Protocol logging page)
    listener.py      the receive connector (aiosmtpd)
    cmdlets.py       Get-MessageTrackingLog, Get-Queue, Retry-Queue, Get-TransportService
    settings.py      the ``mail:`` section of the lab config

``serve`` calls :func:`start_transport` once the organisation exists and merges the returned
dict (``smtp_port``, ``smtp_host``, ``logs_dir``) into its ready JSON.
"""

from __future__ import annotations

import typing as t

from exchange_lab.config import LabConfig


class Transport(t.Protocol):
    def stop(self) -> None: ...


class _Running:
    """The transport service and its listener, stopped together."""

    def __init__(self, service: t.Any, listener: t.Any) -> None:
        self.service = service
        self.listener = listener

    def stop(self) -> None:
        self.listener.stop()
        self.service.stop()


def start_transport(org: t.Any, config: LabConfig, state_dir: str, host: str) -> tuple[Transport | None, dict[str, t.Any]]:
    """Start the mail transport for ``org``; returns (handle with stop(), ready-JSON additions).

    Returns ``(None, {})`` when ``mail.enabled`` is false or the backend has no Send connectors
    (test backends). Raises ``exchange_lab.mail.settings.MailConfigError`` for a wrong ``mail:``
    section and OSError when the SMTP port cannot be bound.
    """
    from exchange_lab.mail import cmdlets
    from exchange_lab.mail.listener import ReceiveConnector
    from exchange_lab.mail.service import MailTransport
    from exchange_lab.mail.settings import MailSettings

    settings = MailSettings.from_extra(config.extra)
    connectors = getattr(org, "connectors", None)
    if not settings.enabled or not callable(connectors):
        return None, {}
    lookup = getattr(org, "connector_for_delivery", None)
    service = MailTransport(connectors, config, state_dir, host, connector=lookup if callable(lookup) else None)
    listener = ReceiveConnector(service, host, settings.smtp_port)
    port = listener.start()
    service.start()
    cmdlets.attach(org, service)
    return _Running(service, listener), {"smtp_host": host, "smtp_port": port, "logs_dir": service.logs_root}

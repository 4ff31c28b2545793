"""SmtpSend protocol log (Microsoft's "Protocol logging" page): one folder per server, every Verbose connector writes into it.

A :class:`SendSessionLog` numbers the events of one SMTP session (sequence-number from 0) and
writes each one immediately, so lines of concurrent sessions interleave as they do in Exchange.
A disabled log (connector ``ProtocolLoggingLevel`` None) keeps nothing on disk but still counts.
"""

from __future__ import annotations

import itertools
import os
import threading
import time

from exchange_lab.mail.logfiles import HourlyLog, iso_ms, utcnow

FIELDS = ["date-time", "connector-id", "session-id", "sequence-number", "local-endpoint", "remote-endpoint", "event", "data", "context"]

_session_counter = itertools.count(int(time.time() * 1000) & 0xFFFFFFFFFF)
_counter_lock = threading.Lock()


def new_session_id() -> str:
    """16 upper-case hex digits, like the session ids in real SmtpSend logs."""
    with _counter_lock:
        value = next(_session_counter)
    return f"08DE{value:012X}"[-16:]


class ProtocolLogs:
    """The SmtpSend folders of all servers under ``<state>/logs``."""

    def __init__(self, logs_root: str) -> None:
        self.logs_root = logs_root
        self._writers: dict[str, HourlyLog] = {}
        self._lock = threading.Lock()

    def folder(self, server: str) -> str:
        return os.path.join(self.logs_root, server.upper(), "ProtocolLog", "SmtpSend")

    def writer(self, server: str) -> HourlyLog:
        key = server.upper()
        with self._lock:
            if key not in self._writers:
                self._writers[key] = HourlyLog(self.folder(key), "SEND", "SMTP Send Protocol Log", FIELDS)
            return self._writers[key]

    def session(self, server: str, connector_name: str, verbose: bool) -> "SendSessionLog":
        return SendSessionLog(self.writer(server) if verbose else None, connector_name)


class SendSessionLog:
    """The events of one outbound SMTP session."""

    def __init__(self, writer: HourlyLog | None, connector_name: str) -> None:
        self._writer = writer
        self.connector_name = connector_name
        self.session_id = new_session_id()
        self._sequence = 0
        self.local = ""
        self.remote = ""
        self.lines: list[tuple[str, str, str]] = []  # (event, data, context), kept for tests/diagnostics

    def event(self, kind: str, data: str = "", context: str = "") -> None:
        self.lines.append((kind, data, context))
        if self._writer is not None:
            self._writer.write([
                iso_ms(utcnow()), self.connector_name, self.session_id, str(self._sequence),
                self.local, self.remote, kind, data, context,
            ])
        self._sequence += 1

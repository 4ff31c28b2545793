"""Append-only W3C-style CSV log files as Exchange's transport writes them.

Both the message tracking log (Microsoft's "Message tracking" page) and the SmtpSend protocol log (Microsoft's "Protocol logging" page) are files with a few
``#Key: value`` header lines, a ``#Fields:`` line and CSV records. A new file starts every UTC
hour (``<PREFIX><yyyymmddhh>-<n>.LOG``); ``n`` counts up from 1 when a file grows past
``max_bytes``. Writes are serialised by a lock and flushed line by line so another process can
read a consistent file at any time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import threading
import typing as t

EXCHANGE_VERSION = "15.02.1544.004"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso_ms(when: dt.datetime) -> str:
    """``2024-05-01T13:05:00.100Z``: the date-time format of every transport log."""
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_iso_ms(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def csv_line(values: t.Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


class HourlyLog:
    """One log folder: files named ``<prefix><yyyymmddhh>-<n>.LOG``."""

    def __init__(
        self, folder: str, prefix: str, log_type: str, fields: t.Sequence[str], max_bytes: int = 10485760, type_key: str = "Log-type"
    ) -> None:
        self.folder = folder
        self.type_key = type_key
        self.prefix = prefix
        self.log_type = log_type
        self.fields = list(fields)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._path: str | None = None
        self._hour = ""

    def _header(self, when: dt.datetime) -> str:
        return (
            "#Software: Microsoft Exchange Server\r\n"
            f"#Version: {EXCHANGE_VERSION}\r\n"
            f"#{self.type_key}: {self.log_type}\r\n"
            f"#Date: {iso_ms(when)}\r\n"
            f"#Fields: {','.join(self.fields)}\r\n"
        )

    def _current(self, when: dt.datetime) -> str:
        hour = when.astimezone(dt.timezone.utc).strftime("%Y%m%d%H")
        if self._path and self._hour == hour and os.path.exists(self._path) and os.path.getsize(self._path) < self.max_bytes:
            return self._path
        os.makedirs(self.folder, exist_ok=True)
        number = 1
        while True:
            path = os.path.join(self.folder, f"{self.prefix}{hour}-{number}.LOG")
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8", newline="") as handle:
                    handle.write(self._header(when))
                break
            if os.path.getsize(path) < self.max_bytes:
                break
            number += 1
        self._path, self._hour = path, hour
        return path

    def write(self, values: t.Sequence[str], when: dt.datetime | None = None) -> None:
        when = when or utcnow()
        line = csv_line(values)
        with self._lock:
            path = self._current(when)
            with open(path, "a", encoding="utf-8", newline="") as handle:
                handle.write(line)
                handle.flush()


def read_records(folder: str, prefix: str) -> t.Iterator[dict[str, str]]:
    """Every record of every ``<prefix>*.LOG`` file in ``folder``, as field-name -> text."""
    if not os.path.isdir(folder):
        return
    pattern = re.compile(rf"^{re.escape(prefix)}\d{{8}}(\d{{2}})?-\d+\.log$", re.IGNORECASE)
    for name in sorted(os.listdir(folder)):
        if not pattern.match(name):
            continue
        with open(os.path.join(folder, name), encoding="utf-8", newline="") as handle:
            text = handle.read()
        fields: list[str] = []
        body: list[str] = []
        for line in text.splitlines(keepends=True):
            if line.startswith("#Fields:"):
                fields = [f.strip() for f in line[len("#Fields:"):].strip().split(",")]
            elif not line.startswith("#"):
                body.append(line)
        for row in csv.reader(io.StringIO("".join(body))):
            if row:
                yield dict(zip(fields, row))

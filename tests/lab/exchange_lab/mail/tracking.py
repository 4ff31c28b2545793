"""Message tracking log: MSGTRK files per server (Microsoft's "Message tracking" page) and the search behind Get-MessageTrackingLog.

Each transport server writes its own folder ``<state>/logs/<server>/MessageTracking``; a search
reads only the folder of the server it was asked about, like the Transport Log Search service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import typing as t

from exchange_lab.mail.logfiles import HourlyLog, iso_ms, parse_iso_ms, read_records, utcnow

FIELDS = [
    "date-time", "client-ip", "client-hostname", "server-ip", "server-hostname", "source-context",
    "connector-id", "source", "event-id", "internal-message-id", "message-id", "network-message-id",
    "recipient-address", "recipient-status", "total-bytes", "recipient-count",
    "related-recipient-address", "reference", "message-subject", "sender-address", "return-path",
    "message-info", "directionality", "tenant-id", "original-client-ip", "original-server-ip",
    "custom-data", "transport-traffic-type", "log-id", "schema-version",
]

# Output property names: the field name without dashes, except the three renames Microsoft's Get-MessageTrackingLog parameter page shows.
_RENAMES = {"date-time": "Timestamp", "recipient-address": "Recipients", "sender-address": "Sender", "custom-data": "EventData"}
LIST_FIELDS = {"recipient-address", "recipient-status", "reference"}


def property_name(field: str) -> str:
    return _RENAMES.get(field) or "".join(part.capitalize() for part in field.split("-"))


PROPERTY_NAMES = {f: property_name(f) for f in FIELDS}


@dataclasses.dataclass
class TrackingEvent:
    event_id: str
    source: str
    message_id: str
    internal_message_id: str
    sender: str
    recipients: list[str]
    recipient_status: list[str] = dataclasses.field(default_factory=list)
    subject: str = ""
    total_bytes: int = 0
    client_ip: str = ""
    client_hostname: str = ""
    server_ip: str = ""
    server_hostname: str = ""
    source_context: str = ""
    connector_id: str = ""
    network_message_id: str = ""
    reference: list[str] = dataclasses.field(default_factory=list)
    message_info: str = ""
    directionality: str = "Originating"
    custom_data: str = ""
    related_recipient: str = ""
    timestamp: dt.datetime | None = None

    def values(self) -> list[str]:
        when = self.timestamp or utcnow()
        row = {
            "date-time": iso_ms(when),
            "client-ip": self.client_ip,
            "client-hostname": self.client_hostname,
            "server-ip": self.server_ip,
            "server-hostname": self.server_hostname,
            "source-context": self.source_context,
            "connector-id": self.connector_id,
            "source": self.source,
            "event-id": self.event_id,
            "internal-message-id": self.internal_message_id,
            "message-id": self.message_id,
            "network-message-id": self.network_message_id,
            "recipient-address": ";".join(self.recipients),
            "recipient-status": ";".join(self.recipient_status),
            "total-bytes": str(self.total_bytes),
            "recipient-count": str(len(self.recipients)),
            "related-recipient-address": self.related_recipient,
            "reference": ";".join(self.reference),
            "message-subject": self.subject,
            "sender-address": self.sender,
            "return-path": self.sender or "<>",
            "message-info": self.message_info,
            "directionality": self.directionality,
            "tenant-id": "",
            "original-client-ip": "",
            "original-server-ip": "",
            "custom-data": self.custom_data,
            "transport-traffic-type": "Email",
            "log-id": "",
            "schema-version": "15.02.1544.004",
        }
        return [row[f] for f in FIELDS]


class TrackingLog:
    """All servers' message tracking folders under ``<state>/logs``."""

    def __init__(self, logs_root: str, max_bytes: int = 10485760) -> None:
        self.logs_root = logs_root
        self._max_bytes = max_bytes
        self._writers: dict[str, HourlyLog] = {}
        self._lock = threading.Lock()

    def folder(self, server: str) -> str:
        return os.path.join(self.logs_root, server.upper(), "MessageTracking")

    def write(self, server: str, event: TrackingEvent) -> None:
        key = server.upper()
        with self._lock:
            writer = self._writers.get(key)
            if writer is None:
                writer = HourlyLog(self.folder(key), "MSGTRK", "Message Tracking Log", FIELDS, self._max_bytes, type_key="Log-Type")
                self._writers[key] = writer
        writer.write(event.values(), event.timestamp)

    def records(self, server: str) -> list[dict[str, t.Any]]:
        """The server's events as output properties (Timestamp a datetime, lists split)."""
        out = []
        for raw in read_records(self.folder(server), "MSGTRK"):
            out.append(to_properties(raw))
        out.sort(key=lambda r: r["Timestamp"])
        return out


def to_properties(raw: dict[str, str]) -> dict[str, t.Any]:
    props: dict[str, t.Any] = {}
    for field in FIELDS:
        text = raw.get(field, "")
        name = PROPERTY_NAMES[field]
        if field == "date-time":
            props[name] = parse_iso_ms(text)
        elif field == "recipient-status":
            props[name] = split_statuses(text, int(raw.get("recipient-count") or 0))
        elif field in LIST_FIELDS:
            props[name] = [p for p in text.split(";") if p] if text else []
        elif field in ("total-bytes", "recipient-count"):
            props[name] = int(text or 0)
        else:
            props[name] = text or None
    return props


def split_statuses(text: str, count: int) -> list[str]:
    """Per-recipient statuses; a status may itself contain ';' (e.g. ``...NonExistentDomain; nonexistent domain``)."""
    if not text:
        return []
    if count <= 1:
        return [text]
    parts = text.split(";")
    if len(parts) == count:
        return parts
    size = (len(text) - (count - 1)) // count
    same = text[:size]
    if size > 0 and text == ";".join([same] * count):
        return [same] * count
    return [text]


@dataclasses.dataclass
class TrackingQuery:
    """The search parameters of Get-MessageTrackingLog (Microsoft's Get-MessageTrackingLog parameter page), already validated."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    event_id: str | None = None
    message_id: str | None = None
    subject: str | None = None
    recipients: list[str] = dataclasses.field(default_factory=list)
    sender: str | None = None
    internal_message_id: str | None = None
    reference: str | None = None
    network_message_id: str | None = None
    source: str | None = None
    result_size: int | None = 1000  # None = Unlimited

    def matches(self, rec: dict[str, t.Any]) -> bool:
        when = rec["Timestamp"]
        if self.start is not None and when < self.start:
            return False
        if self.end is not None and when >= self.end:
            return False
        if self.event_id and (rec["EventId"] or "").upper() != self.event_id.upper():
            return False
        if self.message_id and _bare_id(rec["MessageId"] or "") != _bare_id(self.message_id):
            return False
        if self.subject and self.subject.lower() not in (rec["MessageSubject"] or "").lower():
            return False
        if self.recipients:
            have = {r.lower() for r in rec["Recipients"]}
            if not have.intersection(r.lower() for r in self.recipients):
                return False
        if self.sender and (rec["Sender"] or "").lower() != self.sender.lower():
            return False
        if self.internal_message_id and (rec["InternalMessageId"] or "") != str(self.internal_message_id):
            return False
        if self.reference and self.reference not in rec["Reference"]:
            return False
        if self.network_message_id and (rec["NetworkMessageId"] or "").lower() != self.network_message_id.lower():
            return False
        if self.source and (rec["Source"] or "").upper() != self.source.upper():
            return False
        return True

    def run(self, records: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        found = [r for r in records if self.matches(r)]
        if self.result_size is not None:
            found = found[: self.result_size]
        return found


def _bare_id(message_id: str) -> str:
    return message_id.strip().strip("<>").strip().lower()

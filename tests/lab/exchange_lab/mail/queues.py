"""Transport queues per server: what Get-Queue shows, kept in memory and persisted to the state dir.

A queue is keyed by (server, DeliveryType, next hop). Messages wait in it until delivered,
returned (FAIL + DSN) or expired. ``<state>/mail/queues.json`` holds the queues and messages
(rewritten atomically after every change); message bodies live next to it in ``messages/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
import typing as t

SMART_HOST = "SmartHostConnectorDelivery"
UNREACHABLE = "Unreachable"
SUBMISSION = "Undefined"  # the Submission queue's DeliveryType


def lrt(when: dt.datetime) -> str:
    """Exchange's LastRetryTime text inside LastError: ``11/26/2026 10:45:01 PM``."""
    local = when.astimezone(dt.timezone.utc)
    return f"{local.month}/{local.day}/{local.year} {local.strftime('%I:%M:%S %p').lstrip('0')}"


def format_last_error(when: dt.datetime, led: str, fqdn: str = "", ip: str = "") -> str:
    """``[{LRT=...};{LED=...};{FQDN=...};{IP=...}]``: the shape of Get-Queue LastError on 2016+."""
    return f"[{{LRT={lrt(when)}}};{{LED={led}}};{{FQDN={fqdn}}};{{IP={ip}}}]"


@dataclasses.dataclass
class QueuedMessage:
    record_id: int  # InternalMessageId on the queue's server
    message_id: str  # the Message-ID header, with brackets
    network_message_id: str
    sender: str
    recipients: list[str]  # recipients not yet delivered or returned
    subject: str
    size: int
    body_path: str
    received: str  # ISO-8601 UTC, when the organisation accepted it
    expires: str  # ISO-8601 UTC
    client_ip: str = ""
    client_hostname: str = ""
    attempts: int = 0
    last_error: str | None = None

    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.expires)


@dataclasses.dataclass
class Queue:
    server: str
    name: str  # the part after "SERVER\": a number, or Unreachable / Submission
    delivery_type: str
    next_hop_domain: str
    connector_name: str = ""
    connector_guid: str = ""
    status: str = "Ready"  # Ready | Retry | Active
    last_error: str | None = None
    last_retry: str | None = None  # ISO-8601 UTC
    next_retry: str | None = None  # ISO-8601 UTC
    messages: list[QueuedMessage] = dataclasses.field(default_factory=list)
    active: bool = False  # a delivery attempt is running (not persisted)

    @property
    def identity(self) -> str:
        return f"{self.server}\\{self.name}"

    def due(self, now: dt.datetime) -> bool:
        if self.active or not self.messages or self.delivery_type != SMART_HOST:
            return False
        return self.next_retry is None or dt.datetime.fromisoformat(self.next_retry) <= now


class QueueStore:
    """All queues of all servers, with their persistence. Callers hold ``lock`` while changing them."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.bodies = os.path.join(folder, "messages")
        self.path = os.path.join(folder, "queues.json")
        self.lock = threading.RLock()
        self.queues: dict[str, Queue] = {}  # identity (upper case) -> queue
        self.counters: dict[str, int] = {}  # server -> last queue number / record id
        os.makedirs(self.bodies, exist_ok=True)
        self._load()

    # -- lookup -----------------------------------------------------------------------------
    def find(self, server: str, delivery_type: str, next_hop: str, connector_name: str = "", connector_guid: str = "") -> Queue:
        """The queue for this next hop: Exchange keys a connector's queue by the connector's GUID
        (NextHopConnector), so a renamed connector keeps its queue and a connector removed and
        created again under the same name gets the NEW connector's GUID (issue 9 item 4)."""
        with self.lock:
            same_hop = [
                queue
                for queue in self.queues.values()
                if queue.server.upper() == server.upper()
                and queue.delivery_type == delivery_type
                and queue.next_hop_domain.lower() == next_hop.lower()
            ]
            if connector_guid:
                for queue in same_hop:
                    if queue.connector_guid.lower() == connector_guid.lower():
                        queue.connector_name = connector_name
                        return queue
            for queue in same_hop:
                if queue.connector_name.lower() == connector_name.lower():
                    if connector_guid:
                        # Connector names are unique: the queue's old connector is gone, and its
                        # waiting messages were re-routed to this one (Exchange re-routes them).
                        queue.connector_guid = connector_guid
                    return queue
            if delivery_type == UNREACHABLE:
                name = "Unreachable"
            else:
                name = str(self.next_number(server, "queue"))
            queue = Queue(server.upper(), name, delivery_type, next_hop, connector_name, connector_guid)
            self.queues[queue.identity.upper()] = queue
            return queue

    def for_server(self, server: str) -> list[Queue]:
        with self.lock:
            return [q for q in self.queues.values() if q.server.upper() == server.upper()]

    def next_number(self, server: str, kind: str) -> int:
        with self.lock:
            key = f"{server.upper()}:{kind}"
            base = 12884901888 if kind == "record" else 2
            self.counters[key] = self.counters.get(key, base) + 1
            return self.counters[key]

    # -- bodies ------------------------------------------------------------------------------
    def store_body(self, record_id: int, server: str, data: bytes) -> str:
        path = os.path.join(self.bodies, f"{server.upper()}-{record_id}.eml")
        _atomic_write(path, data)
        return path

    @staticmethod
    def read_body(message: QueuedMessage) -> bytes:
        with open(message.body_path, "rb") as handle:
            return handle.read()

    def drop_body(self, message: QueuedMessage) -> None:
        still_used = any(m.body_path == message.body_path for q in self.queues.values() for m in q.messages)
        if not still_used:
            try:
                os.unlink(message.body_path)
            except FileNotFoundError:
                pass

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> None:
        with self.lock:
            data = {
                "counters": self.counters,
                "queues": [
                    {k: v for k, v in dataclasses.asdict(q).items() if k != "active"} for q in self.queues.values()
                ],
            }
            _atomic_write(self.path, json.dumps(data, indent=1).encode("utf-8"))

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (FileNotFoundError, ValueError):
            return
        self.counters = {str(k): int(v) for k, v in data.get("counters", {}).items()}
        for raw in data.get("queues", []):
            messages = [QueuedMessage(**m) for m in raw.pop("messages", [])]
            queue = Queue(**raw, messages=messages)
            queue.status = "Retry" if queue.last_error and queue.messages else "Ready"
            self.queues[queue.identity.upper()] = queue


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def parse_iso(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat()


MessageFilter = t.Callable[[QueuedMessage], bool]

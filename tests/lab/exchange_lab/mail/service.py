"""The lab's transport service: accepts messages, routes them, queues and delivers them.

``MailTransport.accept`` is what the SMTP listener calls for each message; a scheduler thread
hands due queues to a small worker pool that delivers through the connector's smart hosts
(:mod:`exchange_lab.mail.smtp_send`). Every step leaves the tracking events an Exchange
transport server would write (RECEIVE, SEND/SENDEXTERNAL, DEFER, FAIL, DSN) in the log folder
of the server that did it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import email.parser
import email.policy
import email.utils
import ipaddress
import logging
import os
import threading
import time
import typing as t
import uuid

from exchange_lab.config import LabConfig
from exchange_lab.mail import queues as q
from exchange_lab.mail.protocol_log import ProtocolLogs, SendSessionLog
from exchange_lab.mail.resolver import HostsResolver
from exchange_lab.mail.routing import TOO_LARGE, NoRoute, Route, Router
from exchange_lab.mail.settings import MailSettings
from exchange_lab.mail.smtp_send import DeliveryResult, Envelope, SendSettings, SmartHostClient
from exchange_lab.mail.tracking import TrackingEvent, TrackingLog
from exchange_lab.org.route import local_certificate_problem

log = logging.getLogger("exchange_lab.mail")

INTRA_ORG_CONNECTOR = "Intra-Organization SMTP Send Connector"
EXPIRED_STATUS = "550 4.4.7 QUEUE.Expired; message expired"
DNS_CONNECTOR = "DnsConnectorDelivery"

ConnectorSource = t.Callable[[], list[dict[str, t.Any]]]
# (guid, name) -> that one connector (a copy) or None: what a delivery needs, without copying every connector
ConnectorLookup = t.Callable[[str, str], t.Optional[dict[str, t.Any]]]


@dataclasses.dataclass
class Accepted:
    """What the listener answers for one accepted message."""

    reply: str
    message_id: str
    record_id: int


SAVE_EVERY = 0.5  # seconds between two saves of the queues while deliveries run
# Queues delivered at once. Exchange works every next-hop queue in parallel, up to the transport service's
# MaxConcurrentOutboundConnections (default 1000) and MaxPerDomainOutboundConnections (default 20); the lab
# takes the per-domain default as its one limit for all queues. It was 4, which
# made one test message through 50 connectors take 1.4 s to leave instead of 0.4 s.
CONCURRENT_DELIVERIES = 20


class MailTransport:
    def __init__(self, connectors: ConnectorSource, config: LabConfig, state_dir: str, host: str = "127.0.0.1",
                 connector: ConnectorLookup | None = None) -> None:
        self.config = config
        self.settings = MailSettings.from_extra(config.extra)
        self.connectors = connectors
        self._lookup = connector
        self.host = host
        self.logs_root = os.path.join(state_dir, "logs")
        self.tracking = TrackingLog(self.logs_root)
        self.protocol_logs = ProtocolLogs(self.logs_root)
        self.store = q.QueueStore(os.path.join(state_dir, "mail"))
        self.resolver = HostsResolver(config.hosts)
        self._sites = {s.name: s.site for s in config.servers}
        self._wake = threading.Condition()
        self._stopping = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT_DELIVERIES, thread_name_prefix="mail-delivery")
        self._scheduler: threading.Thread | None = None
        # A delivery marks the queues changed; the scheduler saves them when it is idle, at most every SAVE_EVERY
        # seconds while deliveries run (saving every queue after each delivery made N deliveries cost N^2).
        self._dirty = False
        self._saved = 0.0

    # -- names -------------------------------------------------------------------------------
    def fqdn(self, server: str) -> str:
        return f"{server}.{self.config.domain}"

    def server_name(self, name: str) -> str | None:
        """The configured server for a name, FQDN or ``Server\\...`` identity, else None."""
        found = self.config.server(name.split("\\", 1)[0])
        return found.name if found else None

    def accepted_domains(self) -> set[str]:
        return {self.config.domain.lower(), *self.settings.accepted_domains}

    def is_internal(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return any(domain == d or domain.endswith("." + d) for d in self.accepted_domains())

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._scheduler = threading.Thread(target=self._schedule, name="mail-scheduler", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._scheduler:
            self._scheduler.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.save()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- receive ------------------------------------------------------------------------------
    def accept(self, mail_from: str, recipients: list[str], data: bytes, client_ip: str = "", client_helo: str = "") -> Accepted:
        """Take one message from the receive connector: track, route, queue. Thread-safe."""
        local = self.config.local_server
        now = _now()
        data, message_id, subject = self._prepare(data, local, client_ip, client_helo, now)
        record_id = self.store.next_number(local, "record")
        network_id = str(uuid.uuid4())
        msg = q.QueuedMessage(
            record_id=record_id, message_id=message_id, network_message_id=network_id, sender=mail_from,
            recipients=list(recipients), subject=subject, size=len(data), body_path="",
            received=q.iso(now), expires=q.iso(now + dt.timedelta(seconds=self.settings.message_expiration)),
            client_ip=client_ip, client_hostname=client_helo,
        )
        msg.body_path = self.store.store_body(record_id, local, data)
        self._track(local, "RECEIVE", "SMTP", msg, msg.recipients, client_ip=client_ip, client_hostname=client_helo,
                    server_ip=self.host, server_hostname=self.fqdn(local), connector_id=f"{local}\\Default Frontend {local}",
                    source_context="08DE" + uuid.uuid4().hex[:12].upper())
        with self.store.lock:
            self._route(local, msg, list(recipients))
            self.store.save()
        self.wake()
        reply = f"250 2.6.0 {message_id} [InternalId={record_id}, Hostname={self.fqdn(local)}] Queued mail for delivery"
        return Accepted(reply, message_id, record_id)

    def _prepare(self, data: bytes, server: str, client_ip: str, helo: str, now: dt.datetime) -> tuple[bytes, str, str]:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
        message_id = "".join(str(headers.get("Message-ID", "") or "").split())  # unfolded, no blanks
        prepend = (
            f"Received: from {helo or client_ip} ({client_ip}) by {self.fqdn(server)} ({self.host}) "
            f"with Microsoft SMTP Server id 15.2.1544.4; {email.utils.format_datetime(now)}\r\n"
        )
        if not message_id:
            message_id = f"<{uuid.uuid4()}@{self.fqdn(server)}>"
            prepend += f"Message-ID: {message_id}\r\n"
        subject = str(headers.get("Subject", "") or "")
        return prepend.encode("utf-8") + data, message_id, subject

    # -- routing ------------------------------------------------------------------------------
    def router(self, server: str) -> Router:
        return Router(server, self._sites)

    def _route(self, server: str, msg: q.QueuedMessage, recipients: list[str]) -> None:
        """Put ``recipients`` of ``msg`` (held by ``server``) in the queues their routes lead to."""
        connectors = self.connectors()
        groups: dict[str, tuple[Route | NoRoute, list[str]]] = {}
        for rcpt in recipients:
            domain = rcpt.rpartition("@")[2].lower()
            decision = self.router(server).select(connectors, domain, msg.size)
            if isinstance(decision, Route) and _smart_host_routed(decision.connector):
                key = f"sh:{decision.name}"
            elif isinstance(decision, Route):
                key = f"dns:{decision.name}:{domain}"
            else:
                key = f"none:{decision.reason}"
            groups.setdefault(key, (decision, []))[1].append(rcpt)
        for decision, rcpts in groups.values():
            if isinstance(decision, NoRoute):
                self._no_route(server, msg, rcpts, decision)
            else:
                self._enqueue(server, msg, rcpts, decision)

    def _no_route(self, server: str, msg: q.QueuedMessage, rcpts: list[str], decision: NoRoute) -> None:
        self._fail(server, msg, rcpts, decision.status, "ROUTING")
        if decision.reason == TOO_LARGE:
            return
        queue = self.store.find(server, q.UNREACHABLE, "Unreachable Domain")
        now = _now()
        parked = dataclasses.replace(msg, recipients=list(rcpts), last_error=decision.status)
        queue.messages.append(parked)
        queue.status = "Ready"
        queue.last_error = q.format_last_error(now, decision.status)
        queue.last_retry = q.iso(now)

    def _enqueue(self, server: str, msg: q.QueuedMessage, rcpts: list[str], route: Route) -> None:
        holder = server
        if route.relayed and route.source_server.upper() != server.upper():
            holder = route.source_server
            msg = self._relay(server, holder, msg, rcpts)
        connector = route.connector
        if _smart_host_routed(connector):
            delivery_type = q.SMART_HOST
            next_hop = ",".join(_render_host(h) for h in connector.get("SmartHosts") or [])
        else:
            delivery_type = DNS_CONNECTOR
            next_hop = rcpts[0].rpartition("@")[2].lower()
        queue = self.store.find(holder, delivery_type, next_hop, route.name, str(connector.get("Guid") or ""))
        queue.messages.append(dataclasses.replace(msg, recipients=list(rcpts), attempts=0, last_error=None))

    def _relay(self, server: str, target: str, msg: q.QueuedMessage, rcpts: list[str]) -> q.QueuedMessage:
        """Hand the message to a source server of the connector (intra-organisation SMTP)."""
        self._track(server, "SEND", "SMTP", msg, rcpts, server_ip=self.host, server_hostname=self.fqdn(target),
                    client_ip=self.host, client_hostname=self.fqdn(server), connector_id=INTRA_ORG_CONNECTOR,
                    recipient_status=["250 2.1.5 Recipient OK"] * len(rcpts))
        record_id = self.store.next_number(target, "record")
        relayed = dataclasses.replace(msg, record_id=record_id, recipients=list(rcpts))
        self._track(target, "RECEIVE", "SMTP", relayed, rcpts, client_ip=self.host, client_hostname=self.fqdn(server),
                    server_ip=self.host, server_hostname=self.fqdn(target), connector_id=f"{target}\\Default {target}")
        return relayed

    # -- tracking -----------------------------------------------------------------------------
    def _track(self, server: str, event_id: str, source: str, msg: q.QueuedMessage, recipients: list[str], **fields: t.Any) -> None:
        event = TrackingEvent(
            event_id=event_id, source=source, message_id=msg.message_id, internal_message_id=str(msg.record_id),
            sender=msg.sender, recipients=list(recipients), subject=msg.subject, total_bytes=msg.size,
            network_message_id=msg.network_message_id, **fields,
        )
        self.tracking.write(server, event)

    def _fail(self, server: str, msg: q.QueuedMessage, rcpts: list[str], status: str, source: str, **fields: t.Any) -> None:
        """FAIL for the recipients, then the DSN (NDR) going back to the sender."""
        self._track(server, "FAIL", source, msg, rcpts, recipient_status=[status] * len(rcpts), **fields)
        dsn_id = f"<{uuid.uuid4()}@{self.fqdn(server)}>"
        dsn = dataclasses.replace(
            msg, message_id=dsn_id, record_id=self.store.next_number(server, "record"),
            sender=f"MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{self.config.domain}",
            subject=f"Undeliverable: {msg.subject}",
        )
        self._track(server, "DSN", "DSN", dsn, [msg.sender], reference=[msg.message_id],
                    related_recipient=";".join(rcpts), recipient_status=[status])

    # -- delivery -----------------------------------------------------------------------------
    def _save_if_due(self) -> None:
        """Persist the queues a delivery changed (the scheduler's thread, outside the wake lock)."""
        with self.store.lock:
            busy = any(queue.active for queue in self.store.queues.values())
            if not self._dirty or (busy and time.monotonic() - self._saved < SAVE_EVERY):
                return
            self._dirty = False
            self._saved = time.monotonic()
            self.store.save()

    def _schedule(self) -> None:
        while True:
            self._save_if_due()
            with self._wake:
                if self._stopping:
                    return
                now = _now()
                due = []
                with self.store.lock:
                    for queue in self.store.queues.values():
                        if queue.delivery_type in (q.SMART_HOST, DNS_CONNECTOR) and queue.messages and not queue.active:
                            if queue.next_retry is None or dt.datetime.fromisoformat(queue.next_retry) <= now:
                                queue.active = True
                                queue.status = "Active"
                                due.append(queue)
                    wait = self._next_wait(now)
                if not due:
                    self._wake.wait(min(wait, SAVE_EVERY) if self._dirty else wait)
                    continue
            for queue in due:
                self._pool.submit(self._run_queue, queue)

    def _next_wait(self, now: dt.datetime) -> float:
        waits = [
            (dt.datetime.fromisoformat(queue.next_retry) - now).total_seconds()
            for queue in self.store.queues.values()
            if queue.messages and queue.next_retry and not queue.active
        ]
        return max(0.05, min(waits)) if waits else 5.0

    def _connector(self, queue: q.Queue) -> dict[str, t.Any] | None:
        """The queue's connector as it is now (by GUID, so a rename keeps the queue), or None."""
        if self._lookup is not None:
            # one connector per delivery: copying all of them for each of N deliveries made N deliveries cost N^2
            connector = self._lookup(queue.connector_guid or "", queue.connector_name)
            if connector is not None and str(connector.get("Guid") or "").lower() != (queue.connector_guid or "").lower():
                queue.connector_guid = str(connector.get("Guid") or queue.connector_guid)  # the same name, a new connector
            return connector
        connectors = self.connectors()
        for connector in connectors:
            if queue.connector_guid and str(connector.get("Guid", "")).lower() == queue.connector_guid.lower():
                return connector
        for connector in connectors:
            if str(connector.get("Name", "")).lower() == queue.connector_name.lower():
                # Removed and created again under the same name: the queue now belongs to the new
                # connector, and Get-Queue's NextHopConnector must say so.
                queue.connector_guid = str(connector.get("Guid") or queue.connector_guid)
                return connector
        return None

    def _run_queue(self, queue: q.Queue) -> None:
        try:
            with self.store.lock:
                pending = list(queue.messages)
            errors: list[str] = []
            down: DeliveryResult | None = None
            for msg in pending:
                if down is not None:  # the next hop is unreachable: the rest of the queue waits too
                    error = self._settle(queue, msg, down, queue.connector_name, "")
                else:
                    error, result = self._attempt(queue, msg)
                    if result is not None and result.unreachable:
                        down = dataclasses.replace(result, accepted=[], rejected={})
                if error:
                    errors.append(error)
            with self.store.lock:
                now = _now()
                queue.last_retry = q.iso(now)
                if errors and queue.messages:
                    queue.status = "Retry"
                    queue.last_error = errors[-1]
                    queue.next_retry = q.iso(now + dt.timedelta(seconds=self.settings.retry_interval))
                else:
                    queue.status = "Ready"
                    queue.last_error = None
                    queue.next_retry = None
                queue.active = False
                self._dirty = True  # saved by the scheduler (_save_if_due)
        except Exception:  # pragma: no cover - a bug must not stop the transport
            log.exception("delivery of queue %s failed", queue.identity)
            with self.store.lock:
                queue.active = False
                queue.status = "Retry"
                queue.next_retry = q.iso(_now() + dt.timedelta(seconds=self.settings.retry_interval))
        self.wake()

    def _remove(self, queue: q.Queue, msg: q.QueuedMessage) -> None:
        with self.store.lock:
            if msg in queue.messages:
                queue.messages.remove(msg)
            self.store.drop_body(msg)

    def _attempt(self, queue: q.Queue, msg: q.QueuedMessage) -> tuple[str | None, DeliveryResult | None]:
        """One delivery attempt: (formatted LastError when the message stays queued, the result)."""
        server = queue.server
        connector = self._connector(queue)
        if connector is None or not connector.get("Enabled", True):
            with self.store.lock:
                self._route(server, msg, msg.recipients)  # first, so the body stays in use
                self._remove(queue, msg)
            return None, None
        queue.connector_name = str(connector.get("Name", queue.connector_name))
        settings = SendSettings.from_connector(connector, self.fqdn(server), self.settings.ca_bundle, self.settings.connect_timeout)
        settings.local_certificate_problem = local_certificate_problem(self.config, server, connector.get("TlsCertificateName"))
        if queue.delivery_type == DNS_CONNECTOR:
            settings.smart_hosts, settings.port = [queue.next_hop_domain], 25
            settings.auth_mechanism = "None"
        try:
            body = q.QueueStore.read_body(msg)
        except OSError as exc:  # the queue database lost the message: return it rather than retry forever
            self._fail(server, msg, msg.recipients, f"550 5.3.0 Message lost from the queue database ({exc.__class__.__name__})", "QUEUE")
            self._remove(queue, msg)
            return None, None
        envelope = Envelope(msg.sender, list(msg.recipients), body, msg.message_id, msg.record_id)
        verbose = str(connector.get("ProtocolLoggingLevel") or "None") == "Verbose"
        sessions: list[SendSessionLog] = []

        def new_session() -> SendSessionLog:
            sessions.append(self.protocol_logs.session(server, settings.connector_name, verbose))
            return sessions[-1]

        result = SmartHostClient(settings, self.resolver).deliver(envelope, new_session)
        msg.attempts += 1
        return self._settle(queue, msg, result, settings.connector_name, sessions[-1].session_id if sessions else ""), result

    def _settle(self, queue: q.Queue, msg: q.QueuedMessage, result: DeliveryResult, connector_name: str, session_id: str) -> str | None:
        server = queue.server
        now = _now()
        where = {"connector_id": connector_name, "server_hostname": result.last_host, "server_ip": result.last_ip,
                 "client_ip": result.local_endpoint.rpartition(":")[0], "client_hostname": self.fqdn(server)}
        done = set(result.accepted) | set(result.rejected)
        if result.accepted:
            self._track(server, self.settings.send_event_id, "SMTP", msg, result.accepted,
                        recipient_status=[result.final_reply] * len(result.accepted), source_context=session_id,
                        message_info=msg.received, **where)
        for rcpt, status in result.rejected.items():
            self._fail(server, msg, [rcpt], status, "SMTP", **where)
        remaining = [r for r in msg.recipients if r not in done]
        if remaining and result.permanent_error:
            self._fail(server, msg, remaining, result.permanent_error, "SMTP", **where)
            remaining = []
        if remaining and result.transient_error:
            last_error = q.format_last_error(now, result.transient_error, result.last_host, result.last_ip)
            if now >= msg.expires_at():
                self._fail(server, msg, remaining, f"{EXPIRED_STATUS}; {result.transient_error}", "QUEUE", **where)
                remaining = []
            else:
                self._track(server, "DEFER", "SMTP", msg, remaining, recipient_status=[result.transient_error] * len(remaining), **where)
                with self.store.lock:
                    msg.recipients = remaining
                    msg.last_error = last_error
                return last_error
        self._remove(queue, msg)
        return None

    # -- management (the cmdlets) ------------------------------------------------------------
    def retry(self, queue: q.Queue, resubmit: bool = False) -> None:
        """Retry-Queue: try the queue now; ``resubmit`` routes its messages again."""
        with self.store.lock:
            if resubmit or queue.delivery_type == q.UNREACHABLE:
                for msg in list(queue.messages):
                    queue.messages.remove(msg)
                    if queue.delivery_type == q.UNREACHABLE:
                        self._reroute_unreachable(queue, msg)
                    else:
                        self._route(queue.server, msg, msg.recipients)
                if not queue.messages:
                    queue.last_error = None
                    queue.status = "Ready"
            queue.next_retry = None
            self.store.save()
        self.wake()

    def _reroute_unreachable(self, queue: q.Queue, msg: q.QueuedMessage) -> None:
        connectors = self.connectors()
        router = self.router(queue.server)
        for rcpt in list(msg.recipients):
            decision = router.select(connectors, rcpt.rpartition("@")[2], msg.size)
            if isinstance(decision, Route):
                self._enqueue(queue.server, msg, [rcpt], decision)
                msg.recipients.remove(rcpt)
        if msg.recipients:
            queue.messages.append(msg)


def _smart_host_routed(connector: dict[str, t.Any]) -> bool:
    return connector.get("DNSRoutingEnabled") is False or bool(connector.get("SmartHosts"))


def _render_host(host: str) -> str:
    bare = str(host).strip("[]")
    try:
        ipaddress.ip_address(bare)
        return f"[{bare}]"
    except ValueError:
        return bare


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

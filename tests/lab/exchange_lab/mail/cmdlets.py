"""Transport cmdlets registered into the organisation's cmdlet table.

Get-MessageTrackingLog (its Microsoft parameter page), Get-Queue, Retry-Queue and Get-TransportService. Each
reads the transport of the organisation that runs it (:func:`attach`); ``-Server`` picks the
transport server whose logs or queues are read, the local server when omitted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import typing as t
import uuid

from psrpcore.types import ErrorCategory, PSList

from exchange_lab.mail import queues as q
from exchange_lab.mail.service import MailTransport
from exchange_lab.mail.tracking import TrackingQuery
from exchange_lab.org import shapes
from exchange_lab.org.errors import TaskError
from exchange_lab.org.params import Param
from exchange_lab.org.registry import Context, register
from exchange_lab.org.values import ConvertError, render_size, render_timespan


NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
TRACKING_TYPE = "Microsoft.Exchange.Management.TransportLogSearchTasks.MessageTrackingEvent"
QUEUE_TYPE = "Microsoft.Exchange.Data.QueueViewer.ExtensibleQueueInfo"
TRANSPORT_SERVICE_TYPE = "Microsoft.Exchange.Data.Directory.SystemConfiguration.TransportServer"


Handler = t.Callable[[Context, MailTransport, dict[str, t.Any]], list[t.Any]]


def attach(org: t.Any, service: MailTransport) -> None:
    """Add the transport cmdlets, reading ``service``, to ``org`` (its own table, else the global one)."""
    add = getattr(org, "register", None) or register
    for name, handler, options in CMDLETS:
        add(name, _bound(handler, service), **options)


def _bound(handler: Handler, service: MailTransport) -> t.Callable[[Context, dict[str, t.Any]], list[t.Any]]:
    def run(ctx: Context, args: dict[str, t.Any]) -> list[t.Any]:
        return handler(ctx, service, args)

    return run


def _server(ctx: Context, service: MailTransport, given: str | None) -> str:
    name = given or service.config.local_server
    found = service.server_name(name)
    if found is None:
        ctx.fail(TaskError(
            f"The operation couldn't be performed because object '{name}' couldn't be found on '{service.config.domain_controller}'.",
            exception_type=NOT_FOUND, category=ErrorCategory.ObjectNotFound, target=name,
        ))
    return found


# -- value conversions -------------------------------------------------------------------------

def parse_datetime(value: t.Any) -> dt.datetime:
    """A DateTime parameter: a real DateTime, ISO-8601 text or US short date ``MM/dd/yyyy [HH:mm[:ss]]``."""
    if isinstance(value, dt.datetime):
        when = value
    else:
        text = str(value).strip()
        when = None
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y"):
                try:
                    when = dt.datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if when is None:
            raise ConvertError(f'Cannot convert value "{text}" to type "System.DateTime". Error: "String was not recognized as a valid DateTime."')
    if when.tzinfo is None:
        when = when.astimezone()  # like Exchange: an unqualified time is the server's local time
    return when.astimezone(dt.timezone.utc)


def parse_result_size(value: t.Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() == "unlimited":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConvertError(f'Cannot convert value "{value}" to type "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]".') from None
    if number < 1:
        raise ConvertError(f'Cannot convert value "{value}" to type "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]": ResultSize must be 1 or more, or Unlimited.')
    return number


def _strings(value: t.Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        out.extend(s.strip() for s in str(item).split(",") if s.strip())
    return out


def _string_array(items: t.Iterable[str]) -> PSList:
    value = PSList(list(items))
    value.PSObject.type_names = shapes.chain("System.String[]", "System.Array")
    return value


# -- Get-MessageTrackingLog --------------------------------------------------------------------

TRACKING_PARAMS = [
    Param("Server"), Param("Start", kind="custom", parse=parse_datetime, dotnet="System.DateTime"),
    Param("End", kind="custom", parse=parse_datetime, dotnet="System.DateTime"),
    Param("EventId"), Param("MessageId"), Param("MessageSubject"), Param("Recipients", kind="any"),
    Param("Sender"), Param("InternalMessageId"), Param("Reference"),
    Param("ResultSize", kind="custom", parse=parse_result_size), Param("NetworkMessageId"), Param("Source"),
    Param("TransportTrafficType"), Param("DomainController"),
]


def get_message_tracking_log(ctx: Context, service: MailTransport, args: dict[str, t.Any]) -> list[t.Any]:
    server = _server(ctx, service, args.get("Server"))
    query = TrackingQuery(
        start=args.get("Start"), end=args.get("End"), event_id=args.get("EventId"),
        message_id=args.get("MessageId"), subject=args.get("MessageSubject"),
        recipients=_strings(args.get("Recipients")), sender=args.get("Sender"),
        internal_message_id=args.get("InternalMessageId"), reference=args.get("Reference"),
        network_message_id=args.get("NetworkMessageId"), source=args.get("Source"),
        result_size=args["ResultSize"] if "ResultSize" in args else 1000,
    )
    records = [r for r in service.tracking.records(server) if query.matches(r)]
    if query.result_size is not None and len(records) > query.result_size:
        ctx.warn("There are more results, use ResultSize parameter to view more results.")
        records = records[: query.result_size]
    return [_tracking_object(record, server, ctx) for record in records]


def _remoting(ctx: Context, server: str) -> list[tuple[str, t.Any]]:
    return shapes.remoting_members(server, getattr(ctx, "runspace_id", "") or "")


def _tracking_object(record: dict[str, t.Any], server: str, ctx: Context) -> t.Any:
    props: list[tuple[str, t.Any]] = []
    for name, value in record.items():
        if name == "Timestamp":
            value = value.astimezone()  # Exchange shows the server's local time
        elif name in ("Recipients", "RecipientStatus", "Reference"):
            value = _string_array(value)
        props.append((name, value))
    props += [("MessageLatency", None), ("MessageLatencyType", "None")]
    return shapes.obj(shapes.chain(TRACKING_TYPE), TRACKING_TYPE, props, _remoting(ctx, server))


# -- Get-Queue / Retry-Queue -------------------------------------------------------------------

_FILTER_TERM = re.compile(r"""^\s*\(?\s*(\w+)\s+-(eq|ne|gt|lt|ge|le|like|notlike)\s+(?:'([^']*)'|"([^"]*)"|(\S+?))\s*\)?\s*$""", re.IGNORECASE)


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """A minimal OPATH filter: ``Prop -op 'value'`` terms joined by ``-and``."""
    terms = []
    for part in re.split(r"\s+-and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.match(part)
        if not match:
            raise ConvertError(f'Invalid filter syntax. Expected "Property -Operator Value" terms joined by -and, got "{part.strip()}".')
        value = next(v for v in match.groups()[2:] if v is not None)
        terms.append((match.group(1), match.group(2).lower(), value))
    return terms


def _compare(have: t.Any, op: str, want: str) -> bool:
    if isinstance(have, int) and want.lstrip("-").isdigit():
        a, b = have, int(want)
    else:
        a, b = str(have if have is not None else "").lower(), want.lower()
    if op in ("like", "notlike"):
        pattern = "^" + re.escape(str(b)).replace(r"\*", ".*") + "$"
        hit = re.match(pattern, str(a)) is not None
        return hit if op == "like" else not hit
    return {"eq": a == b, "ne": a != b, "gt": a > b, "lt": a < b, "ge": a >= b, "le": a <= b}[op]  # type: ignore[operator]


def _queue_fields(queue: q.Queue) -> dict[str, t.Any]:
    return {
        "Identity": queue.identity, "DeliveryType": queue.delivery_type, "NextHopDomain": queue.next_hop_domain,
        "NextHopConnector": queue.connector_guid or "00000000-0000-0000-0000-000000000000", "Status": queue.status,
        "MessageCount": len(queue.messages), "LastError": queue.last_error,
    }


def _select_queues(ctx: Context, service: MailTransport, args: dict[str, t.Any]) -> list[q.Queue]:
    identity = args.get("Identity")
    if identity:
        server_part, _, name = str(identity).rpartition("\\")
        server = _server(ctx, service, server_part or None)
        found = [x for x in _all_queues(service, server) if name.lower() in (x.name.lower(), x.next_hop_domain.lower())]
        if not found:
            ctx.fail(TaskError(f"The queue '{identity}' couldn't be found.", exception_type=NOT_FOUND,
                               category=ErrorCategory.ObjectNotFound, target=str(identity)))
        return found
    server = _server(ctx, service, args.get("Server"))
    selected = _all_queues(service, server)
    for prop, op, value in args.get("Filter") or []:
        selected = [x for x in selected if _compare(_queue_fields(x).get(prop, getattr(x, prop, None)), op, value)]
    return selected


QUEUE_PARAMS = [Param("Identity", position=0), Param("Server"), Param("Filter", kind="custom", parse=parse_filter),
                Param("ResultSize", kind="custom", parse=parse_result_size), Param("Include", kind="any"),
                Param("Exclude", kind="any"), Param("SortOrder", kind="any")]


def get_queue(ctx: Context, service: MailTransport, args: dict[str, t.Any]) -> list[t.Any]:
    with service.store.lock:
        selected = _select_queues(ctx, service, args)
        return [_queue_object(x, ctx) for x in selected[: args.get("ResultSize") or None]]


def _all_queues(service: MailTransport, server: str) -> list[q.Queue]:
    """The server's queues, led by its (always empty) Submission queue."""
    return [q.Queue(server.upper(), "Submission", q.SUBMISSION, "Submission")] + service.store.for_server(server)


def _queue_object(queue: q.Queue, ctx: Context) -> t.Any:
    identity = shapes.obj(shapes.chain("Microsoft.Exchange.Data.QueueViewer.QueueIdentity", "Microsoft.Exchange.Data.ObjectId"), queue.identity)
    guid: t.Any = None
    if queue.connector_guid:
        try:
            guid = uuid.UUID(queue.connector_guid)
        except ValueError:
            guid = None
    props = [
        ("DeliveryType", queue.delivery_type), ("NextHopDomain", queue.next_hop_domain),
        ("TlsPolicyDesignatedDomain", None), ("NextHopConnector", guid or uuid.UUID(int=0)),
        ("Status", queue.status), ("MessageCount", len(queue.messages)), ("LastError", queue.last_error),
        ("RetryCount", max((m.attempts for m in queue.messages), default=0)),
        ("LastRetryTime", q.parse_iso(queue.last_retry).astimezone() if queue.last_retry else None),
        ("NextRetryTime", q.parse_iso(queue.next_retry).astimezone() if queue.next_retry and queue.messages else None),
        ("FirstRetryTime", None), ("DeferredMessageCount", 0), ("LockedMessageCount", 0),
        ("MessageCountsPerPriority", _string_array([])), ("DeferredMessageCountsPerPriority", _string_array([])),
        ("RiskLevel", "Normal"), ("OutboundIPPool", 0), ("NextHopCategory", "External" if queue.connector_name else "Internal"),
        ("IncomingRate", 0.0), ("OutgoingRate", 0.0), ("Velocity", 0.0), ("OverrideSource", None),
        ("NextHopConnectorName", queue.connector_name or None),
        ("Identity", identity), ("IsValid", True), ("ObjectState", "New"),
    ]
    return shapes.obj(shapes.chain(QUEUE_TYPE, "Microsoft.Exchange.Data.QueueViewer.PagedDataObject", "Microsoft.Exchange.Data.ConfigurableObject"),
                      queue.identity, props, _remoting(ctx, queue.server))


def retry_queue(ctx: Context, service: MailTransport, args: dict[str, t.Any]) -> list[t.Any]:
    if not args.get("Identity") and not args.get("Filter"):
        ctx.fail(TaskError("Retry-Queue needs -Identity or -Filter.", category=ErrorCategory.InvalidArgument))
    with service.store.lock:
        selected = _select_queues(ctx, service, args)
    if args.get("WhatIf"):
        return []
    for queue in selected:
        service.retry(queue, resubmit=bool(args.get("Resubmit")))
    ctx.wrote = True
    return []


RETRY_PARAMS = [Param("Identity", position=0), Param("Server"), Param("Filter", kind="custom", parse=parse_filter),
                Param("Resubmit", kind="bool")]


# -- Get-TransportService ---------------------------------------------------------------------

def get_transport_service(ctx: Context, service: MailTransport, args: dict[str, t.Any]) -> list[t.Any]:
    identity = args.get("Identity")
    servers = [s for s in service.config.servers if not identity or s.name.lower() == str(identity).split(".", 1)[0].lower()]
    if identity and not servers:
        ctx.fail(TaskError(
            f"The operation couldn't be performed because object '{identity}' couldn't be found on '{service.config.domain_controller}'.",
            exception_type=NOT_FOUND, category=ErrorCategory.ObjectNotFound, target=str(identity),
        ))
    return [_transport_object(service, s.name, ctx) for s in servers]


def _transport_object(service: MailTransport, server: str, ctx: Context) -> t.Any:
    s = service.settings
    root = os.path.join(service.logs_root, server.upper())

    def size(n: int) -> t.Any:
        return shapes.byte_size(n, render_size(n))

    def span(seconds: float) -> t.Any:
        return shapes.timespan(int(seconds), render_timespan(int(seconds)))

    props = [
        ("Name", server), ("Fqdn", service.fqdn(server)),
        ("MessageTrackingLogEnabled", True), ("MessageTrackingLogPath", service.tracking.folder(server)),
        ("MessageTrackingLogMaxFileSize", size(10485760)), ("MessageTrackingLogMaxDirectorySize", size(1048576000)),
        ("MessageTrackingLogMaxAge", span(2592000)), ("MessageTrackingLogSubjectLoggingEnabled", True),
        ("SendProtocolLogPath", service.protocol_logs.folder(server)),
        ("SendProtocolLogMaxFileSize", size(10485760)), ("SendProtocolLogMaxDirectorySize", size(262144000)),
        ("SendProtocolLogMaxAge", span(2592000)),
        ("ReceiveProtocolLogPath", os.path.join(root, "ProtocolLog", "SmtpReceive")),
        ("IntraOrgConnectorProtocolLoggingLevel", "None"),
        ("MessageRetryInterval", span(s.retry_interval)), ("TransientFailureRetryInterval", span(s.retry_interval)),
        ("MessageExpirationTimeout", span(s.message_expiration)), ("OutboundConnectionFailureRetryInterval", span(s.retry_interval)),
        ("MaxOutboundConnections", 1000),
        ("MaxPerDomainOutboundConnections", getattr(service.config.server(server), "max_per_domain_outbound_connections", 20)),
        ("Identity", server), ("IsValid", True),
    ]
    return shapes.obj(shapes.chain(TRANSPORT_SERVICE_TYPE, "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
                                   "Microsoft.Exchange.Data.Directory.ADObject", "Microsoft.Exchange.Data.ConfigurableObject"),
                      server, props, _remoting(ctx, server))


CMDLETS: list[tuple[str, Handler, dict[str, t.Any]]] = [
    ("Get-MessageTrackingLog", get_message_tracking_log,
     {"params": TRACKING_PARAMS, "task_class": "Microsoft.Exchange.Management.TransportLogSearchTasks.GetMessageTrackingLog"}),
    ("Get-Queue", get_queue, {"params": QUEUE_PARAMS, "task_class": "Microsoft.Exchange.Management.QueueViewerTasks.GetQueue"}),
    ("Retry-Queue", retry_queue,
     {"params": RETRY_PARAMS, "writes": True, "task_class": "Microsoft.Exchange.Management.QueueViewerTasks.RetryQueue"}),
    ("Get-TransportService", get_transport_service,
     {"params": [Param("Identity", position=0), Param("DomainController")],
      "task_class": "Microsoft.Exchange.Management.SystemConfigurationTasks.GetTransportService"}),
]

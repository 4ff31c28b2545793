#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: message_trace
short_description: Trace a message through Exchange's message tracking logs
version_added: 0.1.0
description:
  - Search C(Get-MessageTrackingLog) on each transport server (always with C(-Server), because every server keeps
    its own logs) for a message, by Message-ID, sender, recipients, subject and time window.
  - With O(wait_for=send) it polls until the message has left through a Send connector (a C(SEND) or
    C(SENDEXTERNAL) event, through O(connector) when given), or a C(FAIL)/C(DSN)/C(DEFER) event explains why not,
    or O(timeout) passes. This is the authoritative check that a Send connector works, seen from Exchange itself.
  - When the message failed, was deferred or did not leave in time, the transport queues of the searched servers
    are read with C(Get-Queue) and their C(LastError) is returned.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying anything.
    support: full
    details: Only reads; the search runs in check mode too.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second run reports no change.
    support: full
options:
  message_id:
    description:
      - The C(Message-ID) header of the message, with or without angle brackets.
    type: str
  sender:
    description:
      - SMTP address of the sender.
    type: str
  recipients:
    description:
      - SMTP addresses of recipients; an event matches when it has at least one of them.
    type: list
    elements: str
  subject:
    description:
      - Part of the subject (C(-MessageSubject) matches substrings).
    type: str
  start:
    description:
      - Earliest event time. An ISO-8601 date and time (without a zone it is UTC), V(now), or a time relative to now
        such as V(-15m), V(-2h), V(-1d).
      - Sent to Exchange as an ISO-8601 UTC string, which every server culture parses the same way.
    type: str
  end:
    description:
      - Latest event time (exclusive), in the same forms as O(start).
    type: str
  servers:
    description:
      - Transport servers whose logs are searched.
      - Default is the O(connector)'s C(SourceTransportServers) when O(connector) is given, else every server with the
        Mailbox role from C(Get-ExchangeServer).
    type: list
    elements: str
  connector:
    description:
      - Name of the Send connector the message should leave through. With O(wait_for=send) only a C(SEND)/C(SENDEXTERNAL)
        event whose C(ConnectorId) is this name counts as sent.
    type: str
  messages:
    description:
      - Several messages traced in one polling loop (one module run, one session), for example one test message per
        Send connector. Each round searches each server once per Message-ID still pending.
      - Each item has C(message_id) (required), C(connector) (the Send connector it should leave through), C(servers)
        (default as for O(servers)) and C(recipients) (only events for these recipients count, e.g. when one message
        was addressed to one recipient per connector).
      - Results are in RV(traces), one per item, in the same order. Mutually exclusive with O(message_id) and O(connector).
    type: list
    elements: dict
    suboptions:
      message_id:
        description: The C(Message-ID) header, with or without angle brackets.
        type: str
        required: true
      connector:
        description: Name of the Send connector the message should leave through.
        type: str
      servers:
        description: Transport servers to search (default O(servers), else the connector's source servers).
        type: list
        elements: str
      recipients:
        description: Only events with one of these recipients count for this item.
        type: list
        elements: str
  wait_for:
    description:
      - V(none) searches once. V(send) polls until the message was sent, failed, was deferred (see O(stop_on_defer))
        or O(timeout) passed.
      - With V(send) the task fails when a message was not sent (RV(result) V(failed), V(deferred) or V(timeout)), as
        M(ansible.builtin.wait_for) does; the return values stay, and the message names the queue's C(LastError). See
        O(fail_on_timeout).
    type: str
    choices: [none, send]
    default: none
  fail_on_timeout:
    description:
      - With O(wait_for=send), V(true) fails the task when a message was not sent.
      - V(false) returns normally whatever happened, for playbooks that check RV(result) (or RV(traces)) themselves.
    type: bool
    default: true
  stop_on_defer:
    description:
      - With O(wait_for=send), stop at the first C(DEFER) event and return RV(result=deferred) with the queue's
        C(LastError). Set to V(false) to keep waiting through retries, for example while a smart host comes back.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait with O(wait_for=send).
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between searches with O(wait_for=send). Message tracking writes are buffered on real servers, so
        polling is expected.
    type: float
    default: 5
  result_size:
    description:
      - C(-ResultSize) of each search; V(0) means C(Unlimited).
    type: int
    default: 0
notes:
  - Without O(wait_for=send), or with O(fail_on_timeout=false), failure to deliver is not a module failure; check
    RV(result).
  - Exchange documents C(SEND) for messages sent by SMTP; a Microsoft support article uses C(SENDEXTERNAL) for
    connector-routed external mail. Both count as sent.
  - A C(SEND) through the C(Intra-Organization SMTP Send Connector) is a hop to another transport server (for
    example a source server of the connector); it does not count as sent unless O(connector) names it.
seealso:
  - module: mailflow.exchange.smtp_probe
  - module: mailflow.exchange.send_connector
author:
  - mailflow.exchange maintainers (@mailflow-exchange)
"""

EXAMPLES = r"""
---
- name: Wait until the test message left through the smart-host connector
  mailflow.exchange.message_trace:
    server: ex01.contoso.com
    message_id: "{{ probe.message_id }}"
    connector: Smart host to Internet
    start: -15m
    wait_for: send
    timeout: 300
  register: trace

- name: Trace one test message per connector in one polling loop, and judge the results later
  mailflow.exchange.message_trace:
    messages:
      - message_id: "{{ probe.message_id }}"
        connector: Smart host to Internet
        recipients: [someone@fabrikam.com]
      - message_id: "{{ probe.message_id }}"
        connector: Partner relay
        recipients: [someone@partner.example]
    wait_for: send
    fail_on_timeout: false
  register: traces

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ trace.events | selectattr('event_id', 'in', ['SEND', 'SENDEXTERNAL']) | map(attribute='server_hostname') | list }}"

- name: Everything a sender sent in the last hour, on two servers
  mailflow.exchange.message_trace:
    server: ex01.contoso.com
    sender: chris@contoso.com
    start: -1h
    servers: [EX01, EX02]
  register: sent_by_chris
"""

RETURN = r"""
result:
  description:
    - V(sent) a C(SEND)/C(SENDEXTERNAL) event through O(connector) (or any Send connector) was found;
      V(failed) a C(FAIL) or C(DSN) event was found; V(deferred) a C(DEFER) event was found and the message was not sent;
      V(timeout) O(wait_for=send) gave up; V(found) events were found but none of those; V(not_found) nothing matched.
  returned: always
  type: str
  sample: sent
events:
  description: Matching tracking events of all searched servers, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    timestamp:
      description: Event time, ISO-8601 UTC.
      type: str
      sample: "2026-05-01T13:05:00.200Z"
    event_id:
      description: C(RECEIVE), C(SEND), C(SENDEXTERNAL), C(DEFER), C(FAIL), C(DSN), ...
      type: str
    source:
      description: The component that logged the event (C(SMTP), C(ROUTING), C(DSN), ...).
      type: str
    connector_id:
      description: Send connector name (C(SEND)) or C(Server\\Name) of a Receive connector (C(RECEIVE)).
      type: str
    server_hostname:
      description: For C(SEND), the next hop as configured (the smart host's name or IP).
      type: str
    server_ip:
      description: For C(SEND), the address actually connected to.
      type: str
    client_ip:
      description: The sending side of the hop.
      type: str
    recipient_status:
      description: Per-recipient SMTP status, e.g. the smart host's final reply on C(SEND).
      type: list
      elements: str
    message_id:
      description: The Message-ID header.
      type: str
    sender:
      description: Sender address.
      type: str
    recipients:
      description: Recipient addresses.
      type: list
      elements: str
    subject:
      description: The subject (when subject logging is on).
      type: str
    internal_message_id:
      description: The server's own id of the message.
      type: str
    reference:
      description: References (on C(DSN), the Message-ID of the original message).
      type: list
      elements: str
    server:
      description: The transport server whose log holds the event.
      type: str
sent:
  description: The first C(SEND)/C(SENDEXTERNAL) event that counts as sent, or null.
  returned: always
  type: dict
servers:
  description: The transport servers searched.
  returned: always
  type: list
  elements: str
  sample: [EX01, EX02]
last_error:
  description: C(LastError) of the queue holding the message (or the failure's recipient status) when it was not sent.
  returned: when RV(result) is V(failed), V(deferred) or V(timeout) and an error is known
  type: str
  sample: >-
    [{LRT=5/1/2026 1:05:00 PM};{LED=451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect ->
    SocketError: Socket error code 10061};{FQDN=relay.contoso.com};{IP=192.168.3.2}]
queues:
  description: Queues of the searched servers that have a C(LastError) (when RV(result) is not V(sent)).
  returned: when RV(result) is V(failed), V(deferred) or V(timeout)
  type: list
  elements: dict
  contains:
    server:
      description: Transport server.
      type: str
    identity:
      description: Queue identity, e.g. C(EX01\\3).
      type: str
    delivery_type:
      description: E.g. C(SmartHostConnectorDelivery).
      type: str
    next_hop_domain:
      description: For smart-host queues, the smart-host list.
      type: str
    status:
      description: C(Ready), C(Retry), C(Active), ...
      type: str
    message_count:
      description: Messages in the queue.
      type: int
    last_error:
      description: The queue's LastError.
      type: str
    next_retry_time:
      description: When Exchange tries again, as Exchange reported it.
      type: str
traces:
  description:
    - With O(messages), one entry per item, in the same order, with C(message_id), C(connector) and that message's
      C(result), C(events), C(sent), C(servers), C(queues) and C(last_error) (as described for the single message).
    - RV(result) is then V(sent) when every message was sent, else the worst result.
  returned: when O(messages) is given
  type: list
  elements: dict
attempts:
  description: How many times the logs were searched.
  returned: always
  type: int
"""

import datetime
import re
import time

from ansible_collections.mailflow.exchange.plugins.module_utils import _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session
from ansible_collections.mailflow.exchange.plugins.module_utils._session import CmdletError, ExchangeError

SENT_EVENTS = ("SEND", "SENDEXTERNAL")
FAILED_EVENTS = ("FAIL", "DSN")
INTRA_ORG = "intra-organization smtp send connector"
_RELATIVE = re.compile(r"^\s*-\s*(\d{1,12})\s*([smhd])\s*$", re.IGNORECASE | re.ASCII)
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE | re.ASCII,
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TraceError(ExchangeError):
    """A wrong option value; the message names the option."""


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(option, text, now=None):
    """ISO-8601 (UTC when no zone), ``now`` or ``-<n>[smhd]`` -> aware UTC datetime."""
    now = now or _utcnow()
    value = str(text).strip()
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value)
    if match:
        try:
            return now - datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
        except (OverflowError, ValueError):
            raise TraceError("%s: '%s' reaches outside the range of dates (years 1-9999)" % (option, value[:40]))
    match = _ISO.match(value)
    if not match:
        raise TraceError(
            "%s: '%s' is not a time; use ISO-8601 (2026-05-01T13:00:00Z), now, or a relative time such as -15m, -2h, -1d"
            % (option, value)
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        when = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    except ValueError as err:
        raise TraceError("%s: '%s' is not a valid date and time (%s)" % (option, value, err))
    offset = datetime.timedelta(0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        return (when - offset).replace(tzinfo=datetime.timezone.utc)
    except OverflowError:
        raise TraceError("%s: '%s' is outside the range of dates (years 1-9999) once converted to UTC" % (option, value))


def wire_time(when):
    """The UTC ISO-8601 text Exchange parses the same way whatever its culture."""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def iso_utc(value):
    """A DateTime as pypsrp hands it over (text, local offset, 7 fraction digits) -> ``...Z`` UTC text."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    else:
        try:
            when = parse_time("timestamp", str(value))
        except TraceError:
            return str(value)
    when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


def _as_list(value):
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _bare_id(message_id):
    return str(message_id or "").strip().strip("<>").strip().lower()


def normalise_event(raw, server):
    """One Get-MessageTrackingLog object (plain dict) as the module returns it."""
    return {
        "timestamp": iso_utc(raw.get("Timestamp")),
        "event_id": str(raw.get("EventId") or "").upper(),
        "source": raw.get("Source"),
        "connector_id": raw.get("ConnectorId"),
        "server_hostname": raw.get("ServerHostname"),
        "server_ip": raw.get("ServerIp"),
        "client_ip": raw.get("ClientIp"),
        "recipient_status": _as_list(raw.get("RecipientStatus")),
        "message_id": raw.get("MessageId"),
        "sender": raw.get("Sender"),
        "recipients": _as_list(raw.get("Recipients")),
        "subject": raw.get("MessageSubject"),
        "internal_message_id": None if raw.get("InternalMessageId") is None else str(raw.get("InternalMessageId")),
        "reference": _as_list(raw.get("Reference")),
        "server": server,
    }


def matches(event, criteria):
    """Client-side filter (the server filtered already; this keeps the result honest for any server)."""
    if criteria.get("message_id") and _bare_id(event["message_id"]) != _bare_id(criteria["message_id"]):
        # a DSN carries the original Message-ID in Reference
        if not any(_bare_id(r) == _bare_id(criteria["message_id"]) for r in event["reference"]):
            return False
    if criteria.get("sender") and event["event_id"] != "DSN" and (event["sender"] or "").lower() != criteria["sender"].lower():
        return False
    wanted = {r.lower() for r in criteria.get("recipients") or []}
    if wanted and event["event_id"] != "DSN" and not wanted.intersection(r.lower() for r in event["recipients"]):
        return False
    if criteria.get("subject") and criteria["subject"].lower() not in (event["subject"] or "").lower():
        if event["event_id"] != "DSN":
            return False
    return True


def counts_as_sent(event, connector):
    if event["event_id"] not in SENT_EVENTS:
        return False
    connector_id = (event["connector_id"] or "").strip().lower()
    if connector:
        return connector_id == connector.strip().lower()
    return connector_id != INTRA_ORG


def evaluate(events, connector):
    """(result, sent event) from the events seen so far."""
    sent = next((e for e in events if counts_as_sent(e, connector)), None)
    if sent is not None:
        return "sent", sent
    if any(e["event_id"] in FAILED_EVENTS for e in events):
        return "failed", None
    if any(e["event_id"] == "DEFER" for e in events):
        return "deferred", None
    return ("found" if events else "not_found"), None


class MessageTracer:
    """Searches the tracking logs of the right servers, polls, and explains a failure.

    One or many messages (``messages``) in one polling loop: per round, one ``Get-MessageTrackingLog`` per
    (server, Message-ID) still pending; one ``Get-SendConnector`` for all named connectors; one ``Get-Queue``
    per server whose messages were not sent.
    """

    def __init__(self, session, params):
        self.session = session
        self.params = params
        self.search = self._search_parameters()
        self._connectors = None  # lower-case name -> Get-SendConnector object
        self._mailbox_servers = None
        self._queues = {}  # server -> Get-Queue objects
        if params.get("messages"):
            self.items = [
                {"message_id": m["message_id"], "connector": m.get("connector"), "servers": m.get("servers") or params.get("servers"),
                 "criteria": {"message_id": m["message_id"], "recipients": m.get("recipients") or []}}
                for m in params["messages"]
            ]
        else:
            self.items = [{
                "message_id": params.get("message_id"), "connector": params.get("connector"), "servers": params.get("servers"),
                "criteria": {"message_id": params.get("message_id"), "sender": params.get("sender"),
                             "recipients": params.get("recipients") or [], "subject": params.get("subject")},
            }]

    def _search_parameters(self):
        """The search parameters every query shares (time window, sender, subject, size, DC)."""
        p = self.params
        now = _utcnow()
        search = []
        start = parse_time("start", p["start"], now) if p.get("start") else None
        end = parse_time("end", p["end"], now) if p.get("end") else None
        if start and end and end <= start:
            raise TraceError("end (%s) must be later than start (%s)" % (wire_time(end), wire_time(start)))
        if start:
            search.append(("Start", wire_time(start)))
        if end:
            search.append(("End", wire_time(end)))
        if p.get("sender"):
            search.append(("Sender", p["sender"]))
        if p.get("recipients"):
            search.append(("Recipients", list(p["recipients"])))
        if p.get("subject"):
            search.append(("MessageSubject", p["subject"]))
        search.append(("ResultSize", p["result_size"] if p.get("result_size") else "Unlimited"))
        dc = p.get("domain_controller")
        if dc:
            search.append(("DomainController", dc))
        return search

    def _dc(self):
        dc = self.params.get("domain_controller")
        return [("DomainController", dc)] if dc else []

    def connector(self, name):
        """The Send connector named ``name`` (one Get-SendConnector of all connectors for every item)."""
        if self._connectors is None:
            wanted = {_identity.key(i["connector"]) for i in self.items if i["connector"]}
            # -Identity is a wildcard pattern: 'fz[ab]' would find fza and fzb but not itself, so a name
            # with a wildcard character is looked up among all connectors (the match below is exact).
            if len(wanted) == 1 and not _identity.needs_read_all(next(iter(wanted))):
                params = [("Identity", self.items[0]["connector"] or next(i["connector"] for i in self.items if i["connector"]))]
            else:
                params = []
            try:
                found = self.session.run("Get-SendConnector", params + self._dc())
            except CmdletError as err:
                if not err.not_found:
                    raise
                found = []
            self._connectors = {_identity.key(c.get("Name") or ""): c for c in found}
        connector = self._connectors.get(_identity.key(name))
        if connector is None:
            raise TraceError("connector: no Send connector named '%s' exists" % name)
        return connector

    def servers_of(self, item):
        if item["servers"]:
            if item["connector"] and not self.params.get("messages"):
                self.connector(item["connector"])  # validates the name and learns the GUID for the queue lookup
            # with messages and servers given, the connectors are read only when a queue must explain a failure
            # (many connectors: Get-SendConnector of them all is the most expensive call of the run)
            return list(item["servers"])
        if item["connector"]:
            servers = _as_list(self.connector(item["connector"]).get("SourceTransportServers"))
            if not servers:
                raise TraceError("connector '%s' has no SourceTransportServers to search; give servers" % item["connector"])
            return servers
        if self._mailbox_servers is None:
            found = self.session.run("Get-ExchangeServer")
            self._mailbox_servers = [str(s.get("Name")) for s in found if "mailbox" in str(s.get("ServerRole") or "").lower()]
            if not self._mailbox_servers:
                raise TraceError("Get-ExchangeServer returned no server with the Mailbox role; give servers")
        return list(self._mailbox_servers)

    def query(self, pending):
        """One round: one search per (server, Message-ID) the pending items need; their events, oldest first."""
        raw_by_search = {}
        for item in pending:
            for server in item["servers_searched"]:
                key = (server.lower(), _bare_id(item["message_id"]))
                if key in raw_by_search:
                    continue
                search = list(self.search)
                if item["message_id"]:
                    search.insert(0, ("MessageId", item["message_id"]))
                raw_by_search[key] = [normalise_event(raw, server) for raw in self.session.run("Get-MessageTrackingLog", [("Server", server)] + search)]
        for item in pending:
            events = []
            for server in item["servers_searched"]:
                events.extend(e for e in raw_by_search[(server.lower(), _bare_id(item["message_id"]))] if matches(e, item["criteria"]))
            events.sort(key=lambda e: (e["timestamp"] or "", e["server"]))
            item["events"] = events

    def queues_with_errors(self, servers, connector_guid):
        found = []
        for server in servers:
            if server.lower() not in self._queues:
                self._queues[server.lower()] = self.session.run("Get-Queue", [("Server", server)])
            for raw in self._queues[server.lower()]:
                if not raw.get("LastError"):
                    continue
                guid = str(raw.get("NextHopConnector") or "").lower()
                if connector_guid and guid != connector_guid:
                    continue
                found.append({
                    "server": server,
                    "identity": raw.get("Identity"),
                    "delivery_type": raw.get("DeliveryType"),
                    "next_hop_domain": raw.get("NextHopDomain"),
                    "status": raw.get("Status"),
                    "message_count": raw.get("MessageCount"),
                    "last_error": raw.get("LastError"),
                    "next_retry_time": None if raw.get("NextRetryTime") is None else str(raw.get("NextRetryTime")),
                })
        return found

    def _done(self, item):
        p = self.params
        return item["result"] in ("sent", "failed") or (item["result"] == "deferred" and p["stop_on_defer"])

    def run(self):
        p = self.params
        for item in self.items:
            item["servers_searched"] = self.servers_of(item)
        waiting = p["wait_for"] == "send"
        deadline = time.monotonic() + max(0, p["timeout"])
        attempts = 0
        pending = list(self.items)
        while True:
            attempts += 1
            self.query(pending)
            for item in pending:
                item["result"], item["sent"] = evaluate(item["events"], item["connector"])
            pending = [item for item in pending if not self._done(item)]
            if not waiting or not pending:
                break
            if time.monotonic() + p["poll_interval"] > deadline:
                for item in pending:
                    item["result"] = "timeout"
                break
            time.sleep(p["poll_interval"])
        traces = []
        for item in self.items:
            trace = {"message_id": item["message_id"], "connector": item["connector"], "result": item["result"],
                     "events": item["events"], "sent": item["sent"], "servers": item["servers_searched"]}
            if item["result"] in ("failed", "deferred", "timeout"):
                guid = None
                if item["connector"]:
                    guid = str(self.connector(item["connector"]).get("Guid") or "").lower() or None
                queues = self.queues_with_errors(item["servers_searched"], guid)
                trace["queues"] = queues
                last_error = queues[0]["last_error"] if queues else None
                if last_error is None:
                    failure = next((e for e in reversed(item["events"])
                                    if e["event_id"] in FAILED_EVENTS + ("DEFER",) and e["recipient_status"]), None)
                    last_error = failure["recipient_status"][0] if failure else None
                if last_error:
                    trace["last_error"] = last_error
            traces.append(trace)
        if p.get("messages"):
            results = [t["result"] for t in traces]
            overall = "sent" if results and all(r == "sent" for r in results) else next(
                (r for r in ("failed", "deferred", "timeout", "not_found", "found") if r in results), "not_found")
            return {"changed": False, "result": overall, "traces": traces, "attempts": attempts}
        out = dict(traces[0], changed=False, attempts=attempts)
        del out["message_id"], out["connector"]
        return out


def not_sent_message(result, params):
    """The failure message of ``wait_for: send``: each message that was not sent, with its LastError."""
    traces = result.get("traces") or [dict(result, message_id=params.get("message_id"), connector=params.get("connector"))]
    parts = []
    for trace in traces:
        if trace["result"] == "sent":
            continue
        what = "the message%s" % (" %s" % trace["message_id"] if trace.get("message_id") else "")
        if trace.get("connector"):
            what += " (connector %s)" % trace["connector"]
        text = "%s was not sent: %s" % (what, trace["result"])
        if trace.get("last_error"):
            text += ", LastError: %s" % trace["last_error"]
        parts.append(text)
    return "; ".join(parts)


ARGUMENT_SPEC = {
    "message_id": {"type": "str"},
    "sender": {"type": "str"},
    "recipients": {"type": "list", "elements": "str"},
    "subject": {"type": "str"},
    "start": {"type": "str"},
    "end": {"type": "str"},
    "servers": {"type": "list", "elements": "str"},
    "connector": {"type": "str"},
    "messages": {
        "type": "list",
        "elements": "dict",
        "options": {
            "message_id": {"type": "str", "required": True},
            "connector": {"type": "str"},
            "servers": {"type": "list", "elements": "str"},
            "recipients": {"type": "list", "elements": "str"},
        },
    },
    "wait_for": {"type": "str", "choices": ["none", "send"], "default": "none"},
    "fail_on_timeout": {"type": "bool", "default": True},
    "stop_on_defer": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "poll_interval": {"type": "float", "default": 5},
    "result_size": {"type": "int", "default": 0},
}


# Ranges decidable from the input (Get-MessageTrackingLog -ResultSize is an Int32 or Unlimited; 0 here means
# Unlimited). A wait longer than a week or a poll interval over an hour is a typo, not a plan.
_RANGES = {"timeout": (0, 604800), "poll_interval": (0.1, 3600), "result_size": (0, 2147483647)}


def validate_input(p):
    """Every problem of the input, each naming its option and the rule, before any call."""
    from ansible_collections.mailflow.exchange.plugins.module_utils import _values
    # Get-MessageTrackingLog's -Sender and -Recipients are SmtpAddress values: Exchange refuses anything else.
    from ansible_collections.mailflow.exchange.plugins.module_utils._smtp_probe_input import address as _address

    errors = []
    messages = p.get("messages")
    for other in ("message_id", "connector"):
        if messages is not None and p.get(other) is not None:
            errors.append("messages: cannot be combined with %s (each message names its own)" % other)
    if messages is not None and not messages:
        errors.append("messages: give at least one message (message_id, connector, servers)")
    for index, item in enumerate(messages or []):
        for sub, server in enumerate((item or {}).get("servers") or []):
            try:
                _values.canonical_server(server)
            except ValueError as err:
                errors.append("messages[%d].servers[%d]: %s" % (index, sub, err))
        for sub, recipient in enumerate((item or {}).get("recipients") or []):
            errors.extend(_address("messages[%d].recipients[%d]" % (index, sub), recipient))
        if (item or {}).get("connector") is not None:
            problem = _values.check_name(item["connector"])
            if problem:
                errors.append("messages[%d].connector: %s" % (index, problem))
    if p.get("wait_for") == "send" and not messages and not any(
            p.get(k) for k in ("message_id", "sender", "recipients", "subject")):
        errors.append("wait_for: send needs something that identifies the message: message_id, sender, recipients "
                      "or subject")
    for name, (low, high) in _RANGES.items():
        value = p.get(name)
        if value is not None and not low <= value <= high:
            errors.append("%s: must be from %s to %s" % (name, low, high))
    times = {}
    for name in ("start", "end"):
        if p.get(name):
            try:
                times[name] = parse_time(name, p[name])
            except TraceError as err:
                errors.append(str(err))
    if len(times) == 2 and times["end"] <= times["start"]:
        errors.append("end: must be later than start")
    if p.get("sender") is not None:
        errors.extend(_address("sender", p["sender"]))
    for index, recipient in enumerate(p.get("recipients") or []):
        errors.extend(_address("recipients[%d]" % index, recipient))
    for index, server in enumerate(p.get("servers") or []):
        try:
            _values.canonical_server(server)
        except ValueError as err:
            errors.append("servers[%d]: %s" % (index, err))
    if p.get("connector") is not None:
        problem = _values.check_name(p["connector"])
        if problem:
            errors.append("connector: %s" % problem)
    return errors


def main():
    module = exchange_module(ARGUMENT_SPEC, validate=validate_input, supports_check_mode=True,
                             mutually_exclusive=[("messages", "message_id"), ("messages", "connector")])
    p = module.params

    def work(session):
        result = MessageTracer(session, p).run()
        if p["wait_for"] == "send" and p["fail_on_timeout"] and result["result"] != "sent":
            result["failed"] = True
            result["msg"] = not_sent_message(result, p)
        return result

    run_with_session(module, work)


if __name__ == "__main__":
    main()

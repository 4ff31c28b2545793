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
  wait_for:
    description:
      - V(none) searches once. V(send) polls until the message was sent, failed, was deferred (see O(stop_on_defer))
        or O(timeout) passed.
    type: str
    choices: [none, send]
    default: none
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
  - Failure to deliver is not a module failure; check RV(result) (for example with C(failed_when)).
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
  failed_when: trace.result != 'sent'

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
attempts:
  description: How many times the logs were searched.
  returned: always
  type: int
"""

import datetime
import re
import time

from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session
from ansible_collections.mailflow.exchange.plugins.module_utils._session import CmdletError, ExchangeError

SENT_EVENTS = ("SEND", "SENDEXTERNAL")
FAILED_EVENTS = ("FAIL", "DSN")
INTRA_ORG = "intra-organization smtp send connector"
_RELATIVE = re.compile(r"^\s*-\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$", re.IGNORECASE
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
        return now - datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
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
    return (when - offset).replace(tzinfo=datetime.timezone.utc)


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
    """Searches the tracking logs of the right servers, polls, and explains a failure."""

    def __init__(self, session, params):
        self.session = session
        self.params = params
        self.connector = params.get("connector")
        self.connector_guid = None
        self.criteria = {
            "message_id": params.get("message_id"),
            "sender": params.get("sender"),
            "recipients": params.get("recipients") or [],
            "subject": params.get("subject"),
        }
        self.search = self._search_parameters()

    def _search_parameters(self):
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
        if p.get("message_id"):
            search.append(("MessageId", p["message_id"]))
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

    def servers(self):
        if self.params.get("servers"):
            if self.connector:
                self._connector()  # validates the name and learns the GUID for the queue lookup
            return list(self.params["servers"])
        if self.connector:
            connector = self._connector()
            servers = _as_list(connector.get("SourceTransportServers"))
            if not servers:
                raise TraceError("connector '%s' has no SourceTransportServers to search; give servers" % self.connector)
            return servers
        found = self.session.run("Get-ExchangeServer")
        servers = [str(s.get("Name")) for s in found if "mailbox" in str(s.get("ServerRole") or "").lower()]
        if not servers:
            raise TraceError("Get-ExchangeServer returned no server with the Mailbox role; give servers")
        return servers

    def _connector(self):
        params = [("Identity", self.connector)]
        if self.params.get("domain_controller"):
            params.append(("DomainController", self.params["domain_controller"]))
        try:
            found = self.session.run("Get-SendConnector", params)
        except CmdletError as err:
            if err.not_found:
                found = []
            else:
                raise
        if not found:
            raise TraceError("connector: no Send connector named '%s' exists" % self.connector)
        self.connector_guid = str(found[0].get("Guid") or "").lower() or None
        return found[0]

    def query(self, servers):
        events = []
        for server in servers:
            for raw in self.session.run("Get-MessageTrackingLog", [("Server", server)] + self.search):
                event = normalise_event(raw, server)
                if matches(event, self.criteria):
                    events.append(event)
        events.sort(key=lambda e: (e["timestamp"] or "", e["server"]))
        return events

    def queues_with_errors(self, servers):
        found = []
        for server in servers:
            for raw in self.session.run("Get-Queue", [("Server", server)]):
                if not raw.get("LastError"):
                    continue
                guid = str(raw.get("NextHopConnector") or "").lower()
                if self.connector_guid and guid != self.connector_guid:
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

    def run(self):
        p = self.params
        servers = self.servers()
        waiting = p["wait_for"] == "send"
        deadline = time.monotonic() + max(0, p["timeout"])
        attempts = 0
        while True:
            attempts += 1
            events = self.query(servers)
            result, sent = evaluate(events, self.connector)
            if not waiting or result in ("sent", "failed") or (result == "deferred" and p["stop_on_defer"]):
                break
            if time.monotonic() + p["poll_interval"] > deadline:
                result = "timeout"
                break
            time.sleep(p["poll_interval"])
        out = {"changed": False, "result": result, "events": events, "sent": sent, "servers": servers, "attempts": attempts}
        if result in ("failed", "deferred", "timeout"):
            queues = self.queues_with_errors(servers)
            out["queues"] = queues
            last_error = queues[0]["last_error"] if queues else None
            if last_error is None:
                failure = next((e for e in reversed(events) if e["event_id"] in FAILED_EVENTS + ("DEFER",) and e["recipient_status"]), None)
                last_error = failure["recipient_status"][0] if failure else None
            if last_error:
                out["last_error"] = last_error
        return out


ARGUMENT_SPEC = {
    "message_id": {"type": "str"},
    "sender": {"type": "str"},
    "recipients": {"type": "list", "elements": "str"},
    "subject": {"type": "str"},
    "start": {"type": "str"},
    "end": {"type": "str"},
    "servers": {"type": "list", "elements": "str"},
    "connector": {"type": "str"},
    "wait_for": {"type": "str", "choices": ["none", "send"], "default": "none"},
    "stop_on_defer": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "poll_interval": {"type": "float", "default": 5},
    "result_size": {"type": "int", "default": 0},
}


def main():
    module = exchange_module(ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["wait_for"] == "send" and not any(p.get(k) for k in ("message_id", "sender", "recipients", "subject")):
        module.fail_json(msg="wait_for=send needs something that identifies the message: message_id, sender, recipients or subject")
    if p["timeout"] < 0 or p["poll_interval"] <= 0 or p["result_size"] < 0:
        module.fail_json(msg="timeout and result_size must be 0 or more, poll_interval more than 0")

    def work(session):
        return MessageTracer(session, p).run()

    run_with_session(module, work)


if __name__ == "__main__":
    main()

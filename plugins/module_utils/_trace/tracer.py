# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Tracing messages through Exchange's message tracking logs (the ``message_trace`` module):

* ``iso_utc``: event timestamps as UTC ISO-8601 (the time options are ``common.parse_time``/``wire_time``);
* ``normalise_event``/``matches``/``evaluate``: one Get-MessageTrackingLog object as returned, the client-side
  filter, and where a message stands (sent, failed, deferred, taken by another connector, ...);
* ``MessageTracer``: searches the right servers, polls, stops early, reads the queues to explain a failure;
* ``judge``: the verdict and hint of each trace (``TRACE_HINTS``, the diagnosis of a queue's LastError), so a
  caller (the role) only reports them;
* ``validate_input``: every problem of the module's input before any call.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import CmdletError, ExchangeError
from ansible_collections.mailflow.exchange.plugins.module_utils._trace.common import TimeError, overall_result, parse_time, utcnow, wire_time
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import short_name

SENT_EVENTS = ("SEND", "SENDEXTERNAL")
FAILED_EVENTS = ("FAIL", "DSN")
INTRA_ORG = "intra-organization smtp send connector"


class TraceError(ExchangeError):
    """A wrong option value; the message names the option."""


class NoSuchConnector(TraceError):
    """The connector an item names does not exist (on the domain controller this run reads)."""


def iso_utc(value):
    """A DateTime as pypsrp hands it over (text, local offset, 7 fraction digits) -> ``...Z`` UTC text."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    else:
        try:
            when = parse_time("timestamp", str(value))
        except TimeError:
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
    connector_id = (event["connector_id"] or "").strip()
    if connector:
        return _identity.same(connector_id, connector)  # as Exchange compares names (no Kelvin-sign folding)
    return connector_id.lower() != INTRA_ORG


def taken_by_other(event, connector):
    """A SEND through another Send connector than ``connector`` (not a hop between transport servers)."""
    if not connector or event["event_id"] not in SENT_EVENTS:
        return False
    connector_id = (event["connector_id"] or "").strip().lower()
    return bool(connector_id) and connector_id not in (connector.strip().lower(), INTRA_ORG)


def evaluate(events, connector):
    """(result, the deciding SEND event) from the events seen so far.

    ``other_connector``: the message (for these recipients) left through another Send connector, e.g. one with
    the same or a more specific address space, or a lower cost; it will not leave through ``connector`` any more.
    """
    sent = next((e for e in events if counts_as_sent(e, connector)), None)
    if sent is not None:
        return "sent", sent
    elsewhere = next((e for e in events if taken_by_other(e, connector)), None)
    if elsewhere is not None:
        return "other_connector", elsewhere
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

    def __init__(self, session, params, not_before=None):
        self.session = session
        self.params = params
        # time.monotonic() before which the first search finds nothing new (a message submitted a moment ago)
        self.not_before = not_before
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
        now = utcnow()
        search = []
        try:  # validate_input refused a bad time before; this keeps the words if one fails here after all
            start = parse_time("start", p["start"], now) if p.get("start") else None
            end = parse_time("end", p["end"], now) if p.get("end") else None
        except TimeError as err:
            raise TraceError(str(err))
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
            raise NoSuchConnector("connector: no Send connector named '%s' exists" % name)
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
        return item["result"] in ("sent", "failed", "other_connector") or (item["result"] == "deferred" and p["stop_on_defer"])

    def _missing(self, item, err):
        """With ``messages``, a connector that does not exist fails its own item (result ``no_connector``), not the
        run: the other messages are still traced. One message (no ``messages``): the module fails with ``err``."""
        if not self.params.get("messages") or not isinstance(err, NoSuchConnector):
            raise err
        item["result"] = "no_connector"

    def run(self):
        p = self.params
        for item in self.items:
            try:
                item["servers_searched"] = self.servers_of(item)
            except TraceError as err:
                self._missing(item, err)
                item["servers_searched"] = []
                item["events"], item["sent"] = [], None
        waiting = p["wait_for"] == "send"
        deadline = time.monotonic() + max(0, p["timeout"])
        attempts = 0
        pending = [item for item in self.items if item.get("result") != "no_connector"]
        if self.not_before is not None and pending:
            time.sleep(max(0.0, min(self.not_before, deadline) - time.monotonic()))
        while pending:
            attempts += 1
            self.query(pending)
            for item in pending:
                item["result"], event = evaluate(item["events"], item["connector"])
                item["sent"] = event if item["result"] == "sent" else None
                item["taken"] = event if item["result"] == "other_connector" else None
            pending = [item for item in pending if not self._done(item)]
            if not waiting or not pending:
                break
            wait = poll_wait(attempts, p["poll_interval"])
            if time.monotonic() + wait > deadline:
                for item in pending:
                    item["result"] = "timeout"
                break
            time.sleep(wait)
        traces = []
        for item in self.items:
            trace = {"message_id": item["message_id"], "connector": item["connector"], "result": item["result"],
                     "events": item["events"], "sent": item["sent"], "servers": item["servers_searched"]}
            if item.get("taken"):
                trace["taken_by"] = item["taken"]["connector_id"]
            certificate = None
            if item["result"] in ("failed", "deferred", "timeout"):
                guid = None
                if item["connector"]:
                    try:
                        raw = self.connector(item["connector"])
                    except TraceError as err:  # read only now (messages with servers given): it does not exist
                        self._missing(item, err)
                        trace["result"] = item["result"]
                        traces.append(judge(trace))
                        continue
                    guid = str(raw.get("Guid") or "").lower() or None
                    certificate = None if raw.get("TlsCertificateName") in (None, "") else str(raw["TlsCertificateName"])
                queues = self.queues_with_errors(item["servers_searched"], guid)
                trace["queues"] = queues
                last_error = queues[0]["last_error"] if queues else None
                if last_error is None:
                    failure = next((e for e in reversed(item["events"])
                                    if e["event_id"] in FAILED_EVENTS + ("DEFER",) and e["recipient_status"]), None)
                    last_error = failure["recipient_status"][0] if failure else None
                if last_error:
                    trace["last_error"] = last_error
            traces.append(judge(trace, certificate))
        if p.get("messages"):
            return {"changed": False, "result": overall_result(traces), "traces": traces, "attempts": attempts}
        out = dict(traces[0], changed=False, attempts=attempts)
        del out["message_id"], out["connector"]
        return out


def first_search(submitted, poll_interval):
    """When to search first for a message submitted at ``submitted`` (time.monotonic()): after the first poll wait.
    A search at once finds at most its RECEIVE (Exchange needs a moment to route and send it, and on real servers to
    write its tracking log), and costs a cmdlet call; with two tasks the next task's start hid this wait."""
    return submitted + poll_wait(1, poll_interval)


def poll_wait(attempts, poll_interval):
    """Seconds to wait after the ``attempts``-th search: 0.5, 1, 2, 4 ... up to ``poll_interval``.

    A test message usually leaves within a second or two; waiting the whole interval before the second search
    cost every verification up to ``poll_interval`` (5 s by default) for nothing. Longer waits come after.
    """
    # the exponent stops growing once the wait passed any allowed poll_interval (3600 s): 0.5 * 2 ** n for a
    # long wait's thousands of searches would not fit in a float
    return min(poll_interval, 0.5 * 2 ** min(attempts - 1, 16))


_UNREACHABLE = "The smart host is unreachable from the transport server: check name, port, firewall and anti-virus mass-mailing blocks."
_NO_DNS = "The smart host's name does not resolve on the transport server: fix DNS or use its IP address."
_CERT = "The smart host's certificate failed the connector's TLS checks (chain, expiry, or name vs tls_domain)."
_RELAY = "The smart host refused to relay for this server: allow the transport servers' IP addresses on the smart host, or authenticate."
# (pattern in LastError / RecipientStatus, hint), in the order of the role README's table "Failure messages and their hints".
_DEFERRED = (
    "The smart host deferred the message with a temporary (4xx) answer, quoted in the queue's LastError: "
    "Exchange keeps retrying; fix what the smart host's answer names (greylisting, rate limit, policy)."
)
# LastError "4.4.397 Error communicating with target host" covers sessions that never connected
# ("-> 421 4.2.1 Unable to connect -> SocketError") AND sessions that connected, maybe
# authenticated, and then stalled ("-> 421 4.4.1 Connection timed out") or dropped: only the
# first is "unreachable" (issue 9 item 5).
TRACE_HINTS = [
    (r"unable to connect|socket error|connection refused", _UNREACHABLE),
    (r"nonexistentdomain|\bdns\b", _NO_DNS),
    (
        r"implicit tls|tls on connect|timed out",
        "The smart host accepted the connection, then stopped answering until the session timed out: check the smart host's "
        "own log and load for that session (a port-465 implicit-TLS service looks the same: connectors only do STARTTLS).",
    ),
    (r"connection dropped|4\.4\.2\b", "The smart host closed the connection in the middle of the session: check the smart host's own log for that session."),
    (r"tlsrequired|starttls", "RequireTLS/BasicAuthRequireTLS need STARTTLS, which the smart host did not offer: enable it there."),
    (r"\b4\.7\.5\b|certificate", _CERT),
    (
        r"\b5\.7\.3\b|\b535\b",
        "The smart host refused the credentials or wants AUTH LOGIN: check authentication_credential (update_password: always) and that it offers LOGIN.",
    ),
    (r"\b530\b|\b5\.7\.0\b", "The smart host requires authentication: set smart_host_auth_mechanism BasicAuth/BasicAuthRequireTLS with a credential."),
    (r"\b5\.7\.1\b|unable to relay|relay access denied", _RELAY),
    (r"\b5\.3\.4\b|\b552\b", "The message is larger than the smart host accepts: lower max_message_size to the smart host's SIZE."),
    (r'responded with: "4\d\d\b', _DEFERRED),
    (
        r"4\.4\.397",
        "The smart host is unreachable from the transport server or broke off the session (LastError 4.4.397 without "
        "more detail): check name, port and firewall, then the smart host's own log.",
    ),
]


_LOCAL_CERTIFICATE = (
    "The source server could not present the certificate tls_certificate_name names (%s): missing, expired, "
    "without private key or not enabled for SMTP on that server. Exchange's SmtpSend log then says 'TLS negotiation "
    "failed with error UnknownCredentials' and the queue only '421 4.4.1 Connection timed out'. Run "
    "mailflow.exchange.send_connector_route (the role's preflight does) to see which server and why."
)


def trace_hint(trace, tls_certificate_name=None):
    """The hint for a trace that did not end in a SEND through the connector.

    With ``tls_certificate_name`` (the connector's), a session that timed out points at the local certificate:
    that is how Exchange reports a certificate its source server cannot present (issue 16)."""
    if not isinstance(trace, dict):
        return ""
    early = " ".join(str(x) for x in [trace.get("last_error")] + [
        e.get("recipient_status") for e in trace.get("events") or [] if isinstance(e, dict)]).lower()
    if "unknowncredentials" in early or (tls_certificate_name and re.search(r"timed out", early)):
        return _LOCAL_CERTIFICATE % (tls_certificate_name or "the connector's")
    if trace.get("result") == "no_connector":
        return (
            "Check the connector's name (mailflow.exchange.send_connector_info lists them). A connector created or "
            "renamed a moment ago may not have reached the domain controller this run reads yet (Active Directory "
            "replication): give domain_controller, the one the change was written to, or run again later."
        )
    if trace.get("result") == "other_connector":
        return (
            "Send connector '%s' took the message: its address spaces also cover the recipient's domain, and Exchange "
            "chose it (the most specific address space wins, then the lower cost). Give this connector a more specific "
            "address space or a lower cost, scope or remove the other one, or test with a recipient only this "
            "connector routes." % short_name(trace.get("taken_by"))
        )
    texts = [str(trace.get("last_error") or "")]
    for event in trace.get("events") or []:
        if isinstance(event, dict):
            texts.append(str(event.get("recipient_status") or ""))
            texts.append(str(event.get("source_context") or ""))
    blob = " ".join(texts).lower()
    for pattern, hint in TRACE_HINTS:
        if re.search(pattern, blob):
            return hint
    if trace.get("result") == "timeout":
        return (
            "No SEND event through this connector before the timeout: check the connector's address spaces cover the "
            "test recipient, it is enabled, and the source servers (and AD replication) have picked it up."
        )
    return "See the events and the queue's LastError above."


VERDICTS = {"sent": "pass", "found": "pending", "not_found": "pending"}  # anything else: fail


def judge(trace, tls_certificate_name=None):
    """The trace with its ``verdict`` (pass: it left through its connector; fail: it failed, was deferred, left
    through another connector, or did not leave in time; pending: found or not found without waiting) and, when it
    did not pass, a ``hint`` (what to check) and ``problem`` (one sentence saying what went wrong)."""
    trace["verdict"] = VERDICTS.get(trace["result"], "fail")
    if trace["verdict"] == "pass":
        return trace
    trace["hint"] = trace_hint(trace, tls_certificate_name)
    if trace["verdict"] == "fail":
        through = "through connector '%s'" % short_name(trace["connector"]) if trace.get("connector") else "through a Send connector"
        if trace["result"] == "other_connector":
            problem = "the message left through connector '%s', not %s" % (short_name(trace.get("taken_by")), through[len("through "):])
        elif trace["result"] == "no_connector":
            problem = "no Send connector named '%s' exists, so the message cannot leave through it" % short_name(trace["connector"])
        else:
            problem = "the message did not leave %s (%s)" % (through, trace["result"])
        if trace.get("last_error"):
            problem += ", LastError: %s" % trace["last_error"]
        trace["problem"] = problem
    return trace


def following(params, message_id):
    """The parameters with the test message's Message-ID (send_test_message) as the one traced: every item of
    ``messages`` follows it, or else the single message does (neither has a message_id of its own: validate_input)."""
    if params.get("messages"):
        return dict(params, messages=[dict(item, message_id=message_id) for item in params["messages"]])
    return dict(params, message_id=message_id)


# Ranges decidable from the input (Get-MessageTrackingLog -ResultSize is an Int32 or Unlimited; 0 here means
# Unlimited). A wait longer than a week or a poll interval over an hour is a typo, not a plan.
_RANGES = {"timeout": (0, 604800), "poll_interval": (0.1, 3600), "result_size": (0, 2147483647)}


def validate_input(p):
    """Every problem of the input, each naming its option and the rule, before any call."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values
    # Get-MessageTrackingLog's -Sender and -Recipients are SmtpAddress values: Exchange refuses anything else.
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe.input import address as _address
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe.input import submission_problems as _submission_problems

    errors = []
    # not with message_id or connector; send_test_message not with message_id: message_trace's CONSTRAINTS, worded
    # by the checker
    messages = p.get("messages")
    submitting = p.get("send_test_message") is not None
    if submitting:
        errors.extend(_submission_problems("send_test_message", p["send_test_message"]))
    if messages is not None and not messages:
        errors.append("messages: give at least one message (message_id, connector, servers)")
    if p.get("message_id") is not None and not str(p["message_id"]).strip().strip("<>").strip():
        errors.append("message_id: must not be empty (an empty Message-ID matches no message, or every one)")
    for index, item in enumerate(messages or []):
        message_id = (item or {}).get("message_id") if isinstance(item, dict) else None
        if isinstance(item, dict) and submitting and message_id is not None:
            errors.append("messages[%d].message_id: leave it out with send_test_message (every item follows the test "
                          "message's Message-ID)" % index)
        elif isinstance(item, dict) and not submitting and message_id is None:
            errors.append("messages[%d].message_id: is required (or give send_test_message, whose Message-ID every item "
                          "then follows)" % index)
        elif message_id is not None and not str(message_id).strip().strip("<>").strip():
            errors.append("messages[%d].message_id: must not be empty (an empty Message-ID matches no message, or every "
                          "one)" % index)
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
    if p.get("wait_for") == "send" and not messages and not submitting and not any(
            p.get(k) for k in ("message_id", "sender", "recipients", "subject")):
        errors.append("wait_for: send needs something that identifies the message: message_id, send_test_message, "
                      "sender, recipients or subject")
    for name, (low, high) in _RANGES.items():
        value = p.get(name)
        if value is not None and not low <= value <= high:
            errors.append("%s: must be from %s to %s" % (name, low, high))
    times = {}
    for name in ("start", "end"):
        if p.get(name):
            try:
                times[name] = parse_time(name, p[name])
            except TimeError as err:
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

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
  - With O(connector) (or a C(connector) per item of O(messages)), a C(SEND) of the message through another Send
    connector ends the wait at once with RV(result=other_connector) and names that connector in C(taken_by) - the
    message will not leave through O(connector) any more, so waiting out O(timeout) would tell nothing new.
  - Each trace has a C(verdict) (V(pass), V(fail) or V(pending)) and, when it did not pass, a C(hint) (what to check,
    from the queue's C(LastError) or the events) and a C(problem) sentence, so a playbook only has to report them.
  - When the message failed, was deferred or did not leave in time, the transport queues of the searched servers
    are read with C(Get-Queue) and their C(LastError) is returned.
  - With O(send_test_message) the module first submits a test message to Exchange over SMTP, the way
    M(mailflow.exchange.smtp_probe) does with its O(mailflow.exchange.smtp_probe#module:send_test_message), and then traces
    that message, all in one module run.
extends_documentation_fragment:
  - mailflow.exchange.exchange
  - mailflow.exchange.exchange.attributes
attributes:
  check_mode:
    support: full
    details:
      - Searching only reads; it runs the same in check mode.
      - With O(send_test_message) nothing is sent in check mode, so there is no message to trace; the task ends as
        skipped, with RV(test_message) saying why.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Tracing changes nothing; every O(send_test_message) run sends a new message and reports C(changed).
options:
  message_id:
    description:
      - The C(Message-ID) header of the message, with or without angle brackets.
      - Not with O(send_test_message), whose message is the one traced.
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
      - Each item has C(message_id), C(connector) (the Send connector it should leave through), C(servers)
        (default as for O(servers)) and C(recipients) (only events for these recipients count, e.g. when one message
        was addressed to one recipient per connector).
      - Without O(send_test_message) every item needs its C(message_id). With O(send_test_message) no item has one;
        every item follows the test message, typically one item per connector with that connector's test recipient.
      - Results are in RV(traces), one per item, in the same order. Mutually exclusive with O(message_id) and O(connector).
    type: list
    elements: dict
    suboptions:
      message_id:
        description:
          - The C(Message-ID) header, with or without angle brackets.
          - Required without O(send_test_message); not allowed with it.
        type: str
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
  send_test_message:
    description:
      - Submit one test message to Exchange over SMTP (to a Receive connector, as a client or an application would)
        before the trace, in the same module run, and trace that message. Without O(messages) the single trace follows
        it (with O(connector), O(servers) and the other search options as given); with O(messages) every item does.
      - The message is submitted exactly as M(mailflow.exchange.smtp_probe) submits its test message, with the same
        checks. The SMTP server is probed, then the message is sent through it (STARTTLS when offered). Every value that
        goes into an SMTP command or a header is checked before any connection, and a CR, LF or NUL is refused.
      - A message the server does not accept fails the task before any Exchange session, in the words of
        M(mailflow.exchange.smtp_probe) (C(The test message was not accepted), then the server's reply or the error),
        with RV(test_message).
      - Nothing is sent in check mode.
      - The first search comes one poll wait (0.5 seconds, at most O(poll_interval)) after the submission, because Exchange needs
        a moment to route and send the message, so an earlier search would find at most its C(RECEIVE).
      - The message is sent once per task, also when a long O(wait_for=send) wait runs as several module runs with a
        progress line between them.
    type: dict
    suboptions:
      host:
        description: The Exchange server (or load balancer) whose SMTP Receive connector accepts the message, as a host name or IP address.
        type: str
        required: true
      port:
        description: The TCP port of the Receive connector. Port 465 is tried with TLS on connect first.
        type: int
        default: 25
      connect_address:
        description:
          - Connect to this IP address instead of resolving O(send_test_message.host), while SNI and the certificate
            name checks still use the host name. Empty means the name is resolved.
        type: str
      timeout:
        description: Seconds allowed for the whole submission (probe and message), above 0 and at most 3600.
        type: float
        default: 10
      helo_name:
        description:
          - The name to say in EHLO, as a host name or an address literal such as V([192.0.2.1]). Defaults to this
            machine's FQDN.
        type: str
      ca_cert:
        description:
          - A PEM file of CA certificates to verify the server's certificate against (only reported; without a
            credential the message goes over TLS that did not verify, as Exchange's opportunistic TLS would).
          - Without it the system trust store of the machine running the module is used.
        type: path
      require_tls:
        description: Send the message only inside STARTTLS; a server that does not offer it refuses the submission.
        type: bool
        default: false
      from:
        description: The sender address (also the envelope sender), V(chris@contoso.com) or V(Chris <chris@contoso.com>).
        type: str
        required: true
        aliases: [sender]
      to:
        description:
          - The recipients (also the envelope recipients). Exchange splits the message per Send connector, so one
            recipient per connector tests several connectors with one message.
        type: list
        elements: str
        required: true
        aliases: [recipients]
      subject:
        description: The subject.
        type: str
        default: mailflow.exchange message_trace test message
      body:
        description: The text body.
        type: str
        default: This is a test message sent by mailflow.exchange.message_trace.
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
      - The longest wait in seconds between two searches with O(wait_for=send). Message tracking writes are buffered
        on real servers, so polling is expected.
      - The first searches come sooner (0.5, 1, 2 and 4 seconds after the one before, each at most O(poll_interval));
        a message usually leaves within seconds, and a fixed wait cost every trace up to O(poll_interval) for nothing.
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

- name: Send one test message into Exchange and trace it through every connector, in one task
  mailflow.exchange.message_trace:
    send_test_message:
      host: ex01.contoso.com
      from: chris@contoso.com
      to: [someone@fabrikam.com, someone@partner.example]
      subject: Smart host test
    messages:
      - connector: Smart host to Internet
        recipients: [someone@fabrikam.com]
      - connector: Partner relay
        recipients: [someone@partner.example]
    wait_for: send
    timeout: 120
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
      V(other_connector) the message left through another Send connector than O(connector) (see RV(taken_by));
      V(no_connector) (an item of O(messages) only) no Send connector has the item's C(connector) name, so the message
      cannot leave through it; the other items are still traced (one message without O(messages) fails instead);
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
taken_by:
  description: The Send connector that took the message instead of O(connector) (its C(SEND) event's C(ConnectorId)).
  returned: when RV(result) is V(other_connector)
  type: str
  sample: Partner relay
verdict:
  description:
    - V(pass) the message left through the connector; V(fail) it failed, was deferred, left through another connector
      or did not leave before the timeout; V(pending) events were found or not, without waiting (O(wait_for=none)).
    - With O(messages), each entry of RV(traces) has its own.
  returned: when O(messages) is not given
  type: str
  sample: pass
hint:
  description: What to check when the verdict is not V(pass), from the queue's C(LastError), the events or RV(taken_by).
  returned: when RV(verdict) is not V(pass)
  type: str
  sample: >-
    The smart host refused to relay for this server: allow the transport servers' IP addresses on the smart host, or
    authenticate.
problem:
  description: One sentence saying what went wrong, with the C(LastError) when known.
  returned: when RV(verdict) is V(fail)
  type: str
  sample: "the message did not leave through connector 'Smart host to Internet' (deferred), LastError: ..."
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
      C(result), C(events), C(sent), C(servers), C(queues), C(last_error), C(taken_by), C(verdict), C(hint) and
      C(problem) (as described for the single message).
    - RV(result) is then V(sent) when every message was sent, else the worst result.
  returned: when O(messages) is given
  type: list
  elements: dict
attempts:
  description: How many times the logs were searched.
  returned: always
  type: int
message_id:
  description: The Message-ID of the test message O(send_test_message) sent (the one traced).
  returned: when O(send_test_message) sent a message
  type: str
  sample: <mailflow-probe.3f2c9a0e5b7d4c1e9a8b7c6d5e4f3a2b@contoso.com>
test_message:
  description:
    - What happened to the test message, as M(mailflow.exchange.smtp_probe) returns it. C(host), C(address), C(port),
      C(message_id), C(code), C(text), C(queued), C(tls), C(tls_verified), C(error), C(transcript); or C(skipped) and
      C(reason) in check mode.
  returned: when O(send_test_message) is given
  type: dict
  sample:
    host: ex01.contoso.com
    address: 192.0.2.10
    port: 25
    message_id: <mailflow-probe.3f2c9a0e5b7d4c1e9a8b7c6d5e4f3a2b@contoso.com>
    code: 250
    text: 2.6.0 <mailflow-probe.3f2c9a0e5b7d4c1e9a8b7c6d5e4f3a2b@contoso.com> Queued mail for delivery
    queued: true
    tls: true
    tls_verified: false
    error: null
    transcript: ["* connecting to 192.0.2.10:25", "S: 220 ex01.contoso.com Microsoft ESMTP MAIL Service ready"]
"""

import time

from ansible_collections.mailflow.exchange.plugins.module_utils._module import exchange_module, run_with_session
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.input import test_message_options
# The domain layer (search, polling, verdicts and hints) is module_utils/_trace/tracer.py.
from ansible_collections.mailflow.exchange.plugins.module_utils._trace.common import not_sent_message
from ansible_collections.mailflow.exchange.plugins.module_utils._trace.tracer import MessageTracer, first_search, following, validate_input

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
            "message_id": {"type": "str"},  # required without send_test_message (validate_input says so)
            "connector": {"type": "str"},
            "servers": {"type": "list", "elements": "str"},
            "recipients": {"type": "list", "elements": "str"},
        },
    },
    "send_test_message": {
        "type": "dict",
        "options": dict(
            host={"type": "str", "required": True},
            port={"type": "int", "default": 25},
            connect_address={"type": "str"},
            timeout={"type": "float", "default": 10},
            helo_name={"type": "str"},
            ca_cert={"type": "path"},
            require_tls={"type": "bool", "default": False},
            **test_message_options("message_trace"),
        ),
    },
    "wait_for": {"type": "str", "choices": ["none", "send"], "default": "none"},
    "fail_on_timeout": {"type": "bool", "default": True},
    "stop_on_defer": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "poll_interval": {"type": "float", "default": 5},
    "result_size": {"type": "int", "default": 0},
}

# Declared once: the checker words them with every other problem, AnsibleModule enforces them too (each message
# names its own message_id and connector).
CONSTRAINTS = {"mutually_exclusive": [("messages", "message_id"), ("messages", "connector"), ("send_test_message", "message_id")]}


def submit_test_message(module):
    """send_test_message: submit the message as smtp_probe does (probe the server, then send through it); what the
    result then always carries (the submission and its Message-ID). Nothing is sent in check mode, and then there
    is nothing to trace: the task ends as skipped. A message the server did not accept fails the task here, before
    any Exchange session, in smtp_probe's words."""
    # imported here: the SMTP client (and cryptography) only for a run that submits
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as checks
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe import submit as _submit
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import ProbeSettings, probe_hosts

    spec = module.params["send_test_message"]
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, msg="check mode: no test message was sent, so there is nothing to trace",
                         test_message=_submit.submit(spec, [], [], check_mode=True))
    settings = ProbeSettings(
        host=checks.smart_host("send_test_message.host", spec["host"])[1],
        port=spec["port"],
        connect_address=checks.connect_ip(spec["connect_address"]),
        timeout=spec["timeout"],
        helo_name=spec["helo_name"] or checks.default_helo_name(),
        ca_cert=spec["ca_cert"],
        require_tls=spec["require_tls"],
    )
    test = _submit.submit(spec, [settings], probe_hosts([settings]), check_mode=False)
    if not test.get("queued"):
        module.fail_json(msg=_submit.refusal(test), test_message=test)
    return {"changed": True, "message_id": test["message_id"], "test_message": test}


def main():
    # the test message's values are judged by smtp_probe's checks (its body has lines; its addresses get SMTP's words)
    module = exchange_module(ARGUMENT_SPEC, validate=validate_input, own_words=("send_test_message",), supports_check_mode=True,
                             **CONSTRAINTS)
    p = module.params
    sent = submit_test_message(module) if p["send_test_message"] else {}
    not_before = first_search(time.monotonic(), p["poll_interval"]) if sent else None
    params = following(p, sent["message_id"]) if sent else p

    def work(session):
        result = MessageTracer(session, params, not_before).run()
        if p["wait_for"] == "send" and p["fail_on_timeout"] and result["result"] != "sent":
            result["failed"] = True
            result["msg"] = not_sent_message(result, params)
        return result

    run_with_session(module, work, always=sent)


if __name__ == "__main__":
    main()

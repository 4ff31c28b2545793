"""message_trace against the Exchange lab: real PSRP (pypsrp over NTLM), real SMTP, real smart hosts.

The module runs as Ansible runs it (a separate Python process fed an args file, its JSON result read
from stdout). Connectors are created over PowerShell remoting, messages submitted with smtplib to the
lab's receive connector, and the module must find them in Get-MessageTrackingLog.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import uuid

import pytest

from send_connector_harness import run_module  # noqa: E402  (the one bootstrap is tests/conftest.py)

from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402
from labfixture import LabProcess  # noqa: E402

RELAY = "relay.lab.test"
DENY = "deny.lab.test"
DOWN = "down.lab.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    host = SmartHost(SmartHostConfig(state_dir=str(tmp_path_factory.mktemp("relay")), cert_names=[RELAY], starttls=True))
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def denying(tmp_path_factory):
    host = SmartHost(SmartHostConfig(state_dir=str(tmp_path_factory.mktemp("deny")), allow_clients=["192.0.2.1"]))
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, relay, denying):
    config = {
        "hosts": {RELAY: "127.0.0.1", DENY: "127.0.0.1", DOWN: "127.0.0.1"},
        "mail": {"retry_interval": 0.5, "connect_timeout": 5},
    }
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="ntlm", config=config)
    proc.start()
    down_port = _free_port()
    with proc.pool(records=True) as pool:
        pool.exchange_keys()
        for name, spaces, host, port, sources in (
            ("Smart host to Internet", ["*"], RELAY, relay.ready["port"], ["EX01"]),
            ("Denied relay", ["denied.example"], DENY, denying.ready["port"], ["EX01"]),
            ("Down relay", ["down.example"], DOWN, down_port, ["EX01"]),
            ("Branch relay", ["branch.example"], RELAY, relay.ready["port"], ["EX02"]),
            # A name with wildcard characters, and one its -Identity pattern would match instead of itself.
            ("Relay [ab]", ["wild.example"], RELAY, relay.ready["port"], ["EX01"]),
            ("Relay a", ["a.wild.example"], RELAY, relay.ready["port"], ["EX01"]),
        ):
            ps = proc.run_cmdlet("New-SendConnector", {
                "Name": name, "AddressSpaces": spaces, "SmartHosts": [host], "DNSRoutingEnabled": False,
                "Port": port, "SourceTransportServers": sources,
            }, pool=pool)
            assert not ps.had_errors, [str(e) for e in ps.streams.error]
    yield proc
    proc.stop()


@pytest.fixture
def trace(lab, collections_path, tmp_path):
    def run(**args) -> dict:
        r = lab.ready
        payload = {
            "server": r["host"], "server_port": r["port"], "protocol": "http", "auth": "ntlm",
            "username": r["username"], "password": r["password"], "poll_interval": 0.2, "timeout": 20,
        }
        payload.update(args)
        result, output = run_module("message_trace", payload, str(tmp_path), timeout=120)
        assert r["password"] not in output
        return result

    return run


def submit(lab, to, subject="Trace me", sender="chris@contoso.com"):
    message_id = f"<{uuid.uuid4()}@contoso.com>"
    data = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\nHello.\r\n"
    with smtplib.SMTP(lab.ready["smtp_host"], lab.ready["smtp_port"], timeout=10) as client:
        client.sendmail(sender, [to], data.encode())
    return message_id


def test_waits_until_sent_through_the_connector(lab, trace, relay):
    message_id = submit(lab, "pat@fabrikam.com", subject="Leaves through Smart host to Internet")
    result = trace(message_id=message_id, connector="Smart host to Internet", wait_for="send", start="-10m")
    assert result["result"] == "sent", result
    assert result["changed"] is False and result["servers"] == ["EX01"]
    assert [e["event_id"] for e in result["events"]] == ["RECEIVE", "SEND"]
    sent = result["sent"]
    assert sent["connector_id"] == "Smart host to Internet"
    assert sent["server_hostname"] == RELAY and sent["server_ip"] == "127.0.0.1"
    assert sent["recipient_status"][0].startswith("250") and sent["recipients"] == ["pat@fabrikam.com"]
    assert sent["message_id"] == message_id and sent["server"] == "EX01"
    assert sent["timestamp"].endswith("Z") and sent["subject"] == "Leaves through Smart host to Internet"
    assert any(m.message_id == message_id for m in relay.messages())
    assert "last_error" not in result


def test_connector_name_with_wildcard_characters_is_matched_exactly(lab, trace):
    """-Identity 'Relay [ab]' is a pattern that finds 'Relay a' and not itself: the name is matched exactly."""
    message_id = submit(lab, "pat@wild.example", subject="Leaves through Relay [ab]")
    result = trace(message_id=message_id, connector="Relay [ab]", wait_for="send", start="-10m")
    assert result["result"] == "sent", result
    assert result["sent"]["connector_id"] == "Relay [ab]"


def test_search_once_on_every_mailbox_server_by_sender_and_subject(lab, trace):
    subject = f"Once {uuid.uuid4().hex[:8]}"
    message_id = submit(lab, "pat@fabrikam.com", subject=subject, sender="alex@contoso.com")
    waited = trace(message_id=message_id, wait_for="send")
    assert waited["result"] == "sent"
    result = trace(sender="alex@contoso.com", subject=subject[5:])
    assert result["servers"] == ["EX01", "EX02", "EX03"]
    assert result["result"] == "sent"
    assert {e["message_id"] for e in result["events"]} == {message_id}
    # the id without brackets and a recipient filter find the same message
    bare = trace(message_id=message_id.strip("<>"), recipients=["PAT@fabrikam.com"], servers=["EX01"])
    assert [e["event_id"] for e in bare["events"]] == ["RECEIVE", "SEND"]


def test_relayed_to_a_source_server(lab, trace):
    message_id = submit(lab, "pat@branch.example")
    result = trace(message_id=message_id, connector="Branch relay", wait_for="send", servers=["EX01", "EX02"])
    assert result["result"] == "sent"
    assert result["sent"]["server"] == "EX02" and result["sent"]["connector_id"] == "Branch relay"
    hops = [e for e in result["events"] if e["server"] == "EX01" and e["event_id"] == "SEND"]
    assert hops and hops[0]["connector_id"] == "Intra-Organization SMTP Send Connector"
    # by default only the connector's source servers are searched
    only_source = trace(message_id=message_id, connector="Branch relay")
    assert only_source["servers"] == ["EX02"] and only_source["result"] == "sent"


def test_permanent_failure_is_explained(lab, trace):
    message_id = submit(lab, "pat@denied.example")
    result = trace(message_id=message_id, connector="Denied relay", wait_for="send")
    assert result["failed"] is True  # wait_for: send fails the task when the message was not sent (issue 10 item 9)
    assert result["msg"] == "the message %s (connector Denied relay) was not sent: failed, LastError: 550 5.7.1 Unable to relay" % message_id
    assert result["result"] == "failed"
    assert "FAIL" in [e["event_id"] for e in result["events"]]
    assert result["last_error"] == "550 5.7.1 Unable to relay"
    assert result["sent"] is None


def test_deferred_returns_queue_last_error(lab, trace):
    message_id = submit(lab, "pat@down.example")
    result = trace(message_id=message_id, connector="Down relay", wait_for="send", fail_on_timeout=False)
    assert "failed" not in result  # fail_on_timeout: false keeps the result for the playbook to judge
    assert result["result"] == "deferred"
    assert "421 4.2.1 Unable to connect -> SocketError: Socket error code 10061" in result["last_error"]
    [queue] = result["queues"]
    assert queue["delivery_type"] == "SmartHostConnectorDelivery" and queue["next_hop_domain"] == DOWN
    assert queue["server"] == "EX01" and queue["message_count"] >= 1


def test_timeout_when_waiting_through_retries(lab, trace):
    message_id = submit(lab, "pat@down.example")
    result = trace(message_id=message_id, connector="Down relay", wait_for="send", stop_on_defer=False, timeout=2)
    assert result["failed"] is True and "was not sent: timeout, LastError: " in result["msg"]
    assert result["result"] == "timeout" and result["attempts"] >= 2
    assert "4.4.397" in result["last_error"]


def test_nothing_found(lab, trace):
    result = trace(message_id=f"<{uuid.uuid4()}@contoso.com>", servers=["EX01"])
    assert result["result"] == "not_found" and result["events"] == []


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({"message_id": "<x@y>", "start": "yesterday-ish"}, "start: 'yesterday-ish' is not a time"),
        ({"message_id": "<x@y>", "start": "-1h", "end": "-2h"}, "must be later than start"),
        ({"message_id": "<x@y>", "connector": "No such connector"}, "no Send connector named 'No such connector'"),
        ({"wait_for": "send"}, "wait_for: send needs something that identifies the message"),
        ({"message_id": "<x@y>", "servers": ["EX99"]}, "EX99"),
    ],
)
def test_clear_errors(trace, args, text):
    result = trace(**args)
    assert result.get("failed") is True
    assert text in result["msg"]


def test_check_mode_searches_too(lab, trace):
    message_id = submit(lab, "pat@fabrikam.com")
    assert trace(message_id=message_id, wait_for="send")["result"] == "sent"
    checked = trace(message_id=message_id, _ansible_check_mode=True)
    assert checked["result"] == "sent" and checked["changed"] is False


def test_many_messages_in_one_polling_loop(lab, trace):
    """One message to three recipients leaves through three connectors; three traces, one module run."""
    message_id = f"<{uuid.uuid4()}@contoso.com>"
    recipients = ["pat@fabrikam.com", "pat@denied.example", "pat@branch.example"]
    data = f"From: chris@contoso.com\r\nTo: {', '.join(recipients)}\r\nSubject: Many\r\nMessage-ID: {message_id}\r\n\r\nHi.\r\n"
    with smtplib.SMTP(lab.ready["smtp_host"], lab.ready["smtp_port"], timeout=10) as client:
        client.sendmail("chris@contoso.com", recipients, data.encode())
    before = lab.counters()
    result = trace(messages=[
        {"message_id": message_id, "connector": "Smart host to Internet", "recipients": ["pat@fabrikam.com"]},
        {"message_id": message_id, "connector": "Denied relay", "recipients": ["pat@denied.example"]},
        {"message_id": message_id, "connector": "Branch relay", "recipients": ["pat@branch.example"], "servers": ["EX01", "EX02"]},
    ], wait_for="send")
    assert result["failed"] is True
    assert result["msg"] == ("the message %s (connector Denied relay) was not sent: failed, LastError: 550 5.7.1 Unable to relay"
                             % message_id)
    assert [t["result"] for t in result["traces"]] == ["sent", "failed", "sent"], result["traces"]
    assert result["traces"][0]["sent"]["connector_id"] == "Smart host to Internet"
    assert result["traces"][2]["sent"]["connector_id"] == "Branch relay" and result["traces"][2]["servers"] == ["EX01", "EX02"]
    assert result["result"] == "failed"
    moved = {k: lab.counters().get(k, 0) - before.get(k, 0) for k in ("runspaces_opened", "cmdlet:Get-SendConnector")}
    assert moved == {"runspaces_opened": 1, "cmdlet:Get-SendConnector": 1}, moved


def test_a_missing_connector_fails_its_own_item_and_the_others_are_still_traced(lab, trace):
    """With messages, an item whose connector does not exist (a typo, a connector removed or not replicated yet) gets
    result no_connector, verdict fail, a problem and a hint; the other items are traced as before. (With servers
    given, the connectors are read only to explain a message that did not leave: the role's test
    test_a_write_the_read_back_does_not_show_fails_the_verification covers that way.)"""
    message_id = submit(lab, "pat@fabrikam.com", subject="One connector is missing")
    result = trace(messages=[{"message_id": message_id, "connector": "No such connector"},
                             {"message_id": message_id, "connector": "Smart host to Internet"}],
                   wait_for="send", start="-10m", timeout=20, poll_interval=0.5)
    missing, found = result["traces"]
    assert (missing["result"], missing["verdict"], missing["servers"]) == ("no_connector", "fail", []), missing
    assert missing["problem"] == "no Send connector named 'No such connector' exists, so the message cannot leave through it"
    assert "send_connector_info" in missing["hint"] and "domain_controller" in missing["hint"]
    assert (found["result"], found["verdict"]) == ("sent", "pass"), found
    assert result["result"] == "no_connector" and result["failed"] is True
    assert result["msg"] == ("the message %s (connector No such connector) was not sent: no_connector (no Send connector has "
                             "that name)" % message_id), result["msg"]
    # one message without messages: the module still fails at once, naming the connector (test_clear_errors)


def test_a_message_another_connector_took_ends_the_wait_at_once_and_names_that_connector(lab, trace, relay):
    # pat@fabrikam.com is routed by 'Smart host to Internet' (address space *), never by 'Relay a'
    # (a.wild.example): the SEND through 'Smart host to Internet' answers the question, so the trace stops
    # there instead of polling until its timeout (which would end as 'timeout', not 'other_connector').
    message_id = submit(lab, "pat@fabrikam.com", subject="Taken by another connector")
    result = trace(message_id=message_id, connector="Relay a", servers=["EX01"], wait_for="send", start="-10m",
                   timeout=100, poll_interval=0.5)
    assert result["result"] == "other_connector", result
    assert result["taken_by"] == "Smart host to Internet" and result["sent"] is None
    assert result["verdict"] == "fail" and "took the message" in result["hint"]
    assert result["problem"] == "the message left through connector 'Smart host to Internet', not connector 'Relay a'"
    assert result["failed"] is True  # wait_for: send fails when the message did not leave through the connector
    assert "(Send connector Smart host to Internet took it)" in result["msg"]

    # the same in a messages list, judged later: verdicts per trace, the one that left through its connector passes
    both = trace(messages=[{"message_id": message_id, "connector": "Relay a", "recipients": ["pat@fabrikam.com"]},
                           {"message_id": message_id, "connector": "Smart host to Internet"}],
                 servers=["EX01"], wait_for="send", fail_on_timeout=False, start="-10m", timeout=100)
    assert [(t["result"], t["verdict"]) for t in both["traces"]] == [("other_connector", "fail"), ("sent", "pass")], both
    assert both["result"] == "other_connector" and "failed" not in both


def test_through_ansible_a_long_wait_prints_progress_and_returns_one_result(lab, collections_path, tmp_path):
    """wait_for: send over 10 s runs as slices (the action plugin) with a progress line between them; a message that
    was sent is final after the first slice, only the pending one is traced again, and the result is one call's."""
    message_id = f"<{uuid.uuid4()}@contoso.com>"
    recipients = ["kim@fabrikam.com", "kim@down.example"]
    data = f"From: chris@contoso.com\r\nTo: {', '.join(recipients)}\r\nSubject: Slices\r\nMessage-ID: {message_id}\r\n\r\nHi.\r\n"
    with smtplib.SMTP(lab.ready["smtp_host"], lab.ready["smtp_port"], timeout=10) as client:
        client.sendmail("chris@contoso.com", recipients, data.encode())
    r = lab.ready
    out_file = tmp_path / "result.json"
    playbook = tmp_path / "trace.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "tasks": [
            {"name": "Trace", "register": "out", "ignore_errors": True, "mailflow.exchange.message_trace": {
                "server": r["host"], "server_port": r["port"], "protocol": "http", "auth": "ntlm",
                "username": r["username"], "password": r["password"], "poll_interval": 1, "timeout": 22,
                "wait_for": "send", "stop_on_defer": False, "start": "-10m", "servers": ["EX01"],
                "messages": [{"message_id": message_id, "connector": "Smart host to Internet", "recipients": ["kim@fabrikam.com"]},
                             {"message_id": message_id, "connector": "Down relay", "recipients": ["kim@down.example"]}]}},
            {"name": "Keep", "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": str(out_file)}},
        ],
    }]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert r["password"] not in proc.stdout + proc.stderr
    lines = re.findall(r"^\[localhost\] waiting for the message to leave through (.*) \((\d+) s of 22 s\)(.*)$", proc.stdout, re.M)
    assert len(lines) >= 1, proc.stdout[-4000:]
    # only the pending message's connector, and Exchange's reason as soon as the queue has one
    assert all(line[0] == "Down relay" for line in lines), lines
    assert any(line[2].startswith("; the queue says: ") for line in lines), lines
    result = json.loads(out_file.read_text())
    assert [t["result"] for t in result["traces"]] == ["sent", "timeout"], result["traces"]
    assert result["result"] == "timeout" and result["failed"] is True
    assert result["msg"].startswith("the message %s (connector Down relay) was not sent: timeout, LastError: " % message_id), result["msg"]
    assert result["attempts"] >= 10


# -- send_test_message: the test message submitted by message_trace itself, then traced in the same run ---------
def _submission(lab, **message):
    """send_test_message for the lab's receive connector (Exchange's SMTP endpoint)."""
    return dict({"host": lab.ready["smtp_host"], "port": lab.ready["smtp_port"], "from": "chris@contoso.com"}, **message)


def _received(trace, sender, subject):
    """The Message-IDs Exchange received from ``sender`` with ``subject`` (RECEIVE events on every server)."""
    found = trace(sender=sender, subject=subject)
    return sorted({e["message_id"] for e in found["events"] if e["event_id"] == "RECEIVE"})


def test_send_test_message_submits_and_traces_every_connector_in_one_run(lab, trace, relay, collections_path, tmp_path):
    subject = "Sent by message_trace %s" % uuid.uuid4().hex[:8]
    before = lab.counters()
    result = trace(send_test_message=_submission(lab, to=["lee@fabrikam.com", "lee@denied.example"], subject=subject),
                   messages=[{"connector": "Smart host to Internet", "recipients": ["lee@fabrikam.com"]},
                             {"connector": "Denied relay", "recipients": ["lee@denied.example"]}],
                   servers=["EX01"], wait_for="send", fail_on_timeout=False)
    test = result["test_message"]
    assert test["queued"] is True and test["code"] == 250 and test["error"] is None, test
    assert test["host"] == lab.ready["smtp_host"] and test["port"] == lab.ready["smtp_port"]
    message_id = result["message_id"]
    assert message_id == test["message_id"] and message_id.startswith("<mailflow-probe.") and message_id.endswith("@contoso.com>")
    assert result["changed"] is True  # a message was sent
    assert [(t["message_id"], t["connector"], t["result"]) for t in result["traces"]] == [
        (message_id, "Smart host to Internet", "sent"), (message_id, "Denied relay", "failed")], result["traces"]
    assert result["traces"][1]["last_error"] == "550 5.7.1 Unable to relay" and result["result"] == "failed"
    assert "failed" not in result  # fail_on_timeout: false, as without send_test_message
    moved = {k: lab.counters().get(k, 0) - before.get(k, 0) for k in ("runspaces_opened",)}
    assert moved == {"runspaces_opened": 1}, moved
    # the message is the one the relay got, with the given subject, and Exchange received it once
    [delivered] = [m for m in relay.messages() if m.message_id == message_id]
    assert str(delivered.message["Subject"]) == subject and delivered.rcpt_to == ["lee@fabrikam.com"]
    assert _received(trace, "chris@contoso.com", subject) == [message_id]

    # smtp_probe's test_message has the same keys for the same submission (the same code sends both)
    probed, _output = run_module("smtp_probe", {"hosts": [lab.ready["smtp_host"]], "port": lab.ready["smtp_port"], "fail_on": [],
                                                "send_test_message": {"from": "chris@contoso.com", "to": ["lee@fabrikam.com"]}},
                                 str(tmp_path), timeout=60)
    assert probed["test_message"]["queued"] is True
    assert sorted(test) == sorted(probed["test_message"])


def test_send_test_message_with_a_single_trace(lab, trace):
    submission = {"host": lab.ready["smtp_host"], "port": lab.ready["smtp_port"], "sender": "alex@contoso.com",  # from's alias
                  "recipients": ["sam@branch.example"], "body": "Hello from the test."}
    result = trace(send_test_message=submission, connector="Branch relay", wait_for="send")
    assert result["result"] == "sent" and result["verdict"] == "pass", result
    assert result["sent"]["message_id"] == result["message_id"] and result["sent"]["connector_id"] == "Branch relay"
    assert result["sent"]["sender"] == "alex@contoso.com"
    assert result["test_message"]["queued"] is True and result["changed"] is True


def test_a_test_message_body_of_several_lines_is_sent_as_written(lab, trace, relay):
    """A body has lines: message_trace sends it as smtp_probe does (it refused a line feed in the body before)."""
    subject = "Body lines %s" % uuid.uuid4().hex[:8]
    body = "First line.\n.A line that starts with a dot\n\nLast line after an empty one.\n"
    result = trace(send_test_message=_submission(lab, to=["lee@fabrikam.com"], subject=subject, body=body),
                   messages=[{"connector": "Smart host to Internet"}], wait_for="send")
    assert result["result"] == "sent" and result["test_message"]["queued"] is True, result
    [delivered] = [m for m in relay.messages() if m.message_id == result["message_id"]]
    assert delivered.message.get_content().replace("\r\n", "\n") == body


def test_the_test_messages_values_get_the_same_words_from_message_trace_and_smtp_probe(lab, trace, tmp_path):
    """The same bad values in send_test_message: the same sentences from both modules, before any connection."""
    message = {"from": "chris@contoso.com\r\nRCPT TO:<x@y.example>", "to": ["pat@fabrikam.com", "lee@fab\nrikam.com"],
               "subject": "two\nlines", "helo_name": "ex01\r\n", "ca_cert": "/nonexistent/ca\n.pem"}
    before = lab.counters()
    traced = trace(send_test_message=dict(message, host="relay.contoso.com"), messages=[{"connector": "Smart host to Internet"}],
                   wait_for="send")
    probed, _output = run_module("smtp_probe", {"hosts": ["relay.contoso.com"], "helo_name": message["helo_name"],
                                                "ca_cert": message["ca_cert"],
                                                "send_test_message": {k: message[k] for k in ("from", "to", "subject")}},
                                 str(tmp_path), timeout=60)
    assert traced["failed"] is True and probed["failed"] is True
    expected = [
        "from: 'chris@contoso.com\\r\\nRCPT TO:<x@y.example>' contains a line break (CR or LF); a value sent in an SMTP command "
        "or header must be a single line",
        "to[1]: 'lee@fab\\nrikam.com' contains a line break (CR or LF); a value sent in an SMTP command or header must be a single line",
        "subject: 'two\\nlines' contains a line break (CR or LF); a value sent in an SMTP command or header must be a single line",
        "helo_name: 'ex01\\r\\n' contains a line break (CR or LF); a value sent in an SMTP command or header must be a single line",
        "ca_cert: '/nonexistent/ca\\n.pem' does not exist",
    ]
    from_trace = sorted(e[len("send_test_message."):] for e in traced["errors"])
    from_probe = sorted(e[len("send_test_message."):] if e.startswith("send_test_message.") else e for e in probed["errors"])
    assert from_trace == from_probe == sorted(expected), (from_trace, from_probe)
    assert lab.counters().get("runspaces_opened", 0) == before.get("runspaces_opened", 0)


def test_a_refused_test_message_fails_in_smtp_probes_words_before_any_exchange_session(lab, trace, tmp_path):
    # The lab's receive connector refuses to relay for a sender outside its accepted domains (550 5.7.54).
    message = {"from": "someone@not-accepted.example", "to": ["pat@fabrikam.com"]}
    before = lab.counters()
    result = trace(send_test_message=_submission(lab, **message), messages=[{"connector": "Smart host to Internet"}], wait_for="send")
    assert result["failed"] is True and result["msg"].startswith("The test message was not accepted: RCPT TO refused: 550 5.7.54"), result
    assert result["test_message"]["queued"] is False and "5.7.54" in result["test_message"]["error"]
    assert "traces" not in result and "message_id" not in result and not result.get("changed")
    assert lab.counters().get("runspaces_opened", 0) == before.get("runspaces_opened", 0)
    probed, _output = run_module("smtp_probe", {"hosts": [lab.ready["smtp_host"]], "port": lab.ready["smtp_port"], "fail_on": [],
                                                "send_test_message": message}, str(tmp_path), timeout=60)
    assert probed["failed"] is True and probed["msg"] == result["msg"]
    assert sorted(probed["test_message"]) == sorted(result["test_message"])


def test_send_test_message_in_check_mode_sends_nothing_and_is_skipped(lab, trace):
    subject = "Check mode %s" % uuid.uuid4().hex[:8]
    before = lab.counters()
    result = trace(send_test_message=_submission(lab, to=["pat@fabrikam.com"], subject=subject),
                   messages=[{"connector": "Smart host to Internet"}], wait_for="send", _ansible_check_mode=True)
    assert result["skipped"] is True and result["changed"] is False and "failed" not in result, result
    assert result["test_message"] == {"skipped": True, "reason": "check mode: no test message was sent"}
    assert "message_id" not in result and "traces" not in result
    assert lab.counters().get("runspaces_opened", 0) == before.get("runspaces_opened", 0)
    assert _received(trace, "chris@contoso.com", subject) == []


def test_bad_send_test_message_input_is_refused_with_every_field_named_before_any_connection(lab, trace):
    closed = _free_port()
    bad = {"host": "ex01.contoso.com:25", "port": 70000, "connect_address": "not-an-ip", "timeout": 0, "helo_name": "a b",
           "ca_cert": "/nonexistent/ca.pem", "from": "chris@contoso.com>, <x@y.example", "to": ["pat@fabrikam.com", "x\u2028y@z.example"],
           "subject": "s" * 1000}
    before = lab.counters()
    result = trace(send_test_message=bad, messages=[{"message_id": "<a@b.example>", "connector": "Smart host to Internet"}],
                   wait_for="send")
    assert result["failed"] is True and "traces" not in result and "test_message" not in result
    for expected in (
        "send_test_message.host: 'ex01.contoso.com:25' carries a port; give it as send_test_message.port",
        "send_test_message.port: 70000 is not a TCP port (1-65535)",
        "send_test_message.connect_address: 'not-an-ip' is not an IP address",
        "send_test_message.timeout: must be a number of seconds above 0 and at most 3600",
        "send_test_message.helo_name: 'a b' is not a host name",
        "send_test_message.ca_cert: /nonexistent/ca.pem does not exist",
        "send_test_message.from: 'chris@contoso.com>, <x@y.example' is not an e-mail address",
        "send_test_message.to[1]: 'x\\u2028y@z.example' contains a line or paragraph separator (U+2028)",
        "send_test_message.subject: is longer than 998 characters",
        "messages[0].message_id: leave it out with send_test_message (every item follows the test message's Message-ID)",
    ):
        assert any(error.startswith(expected) for error in result["errors"]), (expected, result["errors"])
    assert len(result["errors"]) == 10, result["errors"]
    # the rest of the combinations: not with message_id; without send_test_message every item needs its message_id
    both = trace(send_test_message=_submission(lab, port=closed, to=["pat@fabrikam.com"]), message_id="<a@b.example>")
    assert both["failed"] is True and both["errors"] == ["send_test_message and message_id: give one of them, not both"], both
    missing = trace(messages=[{"connector": "Smart host to Internet"}, {"message_id": "<a@b.example>"}], wait_for="send")
    assert missing["errors"] == ["messages[0].message_id: is required (or give send_test_message, whose Message-ID every item then "
                                 "follows)"], missing
    empty = trace(send_test_message=_submission(lab, port=closed, to=[]), wait_for="send")
    assert empty["errors"] == ["send_test_message.to: give at least one recipient"], empty
    assert lab.counters().get("runspaces_opened", 0) == before.get("runspaces_opened", 0)


def test_through_ansible_a_long_wait_sends_the_test_message_once(lab, collections_path, tmp_path):
    """With send_test_message and a wait longer than one slice, the action plugin's first slice submits the message and the
    later slices trace that Message-ID: Exchange receives one message, and the result is one call's, with test_message."""
    subject = "Slices with send_test_message %s" % uuid.uuid4().hex[:8]
    r = lab.ready
    out_file = tmp_path / "result.json"
    playbook = tmp_path / "send.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "tasks": [
            {"name": "Send and trace", "register": "out", "ignore_errors": True, "mailflow.exchange.message_trace": {
                "server": r["host"], "server_port": r["port"], "protocol": "http", "auth": "ntlm",
                "username": r["username"], "password": r["password"], "poll_interval": 1, "timeout": 22,
                "wait_for": "send", "stop_on_defer": False, "servers": ["EX01"],
                "send_test_message": {"host": r["smtp_host"], "port": r["smtp_port"], "from": "chris@contoso.com",
                                      "to": ["kim@fabrikam.com", "kim@down.example"], "subject": subject},
                "messages": [{"connector": "Smart host to Internet", "recipients": ["kim@fabrikam.com"]},
                             {"connector": "Down relay", "recipients": ["kim@down.example"]}]}},
            {"name": "Keep", "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": str(out_file)}},
            {"name": "Received", "register": "received", "mailflow.exchange.message_trace": {
                "server": r["host"], "server_port": r["port"], "protocol": "http", "auth": "ntlm",
                "username": r["username"], "password": r["password"], "sender": "chris@contoso.com", "subject": subject}},
            {"name": "Keep received", "ansible.builtin.copy": {"content": "{{ received | to_json }}", "dest": str(tmp_path / "received.json")}},
        ],
    }]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert r["password"] not in proc.stdout + proc.stderr
    assert re.search(r"^\[localhost\] waiting for the message to leave through Down relay \(\d+ s of 22 s\)", proc.stdout, re.M), proc.stdout[-4000:]
    result = json.loads(out_file.read_text())
    message_id = result["message_id"]
    assert result["test_message"]["queued"] is True and result["test_message"]["message_id"] == message_id
    assert result["changed"] is True and result["failed"] is True and result["result"] == "timeout"
    assert [(t["message_id"], t["result"]) for t in result["traces"]] == [(message_id, "sent"), (message_id, "timeout")], result["traces"]
    assert result["msg"].startswith("the message %s (connector Down relay) was not sent: timeout" % message_id), result["msg"]
    received = json.loads((tmp_path / "received.json").read_text())
    assert sorted({e["message_id"] for e in received["events"] if e["event_id"] == "RECEIVE"}) == [message_id]

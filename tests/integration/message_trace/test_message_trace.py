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

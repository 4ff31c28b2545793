"""module_utils/_trace/tracer.py's and common.py's pure parts: time options, event normalisation, where a message stands, and the
verdict and hint of each trace (no lab needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._trace import common as _common
from ansible_collections.mailflow.exchange.plugins.module_utils._trace import tracer as _trace


@pytest.fixture(name="mt")
def fixture_mt():
    return _trace


NOW = dt.datetime(2026, 5, 1, 13, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-15m", NOW - dt.timedelta(minutes=15)),
        ("-2h", NOW - dt.timedelta(hours=2)),
        ("- 1d", NOW - dt.timedelta(days=1)),
        ("2026-05-01T12:00:00Z", dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)),
        ("2026-05-01 12:00", dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)),
        ("2026-05-01T14:00:00+02:00", dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)),
        ("2026-05-01T07:00:00.1234567-05:00", dt.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)),
    ],
)
def test_parse_time(text, expected):
    assert _common.parse_time("start", text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00", "-5w", ""])
def test_parse_time_errors_name_the_option(text):
    with pytest.raises(_common.TimeError, match="^end: "):
        _common.parse_time("end", text, NOW)


def test_wire_time_and_iso_utc(mt):
    assert _common.wire_time(dt.datetime(2026, 5, 1, 12, 3, 4, 999, tzinfo=dt.timezone.utc)) == "2026-05-01T12:03:04Z"
    assert mt.iso_utc("2026-05-01T14:03:04.1234567+02:00") == "2026-05-01T12:03:04.123Z"
    assert mt.iso_utc(None) is None


def event(mt, event_id, connector="Smart host to Internet", **raw):
    base = {"EventId": event_id, "ConnectorId": connector, "MessageId": "<a@contoso.com>", "Recipients": ["pat@fabrikam.com"],
            "RecipientStatus": "250 OK", "Sender": "chris@contoso.com", "Timestamp": "2026-05-01T12:00:00Z"}
    base.update(raw)
    return mt.normalise_event(base, "EX01")


def test_normalise_event(mt):
    e = event(mt, "send", InternalMessageId=42, Reference=None)
    assert e["event_id"] == "SEND" and e["recipient_status"] == ["250 OK"] and e["internal_message_id"] == "42"
    assert e["reference"] == [] and e["server"] == "EX01" and e["timestamp"] == "2026-05-01T12:00:00.000Z"


def test_verdicts(mt):
    receive, defer = event(mt, "RECEIVE", "EX01\\Default Frontend EX01"), event(mt, "DEFER")
    assert mt.evaluate([], None) == ("not_found", None)
    assert mt.evaluate([receive], None)[0] == "found"
    assert mt.evaluate([receive, defer], None)[0] == "deferred"
    assert mt.evaluate([receive, defer, event(mt, "FAIL")], None)[0] == "failed"
    sent = event(mt, "SENDEXTERNAL")
    assert mt.evaluate([receive, defer, sent], "smart host to internet") == ("sent", sent)
    # a SEND through another connector: it took the message (no wait for the timeout)
    assert mt.evaluate([receive, sent], "Other connector") == ("other_connector", sent)
    hop = event(mt, "SEND", "Intra-Organization SMTP Send Connector")
    assert mt.evaluate([receive, hop], None)[0] == "found"
    assert mt.evaluate([receive, hop], "Intra-Organization SMTP Send Connector")[0] == "sent"


def test_client_side_filter(mt):
    e = event(mt, "SEND")
    assert mt.matches(e, {"message_id": "a@CONTOSO.com"})
    assert not mt.matches(e, {"message_id": "<b@contoso.com>"})
    assert mt.matches(e, {"recipients": ["PAT@fabrikam.com", "x@y"]})
    assert not mt.matches(e, {"recipients": ["x@y"]})
    assert not mt.matches(e, {"sender": "eve@contoso.com"})
    dsn = event(mt, "DSN", MessageId="<ndr@contoso.com>", Reference=["<a@contoso.com>"], Sender="postmaster@contoso.com")
    assert mt.matches(dsn, {"message_id": "<a@contoso.com>", "sender": "chris@contoso.com"})


def test_judge_gives_a_verdict_and_for_a_failure_a_hint_and_a_problem(mt):
    sent = mt.judge({"result": "sent", "connector": "A", "events": []})
    assert sent["verdict"] == "pass" and "hint" not in sent and "problem" not in sent
    assert mt.judge({"result": "found", "connector": "A", "events": []})["verdict"] == "pending"
    taken = mt.judge({"result": "other_connector", "connector": "A", "taken_by": "Partner relay", "events": []})
    assert taken["verdict"] == "fail"
    assert taken["problem"] == "the message left through connector 'Partner relay', not connector 'A'"
    assert "Send connector 'Partner relay' took the message" in taken["hint"] and "more specific address space" in taken["hint"]
    late = mt.judge({"result": "timeout", "connector": "A", "events": []})
    assert late["problem"] == "the message did not leave through connector 'A' (timeout)"
    assert "before the timeout" in late["hint"]
    relay = mt.judge({"result": "deferred", "connector": "A", "events": [], "last_error": "451 4.7.1 Unable to relay"})
    assert relay["problem"].endswith("LastError: 451 4.7.1 Unable to relay") and "refused to relay" in relay["hint"]


def test_a_long_connector_name_is_shortened_in_sentences(mt):
    name = "N" * 300
    taken = mt.judge({"result": "other_connector", "connector": name, "taken_by": name, "events": []})
    assert len(taken["problem"]) < 250 and name not in taken["hint"] and "\u2026" in taken["problem"]
    assert mt.short_name("short") == "short"


def test_not_sent_message_names_the_connector_that_took_it(mt):
    result = {"traces": [{"message_id": "<a@x>", "connector": "A", "result": "other_connector", "taken_by": "B"},
                         {"message_id": "<a@x>", "connector": "C", "result": "sent"}]}
    assert _common.not_sent_message(result, {}) == "the message <a@x> (connector A) was not sent: other_connector (Send connector B took it)"


def test_the_first_searches_come_sooner_and_no_wait_exceeds_poll_interval():
    # after search 1, 2, 3 ...: 0.5, 1, 2, 4 s, then the interval (5 s by default); never more than the interval
    assert [_trace.poll_wait(n, 5) for n in range(1, 8)] == [0.5, 1, 2, 4, 5, 5, 5]
    assert [_trace.poll_wait(n, 0.2) for n in range(1, 4)] == [0.2, 0.2, 0.2]
    assert _trace.poll_wait(60, 3600) == 3600  # a huge attempt count does not overflow into a longer wait
    # 0.1 s polls over a week's timeout make millions of searches: the wait stays a number, no OverflowError
    assert _trace.poll_wait(2_000_000, 0.1) == 0.1 and _trace.poll_wait(2_000_000, 3600) == 3600


# -- send_test_message with messages or a single trace (how the two combine) -----------------------------------
SUBMISSION = {"host": "ex01.contoso.com", "port": 25, "connect_address": None, "timeout": 10.0, "helo_name": None, "ca_cert": None,
              "require_tls": False, "from": "chris@contoso.com", "to": ["pat@fabrikam.com"], "subject": "s", "body": "b"}


def test_with_send_test_message_every_item_follows_the_test_message():
    params = {"send_test_message": SUBMISSION, "message_id": None,
              "messages": [{"connector": "A", "recipients": ["pat@fabrikam.com"], "servers": None, "message_id": None}]}
    assert _trace.validate_input(params) == []
    followed = _trace.following(params, "<m@contoso.com>")
    assert followed["messages"] == [{"connector": "A", "recipients": ["pat@fabrikam.com"], "servers": None, "message_id": "<m@contoso.com>"}]
    assert params["messages"][0]["message_id"] is None  # the task's own parameters are not changed
    single = _trace.following({"send_test_message": SUBMISSION, "connector": "A", "messages": None}, "<m@contoso.com>")
    assert single["message_id"] == "<m@contoso.com>" and single["connector"] == "A"
    # send_test_message identifies the message that wait_for: send waits for
    assert _trace.validate_input({"send_test_message": SUBMISSION, "wait_for": "send"}) == []


def test_message_ids_and_send_test_message_are_judged_per_item():
    items = [{"message_id": "<a@b.example>"}, {"connector": "A"}]
    assert _trace.validate_input({"send_test_message": SUBMISSION, "messages": items}) == [
        "messages[0].message_id: leave it out with send_test_message (every item follows the test message's Message-ID)"]
    assert _trace.validate_input({"messages": items}) == [
        "messages[1].message_id: is required (or give send_test_message, whose Message-ID every item then follows)"]
    assert _trace.validate_input({"wait_for": "send"}) == [
        "wait_for: send needs something that identifies the message: message_id, send_test_message, sender, recipients or subject"]


def test_the_first_search_for_a_message_just_submitted_comes_one_poll_wait_later():
    assert _trace.first_search(100.0, 5) == 100.5
    assert _trace.first_search(100.0, 0.2) == pytest.approx(100.2)  # never later than poll_interval

"""message_trace's pure parts: time options, event normalisation and the verdict (no lab needed)."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def mt(tmp_path_factory):
    name = "ansible_collections.mailflow.exchange.plugins.modules.message_trace"
    try:
        yield importlib.import_module(name)
        return
    except ImportError:
        pass
    base = tmp_path_factory.mktemp("collections")
    link = base / "ansible_collections" / "mailflow" / "exchange"
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    sys.path.insert(0, str(base))
    for loaded in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[loaded]
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(base))


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
def test_parse_time(mt, text, expected):
    assert mt.parse_time("start", text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00", "-5w", ""])
def test_parse_time_errors_name_the_option(mt, text):
    with pytest.raises(mt.TraceError, match="^end: "):
        mt.parse_time("end", text, NOW)


def test_wire_time_and_iso_utc(mt):
    assert mt.wire_time(dt.datetime(2026, 5, 1, 12, 3, 4, 999, tzinfo=dt.timezone.utc)) == "2026-05-01T12:03:04Z"
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
    assert mt.evaluate([receive, sent], "Other connector")[0] == "found"
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

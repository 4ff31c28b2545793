"""The filter plugin's own behaviour: names, input checks, errors as AnsibleFilterError."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailflow.exchange.plugins.filter.protocol_log import FilterModule

LOG = (
    "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\n"
    "2024-05-01T13:05:00.120Z,Smart host to Internet,AA,1,10.0.0.5:50123,192.168.3.2:25,<,220 relay ready,\n"
    "2024-05-01T13:05:00.110Z,Smart host to Internet,AA,0,10.0.0.5:50123,192.168.3.2:25,+,,\n"
    "2024-05-01T13:05:00.130Z,Other,BB,0,10.0.0.5:50124,192.168.3.3:25,+,,\n"
)


@pytest.fixture
def filters():
    return FilterModule().filters()


def test_filters_are_registered_under_their_documented_names(filters):
    assert set(filters) == {"smtp_protocol_log", "smtp_protocol_sessions"}


def test_parse_then_select(filters):
    sessions = filters["smtp_protocol_log"](LOG)
    assert [s["session_id"] for s in sessions] == ["AA", "BB"]
    assert sessions[0]["dialogue"] == ["+", "< 220 relay ready"]
    picked = filters["smtp_protocol_sessions"](sessions, connector="smart host to internet")
    assert [s["session_id"] for s in picked] == ["AA"]


def test_errors_are_filter_errors_that_say_what_to_do(filters):
    with pytest.raises(AnsibleFilterError, match="b64decode"):
        filters["smtp_protocol_log"]({"content": "IyBsb2c=", "encoding": "base64"})
    with pytest.raises(AnsibleFilterError, match="expected the log text"):
        filters["smtp_protocol_log"](42)
    with pytest.raises(AnsibleFilterError, match="line 2: expected 9 fields"):
        filters["smtp_protocol_log"](LOG.splitlines()[0] + "\nAA,0,+\n")
    with pytest.raises(AnsibleFilterError, match="expects the list that smtp_protocol_log returns"):
        filters["smtp_protocol_sessions"]("text", connector="x")

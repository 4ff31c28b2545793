"""message_trace input (issue 15): empty Message-IDs and impossible UTC offsets are refused before any call."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._trace import common as _common
from ansible_collections.mailflow.exchange.plugins.module_utils._trace import tracer as _trace


@pytest.mark.parametrize("value", ["2026-05-01T13:00:00+99:99", "2026-05-01T13:00:00-14:01", "2026-05-01T13:00:00+0160",
                                   "2026-05-01T13:00:00+15:00"])
def test_an_impossible_offset_is_refused(value):
    with pytest.raises(_common.TimeError, match="an offset is from -14:00 to \\+14:00"):
        _common.parse_time("start", value)
    assert any(e.startswith("start: ") for e in _trace.validate_input({"start": value}))


@pytest.mark.parametrize("value, utc", [("2026-05-01T13:00:00+14:00", "2026-04-30 23:00"),
                                        ("2026-05-01T13:00:00-12:00", "2026-05-02 01:00"),
                                        ("2026-05-01T13:00:00+05:45", "2026-05-01 07:15")])
def test_real_offsets_pass(value, utc):
    assert _common.parse_time("start", value).strftime("%Y-%m-%d %H:%M") == utc


@pytest.mark.parametrize("params, path", [({"message_id": ""}, "message_id"), ({"message_id": " <> "}, "message_id"),
                                          ({"messages": [{"message_id": "<a@b>"}, {"message_id": ""}]},
                                           "messages[1].message_id")])
def test_an_empty_message_id_is_refused(params, path):
    errors = _trace.validate_input(params)
    assert any(e.startswith(path + ": must not be empty") for e in errors), errors

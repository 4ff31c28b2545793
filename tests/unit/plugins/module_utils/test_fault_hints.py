"""A WSMan fault's hint matches the fault (issue 15): configuration_name only when the configuration is the problem."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session

pytest.importorskip("pypsrp")
from pypsrp.exceptions import WSManFaultError  # noqa: E402


def session():
    return _session.ExchangeSession(_session.connection_settings(
        {"server": "ex01.contoso.com", "username": "admin", "password": "x", "protocol": "https"}))


@pytest.mark.parametrize("code, reason, words", [
    (2150858752, "The WS-Management service cannot process the request. The resource URI is not valid.", "configuration_name"),
    (2150858793, "The WS-Management service cannot complete the operation within the time specified", "operation_timeout"),
    (2150858843, "The request for the Windows Remote Shell with ShellId X failed because the shell was not found",
     "no longer has this session"),
    (2147500037, "The WS-Management service cannot process the request. An internal error occurred (fault injected by the "
                 "Exchange lab).", "event log"),
    (2150859173, "The user has exceeded the maximum number of concurrent shells (quota)", "too many open"),
])
def test_the_hint_matches_the_fault(code, reason, words):
    with pytest.raises(_session.TransportError) as caught:
        session()._map_error(WSManFaultError(code, "ex01", reason, None, None, None))
    assert words in caught.value.message, caught.value.message
    if words != "configuration_name":
        assert "configuration_name" not in caught.value.message

"""One Get-SendConnector for many GUIDs, over the lab's real endpoint: the session's pipeline input and its
non-terminating errors (``ExchangeSession.run_pipeline(input=..., errors=...)``) and the manager's
``get_by_guids``, which the read-back uses. The lab's counters say how many cmdlets ran."""

from __future__ import annotations

import pytest

from send_connector_harness import LabProcess, delta

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session

MISSING = "0b0c7a44-1d2e-4f60-8a9b-5c6d7e8f9012"
NAMES = ("Guid A", "Guid B", "Guid C")


def open_session(ready):
    session = _session.ExchangeSession(_session.connection_settings({
        "server": ready["host"], "server_port": ready["port"], "path": ready["path"], "protocol": "http",
        "auth": "basic", "username": ready["username"], "password": ready["password"], "validate_certs": False}))
    session.open()
    return session


@pytest.fixture(params=[{}, {"unbound_pipeline_input": ["Get-SendConnector"]}], ids=["pipeline", "unbound"])
def lab_and_guids(request, tmp_path_factory):
    lab = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", config=request.param)
    ready = lab.start()
    try:
        session = open_session(ready)
        try:
            guids = {name: str(session.run("New-SendConnector", [("Name", name), ("AddressSpaces", ["*.example"])])[0]["Guid"])
                     for name in NAMES}
            yield lab, session, guids, bool(request.param)
        finally:
            session.close()
    finally:
        lab.stop()


def test_run_pipeline_with_input_keeps_output_and_returns_the_non_terminating_errors(lab_and_guids):
    lab, session, guids, unbound = lab_and_guids
    before = lab.counters()
    errors = []
    found = session.run_pipeline([("Get-SendConnector", [("DomainController", "DC01.contoso.com")])],
                                 input=[guids["Guid C"], MISSING, guids["Guid A"]], errors=errors)
    assert delta(before, lab.counters()).get("cmdlet:Get-SendConnector") == 1
    assert all(isinstance(e, _session.CmdletError) for e in errors) and len(errors) == (3 if unbound else 1)
    if unbound:
        assert found == [] and all(e.input_not_bound and not e.not_found for e in errors), [e.message for e in errors]
        return
    assert [r["Name"] for r in found] == ["Guid C", "Guid A"]
    [error] = errors
    assert error.not_found and not error.input_not_bound and MISSING in error.message
    # without an error list the first non-terminating error is raised, as run() does
    with pytest.raises(_session.CmdletError) as raised:
        session.run_pipeline([("Get-SendConnector", [])], input=[MISSING, guids["Guid B"]])
    assert raised.value.not_found
    # a pipeline that fails (a terminating error) raises with an error list too
    with pytest.raises(_session.CmdletError) as failed:
        session.run_pipeline([("Get-SendConnector", [("NoSuchParameter", 1)])], input=[guids["Guid B"]], errors=[])
    assert "NoSuchParameter" in failed.value.message


def test_get_by_guids_is_one_call_and_a_guid_not_found_is_absent(lab_and_guids):
    lab, session, guids, unbound = lab_and_guids
    manager = _manager.ConnectorManager(session, domain_controller="DC01.contoso.com")
    before = lab.counters()
    wanted = [guids["Guid B"], MISSING, guids["Guid C"].upper(), guids["Guid B"]]  # any case, a GUID twice
    got = manager.get_by_guids(wanted)
    assert list(got) == [guids["Guid B"], MISSING, guids["Guid C"].upper()]
    assert got[MISSING] is None
    assert got[guids["Guid B"]]["Name"] == "Guid B" and got[guids["Guid C"].upper()]["Name"] == "Guid C"
    moved = delta(before, lab.counters())
    # the pipeline call; where it binds no input, one read per distinct GUID after it (and the run remembers)
    assert moved.get("cmdlet:Get-SendConnector") == (1 + 3 if unbound else 1), moved
    assert not moved.get("read_all:Get-SendConnector"), moved
    assert manager.identities_by_pipeline is not unbound
    before = lab.counters()
    assert manager.get_by_guids([guids["Guid A"]])[guids["Guid A"]]["Name"] == "Guid A"
    assert delta(before, lab.counters()).get("cmdlet:Get-SendConnector") == 1  # no second refused pipeline call
    assert manager.get_by_guids([]) == {}

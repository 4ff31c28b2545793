"""Pipeline input to Get-SendConnector in the lab: PowerShell binds each input object to -Identity (Microsoft's
page for Get-SendConnector lists -Identity with "Accept pipeline input: True"), one record per object, a
non-terminating "couldn't be found" error for each one that is not there, output for the rest; the cmdlet counts
once, and is no read of every connector. ``unbound_pipeline_input`` models a session that binds no parameter to the
input (a non-terminating InputObjectNotBound per object)."""

from __future__ import annotations

import uuid

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState

from exchange_lab.api import CommandCall, Invocation
from exchange_lab.config import LabConfig
from exchange_lab.org.testing import OrgHarness

MISSING = "0b0c7a44-1d2e-4f60-8a9b-5c6d7e8f9012"


def harness(tmp_path, **config):
    h = OrgHarness(str(tmp_path), LabConfig.from_dict(dict({"wire": "objects"}, **config)))
    guids = {}
    for name in ("Bravo", "alpha", "Charlie"):
        made = h.run("New-SendConnector", Name=name, AddressSpaces=[f"{name.lower()}.example"])
        assert made.errors == [] and made.failure is None
        guids[name] = h.connector(name)["Guid"]
    return h, guids


def piped(h, objects, **params):
    return h.org.invoke(Invocation(user="admin", commands=[CommandCall("Get-SendConnector", list(params.items()))],
                                   input=list(objects)))


def moved(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def test_each_input_object_is_bound_to_identity_and_a_missing_one_is_a_non_terminating_error(tmp_path):
    h, guids = harness(tmp_path)
    before = h.metrics.snapshot()
    result = piped(h, [guids["Charlie"], MISSING, uuid.UUID(guids["Bravo"])], DomainController="DC01.contoso.com")
    assert result.failure is None
    # one record per input object, in input order; a Guid object binds as its string does
    assert [o.Name for o in result.output] == ["Charlie", "Bravo"]
    [error] = result.errors
    assert error.message == ("The operation couldn't be performed because object '%s' couldn't be found on "
                             "'DC01.contoso.com'." % MISSING)
    assert error.exception_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    assert "[FailureCategory=Cmdlet-ManagementObjectNotFoundException]" in error.fully_qualified_error_id
    # one cmdlet run, however many objects; a read by identity, not a read of every connector
    assert moved(before, h.metrics.snapshot()) == {"cmdlets_run": 1, "cmdlet:Get-SendConnector": 1}


def test_without_input_it_reads_every_connector_and_by_name_input_works_too(tmp_path):
    h, _guids = harness(tmp_path)
    before = h.metrics.snapshot()
    assert len(h.run("Get-SendConnector").output) == 3
    assert [o.Name for o in piped(h, ["alpha"]).output] == ["alpha"]
    assert moved(before, h.metrics.snapshot()) == {"cmdlets_run": 2, "cmdlet:Get-SendConnector": 2,
                                                   "read_all:Get-SendConnector": 1}


def test_unbound_pipeline_input_refuses_every_object_and_reads_nothing(tmp_path):
    h, guids = harness(tmp_path, unbound_pipeline_input=["get-sendconnector"])
    before = h.metrics.snapshot()
    result = piped(h, [guids["alpha"], guids["Bravo"]])
    assert result.failure is None and result.output == []
    assert len(result.errors) == 2
    assert {e.fully_qualified_error_id for e in result.errors} == {
        "InputObjectNotBound,Microsoft.Exchange.Management.SystemConfigurationTasks.GetSendConnector"}
    assert result.errors[0].message.startswith("The input object cannot be bound to any parameters for the command")
    assert result.errors[0].exception_type == "System.Management.Automation.ParameterBindingException"
    assert moved(before, h.metrics.snapshot()) == {"cmdlets_run": 1, "cmdlet:Get-SendConnector": 1}
    assert [o.Name for o in h.run("Get-SendConnector", guids["alpha"]).output] == ["alpha"]  # by parameter: as ever


def test_unbound_pipeline_input_config_key():
    assert LabConfig().unbound_pipeline_input == []
    assert LabConfig.from_dict({"unbound_pipeline_input": ["Get-SendConnector"]}).unbound_pipeline_input == [
        "get-sendconnector"]
    with pytest.raises(ValueError, match="unbound_pipeline_input must be a list of cmdlet names"):
        LabConfig.from_dict({"unbound_pipeline_input": "Get-SendConnector"})


def test_over_the_endpoint_pypsrp_input_reaches_identity(lab_factory):
    lab = lab_factory()
    with lab.pool(records=True) as pool:
        made = []
        for name in ("Piped A", "Piped B"):
            new = lab.run_cmdlet("New-SendConnector", {"Name": name, "AddressSpaces": ["*"]}, pool=pool)
            assert new.streams.error == []
            made.append(str(new.output[0]["Guid"]))
        before = lab.counters()
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-SendConnector").add_parameter("DomainController", "DC01.contoso.com")
        ps.invoke(input=[made[1], MISSING, made[0]])
        assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors  # non-terminating
        assert [o.record["Name"] for o in ps.output] == ["Piped B", "Piped A"]
        [error] = ps.streams.error
        assert MISSING in str(error) and "couldn't be found on 'DC01.contoso.com'" in str(error)
    counted = moved(before, lab.counters())
    assert counted.get("cmdlet:Get-SendConnector") == 1 and "read_all:Get-SendConnector" not in counted, counted

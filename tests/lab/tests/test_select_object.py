"""Select-Object in the lab's session (org/pscore.py): -Property, -ExpandProperty, its errors, the config key
``core_cmdlets`` that takes it away, how it is counted, and its output on the wire in every profile."""

from __future__ import annotations

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState

from exchange_lab.api import CommandCall
from exchange_lab.config import WIRE_PROFILES, LabConfig
from exchange_lab.org.testing import OrgHarness, clixml, prop, to_string, type_names

CONNECTOR = "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"


@pytest.fixture
def h(tmp_path):
    harness = OrgHarness(str(tmp_path))
    for name, port in (("Bravo", 25), ("alpha", 587), ("Charlie", 2525)):
        made = harness.run("New-SendConnector", Name=name, AddressSpaces=[f"{name.lower()}.example"], Port=port)
        assert made.errors == [] and made.failure is None
    return harness


def get_then_select(h, *select_params, user=None, **identity):
    return h.pipeline(CommandCall("Get-SendConnector", list(identity.items())),
                      CommandCall("Select-Object", list(select_params)), user=user)


def test_expand_property_gives_the_values(h):
    result = get_then_select(h, ("ExpandProperty", "name"))  # any case, as PowerShell matches members
    assert result.failure is None and result.errors == []
    assert result.output == ["alpha", "Bravo", "Charlie"]  # Get-SendConnector's order, plain strings
    assert get_then_select(h, ("ExpandProperty", "Port")).output == [587, 25, 2525]


def test_expand_property_of_a_list_gives_its_elements_and_null_gives_nothing(h):
    spaces = get_then_select(h, ("ExpandProperty", "AddressSpaces"), Identity="Bravo").output
    assert [to_string(clixml(s)) for s in spaces] == ["SMTP:bravo.example;1"]
    assert get_then_select(h, ("ExpandProperty", "Comment")).output == []  # every Comment is null


def test_unknown_expand_property_is_a_non_terminating_error_per_object(h):
    result = get_then_select(h, ("ExpandProperty", "Nope"))
    assert result.failure is None and result.output == []
    assert len(result.errors) == 3  # one per connector that came down the pipeline
    error = result.errors[0]
    assert error.message == 'Property "Nope" cannot be found.'
    assert error.fully_qualified_error_id == "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand"
    assert error.exception_type == "System.Management.Automation.PSArgumentException"


def test_expand_property_pattern_matching_several_properties_is_an_error(h):
    result = get_then_select(h, ("ExpandProperty", "Smart*"), Identity="Bravo")  # SmartHosts, SmartHostsString, ...
    assert result.output == [] and [e.fully_qualified_error_id.split(",")[0] for e in result.errors] == [
        "MutlipleExpandProperties"]


def test_property_gives_selected_objects_with_only_those_properties(h):
    result = get_then_select(h, ("Property", ["NAME", "Port", "NoSuchThing"]), Identity="alpha")
    assert result.failure is None and result.errors == []
    [selected] = result.output
    element = clixml(selected)
    assert type_names(element) == ["Deserialized.Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration."
                                   "SmtpSendConnectorConfig", "Deserialized.System.Management.Automation.PSCustomObject",
                                   "Deserialized.System.Object"]
    names = [child.get("N") for section in ("Props", "MS") for child in element.findall(section + "/*")]
    assert names == ["Name", "Port", "NoSuchThing"]  # the members' own spelling; an unknown name is a null property
    assert prop(element, "Name").text == "alpha" and prop(element, "Port").text == "587"
    assert prop(element, "NoSuchThing").tag == "Nil"
    assert to_string(element) == "@{Name=alpha; Port=587; NoSuchThing=}"


def test_property_wildcards_and_a_property_selected_twice(h):
    [wild] = get_then_select(h, ("Property", ["Smart*", "Nothing*"]), Identity="alpha").output
    element = clixml(wild)
    names = [child.get("N") for child in element.findall("MS/*")]
    assert names == ["SmartHostAuthMechanism", "SmartHosts", "SmartHostsString"]  # a pattern matching nothing adds nothing
    twice = get_then_select(h, ("Property", ["Name", "name"]), Identity="alpha")
    assert [child.get("N") for child in clixml(twice.output[0]).findall("MS/*")] == ["Name"]
    [error] = twice.errors
    assert error.message == 'The property cannot be processed because the property "Name" already exists.'
    assert error.fully_qualified_error_id.startswith("AlreadyExistingUserSpecifiedPropertyNoExpand,")


def test_without_parameters_objects_pass_unchanged_and_nothing_in_gives_nothing_out(h):
    result = get_then_select(h, Identity="alpha")
    assert [type_names(clixml(o))[0] for o in result.output] == [CONNECTOR]
    missing = get_then_select(h, ("ExpandProperty", "Name"), Identity="Nope")
    assert missing.output == [] and len(missing.errors) == 1  # Get-SendConnector's not-found, nothing from Select


def test_not_modelled_uses_are_terminating_errors_that_say_so(h):
    both = get_then_select(h, ("Property", "Port"), ("ExpandProperty", "Name"))
    assert both.failure is not None and "does not model Select-Object with -Property and -ExpandProperty" in \
        both.failure.message
    calculated = get_then_select(h, ("Property", [{"Name": "N", "Expression": "Name"}]))
    assert calculated.failure is not None and "calculated properties" in calculated.failure.message
    first = get_then_select(h, ("First", 1))
    assert first.failure.fully_qualified_error_id.startswith("NamedParameterNotFound,")


def test_select_object_counts_once_per_pipeline_not_per_object(h):
    before = h.metrics.snapshot()
    assert len(get_then_select(h, ("ExpandProperty", "Name")).output) == 3
    after = h.metrics.snapshot()
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    # read_all: the Get read every connector (no -Identity); Select-Object is no read of its own
    assert moved == {"cmdlets_run": 2, "cmdlet:Get-SendConnector": 1, "cmdlet:Select-Object": 1,
                     "read_all:Get-SendConnector": 1}
    get_then_select(h, ("ExpandProperty", "Name"), Identity="Nope")  # nothing reaches it: it still ran once
    assert h.metrics.snapshot()["cmdlet:Select-Object"] == 2


def test_the_read_only_user_has_it(h):
    assert get_then_select(h, ("ExpandProperty", "Name"), user="viewer").output == ["alpha", "Bravo", "Charlie"]


def test_core_cmdlets_empty_is_a_session_without_select_object(tmp_path):
    h = OrgHarness(str(tmp_path), LabConfig.from_dict({"wire": "objects", "core_cmdlets": []}))
    h.run("New-SendConnector", Name="Relay", AddressSpaces=["*"])
    before = h.metrics.snapshot()
    result = get_then_select(h, ("ExpandProperty", "Name"))
    assert result.output == [] and result.failure.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failure.message.startswith("The term 'Select-Object' is not recognized as the name of a cmdlet")
    assert h.metrics.snapshot() == before  # the pipeline fails before anything runs, Get-SendConnector too


def test_core_cmdlets_config_key():
    assert LabConfig().core_cmdlets == ["Select-Object"]
    assert LabConfig.from_dict({"core_cmdlets": ["select-object"]}).core_cmdlets == ["Select-Object"]
    with pytest.raises(ValueError, match="core_cmdlets Measure-Object: not a cmdlet the lab has"):
        LabConfig.from_dict({"core_cmdlets": ["Measure-Object"]})
    with pytest.raises(ValueError, match="core_cmdlets must be a list"):
        LabConfig.from_dict({"core_cmdlets": "Select-Object"})


@pytest.mark.parametrize("profile", WIRE_PROFILES)
def test_every_wire_profile_writes_the_results(profile, lab_factory):
    """Over the real endpoint: the names arrive as strings, the selected objects as objects the collection's reader
    reads, in each wire profile."""
    lab = lab_factory(config={"wire": profile})
    with lab.pool(records=True) as pool:
        made = lab.run_cmdlet("New-SendConnector", {"Name": "R\u0435lay", "AddressSpaces": ["*"], "Port": 587}, pool=pool)
        assert made.streams.error == []
        names = PowerShell(pool)
        names.add_cmdlet("Get-SendConnector").add_cmdlet("Select-Object").add_parameter("ExpandProperty", "Name")
        names.invoke()
        assert names.state == PSInvocationState.COMPLETED and names.streams.error == []
        assert [o.record for o in names.output] == [{"value": "R\u0435lay"}]
        selected = PowerShell(pool)
        selected.add_cmdlet("Get-SendConnector").add_cmdlet("Select-Object").add_parameter("Property", ["Name", "Port"])
        selected.invoke()
        assert [o.record for o in selected.output] == [{"Name": "R\u0435lay", "Port": 587}]
        wrong = PowerShell(pool)
        wrong.add_cmdlet("Get-SendConnector").add_cmdlet("Select-Object").add_parameter("ExpandProperty", "Nope")
        wrong.invoke()
        assert wrong.state == PSInvocationState.COMPLETED and not wrong.had_errors  # non-terminating
        assert 'Property "Nope" cannot be found.' in str(wrong.streams.error[0])
        assert wrong.streams.error[0].fq_error == "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand"
    assert lab.counters()["cmdlet:Select-Object"] == 3

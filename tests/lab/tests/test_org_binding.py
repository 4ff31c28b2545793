"""No-language mode, command lookup, RBAC and PowerShell-like parameter binding."""

from __future__ import annotations

import pytest

from exchange_lab.api import CommandCall
from exchange_lab.org import Param, TaskError, register, registry
from exchange_lab.org.testing import OrgHarness


@pytest.fixture
def h(tmp_path):
    return OrgHarness(str(tmp_path))


def test_script_is_refused_in_no_language_mode(h):
    result = h.run("Get-SendConnector | Where-Object { $_.Enabled }", _script=True)
    assert result.failure.fully_qualified_error_id == "ScriptsNotAllowed"
    assert result.failure.message == (
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
    )
    assert h.metrics.snapshot().get("cmdlets_run", 0) == 0


def test_unknown_command(h):
    result = h.run("Get-Mailbox")
    assert result.failure.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failure.message.startswith("The term 'Get-Mailbox' is not recognized as the name of a cmdlet, function, script file, or operable program.")
    assert result.failure.exception_type == "System.Management.Automation.CommandNotFoundException"


@pytest.mark.parametrize("cmdlet,params", [
    ("New-SendConnector", {"Name": "X", "AddressSpaces": ["*"]}),
    ("Set-SendConnector", {"Identity": "X", "Port": 26}),
    ("Remove-SendConnector", {"Identity": "X", "Confirm": False}),
])
def test_read_only_user_does_not_see_write_cmdlets(h, cmdlet, params):
    assert h.run("New-SendConnector", Name="X", AddressSpaces=["contoso.com"]).errors == []
    before = h.org.connectors()
    result = h.run(cmdlet, _user="viewer", **params)
    assert result.failure.fully_qualified_error_id == "CommandNotFoundException"
    assert f"The term '{cmdlet}' is not recognized" in result.failure.message
    assert h.org.connectors() == before


@pytest.mark.parametrize("cmdlet", ["Get-SendConnector", "Get-ExchangeServer", "Get-LabCounter", "Set-ADServerSettings"])
def test_read_only_user_may_read(h, cmdlet):
    params = {"ViewEntireForest": True} if cmdlet == "Set-ADServerSettings" else {}
    result = h.run(cmdlet, _user="viewer", **params)
    assert result.failure is None and result.errors == []


@pytest.mark.parametrize("given", ["addressspaces", "ADDRESSSPACES", "AddressSp", "-AddressSpaces", "AddressSpaces:"])
def test_parameter_names_case_and_prefix(h, given):
    result = h.run("New-SendConnector", **{"Name": "X", given: ["contoso.com"]})
    assert result.failure is None and result.errors == []
    assert h.connector("X")["AddressSpaces"][0]["Address"] == "contoso.com"


def test_ambiguous_prefix(h):
    result = h.run("New-SendConnector", Name="X", AddressSpaces=["*"], SmartHost=["a.contoso.com"])
    assert result.failure.fully_qualified_error_id.startswith("AmbiguousParameter,")
    assert "-SmartHostAuthMechanism" in result.failure.message and "-SmartHosts" in result.failure.message


def test_positional_name_and_identity(h):
    assert h.run("New-SendConnector", "Pos", AddressSpaces=["*"]).errors == []
    assert h.run("Set-SendConnector", "Pos", Comment="hi").errors == []
    assert h.connector("Pos")["Comment"] == "hi"
    extra = h.run("Set-SendConnector", "Pos", "Receive", Comment="x")
    assert extra.failure.fully_qualified_error_id.startswith("PositionalParameterNotFound,")
    assert "'Receive'" in extra.failure.message


def test_switch_forms_and_aliases(h):
    assert h.run("New-SendConnector", Name="A", AddressSpaces=["*"], Internal=None).errors == []
    assert h.run("New-SendConnector", Name="B", AddressSpaces=["*"], Internal=True, Force=None, cf=False).errors == []
    assert h.connector("A")["MaxMessageSize"] is None and h.connector("B")["MaxMessageSize"] is None
    assert h.run("New-SendConnector", Name="C", AddressSpaces=["*"], Internal=False).errors == []
    assert h.connector("C")["MaxMessageSize"] == 36700160


def test_parameter_given_twice(h):
    call = CommandCall("New-SendConnector", [("Name", "A"), ("AddressSpaces", ["*"]), ("port", 25), ("Port", 26)])
    result = h.pipeline(call)
    assert result.failure.fully_qualified_error_id.startswith("ParameterAlreadyBound,")


def test_error_action(h):
    stop = h.run("Get-SendConnector", "Nope", ErrorAction="Stop")
    assert stop.failure is not None and "ManagementObjectNotFoundException" in stop.failure.fully_qualified_error_id
    quiet = h.run("Get-SendConnector", "Nope", ea="SilentlyContinue")
    assert quiet.failure is None and quiet.errors == []


def test_pipeline_get_into_remove(h):
    for name in ("P1", "P2"):
        assert h.run("New-SendConnector", Name=name, AddressSpaces=["*"]).errors == []
    result = h.pipeline(
        CommandCall("Get-SendConnector", [("Identity", "P*")]),
        CommandCall("Remove-SendConnector", [("Confirm", False)]),
    )
    assert result.failure is None and result.errors == [] and result.output == []
    assert h.org.connectors() == []


def test_metrics_count_cmdlets_and_writes(h):
    h.run("New-SendConnector", Name="M", AddressSpaces=["*"])
    h.run("New-SendConnector", Name="M", AddressSpaces=["*"])  # duplicate: no write
    h.run("Set-SendConnector", "M", Port=26)
    h.run("Get-SendConnector")
    h.run("Remove-SendConnector", "M", Confirm=False)
    counts = h.metrics.snapshot()
    assert counts["cmdlets_run"] == 5
    assert counts["cmdlet:New-SendConnector"] == 2 and counts["cmdlet:Get-SendConnector"] == 1
    assert counts["writes"] == 3
    lab = h.run("Get-LabCounter").output[0]
    assert lab == counts  # and reading them did not count
    assert h.metrics.snapshot() == counts


def test_extension_registration_binds_and_respects_rbac(h, request):
    seen = {}

    def get_queue(ctx, args):
        seen.update(args)
        if args.get("Identity") == "missing":
            ctx.error(TaskError("The queue 'missing' wasn't found.", "Microsoft.Exchange.Data.QueueViewer.QueueViewerException", code="Q"))
            return []
        return [f"queue on {args.get('Server') or ctx.org.config.local_server}"]

    def retry_queue(ctx, args):
        ctx.wrote = True
        return []

    h.org.register("Get-LabQueue", get_queue, params=[Param("Identity", position=0), Param("Server"), Param("ResultSize", "int")],
                   task_class="Microsoft.Exchange.Management.QueueViewerTasks.GetQueue")
    register("Retry-LabQueue", retry_queue, writes=True)  # global table, any parameters
    request.addfinalizer(lambda: registry._GLOBAL.pop("retry-labqueue", None))
    out = h.run("get-labqueue", Server="EX02", resultsize="5")
    assert out.output == ["queue on EX02"] and seen["ResultSize"] == 5
    err = h.run("Get-LabQueue", "missing")
    assert err.errors[0].fully_qualified_error_id.endswith(",Microsoft.Exchange.Management.QueueViewerTasks.GetQueue")
    bad = h.run("Get-LabQueue", Bogus=1)
    assert bad.failure.fully_qualified_error_id == "NamedParameterNotFound,Microsoft.Exchange.Management.QueueViewerTasks.GetQueue"
    assert h.run("Retry-LabQueue", Anything=1).failure is None
    assert h.run("Retry-LabQueue", _user="viewer").failure.fully_qualified_error_id == "CommandNotFoundException"
    assert h.metrics.snapshot()["writes"] == 1

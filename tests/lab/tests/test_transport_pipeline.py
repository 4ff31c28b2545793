"""The wire over HTTP Basic: pools, pipelines, streams, errors and failures as pypsrp shows them.

The lab runs as ``python -m exchange_lab serve`` in a subprocess with the tiny test backend of
test_transport_backend.py; the client is unmodified pypsrp.
"""

from __future__ import annotations

import json

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from test_transport_backend import ADMIN, READER, start_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    proc = start_lab(str(tmp_path_factory.mktemp("lab")))
    yield proc
    proc.stop()


def wsman(lab, username=None, password=None, **kwargs):
    return lab.wsman(username, password, encryption="never", **kwargs)


def pool(lab, **kwargs):
    return RunspacePool(wsman(lab, **kwargs), configuration_name="Microsoft.Exchange")


def run(p, name, *params, args=()):
    ps = PowerShell(p)
    ps.add_cmdlet(name)
    for key, value in params:
        ps.add_parameter(key, value)
    for value in args:
        ps.add_argument(value)
    ps.invoke()
    return ps


def test_ready_json_describes_the_endpoint(lab):
    ready = lab.ready
    assert ready["scheme"] == "http"
    assert ready["path"] == "PowerShell"
    assert ready["configuration_name"] == "Microsoft.Exchange"
    assert ready["auth"] == "basic"
    assert (ready["username"], ready["password"]) == ADMIN
    assert (ready["readonly_username"], ready["readonly_password"]) == READER
    assert ready["state_dir"] == lab.state_dir
    assert ready["pid"] == lab.proc.pid
    assert "ca_cert" not in ready
    with open(f"{lab.state_dir}/ready.json", encoding="utf-8") as handle:
        assert json.load(handle) == ready


def test_cmdlet_with_parameters_reaches_backend_and_output_comes_back(lab):
    with pool(lab) as p:
        ps = run(p, "Get-LabEcho", ("Name", "Send to partner"), ("Port", 587), ("Enabled", True), ("Count", 2))
    assert ps.state == PSInvocationState.COMPLETED
    assert ps.had_errors is False
    assert ps.output[:6] == [
        "user=admin",
        "commands=Get-LabEcho",
        "Name='Send to partner'",
        "Port=587",
        "Enabled=True",
        "Count=2",
    ]
    assert ps.output[6].startswith("item-00000-") and ps.output[7].startswith("item-00001-")


def test_large_output_spans_several_receives(lab):
    with pool(lab) as p:
        ps = run(p, "Get-LabEcho", ("Count", 4000))  # ~900 KB of CLIXML, above one envelope
    items = [o for o in ps.output if o.startswith("item-")]
    assert len(items) == 4000
    assert items[-1].startswith("item-03999-")


def test_switch_positional_and_statements(lab):
    with pool(lab) as p:
        ps = PowerShell(p)
        ps.add_cmdlet("Get-LabEcho").add_parameter("Warn")  # switch without value
        ps.add_statement()
        ps.add_cmdlet("Get-LabEcho").add_argument("positional")
        ps.invoke()
    assert "commands=Get-LabEcho|Get-LabEcho" in ps.output
    assert "Warn=None" in ps.output or "Warn=True" in ps.output
    assert "None='positional'" in ps.output
    assert [w.message for w in ps.streams.warning] == ["echo warning"]


def test_non_terminating_error_shape(lab):
    with pool(lab) as p:
        ps = run(p, "Get-LabThing")
    assert ps.output == ["thing-a"]
    assert ps.state == PSInvocationState.COMPLETED
    assert ps.had_errors is False  # as against real Exchange: only a Failed state sets it
    [error] = ps.streams.error
    assert (
        str(error)
        == "The operation couldn't be performed because object 'thing-b' couldn't be found on 'DC01.contoso.com'."
    )
    assert error.fq_error.endswith("8D2B1F3C,Microsoft.Exchange.Management.Tasks.GetLabThing")
    assert error.fq_error.startswith("[Server=EX01,")
    assert error.category == 13
    assert error.reason == "ManagementObjectNotFoundException"
    assert error.activity == "Get-LabThing"
    assert error.target_name == "thing-b"
    assert error.message == "ObjectNotFound (thing-b:String) [Get-LabThing], ManagementObjectNotFoundException"
    assert error.exception.adapted_properties["Message"] == str(error)
    # pypsrp shows the type names as sent (PowerShell would add "Deserialized." on its side).
    assert error.exception.types[0] == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    assert error.exception.types[-1] == "System.Object"


def test_terminating_failure_shape(lab):
    with pool(lab) as p:
        ps = run(p, "Set-LabThing")
        # The pool stays usable after a failed pipeline.
        after = run(p, "Get-LabEcho")
    assert ps.state == PSInvocationState.FAILED
    assert ps.had_errors is True
    assert ps.output == []
    [error] = ps.streams.error
    assert "The value must be between 1 and 65535." in str(error)
    assert error.fq_error == "ParameterBindingFailed,Microsoft.Exchange.Management.Tasks.SetLabThing"
    assert error.category == 5
    assert error.reason == "ParameterBindingException"
    assert error.activity == "Set-LabThing"
    assert after.output[0] == "user=admin"


def test_backend_crash_is_a_failed_pipeline_not_a_dead_server(lab):
    with pool(lab) as p:
        ps = run(p, "Invoke-LabCrash")
        again = run(p, "Get-LabEcho")
    assert ps.state == PSInvocationState.FAILED
    [error] = ps.streams.error
    assert error.fq_error == "LabInternalError,Invoke-LabCrash"
    assert "boom" not in str(error)  # the Python exception stays in the lab's log
    assert again.state == PSInvocationState.COMPLETED
    assert "RuntimeError: boom" in lab.log_tail(200)


def test_script_reaches_backend_marked_as_script(lab):
    with pool(lab) as p:
        ps = PowerShell(p)
        ps.add_script("Get-Process | Select-Object -First 1")
        ps.invoke()
    assert ps.state == PSInvocationState.FAILED
    assert ps.streams.error[0].fq_error == "ScriptsNotAllowed"


def test_stop_running_pipeline_and_pool_alive(lab):
    with pool(lab) as p:
        ps = PowerShell(p)
        ps.add_cmdlet("Start-LabSleep").add_parameter("Seconds", 2)
        ps.begin_invoke()
        ps.poll_invoke(timeout=1)
        assert ps.state == PSInvocationState.RUNNING
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        assert p.is_alive() is True
        assert run(p, "Get-LabEcho").output[0] == "user=admin"
    assert p.is_alive() is False  # closed pools are gone on the server


def test_readonly_user_is_handed_to_backend(lab):
    with pool(lab, username=READER[0], password=READER[1]) as p:
        assert run(p, "Get-LabEcho").output[0] == "user=reader"


def test_domain_forms_of_user_name_are_stripped(lab):
    for name in ("CONTOSO\\admin", "admin@contoso.com"):
        with pool(lab, username=name) as p:
            assert run(p, "Get-LabEcho").output[0] == "user=admin"


def test_bad_password_is_authentication_error(lab):
    with pytest.raises(AuthenticationError):
        with pool(lab, password="wrong") as p:
            run(p, "Get-LabEcho")


def test_wrong_configuration_name_is_a_wsman_fault(lab):
    p = RunspacePool(wsman(lab), configuration_name="Microsoft.PowerShell")
    with pytest.raises(WSManFaultError) as info:
        p.open()
    assert info.value.code == 2150858752
    assert "Cannot find the Microsoft.PowerShell session configuration" in info.value.reason


@pytest.mark.parametrize("path", ["powershell", "PowerShell/", "POWERSHELL"])
def test_path_is_case_insensitive(lab, path):
    with RunspacePool(wsman(lab, path=path), configuration_name="Microsoft.Exchange") as p:
        assert run(p, "Get-LabEcho").output[0] == "user=admin"


def test_wrong_path_is_404(lab):
    url = f"http://{lab.ready['host']}:{lab.ready['port']}/wsman"
    response = requests.post(url, data=b"<x/>", auth=ADMIN, timeout=10)
    assert response.status_code == 404


def test_no_credentials_is_401_with_basic_challenge(lab):
    url = f"http://{lab.ready['host']}:{lab.ready['port']}/PowerShell"
    response = requests.post(url, data=b"<x/>", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_counters_and_log_have_no_secrets(lab):
    before = lab.counters()
    with pool(lab) as p:
        run(p, "Get-LabEcho")
    after = lab.counters()
    assert after["runspaces_opened"] == before.get("runspaces_opened", 0) + 1
    assert after["runspaces_closed"] == before.get("runspaces_closed", 0) + 1
    assert after["wsman_requests"] >= before.get("wsman_requests", 0) + 4  # Create, Receive, Command, Receive...
    log = lab.log_tail(10000)
    assert ADMIN[1] not in log and READER[1] not in log
    assert "Authorization" not in log


def test_pool_level_requests(lab):
    with pool(lab) as p:
        assert p.get_available_runspaces() == 1
        p.max_runspaces = 3
        assert p.max_runspaces == 3
        assert p.get_available_runspaces() == 3
        p.reset_runspace_state()
        assert run(p, "Get-LabEcho").output[0] == "user=admin"


def test_pipeline_input_reaches_backend(lab):
    with pool(lab) as p:
        ps = PowerShell(p)
        ps.add_cmdlet("Get-LabEcho")
        ps.invoke(input=["first", "second"])
    assert ps.state == PSInvocationState.COMPLETED
    assert "input=['first', 'second']" in ps.output


def test_large_command_spans_command_and_send(lab):
    big = "y" * 400_000  # more than one client fragment: the rest of CreatePipeline comes in Send
    with pool(lab) as p:
        ps = run(p, "Get-LabEcho", ("Name", big))
    assert ps.state == PSInvocationState.COMPLETED
    assert f"Name={big!r}" in ps.output


def test_malformed_requests_get_http_or_wsman_errors(lab):
    url = f"http://{lab.ready['host']}:{lab.ready['port']}/PowerShell"
    not_xml = requests.post(url, data=b"this is not xml", auth=ADMIN, timeout=10)
    assert not_xml.status_code == 500
    assert b"WSManFault" in not_xml.content
    bad_chunk = requests.post(
        url, data=iter([b"abc"]), auth=ADMIN, headers={"Transfer-Encoding": "chunked"}, timeout=10
    )
    assert bad_chunk.status_code == 500  # chunked bodies are read; "abc" is still not a SOAP envelope
    with pytest.raises(WSManFaultError) as info:
        wsman(lab).invoke(
            "http://example.invalid/Frobnicate", "http://schemas.microsoft.com/powershell/Microsoft.Exchange", None
        )
    assert info.value.code == 2150858771
    assert "not supported" in info.value.reason


def test_another_users_shell_is_not_found(lab):
    from pypsrp.shell import WinRS

    with pool(lab) as p:
        intruder = WinRS(wsman(lab, READER[0], READER[1]), resource_uri=p.shell.resource_uri, id=p.id)
        intruder._selector_set = p.shell._selector_set  # the admin's ShellId, reused by another user
        with pytest.raises(WSManFaultError) as info:
            intruder.receive("stdout")
        assert info.value.code == 2150858843
        assert run(p, "Get-LabEcho").output[0] == "user=admin"  # the owner is unaffected


def test_null_and_falsy_output_values(lab):
    with pool(lab) as p:
        ps = run(p, "Get-LabNull")
    assert ps.state == PSInvocationState.COMPLETED
    assert ps.output == [None, "after-null", 0, False, ""]


def test_application_private_data_looks_like_windows_powershell(lab):
    with pool(lab) as p:
        table = p.application_private_data.data["PSVersionTable"]
    assert str(table["PSVersion"]).startswith("5.1.")
    assert table["PSEdition"] == "Desktop"
    assert str(table["PSRemotingProtocolVersion"]) == "2.3"

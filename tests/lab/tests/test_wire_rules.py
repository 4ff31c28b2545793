"""The organisation's rules over the real wire: pypsrp -> WSMan/PSRP -> lab (conftest's ``lab``)."""

from __future__ import annotations

import pytest
from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell, PSInvocationState

SH = {"AddressSpaces": ["*"], "DNSRoutingEnabled": False, "SmartHosts": ["192.168.3.2"]}


def run(pool, name, *positional, **params):
    ps = PowerShell(pool)
    ps.add_cmdlet(name)
    for value in positional:
        ps.add_argument(value)
    for key, value in params.items():
        if value is None:
            ps.add_parameter(key)  # a switch
        else:
            ps.add_parameter(key, value)
    ps.invoke()
    return ps


def names(pool):
    return sorted(str(c) for c in run(pool, "Get-SendConnector").output)


@pytest.fixture(scope="module")
def pool(lab):
    with lab.pool(encryption="never") as p:
        p.exchange_keys()
        yield p


TERMINATING = [
    ("port-text", {"AddressSpaces": ["*"], "Port": "abc"}, "ParameterArgumentTransformationError,", "Port"),
    ("enabled-text", {"AddressSpaces": ["*"], "Enabled": "maybe"}, "ParameterArgumentTransformationError,", "Enabled"),
    ("port-range", {"AddressSpaces": ["*"], "Port": 65536}, "ParameterBindingFailed,", "Port"),
    ("wildcard", {"AddressSpaces": ["*contoso.com"]}, "ParameterArgumentTransformationError,", "*contoso.com"),
    ("size", {"AddressSpaces": ["*"], "MaxMessageSize": "2GB"}, "ParameterBindingFailed,", "MaxMessageSize"),
    ("unknown", {"AddressSpaces": ["*"], "Frobnicate": True}, "NamedParameterNotFound,", "'Frobnicate'"),
    ("tls-domain", {"AddressSpaces": ["*"], "TlsDomain": "mail.*.contoso.com"}, "ParameterArgumentTransformationError,", "TlsDomain"),
]


@pytest.mark.parametrize("label,params,error_id,word", TERMINATING, ids=[c[0] for c in TERMINATING])
def test_terminating_errors_fail_the_pipeline(pool, label, params, error_id, word):
    before = names(pool)
    ps = run(pool, "New-SendConnector", Name=f"T-{label}", **params)
    assert ps.state == PSInvocationState.FAILED and ps.had_errors
    [error] = ps.streams.error
    assert error.fq_error.startswith(error_id)
    assert word in str(error)
    assert names(pool) == before


TASK = [
    ("hosts-with-dns", {"AddressSpaces": ["*"], "SmartHosts": ["relay.contoso.com"]}, "DataValidationException", "DNSRoutingEnabled"),
    ("basic-no-cred", {**SH, "SmartHostAuthMechanism": "BasicAuth"}, "DataValidationException", "AuthenticationCredential"),
    ("tls-level", {"AddressSpaces": ["*"], "TlsAuthLevel": "EncryptionOnly"}, "DataValidationException", "RequireTLS"),
    ("two-usages", {"AddressSpaces": ["*"], "Internet": None, "Partner": None}, "ArgumentException", "Usage"),
    ("unknown-source", {"AddressSpaces": ["*"], "SourceTransportServers": ["EX42"]}, "ManagementObjectNotFoundException", "EX42"),
]


@pytest.mark.parametrize("label,params,exc,word", TASK, ids=[c[0] for c in TASK])
def test_task_errors_are_error_records(pool, label, params, exc, word):
    before = names(pool)
    ps = run(pool, "New-SendConnector", Name=f"T-{label}", **params)
    assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors  # non-terminating, like Exchange
    [error] = ps.streams.error
    assert error.fq_error.startswith("[Server=EX01,RequestId=")
    assert f"[FailureCategory=Cmdlet-{exc}]" in error.fq_error
    assert error.fq_error.endswith(",Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector")
    assert word in str(error)
    assert names(pool) == before


def test_smart_host_life_cycle(pool):
    cred = PSCredential(username="relay@contoso.com", password="Wire-Secret-1")
    created = run(pool, "New-SendConnector", Name="Wire SH", SmartHostAuthMechanism="BasicAuthRequireTLS",
                  AuthenticationCredential=cred, Internet=None, **SH)
    assert created.streams.error == [] and len(created.output) == 1
    added = run(pool, "Set-SendConnector", "Wire SH", SmartHosts={"add": ["relay.contoso.com"], "REMOVE": ["192.168.3.2"]})
    assert added.state == PSInvocationState.COMPLETED and added.streams.error == []
    [got] = run(pool, "Get-SendConnector", "Wire SH").output
    assert got.adapted_properties["SmartHostsString"] == "relay.contoso.com"
    # Switching to DNS routing clears the smart hosts, the auth mechanism and the stored credential (Exchange)
    to_dns = run(pool, "Set-SendConnector", "Wire SH", DNSRoutingEnabled=True)
    assert to_dns.streams.error == []
    [got] = run(pool, "Get-SendConnector", "Wire SH").output
    assert got.adapted_properties["SmartHostsString"] == ""
    assert got.adapted_properties["AuthenticationCredential"] is None
    renamed = run(pool, "Set-SendConnector", Identity="Wire SH", Name="Wire SH 2")
    assert renamed.streams.error == []
    assert "Wire SH 2" in names(pool) and "Wire SH" not in names(pool)
    prompt = run(pool, "Remove-SendConnector", "Wire SH 2")
    assert prompt.state == PSInvocationState.FAILED
    assert prompt.streams.error[0].fq_error.startswith("HostFunctionNotImplemented,")
    assert "Wire SH 2" in names(pool)
    removed = run(pool, "Remove-SendConnector", "Wire SH 2", Confirm=False)
    assert removed.state == PSInvocationState.COMPLETED and removed.streams.error == []
    assert "Wire SH 2" not in names(pool)


def test_no_language_mode_and_unknown_command(pool):
    ps = PowerShell(pool)
    ps.add_script("Get-SendConnector | Where-Object { $_.Enabled }")
    ps.invoke()
    assert ps.state == PSInvocationState.FAILED
    assert ps.streams.error[0].fq_error == "ScriptsNotAllowed"
    assert "no-language mode" in str(ps.streams.error[0])
    missing = run(pool, "Get-Mailbox")
    assert missing.state == PSInvocationState.FAILED
    assert str(missing.streams.error[0]).startswith("The term 'Get-Mailbox' is not recognized")


def test_read_only_user(lab, pool):
    assert run(pool, "New-SendConnector", Name="Wire RO", AddressSpaces=["contoso.com"]).streams.error == []
    ready = lab.ready
    with lab.pool(ready["readonly_username"], ready["readonly_password"], encryption="never") as viewer:
        assert "Wire RO" in names(viewer)
        assert len(run(viewer, "Get-ExchangeServer").output) == 3
        for name, params in (("New-SendConnector", {"Name": "Nope", "AddressSpaces": ["*"]}),
                             ("Set-SendConnector", {"Identity": "Wire RO", "Port": 26}),
                             ("Remove-SendConnector", {"Identity": "Wire RO", "Confirm": False})):
            ps = run(viewer, name, **params)
            assert ps.state == PSInvocationState.FAILED
            assert ps.streams.error[0].fq_error == "CommandNotFoundException"
            assert f"The term '{name}' is not recognized" in str(ps.streams.error[0])
    [kept] = run(pool, "Get-SendConnector", "Wire RO").output
    assert kept.adapted_properties["Port"] == 25 and "Nope" not in names(pool)

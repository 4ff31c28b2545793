"""End to end: ``serve`` with the real emulated organisation (exchange_lab.org), driven by pypsrp
over NTLM with message encryption, as the collection's modules will talk to it.
"""

from __future__ import annotations

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from labfixture import LabProcess


@pytest.fixture(scope="module")
def org_lab(tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="ntlm")
    proc.start()
    yield proc
    proc.stop()


def run(p, name, **params):
    ps = PowerShell(p)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    return ps


def test_send_connector_life_over_the_wire(org_lab):
    with RunspacePool(org_lab.wsman(), configuration_name="Microsoft.Exchange") as p:
        before = [str(c) for c in run(p, "Get-SendConnector").output]
        assert "To partner" not in before
        created = run(
            p,
            "New-SendConnector",
            Name="To partner",
            Usage="Custom",
            AddressSpaces=["contoso.net"],
            SmartHosts=["smarthost.contoso.net"],
            DNSRoutingEnabled=False,
        )
        assert created.state == PSInvocationState.COMPLETED
        assert [str(e) for e in created.streams.error] == []
        got = run(p, "Get-SendConnector")
        missing = run(p, "Get-SendConnector", Identity="No such connector")
    [connector] = [c for c in got.output if str(c) == "To partner"]
    assert len(got.output) == len(before) + 1
    assert str(connector) == "To partner"
    assert (
        connector.types[0]
        == "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"
    )
    assert connector.types[-1] == "Deserialized.System.Object"
    assert missing.output == []
    assert "couldn't be found" in str(missing.streams.error[0])
    counters = org_lab.counters()
    assert counters["runspaces_opened"] == counters["runspaces_closed"] == 1


def test_readonly_user_reads(org_lab):
    ready = org_lab.ready
    with RunspacePool(
        org_lab.wsman(ready["readonly_username"], ready["readonly_password"]), configuration_name="Microsoft.Exchange"
    ) as p:
        servers = run(p, "Get-ExchangeServer")
    assert servers.state == PSInvocationState.COMPLETED
    assert [str(s) for s in servers.output][:2] == ["EX01", "EX02"]

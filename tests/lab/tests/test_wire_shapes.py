"""Output objects as pypsrp 0.9.1 deserialises them from the lab (what the collection's parser sees)."""

from __future__ import annotations

import uuid

import pytest
from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell

PASSWORD = "Shape-Secret-9"


def run(pool, name, **params):
    ps = PowerShell(pool)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    assert ps.streams.error == [], [str(e) for e in ps.streams.error]
    return ps.output


@pytest.fixture(scope="module")
def connector(lab):
    with lab.pool(encryption="never") as pool:
        pool.exchange_keys()
        run(pool, "New-SendConnector", Name="Shape SH", AddressSpaces=["*", "contoso.com;5"], DNSRoutingEnabled=False,
            SmartHosts=["192.168.3.2", "relay.contoso.com"], SmartHostAuthMechanism="BasicAuth",
            AuthenticationCredential=PSCredential(username="relay", password=PASSWORD), Port=587,
            TlsCertificateName="<I>CN=Contoso CA<S>CN=ex01.contoso.com", ConnectionInactivityTimeOut="00:05:00")
        run(pool, "New-SendConnector", Name="Shape Internal", AddressSpaces=["*.fabrikam.com"], Internal=True)
        [smart] = run(pool, "Get-SendConnector", Identity="Shape SH")
        [internal] = run(pool, "Get-SendConnector", Identity="Shape Internal")
        yield smart, internal


def test_types_and_identity(connector):
    smart, _ = connector
    assert smart.types[0] == "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"
    assert smart.types[-1] == "Deserialized.System.Object"
    props = smart.adapted_properties
    assert str(smart) == "Shape SH" and props["Name"] == "Shape SH"
    assert str(props["Identity"]) == "Shape SH"
    assert isinstance(props["Guid"], uuid.UUID)
    assert props["DistinguishedName"].startswith("CN=Shape SH,CN=Connections,CN=Exchange Routing Group (DWBGZMFD01QNBJR),")
    assert props["OriginatingServer"] == "DC01.contoso.com"
    assert smart.extended_properties["PSComputerName"] == "ex01.contoso.com"


def test_value_types_render_like_exchange(connector):
    smart, internal = connector
    props = smart.adapted_properties
    assert str(props["MaxMessageSize"]) == "35 MB (36,700,160 bytes)"
    assert str(internal.adapted_properties["MaxMessageSize"]) == "Unlimited"
    assert str(props["ConnectionInactivityTimeOut"]) == "00:05:00"
    assert props["Port"] == 587 and props["DNSRoutingEnabled"] is False and props["Enabled"] is True
    assert props["SmartHostsString"] == "[192.168.3.2],relay.contoso.com"
    assert str(props["SmartHostAuthMechanism"]) == "BasicAuth"
    assert str(props["ProtocolLoggingLevel"]) == "None"
    assert str(props["TlsCertificateName"]) == "<I>CN=Contoso CA<S>CN=ex01.contoso.com"
    assert props["TlsAuthLevel"] is None
    # multi-valued properties: pypsrp 0.9.1 keeps the <LST> as raw XML inside a complex object
    spaces = props["AddressSpaces"]
    assert spaces.types[0].startswith("Deserialized.Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.AddressSpace")
    raw = "".join(str(p) for p in spaces.property_sets)
    assert "<ToString>SMTP:*;1</ToString>" in raw and "<ToString>SMTP:contoso.com;5</ToString>" in raw
    hosts = "".join(str(p) for p in props["SmartHosts"].property_sets)
    assert "<ToString>[192.168.3.2]</ToString>" in hosts and "<ToString>relay.contoso.com</ToString>" in hosts
    servers = "".join(str(p) for p in props["SourceTransportServers"].property_sets)
    assert "<ToString>EX01</ToString>" in servers


def test_credential_has_user_name_but_no_password(connector):
    smart, internal = connector
    cred = smart.adapted_properties["AuthenticationCredential"]
    assert isinstance(cred, PSCredential)
    assert cred.username == "relay" and cred.password is None
    assert internal.adapted_properties["AuthenticationCredential"] is None


def test_usage_is_not_output(connector):
    smart, internal = connector
    assert "Usage" not in smart.adapted_properties and "Usage" not in internal.adapted_properties


def test_exchange_servers_and_counters(lab):
    with lab.pool(encryption="never") as pool:
        servers = run(pool, "Get-ExchangeServer")
        assert run(pool, "Set-ADServerSettings", ViewEntireForest=True) == []
        [counters] = run(pool, "Get-LabCounter")
    assert [str(s) for s in servers] == ["EX01", "EX02", "EX03"]
    ex03 = servers[2].adapted_properties
    assert ex03["Fqdn"] == "ex03.contoso.com" and str(ex03["Site"]) == "contoso.com/Configuration/Sites/Branch-Site"
    assert str(ex03["ServerRole"]) == "Mailbox" and ex03["IsEdgeServer"] is False
    assert str(ex03["AdminDisplayVersion"]).startswith("Version 15.2")
    assert counters["cmdlet:Get-ExchangeServer"] >= 1 and counters["cmdlet:Set-ADServerSettings"] >= 1
    assert counters["cmdlets_run"] >= counters["cmdlet:Get-ExchangeServer"] + counters["cmdlet:Set-ADServerSettings"]

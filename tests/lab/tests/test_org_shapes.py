"""Output objects as the transport serialises them (psrpcore CLIXML), defaults per usage, connectors()."""

from __future__ import annotations

import pytest
from psrpcore.types import PSCredential, PSSecureString

from exchange_lab.org.testing import OrgHarness, clixml, prop, to_string, type_names
from exchange_lab.org.values import parse_size, render_size, render_timespan

PASSWORD = "Pa55-never-shown"


@pytest.fixture
def h(tmp_path):
    return OrgHarness(str(tmp_path))


@pytest.fixture
def smart(h):
    result = h.run(
        "New-SendConnector", Name="Smart host to Internet", AddressSpaces=["*", "X400:o=a;c=us;7"], DNSRoutingEnabled=False,
        SmartHosts=["192.168.3.2", "relay.contoso.com"], SmartHostAuthMechanism="BasicAuthRequireTLS",
        AuthenticationCredential=PSCredential(UserName="CONTOSO\\relay", Password=PSSecureString(PASSWORD)),
        TlsCertificateName="<I>CN=Contoso CA<S>CN=ex01.contoso.com", ErrorPolicies=["DowngradeDnsFailures", "UpgradeCustomFailures"],
        RequireTLS=True, TlsAuthLevel="DomainValidation", TlsDomain="*.contoso.com", Fqdn="mail.contoso.com",
    )
    assert result.errors == [] and result.failure is None
    return h


def _get(h, name):
    result = h.run("Get-SendConnector", name)
    assert len(result.output) == 1
    return clixml(result.output[0])


def test_type_chain_like_exchange_over_remoting(smart):
    root = _get(smart, "Smart host to Internet")
    names = type_names(root)
    assert names[0] == "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"
    assert names[-1] == "Deserialized.System.Object"
    for tn in root.iter("TN"):  # every type chain, nested ones too
        chain = [t.text for t in tn.findall("T")]
        assert all(c.startswith("Deserialized.") for c in chain) and chain[-1] == "Deserialized.System.Object"
    assert to_string(root) == "Smart host to Internet"


def test_value_shapes(smart):
    root = _get(smart, "Smart host to Internet")
    spaces = prop(root, "AddressSpaces")
    assert type_names(spaces, root)[0].startswith("Deserialized.Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.AddressSpace, Microsoft.Exchange.Data")
    assert [to_string(o) for o in spaces.findall("LST/Obj")] == ["SMTP:*;1", "X400:o=a;c=us;7"]
    hosts = prop(root, "SmartHosts")
    assert [to_string(o) for o in hosts.findall("LST/Obj")] == ["[192.168.3.2]", "relay.contoso.com"]
    assert prop(root, "SmartHostsString").text == "[192.168.3.2],relay.contoso.com"
    assert to_string(prop(root, "MaxMessageSize")) == "35 MB (36,700,160 bytes)"
    assert to_string(prop(root, "ConnectionInactivityTimeOut")) == "00:10:00"
    assert prop(root, "Port").tag == "I32" and prop(root, "Port").text == "25"
    assert prop(root, "DNSRoutingEnabled").text == "false"
    mech = prop(root, "SmartHostAuthMechanism")
    assert to_string(mech) == "BasicAuthRequireTLS" and mech.find("I32").text == "8"
    logging = prop(root, "ProtocolLoggingLevel")
    assert to_string(logging) == "None" and logging.find("I32").text == "0"
    assert to_string(prop(root, "ErrorPolicies")) == "DowngradeDnsFailures, UpgradeCustomFailures"
    assert to_string(prop(root, "TlsAuthLevel")) == "DomainValidation"
    assert to_string(prop(root, "TlsDomain")) == "*.contoso.com"
    assert to_string(prop(root, "Fqdn")) == "mail.contoso.com"
    cert = prop(root, "TlsCertificateName")
    assert to_string(cert) == "<I>CN=Contoso CA<S>CN=ex01.contoso.com"
    assert prop(cert, "CertificateIssuer").text == "CN=Contoso CA" and prop(cert, "CertificateSubject").text == "CN=ex01.contoso.com"
    servers = prop(root, "SourceTransportServers")
    assert [to_string(o) for o in servers.findall("LST/Obj")] == ["EX01"]
    identity = prop(root, "Identity")
    assert to_string(identity) == "Smart host to Internet"
    dn = prop(root, "DistinguishedName").text
    assert dn.startswith("CN=Smart host to Internet,CN=Connections,CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups,")
    assert dn.endswith(",CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com")
    assert prop(root, "Guid").tag == "G" and prop(root, "Guid").text == smart.connector("Smart host to Internet")["Guid"]
    assert prop(root, "WhenChangedUTC").tag == "DT" and prop(root, "WhenChangedUTC").text.endswith("Z")
    assert prop(root, "OriginatingServer").text == "DC01.contoso.com"
    assert prop(root, "PSComputerName").text == "ex01.contoso.com"


def test_credential_shows_user_name_only(smart):
    root = _get(smart, "Smart host to Internet")
    cred = prop(root, "AuthenticationCredential")
    assert type_names(cred, root)[0] == "Deserialized.System.Management.Automation.PSCredential"
    assert prop(cred, "UserName").text == "CONTOSO\\relay"
    assert prop(cred, "Password").tag == "Nil"
    import xml.etree.ElementTree as ET

    assert PASSWORD not in ET.tostring(root, encoding="unicode")
    # ... but the lab's mail transport gets it
    assert smart.connector("Smart host to Internet")["AuthenticationCredential"] == {"UserName": "CONTOSO\\relay", "Password": PASSWORD}


def test_usage_is_not_readable_back(smart):
    root = _get(smart, "Smart host to Internet")
    assert prop(root, "Usage") is None


@pytest.mark.parametrize("switch,expected", [
    (None, 36700160), ("Custom", 36700160), ("Internet", 36700160), ("Partner", 36700160), ("Internal", None),
])
def test_defaults_per_usage(h, switch, expected):
    params = {"Name": "D", "AddressSpaces": ["*"]}
    if switch:
        params[switch] = None
    assert h.run("New-SendConnector", **params).errors == []
    record = h.connector("D")
    assert record["MaxMessageSize"] == expected
    assert record["Usage"] == (switch or "Custom")
    defaults = {
        "Enabled": True, "DNSRoutingEnabled": True, "SmartHosts": [], "Port": 25, "ConnectionInactivityTimeOut": 600,
        "SmtpMaxMessagesPerConnection": 20, "ProtocolLoggingLevel": "None", "SmartHostAuthMechanism": "None",
        "RequireTLS": False, "IgnoreSTARTTLS": False, "TlsAuthLevel": None, "TlsDomain": None, "TlsCertificateName": None,
        "DomainSecureEnabled": False, "ForceHELO": False, "Fqdn": None, "FrontendProxyEnabled": False,
        "UseExternalDNSServersEnabled": False, "IsScopedConnector": False, "ErrorPolicies": "Default",
        "CloudServicesMailEnabled": False, "ConnectorType": "Default", "RequireOorg": False, "SourceIPAddress": "0.0.0.0",
        "SourceTransportServers": ["EX01"], "Comment": None, "AuthenticationCredential": None,
    }
    assert {k: record[k] for k in defaults} == defaults
    root = _get(h, "D")
    assert to_string(prop(root, "MaxMessageSize")) == ("Unlimited" if expected is None else "35 MB (36,700,160 bytes)")
    assert prop(root, "TlsAuthLevel").tag == "Nil" and prop(root, "AuthenticationCredential").tag == "Nil"
    assert prop(root, "SmartHostsString").text in (None, "")


def test_source_server_default_follows_local_server(tmp_path):
    from exchange_lab.config import LabConfig

    config = LabConfig(local_server="EX02")
    h = OrgHarness(str(tmp_path), config)
    assert h.run("New-SendConnector", Name="L", AddressSpaces=["*"]).errors == []
    assert h.connector("L")["SourceTransportServers"] == ["EX02"]


def test_get_exchange_server(h):
    result = h.run("Get-ExchangeServer")
    assert [o.Name for o in result.output] == ["EX01", "EX02", "EX03"]
    root = clixml(h.run("Get-ExchangeServer", "ex03.contoso.com").output[0])
    assert type_names(root)[0] == "Deserialized.Microsoft.Exchange.Data.Directory.Management.ExchangeServer"
    assert prop(root, "Fqdn").text == "ex03.contoso.com"
    assert to_string(prop(root, "Site")) == "contoso.com/Configuration/Sites/Branch-Site"
    assert to_string(prop(root, "ServerRole")) == "Mailbox"
    assert to_string(prop(root, "AdminDisplayVersion")) == "Version 15.2 (Build 1544.4)"
    assert prop(root, "IsEdgeServer").text == "false"
    missing = h.run("Get-ExchangeServer", "EX99")
    assert "ManagementObjectNotFoundException" in missing.errors[0].fully_qualified_error_id


def test_set_ad_server_settings_is_accepted(h):
    result = h.run("Set-ADServerSettings", ViewEntireForest=True, PreferredServer="DC01.contoso.com")
    assert result.failure is None and result.errors == [] and result.output == []
    bad = h.run("Set-ADServerSettings", ViewEntireForest="yes")
    assert bad.failure.fully_qualified_error_id.startswith("ParameterArgumentTransformationError,Microsoft.Exchange.Management.RecipientTasks.SetAdServerSettings")


@pytest.mark.parametrize("size,text", [
    (36700160, "35 MB (36,700,160 bytes)"), (26214400, "25 MB (26,214,400 bytes)"), (159449088, "152.1 MB (159,449,088 bytes)"),
    (512, "512 B (512 bytes)"), (1024, "1 KB (1,024 bytes)"), (None, "Unlimited"), (2147483647, "2 GB (2,147,483,647 bytes)"),
])
def test_render_size(size, text):
    assert render_size(size) == text


def test_parse_and_render_small_values():
    assert parse_size("35MB") == 36700160 and parse_size("1") == 1024 and parse_size("unlimited") is None
    assert render_timespan(600) == "00:10:00" and render_timespan(86400) == "1.00:00:00" and render_timespan(90061) == "1.01:01:01"

"""The lab's wire profiles (config key ``wire``), checked on the CLIXML the transport writes, against the
public Exchange 2019 captures (tests/data/exchange, microsoft/CSS-Exchange, MIT) for ``exchange``."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from exchange_lab.config import WIRE_PROFILES, LabConfig
from exchange_lab.org.testing import OrgHarness, clixml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CAPTURE = os.path.join(ROOT, "tests", "data", "exchange", "GetSendConnector.xml")
PRIMITIVE_TAGS = {"S", "B", "I32", "I64", "Nil", "DT", "G", "Db", "By"}


def capture_connector() -> ET.Element:
    root = ET.parse(CAPTURE).getroot()
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root[0]


def written(profile: str, tmp_path, **params) -> ET.Element:
    """Get-SendConnector's object for a connector made with ``params``, as the transport serialises it."""
    lab = OrgHarness(str(tmp_path / profile), LabConfig(wire=profile))
    made = lab.run("New-SendConnector", Name="Wire", **params)
    assert not made.errors and made.failure is None, (made.errors, made.failure)
    [obj] = lab.run("Get-SendConnector", "Wire").output
    return ET.fromstring(ET.tostring(clixml(obj)))


def props(element: ET.Element) -> dict[str, ET.Element]:
    return {child.get("N"): child for section in ("Props", "MS") for child in element.findall(section + "/*")}


def types(element: ET.Element, root: ET.Element) -> list[str]:
    tn = element.find("TN")
    if tn is None:
        ref = element.find("TNRef").get("RefId")
        tn = next(e for e in root.iter("TN") if e.get("RefId") == ref)
    return [t.text for t in tn]


def by_ref(root: ET.Element, ref_id: str) -> ET.Element:
    return next(e for e in root.iter("Obj") if e.get("RefId") == ref_id)


NAME_HOST = {"AddressSpaces": ["*"], "SmartHosts": ["microsoft-com.mail.protection.outlook.com"], "DNSRoutingEnabled": False,
             "TlsCertificateName": "<I>CN=localhost<S>CN=localhost"}


def test_config_key_wire():
    assert LabConfig().wire == "exchange" and set(WIRE_PROFILES) == {"exchange", "objects", "strings"}
    assert LabConfig.from_dict({"wire": "strings"}).wire == "strings"
    with pytest.raises(ValueError, match="lab config: wire 'json' is not a wire profile; use one of exchange, objects, strings"):
        LabConfig.from_dict({"wire": "json"})


def test_exchange_profile_writes_what_the_capture_shows(tmp_path):
    lab = written("exchange", tmp_path, **NAME_HOST)
    real = capture_connector()
    # type names: Exchange's own, no Deserialized. prefix, the same most-derived type
    assert types(lab, lab)[0] == types(real, real)[0] == "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"
    assert not any((t.text or "").startswith("Deserialized.") for t in lab.iter("T"))
    mine, theirs = props(lab), props(real)
    # every setting the module reads has the capture's element kind
    for name in ("AddressSpaces", "SmartHosts", "MaxMessageSize", "ErrorPolicies", "ProtocolLoggingLevel",
                 "SmartHostAuthMechanism", "ConnectionInactivityTimeOut", "TlsCertificateName", "SourceIPAddress",
                 "SourceTransportServers", "Port", "DNSRoutingEnabled", "Fqdn", "TlsAuthLevel", "Name", "Guid"):
        assert mine[name].tag == theirs[name].tag, name
    # blobs on the connector and its Exchange value objects
    assert mine["SerializationData"].tag == "BA" and len(mine["SerializationData"].text) > 20000
    # enums: Obj with TN, ToString and I32
    errors = mine["ErrorPolicies"]
    assert errors.find("I32").text == "0" and errors.find("ToString").text == "Default"
    # sizes: Unlimited`1 whose Value is a string
    size = props(mine["MaxMessageSize"])
    assert size["Value"].tag == "S" and size["Value"].text == "35 MB (36,700,160 bytes)" == props(theirs["MaxMessageSize"])["Value"].text
    assert size["IsUnlimited"].text == "false" and "SerializationData" in size
    # a smart host by name: Address is the IPAddress.Any object, Domain a string, as in the capture
    [host] = mine["SmartHosts"].find("LST")
    [real_host] = theirs["SmartHosts"].find("LST")
    assert [(c.tag, c.get("N")) for c in host.find("Props")] == [(c.tag, c.get("N")) for c in real_host.find("Props")]
    address = props(host)["Address"]
    assert address.find("ToString").text == "0.0.0.0" and types(address, lab)[0] == "System.Net.IPAddress"
    assert [(c.tag, c.get("N")) for c in address.find("Props")] == [(c.tag, c.get("N")) for c in props(real_host)["Address"].find("Props")]
    assert props(host)["Domain"].text == "microsoft-com.mail.protection.outlook.com"
    # the reference: SourceIPAddress points at the object first written inside the SmartHosts list
    assert mine["SourceIPAddress"].tag == "Ref" and by_ref(lab, mine["SourceIPAddress"].get("RefId")) is address
    assert theirs["SourceIPAddress"].tag == "Ref"
    # a repeated AD object is a reference too (Id is Identity)
    assert mine["Id"].tag == "Ref" and by_ref(lab, mine["Id"].get("RefId")) is mine["Identity"]


def test_exchange_profile_prints_address_space_types_as_given(tmp_path):
    lab = written("exchange", tmp_path, AddressSpaces=["smtp:*;1", "contoso.com;2", "SMTP:fabrikam.com"],
                  SmartHosts=["192.168.3.2"], DNSRoutingEnabled=False)
    spaces = [item.find("ToString").text for item in props(lab)["AddressSpaces"].find("LST")]
    assert spaces == ["smtp:*;1", "SMTP:contoso.com;2", "SMTP:fabrikam.com;1"]
    [space] = [s for s in props(capture_connector())["AddressSpaces"].find("LST")]
    first = props(lab)["AddressSpaces"].find("LST")[0]
    assert [(c.tag, c.get("N")) for c in first.find("Props")] == [(c.tag, c.get("N")) for c in space.find("Props")]
    # an IP smart host: Address is that IPAddress, no Domain; SourceIPAddress is then its own object
    [host] = props(lab)["SmartHosts"].find("LST")
    assert host.find("ToString").text == "[192.168.3.2]"
    assert props(host)["Address"].find("ToString").text == "192.168.3.2" and props(host)["Domain"].tag == "Nil"
    assert props(props(host)["Address"])["Address"].text == str(int.from_bytes(bytes([192, 168, 3, 2]), "little"))
    assert props(lab)["SourceIPAddress"].tag == "Obj"
    # the objects profile keeps printing SMTP in capitals (the lab's earlier shape)
    objects = written("objects", tmp_path, AddressSpaces=["smtp:*;1"], SmartHosts=["192.168.3.2"], DNSRoutingEnabled=False)
    assert [i.find("ToString").text for i in props(objects)["AddressSpaces"].find("LST")] == ["SMTP:*;1"]


def test_plain_pypsrp_fails_on_the_exchange_profile_as_on_real_exchange(tmp_path):
    from pypsrp.serializer import Serializer

    text = ET.tostring(written("exchange", tmp_path, **NAME_HOST), encoding="unicode").replace("<T>", "<T>Deserialized.")
    with pytest.raises(KeyError):
        Serializer().deserialize(text)


def test_strings_profile_is_depth_one(tmp_path):
    lab = written("strings", tmp_path, AddressSpaces=["*", "contoso.com;2"], SmartHosts=["relay.contoso.com"],
                  DNSRoutingEnabled=False, SmartHostAuthMechanism="None")
    mine = props(lab)
    for name, element in mine.items():
        if element.tag == "Obj":  # only multi-valued properties stay objects, holding strings (no credential here)
            assert [c.tag for c in element if c.tag not in ("TN", "TNRef")] == ["LST"], name
            assert {c.tag for c in element.find("LST")} <= {"S"}, name
        else:
            assert element.tag in PRIMITIVE_TAGS, (name, element.tag)
    assert [s.text for s in mine["AddressSpaces"].find("LST")] == ["SMTP:*;1", "SMTP:contoso.com;2"]
    assert [s.text for s in mine["SmartHosts"].find("LST")] == ["relay.contoso.com"]
    assert mine["MaxMessageSize"].text == "35 MB (36,700,160 bytes)" and mine["ErrorPolicies"].text == "Default"
    assert mine["SmartHostAuthMechanism"].text == "None" and mine["SourceIPAddress"].text == "0.0.0.0"
    assert mine["SourceTransportServers"].find("LST")[0].text == "EX01"
    assert "<Ref " not in ET.tostring(lab, encoding="unicode")


def test_objects_profile_is_the_earlier_shape(tmp_path):
    lab = written("objects", tmp_path, **NAME_HOST)
    assert all((t.text or "").startswith("Deserialized.") for t in lab.iter("T"))
    assert "SerializationData" not in props(lab)
    assert props(lab)["SourceIPAddress"].tag == "Obj"


@pytest.mark.parametrize("profile", WIRE_PROFILES)
def test_every_profile_over_the_wire(profile, lab_factory):
    """A lab process started with the profile writes it over HTTP (read here with the collection's reader)."""
    proc = lab_factory(wire=profile)
    ps = proc.run_cmdlet("New-SendConnector", {"Name": "Over the wire", "AddressSpaces": ["smtp:*;1"],
                                               "SmartHosts": ["relay.contoso.com"], "DNSRoutingEnabled": False},
                         records=True)
    assert not ps.had_errors, [str(e) for e in ps.streams.error]
    [record] = proc.run_cmdlet("Get-SendConnector", {"Identity": "Over the wire"}, records=True).output
    assert record["SmartHosts"] == ["relay.contoso.com"] and record["SourceIPAddress"] == "0.0.0.0"
    assert record["AddressSpaces"] == ["smtp:*;1" if profile == "exchange" else "SMTP:*;1"]
    assert record["MaxMessageSize"] == "35 MB (36,700,160 bytes)" and "SerializationData" not in record

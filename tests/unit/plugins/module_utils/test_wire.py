"""The collection's CLIXML reader (_wire) on Exchange's real shapes: the public captures, references into
nested lists, type names with and without ``Deserialized.``, blobs, the string-only shape.

The captures are microsoft/CSS-Exchange test data (MIT; tests/data/exchange/README.md)."""

from __future__ import annotations

import os
import struct
import uuid
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "exchange")
CAPTURES = ("GetSendConnector.xml", "GetSendConnectorConfiguredToRelayToM365.xml")

# What Get-SendConnector showed on the two servers, as the modules name the settings.
COMMON = {
    "address_spaces": ["SMTP:*;1"],
    "dns_routing_enabled": False,
    "smart_host_auth_mechanism": "None",
    "authentication_credential": None,
    "source_transport_servers": ["WIN-CTD3L0RGEN4"],
    "is_scoped_connector": False,
    "port": 25,
    "ignore_starttls": False,
    "tls_domain": None,
    "max_message_size": 36700160,
    "protocol_logging_level": "None",
    "enabled": True,
    "comment": None,
    "connection_inactivity_timeout": "00:10:00",
    "smtp_max_messages_per_connection": 20,
    "force_helo": False,
    "domain_secure_enabled": False,
    "error_policies": ["Default"],
    "use_external_dns_servers_enabled": False,
    "source_ip_address": "0.0.0.0",
    "frontend_proxy_enabled": False,
    "cloud_services_mail_enabled": True,
    "connector_type": "Default",
}
EXPECTED = {
    "GetSendConnector.xml": dict(
        COMMON,
        smart_hosts=["microsoft-com.mail.protection.outlook.com"],
        fqdn=None,
        require_tls=False,
        tls_auth_level=None,
        tls_certificate_name="<I>CN=localhost<S>CN=localhost",
    ),
    "GetSendConnectorConfiguredToRelayToM365.xml": dict(
        COMMON,
        smart_hosts=["thistenantdoesntexists-com.mail.protection.outlook.com"],
        fqdn="mail.contoso.com",
        require_tls=True,
        tls_auth_level="CertificateValidation",
        tls_certificate_name=None,
    ),
}
NAMES = {"GetSendConnector.xml": "Mail to O365", "GetSendConnectorConfiguredToRelayToM365.xml": "My company to Office 365"}


def assert_reads_as_expected(settings, name):
    """Every setting of the table is read from the capture, and those EXPECTED names read as written there (a new
    table row is read, and its value checked against the lab by test_rules_agree_with_lab, without an edit here)."""
    assert set(settings) == {o.name for o in _options.SETTINGS if o.scope != _options.CREATE}
    assert set(EXPECTED[name]) <= set(settings)
    assert {key: settings[key] for key in EXPECTED[name]} == EXPECTED[name]


def read_file(text):
    """The records of an Export-Clixml document (the type names aside)."""
    return [record for _types, record in _wire.read_file_objects(text)]


def capture_text(name: str) -> str:
    with open(os.path.join(DATA, name), encoding="utf-8-sig") as handle:
        return handle.read()


def as_messages(name: str, prefix: str = "") -> list[str]:
    """The capture's objects as PSRP output messages: no namespace; ``prefix`` added to every type name."""
    root = ET.fromstring(capture_text(name))
    _wire._strip_namespace(root)
    if prefix:
        for t in root.iter("T"):
            t.text = prefix + (t.text or "")
    return [ET.tostring(child, encoding="unicode") for child in root]


def pipeline_output(message: str):
    """One PIPELINE_OUTPUT message through pypsrp's own message parser with the session's serializer."""
    pytest.importorskip("pypsrp")
    from pypsrp.messages import Message, MessageType
    from pypsrp.serializer import Serializer

    serializer = _wire.read_output(Serializer())
    data = struct.pack("<I", 1) + struct.pack("<I", MessageType.PIPELINE_OUTPUT)
    data += uuid.uuid4().bytes_le + uuid.uuid4().bytes_le + b"\xef\xbb\xbf" + message.encode("utf-8")
    return Message.unpack(data, serializer).data.data


def through_pypsrp(message: str) -> dict:
    """One PIPELINE_OUTPUT message as the session reads it."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import ExchangeSession

    output = pipeline_output(message)
    assert isinstance(output, _wire.Output)
    return ExchangeSession.record(output)


@pytest.mark.parametrize("message, why", [
    ('<Obj RefId="0"><Props><S N="Name">cut off', "not CLIXML"),
    ('<Obj RefId="0"><Props><I32 N="Port">twenty-five</I32></Props></Obj>', "invalid literal for int"),
])
def test_an_unreadable_answer_is_an_error_not_pypsrps_generic_path(message, why):
    """No silent fallback to pypsrp's slow generic deserialiser: the session says what it could not read."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import ExchangeError, ExchangeSession

    output = pipeline_output(message)
    assert isinstance(output, _wire.Unreadable) and why in output.reason
    with pytest.raises(ExchangeError) as caught:
        ExchangeSession.record(output, "Get-SendConnector")
    text = str(caught.value)
    assert text.startswith("Get-SendConnector ran, but its answer could not be read: ") and why in text
    assert "please report it" in text and "Traceback" not in text
    with pytest.raises(ExchangeError, match="did not reach the collection's reader"):
        ExchangeSession.record(object(), "Get-SendConnector")


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_file_gives_the_connector_settings(name):
    [record] = read_file(capture_text(name))
    assert record["Name"] == NAMES[name]
    assert_reads_as_expected(_options.from_exchange(record), name)
    assert _options.identity_from_exchange(record) == {
        "guid": record["Guid"], "identity": NAMES[name], "distinguished_name": record["DistinguishedName"]}
    # the IPAddress object first written inside the SmartHosts list, referenced later by SourceIPAddress
    assert record["SourceIPAddress"] == "0.0.0.0"
    assert "SerializationData" not in record
    # Exchange prints the address space type as it was stored (smtp: or SMTP:) and the smart host as given
    assert record["AddressSpaces"] == [{"GetSendConnector.xml": "SMTP:*;1"}.get(name, "smtp:*;1")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_capture_file_bytes_in_each_encoding_powershell_writes(encoding):
    text = capture_text("GetSendConnector.xml")
    assert read_file(text.encode(encoding)) == read_file(text)


@pytest.mark.parametrize("prefix", ["", "Deserialized."])
@pytest.mark.parametrize("name", CAPTURES)
def test_capture_through_the_sessions_reader(name, prefix):
    [message] = as_messages(name, prefix)
    record = through_pypsrp(message)
    assert_reads_as_expected(_options.from_exchange(record), name)
    assert record == read_file(capture_text(name))[0]


@pytest.mark.parametrize("name", CAPTURES)
def test_plain_pypsrp_cannot_read_the_captures(name):
    """Why the reader exists: pypsrp 0.9.1 never registers the IPAddress written inside the list."""
    pytest.importorskip("pypsrp")
    from pypsrp.serializer import Serializer

    [message] = as_messages(name, "Deserialized.")
    with pytest.raises(KeyError):
        Serializer().deserialize(message)


TASKS = {
    # as an administrator would write them for these connectors
    "GetSendConnector.xml": {
        "address_spaces": ["*"], "smart_hosts": ["microsoft-com.mail.protection.outlook.com"],
        "max_message_size": "35MB", "tls_certificate_name": "<I>CN=localhost<S>CN=localhost",
        "source_transport_servers": ["win-ctd3l0rgen4"], "port": 25, "require_tls": False,
        "connection_inactivity_timeout": "00:10:00", "error_policies": ["Default"],
    },
    "GetSendConnectorConfiguredToRelayToM365.xml": {
        "address_spaces": ["SMTP:*;1"], "smart_hosts": ["thistenantdoesntexists-com.mail.protection.outlook.com"],
        "fqdn": "mail.contoso.com", "require_tls": True, "tls_auth_level": "CertificateValidation",
        "max_message_size": "36700160", "smart_host_auth_mechanism": "None", "cloud_services_mail_enabled": True,
    },
}


@pytest.mark.parametrize("name", CAPTURES)
def test_asking_for_a_captured_connector_changes_nothing(name):
    [record] = read_file(capture_text(name))
    current = _options.from_exchange(record)
    for task in (TASKS[name], dict(current)):  # written by hand; and send_connector_info's output given back
        plan = _plan.plan_present(NAMES[name], task, current)
        assert not plan.errors and plan.cmdlet is None and not plan.changed and plan.changed_keys == []
    # and one real difference is found
    plan = _plan.plan_present(NAMES[name], dict(TASKS[name], port=587), current)
    assert plan.cmdlet == "Set-SendConnector" and plan.changed_keys == ["port"]


def strings_shape(record: dict) -> str:
    """A connector as a depth-1 serialisation writes it: values as text, multi-valued items as strings."""
    obj = ET.Element("Obj", RefId="0")
    tn = ET.SubElement(obj, "TN", RefId="0")
    ET.SubElement(tn, "T").text = "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"
    props = ET.SubElement(obj, "Props")
    for index, (key, value) in enumerate(record.items()):
        if value is None:
            ET.SubElement(props, "Nil", N=key)
        elif isinstance(value, bool):
            ET.SubElement(props, "B", N=key).text = str(value).lower()
        elif isinstance(value, int):
            ET.SubElement(props, "I32", N=key).text = str(value)
        elif isinstance(value, list):
            lst = ET.SubElement(ET.SubElement(props, "Obj", N=key, RefId=str(index + 1)), "LST")
            for item in value:
                ET.SubElement(lst, "S").text = str(item)
        else:
            ET.SubElement(props, "S", N=key).text = str(value)
    return ET.tostring(obj, encoding="unicode")


@pytest.mark.parametrize("name", CAPTURES)
def test_string_only_shape_reads_like_the_objects_shape(name):
    """Remote sessions are also reported to send every multi-valued item as a string."""
    [record] = read_file(capture_text(name))
    text = strings_shape(record)
    assert "<Ref " not in text and "<LST><S>%s</S></LST>" % record["AddressSpaces"][0] in text
    assert_reads_as_expected(_options.from_exchange(through_pypsrp(text)), name)


REFS = """<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig</T>
<T>Deserialized.System.Object</T></TN><Props>
<Obj N="SourceTransportServers" RefId="1"><TN RefId="1">
<T>Deserialized.Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId]]</T>
<T>Deserialized.System.Object</T></TN><LST>
<Obj RefId="2"><TN RefId="2"><T>Deserialized.Microsoft.Exchange.Data.Directory.ADObjectId</T><T>Deserialized.System.Object</T></TN>
<ToString>EX01</ToString><Props><S N="Name">EX01</S></Props></Obj>
<Obj RefId="3"><TNRef RefId="2" /><ToString>EX02</ToString></Obj></LST></Obj>
<Obj N="HomeMtaServerId" RefId="4"><TNRef RefId="2" /><ToString>EX01</ToString></Obj>
<Ref N="Again" RefId="3" />
<Obj N="Later" RefId="5"><TNRef RefId="1" /><LST><Ref RefId="3" /><Ref RefId="2" /><Ref RefId="99" /></LST></Obj>
<Obj N="Loop" RefId="6"><TN RefId="3"><T>Thing</T></TN><Props><Ref N="Self" RefId="6" /><S N="Note">a_x000A_b_xD83D__xDE00_</S></Props></Obj>
<Obj N="AuthenticationCredential" RefId="7"><TN RefId="4"><T>Deserialized.System.Management.Automation.PSCredential</T>
<T>Deserialized.System.Object</T></TN><ToString>System.Management.Automation.PSCredential</ToString>
<Props><S N="UserName">relay-user</S><SS N="Password">AAECAwQFBgcICQoLDA0ODw==</SS></Props></Obj>
<S N="Name">Adapted</S>
<Obj N="Table" RefId="8"><TN RefId="5"><T>System.Collections.Hashtable</T><T>System.Object</T></TN>
<DCT><En><S N="Key">a</S><I32 N="Value">1</I32></En></DCT></Obj>
<Obj N="Level" RefId="9"><TN RefId="6"><T>Microsoft.Exchange.Data.ProtocolLoggingLevel</T><T>System.Enum</T></TN>
<ToString>Verbose</ToString><I32>1</I32></Obj>
<SS N="Secret">AAEC</SS>
<G N="Guid">0F2C7A3E-1B2C-4D5E-8F90-123456789ABC</G>
<Db N="Ratio">0.5</Db><I64 N="Ticks">6000000000</I64><DT N="When">2022-03-23T18:00:30+01:00</DT>
</Props><MS><S N="PSComputerName">ex01.contoso.com</S><S N="Name">shadowed by the adapted property</S>
<BA N="SerializationData">AAEAAAD/////</BA></MS></Obj>"""


def test_references_resolve_against_every_object_of_the_message():
    record = _wire.read_message(REFS)
    assert record["SourceTransportServers"] == ["EX01", "EX02"]
    assert record["HomeMtaServerId"] == "EX01"
    assert record["Again"] == "EX02"  # an object first written inside a list
    assert record["Later"] == ["EX02", "EX01", None]  # an unknown RefId reads as nothing, not a crash
    assert record["Loop"] == {"Self": None, "Note": "a\nb\U0001F600"}  # a cycle ends; _xHHHH_ escapes decoded
    assert record["AuthenticationCredential"] == {"username": "relay-user"}  # never a password
    assert record["Table"] == {"a": 1} and record["Level"] == "Verbose" and record["Secret"] is None
    assert record["Guid"] == "0f2c7a3e-1b2c-4d5e-8f90-123456789abc"
    assert record["Ratio"] == 0.5 and record["Ticks"] == 6000000000 and record["When"] == "2022-03-23T18:00:30+01:00"
    assert record["PSComputerName"] == "ex01.contoso.com" and "SerializationData" not in record
    assert record["Name"] == "Adapted"  # an adapted property wins over an extended one of the same name


def test_primitive_output_and_bad_text():
    assert _wire.read_message("<S>hello</S>") == {"value": "hello"}
    assert _wire.read_message("<I32>3</I32>") == {"value": 3}
    assert _wire.read_message("<Nil />") == {}
    with pytest.raises(_wire.WireFormatError, match="not CLIXML"):
        _wire.read_message("<Obj")
    with pytest.raises(_wire.WireFormatError, match="root element is <Obj>, not <Objs>"):
        read_file(REFS)
    with pytest.raises(_wire.WireFormatError, match="not CLIXML this reader understands: invalid literal for int"):
        read_file('<Objs><Obj RefId="0"><Props><I32 N="Port">twenty-five</I32></Props></Obj></Objs>')
    deep = "<Obj><LST>" * 3000 + "</LST></Obj>" * 3000
    with pytest.raises(_wire.WireFormatError, match="nested too deeply"):
        read_file("<Objs>%s</Objs>" % deep)


def test_file_wide_references_across_objects():
    text = """<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
<Obj RefId="0"><TN RefId="0"><T>A</T></TN><Props><Obj N="Ip" RefId="1"><TN RefId="1"><T>System.Net.IPAddress</T></TN>
<ToString>0.0.0.0</ToString></Obj></Props></Obj>
<Obj RefId="2"><TNRef RefId="0" /><Props><Ref N="Ip" RefId="1" /></Props></Obj></Objs>"""
    assert read_file(text) == [{"Ip": "0.0.0.0"}, {"Ip": "0.0.0.0"}]

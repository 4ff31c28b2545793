"""The collection's CLIXML reader (plugins/module_utils/_remoting/wire.py) against pypsrp's deserialiser, on the very
messages the lab sends over HTTP in each wire profile, and on the public Exchange captures.

The reference is pypsrp 0.9.1's generic deserialiser plus ``object_to_dict`` (pypsrp_reference.py), with the one fix it
needs to read Exchange's shape at all: its ``<LST>`` of an unknown object read as a list, so that objects
inside it are registered and a later ``<Ref>`` resolves (plain pypsrp raises KeyError). Blobs aside
(the reader drops ``SerializationData``), both must give the same record for every output object."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from pypsrp_reference import reference_record, to_plain
from send_connector_harness import ROOT, LabProcess

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire

PROFILES = ("exchange", "objects", "strings")
CAPTURES = ("GetSendConnector.xml", "GetSendConnectorConfiguredToRelayToM365.xml")


def without_blobs(value):
    if isinstance(value, dict):
        return {k: without_blobs(v) for k, v in value.items() if k != "SerializationData"}
    if isinstance(value, list):
        return [without_blobs(v) for v in value]
    return value


def reference(message: str) -> dict:
    return without_blobs(reference_record(message))


class Recording(_session.ExchangeSession):
    """The modules' session, keeping the text of every output message it read."""

    def open(self):
        super().open()
        serializer = self._pool._serializer
        reader = serializer.deserialize
        self.messages = []

        def deserialize(element, metadata=None, clear=True):
            if metadata is None and clear and isinstance(element, str):
                self.messages.append(element)
            return reader(element, metadata, clear)

        serializer.deserialize = deserialize


CONNECTORS = [
    ("By name", {"AddressSpaces": ["smtp:*;1", "contoso.com;2"], "SmartHosts": ["relay.contoso.com", "192.168.3.2"],
                 "DNSRoutingEnabled": False, "MaxMessageSize": "20MB", "Comment": "line_x000A_ & <tag> é"}),
    ("By IP", {"AddressSpaces": ["fabrikam.com"], "SmartHosts": ["192.168.3.3"], "DNSRoutingEnabled": False,
               "SourceTransportServers": ["EX01", "EX02"], "TlsAuthLevel": "DomainValidation",
               "TlsDomain": "*.fabrikam.com", "RequireTLS": True, "Fqdn": "mail.contoso.com",
               "TlsCertificateName": "<I>CN=Contoso CA<S>CN=mail.contoso.com", "ErrorPolicies": "DowngradeDnsFailures"}),
    ("Auth", {"AddressSpaces": ["*.example"], "SmartHosts": ["relay.example"], "DNSRoutingEnabled": False,
              "SmartHostAuthMechanism": "BasicAuth", "ProtocolLoggingLevel": "Verbose",
              "AuthenticationCredential": _session.Credential("relay-user", "Relay-Pa55")}),
    ("DNS", {"AddressSpaces": ["*.dns.example;5"], "DNSRoutingEnabled": True, "MaxMessageSize": "unlimited"}),
    ("X400", {"AddressSpaces": ["X400:c=US;a=Fabrikam;P=Contoso;5"], "SmartHosts": ["x400.contoso.com"],
              "DNSRoutingEnabled": False}),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per profile: the output messages and records of the same cmdlets on a fresh lab."""
    result = {}
    for profile in PROFILES:
        lab = LabProcess(str(tmp_path_factory.mktemp("lab-" + profile)), wire=profile)
        ready = lab.start()
        try:
            session = Recording(_session.connection_settings({
                "server": ready["host"], "server_port": ready["port"], "path": ready["path"], "protocol": "http",
                "auth": "basic", "username": ready["username"], "password": ready["password"], "validate_certs": False}))
            session.open()
            try:
                for name, params in CONNECTORS:
                    session.run("New-SendConnector", [("Name", name)] + list(params.items()))
                records = session.run("Get-SendConnector")
                session.run("Get-ExchangeServer")
                session.run("Get-TransportService")
                result[profile] = (list(session.messages), records)
            finally:
                session.close()
        finally:
            lab.stop()
    return result


@pytest.mark.parametrize("profile", PROFILES)
def test_reader_equals_pypsrp_on_every_lab_message(profile, runs):
    messages, records = runs[profile]
    assert len(records) == len(CONNECTORS) and len(messages) >= 2 * len(CONNECTORS) + 2
    if profile == "exchange":  # Exchange's shape: plain pypsrp cannot read it
        from pypsrp.serializer import Serializer

        with pytest.raises(KeyError):
            Serializer().deserialize(messages[0])
    for message in messages:
        assert _wire.read_message(message) == reference(message), message[:300]


def test_every_profile_gives_the_same_settings(runs):
    settings = {profile: {r["Name"]: _options.from_exchange(r) for r in runs[profile][1]} for profile in PROFILES}
    assert settings["exchange"] == settings["objects"] == settings["strings"]
    seen = settings["exchange"]
    assert seen["By name"]["smart_hosts"] == ["relay.contoso.com", "192.168.3.2"]
    assert seen["By name"]["address_spaces"] == ["SMTP:*;1", "SMTP:contoso.com;2"]
    assert seen["By name"]["max_message_size"] == 20 * 1024 * 1024 and seen["By name"]["source_ip_address"] == "0.0.0.0"
    assert seen["By name"]["comment"] == "line_x000A_ & <tag> é"
    assert seen["By IP"]["source_transport_servers"] == ["EX01", "EX02"]
    assert seen["By IP"]["tls_domain"] == "*.fabrikam.com" and seen["By IP"]["error_policies"] == ["DowngradeDnsFailures"]
    assert seen["Auth"]["authentication_credential"] == {"username": "relay-user"}
    assert seen["DNS"]["max_message_size"] == "unlimited"


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("prefix", ["", "Deserialized."])
def test_reader_equals_pypsrp_on_the_captures(name, prefix):
    root = ET.parse(os.path.join(ROOT, "tests", "data", "exchange", name)).getroot()
    _wire._strip_namespace(root)
    for t in root.iter("T"):
        t.text = prefix + (t.text or "")
    [obj] = root
    message = ET.tostring(obj, encoding="unicode")
    assert _wire.read_message(message) == reference(message)


def test_reader_equals_pypsrp_on_the_connector_with_references():
    """Exchange value types, MultiValuedProperty lists and <Ref> inside a list (the unit tests' connector)."""
    with open(os.path.join(ROOT, "tests", "data", "wire", "connector_with_refs.xml"), encoding="utf-8") as handle:
        message = handle.read()
    assert _wire.read_message(message) == reference(message)


def test_the_reference_flattens_pypsrps_raw_lists():
    """The reference's own rule: pypsrp leaves an unknown <LST> as raw text, which it reads as a list."""
    assert to_plain(["a", 1, None]) == ["a", 1, None]
    assert to_plain({"k": "v"}) == {"k": "v"}
    assert to_plain("<LST><S>a</S><I32>2</I32><Nil /></LST>") == ["a", 2, None]

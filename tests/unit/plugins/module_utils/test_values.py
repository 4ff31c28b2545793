"""Exchange values from the wire to Python and back (pure logic)."""

from __future__ import annotations

import os
import uuid

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as v


@pytest.mark.parametrize(
    "text, expected",
    [
        ("35 MB (36,700,160 bytes)", 36700160),
        ("36 MB (37,748,736 bytes)", 37748736),
        ("152.1 MB (159,449,088 bytes)", 159449088),
        ("10 MB (10.485.760 bytes)", 10485760),  # another culture's separators
        ("Unlimited", "unlimited"),
        ("unlimited", "unlimited"),
        ("35MB", 36700160),
        ("35 mb", 36700160),
        ("1.5KB", 1536),
        ("1000", 1000),
        (2048, 2048),
        ("", None),
        (None, None),
    ],
)
def test_parse_size(text, expected):
    assert v.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["35 parsecs", "1.3B", "MB", True])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        v.parse_size(bad)


def test_canonical_size_rounds_up_to_kb():
    assert v.canonical_size(1000) == 1024
    assert v.canonical_size("35 MB (36,700,160 bytes)") == 36700160
    assert v.canonical_size("unlimited") == "unlimited"


def test_canonical_size_keeps_out_of_range_values_and_the_maximum():
    assert v.canonical_size(-5) == -5  # not rounded up to 0: the range check must see it
    assert v.canonical_size(2147483647) == 2147483647  # Exchange keeps the maximum, it does not round past it
    assert v.canonical_size(2147483000) == 2147483647
    assert v.canonical_size("2GB") == 2147483648


@pytest.mark.parametrize("size, text", [(36700160, "35MB"), (1536 * 1024, "1536KB"), (1536, "1536B"), (1000, "1000B"), (2 ** 30, "1GB"),
                                        ("unlimited", "Unlimited"), (None, None)])
def test_format_size(size, text):
    assert v.format_size(size) == text


@pytest.mark.parametrize(
    "text, seconds",
    [("00:10:00", 600), ("1.00:00:00", 86400), ("2.03:04:05", 183845), ("00:00:01", 1), (600, 600), ("90", 90),
     ("-00:00:05", -5), ("00:05:00.0000000", 300)],
)
def test_parse_timespan(text, seconds):
    assert v.parse_timespan(text) == seconds


@pytest.mark.parametrize("bad", ["10 minutes", "00:61:00", "25:00:00", "00:00:01.5", False])
def test_parse_timespan_rejects(bad):
    with pytest.raises(ValueError):
        v.parse_timespan(bad)


@pytest.mark.parametrize("seconds, text", [(600, "00:10:00"), (86400, "1.00:00:00"), (183845, "2.03:04:05")])
def test_format_timespan(seconds, text):
    assert v.format_timespan(seconds) == text


@pytest.mark.parametrize(
    "raw, canon",
    [("[192.168.3.2]", "192.168.3.2"), ("192.168.3.2", "192.168.3.2"), ("Relay.Contoso.NET", "relay.contoso.net"),
     ("relay.contoso.net.", "relay.contoso.net"), ("[2001:DB8::1]", "2001:db8::1"), ("smarthost", "smarthost")],
)
def test_smart_host(raw, canon):
    assert v.canonical_smart_host(raw) == canon


@pytest.mark.parametrize("bad", ["bad host!", "[relay.contoso.com]", "", "192.168.3.2:25", "-x.com"])
def test_smart_host_rejects(bad):
    with pytest.raises(ValueError):
        v.canonical_smart_host(bad)


@pytest.mark.parametrize(
    "raw, canon",
    [
        ("*", "SMTP:*;1"),
        ("contoso.com", "SMTP:contoso.com;1"),
        ("Contoso.COM;2", "SMTP:contoso.com;2"),
        ("smtp:*.contoso.com;1", "SMTP:*.contoso.com;1"),
        ("SMTP:contoso.com", "SMTP:contoso.com;1"),
        ("SMTP:--;1", "SMTP:--;1"),
        ({"domain": "fabrikam.com", "cost": 5}, "SMTP:fabrikam.com;5"),
        ({"address": "fabrikam.com", "type": "smtp"}, "SMTP:fabrikam.com;1"),
        ("X400:c=us;a=adatum;p=MyOrg;o=MySite;10", "X400:c=us;a=adatum;p=MyOrg;o=MySite;10"),
        ({"type": "X400", "domain": "o=MySite;p=MyOrg", "cost": 3}, "X400:o=MySite;p=MyOrg;3"),
    ],
)
def test_address_space(raw, canon):
    assert v.canonical_address_space(raw) == canon


@pytest.mark.parametrize(
    "bad, reason",
    [("*contoso.com", "whole first label"), ("contoso.com;0", "outside 1-100"), ("contoso.com;101", "outside 1-100"),
     ("X400:o=a;p=b", "needs an explicit cost"), ("X400:o=a,p=b;1", "RFC 1685"), ("*.", "not a valid SMTP"),
     ("contoso.com\n", "line feed"), ("contoso.com\r", "carriage return"),
     ({"cost": 1}, "domain"), ({"domain": "a.com", "colour": "red"}, "unknown"), ("", "empty"), ("a..com", "not a valid SMTP")],
)
def test_address_space_rejects(bad, reason):
    with pytest.raises(ValueError, match=reason):
        v.parse_address_space(bad)


def test_certificate_name():
    assert v.canonical_certificate_name("<I>CN=Contoso CA,O=Contoso<S>CN=mail.contoso.com") == (
        "<I>CN=Contoso CA, O=Contoso<S>CN=mail.contoso.com"
    )
    assert v.canonical_certificate_name("") is None
    with pytest.raises(ValueError, match="<I>issuer<S>subject"):
        v.canonical_certificate_name("CN=mail.contoso.com")


def test_enum_and_flags():
    assert v.canonical_enum("basicauthrequiretls", ["None", "BasicAuthRequireTLS"]) == "BasicAuthRequireTLS"
    with pytest.raises(ValueError):
        v.canonical_enum("Kerberos", ["None"])
    choices = ["Default", "DowngradeDnsFailures", "DowngradeCustomFailures"]
    assert v.canonical_flags("DowngradeCustomFailures, downgradednsfailures", choices, "Default") == [
        "DowngradeDnsFailures", "DowngradeCustomFailures"]
    assert v.canonical_flags(["Default", "DowngradeDnsFailures"], choices, "Default") == ["DowngradeDnsFailures"]
    assert v.canonical_flags(None, choices, "Default") == ["Default"]


def test_server_names():
    assert v.canonical_server("ex01.contoso.com") == "EX01"
    assert v.canonical_server("CONTOSO\\ex02") == "EX02"
    with pytest.raises(ValueError):
        v.canonical_server("10.0.0.1")


# ---- wire shapes ------------------------------------------------------------------------------
# A connector as Exchange serialises it: Exchange value types with their ToString, MultiValuedProperty lists,
# and <Ref> inside a list (tests/integration/send_connector_info/test_wire_reader.py checks that pypsrp's generic
# path, flattened, reads it the same).
with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "wire", "connector_with_refs.xml"),
          encoding="utf-8") as _handle:
    RAW_CONNECTOR = _handle.read()


def test_reader_reads_the_connector_shape():
    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.wire import read_message

    props = read_message(RAW_CONNECTOR)
    assert props["AddressSpaces"] == ["SMTP:*;1", "SMTP:contoso.com;2"]
    assert props["SmartHosts"] == ["[192.168.3.2]", "relay.contoso.com"]
    assert props["MaxMessageSize"] == "35 MB (36,700,160 bytes)"
    assert props["ConnectionInactivityTimeOut"] == "00:10:00"
    assert props["SmartHostAuthMechanism"] == "None"
    assert props["Fqdn"] == "Mail.Contoso.com"
    assert props["SourceTransportServers"] == ["EX01"]
    assert props["ErrorPolicies"] == "DowngradeDnsFailures, DowngradeCustomFailures"
    assert props["Empty"] == []
    assert props["HomeMtaServerId"] == "EX02"
    assert props["AlsoServers"] == ["EX02", "EX01"]  # <Ref> inside a raw list resolved by RefId
    assert props["Guid"] == str(uuid.UUID("0f2c7a3e-1b2c-4d5e-8f90-123456789abc"))
    assert props["DNSRoutingEnabled"] is False and props["Port"] == 25 and props["TlsAuthLevel"] is None


# A type first seen inside a MultiValuedProperty and referenced afterwards (<TNRef>, <Ref>): plain pypsrp 0.9.1
# raises KeyError on the TNRef; the collection's reader (_wire) resolves it.
TNREF_AFTER_LIST = """<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig</T>
<T>Deserialized.System.Object</T></TN><Props>
<Obj N="SourceTransportServers" RefId="1"><TN RefId="1">
<T>Deserialized.Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId]]</T>
<T>Deserialized.System.Object</T></TN><LST>
<Obj RefId="2"><TN RefId="2"><T>Deserialized.Microsoft.Exchange.Data.Directory.ADObjectId</T><T>Deserialized.System.Object</T></TN>
<ToString>EX01</ToString><Props><S N="Name">EX01</S></Props></Obj></LST></Obj>
<Obj N="HomeMtaServerId" RefId="3"><TNRef RefId="2" /><ToString>EX01</ToString></Obj>
<Ref N="Again" RefId="2" />
</Props></Obj>"""


def test_lists_are_read_so_later_references_resolve():
    pytest.importorskip("pypsrp")
    from pypsrp.serializer import Serializer

    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.wire import read_message

    with pytest.raises(KeyError):
        Serializer().deserialize(TNREF_AFTER_LIST)  # the pypsrp 0.9.1 behaviour the collection's reader avoids
    props = read_message(TNREF_AFTER_LIST)
    assert props["SourceTransportServers"] == ["EX01"]
    assert props["HomeMtaServerId"] == "EX01" and props["Again"] == "EX01"
    props = read_message(RAW_CONNECTOR)
    assert props["SmartHosts"] == ["[192.168.3.2]", "relay.contoso.com"] and props["AlsoServers"] == ["EX02", "EX01"]
    assert props["Empty"] == [] and props["AddressSpaces"] == ["SMTP:*;1", "SMTP:contoso.com;2"]


# Real Exchange returns AuthenticationCredential as a (deserialised) PSCredential and TlsCertificateName as an
# SmtpX509Identifier object whose ToString is <I>issuer<S>subject.
CREDENTIAL_AND_CERT = """<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig</T>
<T>Deserialized.System.Object</T></TN><Props>
<Obj N="AuthenticationCredential" RefId="1"><TN RefId="1"><T>Deserialized.System.Management.Automation.PSCredential</T>
<T>Deserialized.System.Object</T></TN><ToString>System.Management.Automation.PSCredential</ToString>
<Props><S N="UserName">relay-user</S><SS N="Password">AAECAwQFBgcICQoLDA0ODw==</SS></Props></Obj>
<Obj N="TlsCertificateName" RefId="2"><TN RefId="2"><T>Deserialized.Microsoft.Exchange.Data.SmtpX509Identifier</T>
<T>Deserialized.System.Object</T></TN><ToString>&lt;I&gt;CN=Contoso CA, O=Contoso&lt;S&gt;CN=mail.contoso.com</ToString>
<Props><S N="CertificateIssuer">CN=Contoso CA, O=Contoso</S><S N="CertificateSubject">CN=mail.contoso.com</S></Props></Obj>
</Props></Obj>"""


def test_credential_shows_only_the_user_name_and_certificate_name_reads_back():
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.wire import read_message

    props = read_message(CREDENTIAL_AND_CERT)
    assert props["AuthenticationCredential"] == {"username": "relay-user"}
    state = _options.from_exchange(props)
    assert state["authentication_credential"] == {"username": "relay-user"}
    assert state["tls_certificate_name"] == "<I>CN=Contoso CA, O=Contoso<S>CN=mail.contoso.com"
    assert _options.BY_NAME["tls_certificate_name"].same(
        state["tls_certificate_name"], v.canonical_certificate_name("<I>cn=Contoso CA,O=Contoso<S>CN=mail.contoso.com"))

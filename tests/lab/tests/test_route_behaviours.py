"""Exchange behaviours of issue 16 (sections 3-4) in the lab, the independent oracle.

* switching a connector to DNS routing clears SmartHosts, SmartHostAuthMechanism and the credential;
* New-SendConnector without -SourceTransportServers uses the server that RUNS the cmdlet
  (``cmdlet_server``, behind remote-PowerShell proxying not necessarily the one connected to);
* -TlsDomain is refused unless TlsAuthLevel is DomainValidation, with Exchange's sentence;
* TlsCertificateName is looked up on the FIRST source server only;
* task errors arrive with the ``[Server=...,RequestId=...,TimeStamp=...] [FailureCategory=Cmdlet-...]`` prefix;
* Get-ExchangeCertificate -Server, Get-TransportConfig, Get-TransportService, Get-ExchangeServer (roles, site);
* the transport: a TLS send whose local certificate is missing or unusable fails with Exchange's
  ``TLS negotiation failed with error UnknownCredentials`` and a queue that says ``421 4.4.1 Connection timed out``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import smtplib
import time
import types
import uuid

import pytest
from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell

from exchange_lab.config import LabConfig
from exchange_lab.mail.listener import ReceiveConnector
from exchange_lab.mail.logfiles import read_records
from exchange_lab.mail.service import MailTransport
from exchange_lab.org.testing import OrgHarness
from exchange_lab.smarthost import SmartHost, SmartHostConfig

NOW = dt.datetime.now(dt.timezone.utc)
CA = "CN=Contoso Issuing CA, O=Contoso, C=US"
SUBJECT = "CN=mail.contoso.com, O=Contoso, C=US"
CERT_NAME = f"<I>{CA}<S>{SUBJECT}"


def cert(thumb: str, days_left: float = 365, **kw):
    return {"thumbprint": thumb, "issuer": CA, "subject": SUBJECT, "services": ["IIS", "SMTP"],
            "not_before": (NOW - dt.timedelta(days=30)).isoformat(), "not_after": (NOW + dt.timedelta(days=days_left)).isoformat(),
            "has_private_key": True, "status": "Valid", **kw}


CONFIG = {
    "local_server": "EX01",
    "cmdlet_server": "EX02",
    "servers": [
        {"name": "EX01", "certificates": []},
        {"name": "EX02", "certificates": [cert("AA11"), cert("BB22", days_left=20)]},
        {"name": "EX03", "site": "Branch-Site"},
        {"name": "CAS01", "roles": ["ClientAccess"], "max_per_domain_outbound_connections": 5},
    ],
    "transport_config": {"max_send_size": 26214400},
}
SH = {"AddressSpaces": ["*"], "DNSRoutingEnabled": False, "SmartHosts": ["relay.contoso.com"]}
PREFIX = re.compile(
    r"^\[Server=(?P<server>[^,\]]+),RequestId=[0-9a-f-]{36},TimeStamp=[^\]]+\] "
    r"\[FailureCategory=Cmdlet-(?P<category>\w+)\] [0-9A-F]{8},Microsoft\.Exchange\.[\w.]+$"
)


@pytest.fixture
def org(tmp_path):
    return OrgHarness(str(tmp_path / "org"), LabConfig.from_dict(CONFIG))


def cred(user="relay", password="Route-Secret-1"):
    return types.SimpleNamespace(UserName=user, Password=password)


# --- DNS routing switch ---------------------------------------------------------------------------


def test_switch_to_dns_clears_smart_hosts_auth_and_credential(org):
    made = org.run("New-SendConnector", Name="SH", SmartHostAuthMechanism="BasicAuth", AuthenticationCredential=cred(), **SH)
    assert made.errors == [] and org.connector("SH")["AuthenticationCredential"]["UserName"] == "relay"
    switched = org.run("Set-SendConnector", "SH", DNSRoutingEnabled=True)
    assert switched.errors == [] and switched.failure is None
    after = org.connector("SH")
    assert (after["DNSRoutingEnabled"], after["SmartHosts"], after["SmartHostAuthMechanism"], after["AuthenticationCredential"]) == (
        True, [], "None", None)
    # switching back: the credential is gone, so BasicAuth needs it again
    back = org.run("Set-SendConnector", "SH", DNSRoutingEnabled=False, SmartHosts=["relay.contoso.com"], SmartHostAuthMechanism="BasicAuth")
    assert len(back.errors) == 1 and "requires AuthenticationCredential" in back.errors[0].message
    assert org.connector("SH")["DNSRoutingEnabled"] is True
    again = org.run("Set-SendConnector", "SH", DNSRoutingEnabled=False, SmartHosts=["relay.contoso.com"],
                    SmartHostAuthMechanism="BasicAuth", AuthenticationCredential=cred())
    assert again.errors == [] and org.connector("SH")["AuthenticationCredential"]["UserName"] == "relay"


def test_switch_to_dns_with_smart_hosts_in_the_same_call_is_still_refused(org):
    org.run("New-SendConnector", Name="SH", **SH)
    refused = org.run("Set-SendConnector", "SH", DNSRoutingEnabled=True, SmartHosts=["relay.contoso.com"])
    assert len(refused.errors) == 1 and "SmartHosts" in refused.errors[0].message
    assert org.connector("SH")["SmartHosts"] == ["relay.contoso.com"]


# --- the server that runs the cmdlet -----------------------------------------------------------


def test_new_without_source_servers_uses_the_server_that_runs_the_cmdlet(org):
    assert org.config.local_server == "EX01" and org.config.cmdlet_server == "EX02"
    made = org.run("New-SendConnector", Name="Default source", AddressSpaces=["contoso.org"])
    assert made.errors == []
    assert org.connector("Default source")["SourceTransportServers"] == ["EX02"]
    named = org.run("New-SendConnector", Name="Named source", AddressSpaces=["contoso.net"], SourceTransportServers=["EX01"])
    assert named.errors == [] and org.connector("Named source")["SourceTransportServers"] == ["EX01"]


def test_without_cmdlet_server_the_connected_server_runs_it(tmp_path):
    harness = OrgHarness(str(tmp_path / "plain"), LabConfig())
    harness.run("New-SendConnector", Name="Plain", AddressSpaces=["*"])
    assert harness.connector("Plain")["SourceTransportServers"] == ["EX01"]


# --- TlsDomain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [None, "EncryptionOnly", "CertificateValidation"])
def test_tls_domain_needs_domain_validation(org, level):
    params = {"AddressSpaces": ["*"], "RequireTLS": True, "TlsDomain": "contoso.com"}
    if level:
        params["TlsAuthLevel"] = level
    result = org.run("New-SendConnector", Name="TLS", **params)
    assert [e.message for e in result.errors] == [
        "The TLSDomain parameter can only be set if the TLSAuthLevel parameter is set to DomainValidation."]
    assert org.connector("TLS") is None


def test_tls_domain_with_domain_validation_is_stored(org):
    result = org.run("New-SendConnector", Name="TLS", AddressSpaces=["*"], RequireTLS=True, TlsAuthLevel="DomainValidation",
                     TlsDomain="contoso.com")
    assert result.errors == [] and org.connector("TLS")["TlsDomain"] == "contoso.com"
    lowered = org.run("Set-SendConnector", "TLS", TlsAuthLevel="EncryptionOnly")  # would leave TlsDomain without DV
    assert "TLSDomain parameter can only be set" in lowered.errors[0].message


# --- TlsCertificateName on the first source server ------------------------------------------------


def test_certificate_is_checked_on_the_first_source_server_only(org):
    # EX02 has it, EX01 (an empty store) does not: accepted when EX02 comes first...
    first_has = org.run("New-SendConnector", Name="Cert A", AddressSpaces=["a.example"], TlsCertificateName=CERT_NAME,
                        SourceTransportServers=["EX02", "EX01"])
    assert first_has.errors == []
    # ...refused when EX01 comes first, naming EX01
    first_lacks = org.run("New-SendConnector", Name="Cert B", AddressSpaces=["b.example"], TlsCertificateName=CERT_NAME,
                          SourceTransportServers=["EX01", "EX02"])
    assert len(first_lacks.errors) == 1
    assert "wasn't found in the certificate store of server EX01" in first_lacks.errors[0].message
    assert org.connector("Cert B") is None
    # and without source servers it is the server that runs the cmdlet (EX02) that counts
    default = org.run("New-SendConnector", Name="Cert C", AddressSpaces=["c.example"], TlsCertificateName=CERT_NAME)
    assert default.errors == []


def test_a_server_whose_store_is_not_modelled_is_not_checked(org):
    result = org.run("New-SendConnector", Name="Cert D", AddressSpaces=["d.example"], TlsCertificateName="<I>CN=X<S>CN=Y",
                     SourceTransportServers=["EX03"])
    assert result.errors == []


# --- error prefixes -----------------------------------------------------------------------------


def test_task_errors_carry_the_server_that_ran_the_cmdlet(org):
    result = org.run("Set-SendConnector", "No such connector", Port=26)
    [error] = result.errors
    match = PREFIX.match(error.fully_qualified_error_id)
    assert match, error.fully_qualified_error_id
    assert match["server"] == "EX02" and match["category"] == "ManagementObjectNotFoundException"
    assert error.message.startswith("The operation couldn't be performed because object 'No such connector'")


# --- the route cmdlets over the real wire ----------------------------------------------------------


@pytest.fixture(scope="module")
def route_lab(tmp_path_factory):
    from labfixture import LabProcess

    proc = LabProcess(str(tmp_path_factory.mktemp("route-lab")), config=CONFIG)
    proc.start()
    yield proc
    proc.stop()


def run(pool, name, **params):
    ps = PowerShell(pool)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    return ps


def props(obj):
    return obj.adapted_properties


def test_route_cmdlets_over_the_wire(route_lab):
    with route_lab.pool(encryption="never") as pool:
        certs = run(pool, "Get-ExchangeCertificate", Server="EX02")
        assert certs.streams.error == []
        assert [props(c)["Thumbprint"] for c in certs.output] == ["AA11", "BB22"]
        first = props(certs.output[0])
        assert first["Issuer"] == CA and first["Subject"] == SUBJECT and first["HasPrivateKey"] is True
        assert str(first["Services"]) == "IIS, SMTP" and str(first["Status"]) == "Valid"
        assert dt.datetime.fromisoformat(str(first["NotAfter"]).replace("Z", "+00:00")) > NOW
        assert "Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate" in certs.output[0].types
        assert run(pool, "Get-ExchangeCertificate", Server="EX03").output == []  # store not modelled
        missing = run(pool, "Get-ExchangeCertificate", Server="EX99")
        assert PREFIX.match(missing.streams.error[0].fq_error)
        [config] = run(pool, "Get-TransportConfig").output
        assert str(props(config)["MaxSendSize"]) == "25 MB (26,214,400 bytes)"
        services = {props(s)["Name"]: props(s)["MaxPerDomainOutboundConnections"] for s in run(pool, "Get-TransportService").output}
        assert services["CAS01"] == 5 and services["EX01"] == 20
        servers = {props(s)["Name"]: s for s in run(pool, "Get-ExchangeServer").output}
        assert props(servers["CAS01"])["IsMailboxServer"] is False and props(servers["EX01"])["IsMailboxServer"] is True
        assert str(props(servers["EX03"])["Site"]).endswith("/Sites/Branch-Site")
        # -SourceTransportServers left out: the server that ran New-SendConnector (EX02), not EX01
        made = run(pool, "New-SendConnector", Name="Proxied", AddressSpaces=["proxied.example"])
        assert made.streams.error == []
        with open(os.path.join(route_lab.state_dir, "org.json"), encoding="utf-8") as handle:
            stored = {c["Name"]: c for c in json.load(handle)["connectors"]}
        assert stored["Proxied"]["SourceTransportServers"] == ["EX02"]


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"servers\[0\]\.certificates\[0\]\.thumbprint must be hexadecimal"):
        LabConfig.from_dict({"servers": [{"name": "EX01", "certificates": [cert("not hex")]}]})
    with pytest.raises(ValueError, match=r"servers\[0\]\.certificates\[0\]\.services: unknown service"):
        LabConfig.from_dict({"servers": [{"name": "EX01", "certificates": [cert("AA", services=["SMTPX"])]}]})
    with pytest.raises(ValueError, match=r"unknown key\(s\) servers\[0\]\.certificates\[0\]\.colour"):
        LabConfig.from_dict({"servers": [{"name": "EX01", "certificates": [cert("AA", colour="red")]}]})
    with pytest.raises(ValueError, match="cmdlet_server 'EX09' is not one of the servers"):
        LabConfig.from_dict({"cmdlet_server": "EX09"})
    with pytest.raises(ValueError, match="transport_config.max_send_size"):
        LabConfig.from_dict({"transport_config": {"max_send_size": 0}})


# --- the transport with a missing or unusable local certificate -------------------------------------

RELAY = "relay.lab.test"


class Transport:
    def __init__(self, state: str, certificates: list[dict] | None) -> None:
        self.connectors: list[dict] = []
        config = LabConfig.from_dict({"hosts": {RELAY: "127.0.0.1"},
                                      "mail": {"retry_interval": 30, "connect_timeout": 5},
                                      "servers": [{"name": "EX01", "certificates": certificates}]})
        self.service = MailTransport(lambda: [dict(c) for c in self.connectors], config, state)
        self.listener = ReceiveConnector(self.service, "127.0.0.1", 0)
        self.port = self.listener.start()
        self.service.start()

    def stop(self) -> None:
        self.listener.stop()
        self.service.stop()

    def submit(self) -> str:
        message_id = f"<{uuid.uuid4()}@contoso.com>"
        data = f"From: chris@contoso.com\r\nTo: pat@fabrikam.com\r\nSubject: t\r\nMessage-ID: {message_id}\r\n\r\nHi.\r\n".encode()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.sendmail("chris@contoso.com", ["pat@fabrikam.com"], data)
        return message_id

    def wait(self, message_id: str, events: tuple[str, ...], timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = [r for r in self.service.tracking.records("EX01") if r["MessageId"] == message_id and r["EventId"] in events]
            if rows:
                return rows
            time.sleep(0.05)
        raise AssertionError(f"no {events} for {message_id}")


@pytest.fixture
def transport(tmp_path):
    made: list[Transport] = []
    hosts: list[SmartHost] = []

    def make(certificates):
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / f"host{len(hosts)}"), starttls=True, cert_names=[RELAY]))
        host.start()
        hosts.append(host)
        lab = Transport(str(tmp_path / f"lab{len(made)}"), certificates)
        made.append(lab)
        lab.connectors.append({
            "Name": "Smart host", "Guid": str(uuid.uuid4()), "AddressSpaces": [{"Type": "SMTP", "Address": "*", "Cost": 1}],
            "SmartHosts": [RELAY], "DNSRoutingEnabled": False, "Port": host.ready["port"], "RequireTLS": True,
            "TlsAuthLevel": "EncryptionOnly", "TlsCertificateName": CERT_NAME, "SmartHostAuthMechanism": "None",
            "ProtocolLoggingLevel": "Verbose", "Enabled": True, "SourceTransportServers": ["EX01"],
            "ConnectionInactivityTimeOut": 600, "MaxMessageSize": 36700160,
        })
        return lab

    yield make
    for lab in made:
        lab.stop()
    for host in hosts:
        host.stop()


@pytest.mark.parametrize("certificates, problem", [
    ([], "no certificate"),
    ([cert("CC33", days_left=-1)], "validity"),
    ([cert("DD44", has_private_key=False)], "private key"),
    ([cert("EE55", status="Revoked")], "Revoked"),
], ids=["missing", "expired", "no-private-key", "revoked"])
def test_tls_send_with_an_unusable_local_certificate_fails_like_exchange(transport, certificates, problem):
    lab = transport(certificates)
    message_id = lab.submit()
    [defer] = lab.wait(message_id, ("DEFER", "FAIL"))
    with lab.service.store.lock:
        queue = next(q for q in lab.service.store.queues.values() if q.connector_name == "Smart host")
        last_error = queue.last_error
    assert "{LED=451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection timed out}" in last_error
    log = [r.get("context", "") for r in read_records(lab.service.protocol_logs.folder("EX01"), "SEND")]
    assert "TLS negotiation failed with error UnknownCredentials" in log
    assert any(problem in line for line in log)
    assert defer["EventId"] == "DEFER"


def test_tls_send_with_a_good_local_certificate_is_delivered(transport):
    lab = transport([cert("CC33", days_left=-1), cert("FF66")])  # a renewal: the longest-lived one is used
    message_id = lab.submit()
    lab.wait(message_id, ("SEND", "SENDEXTERNAL"))

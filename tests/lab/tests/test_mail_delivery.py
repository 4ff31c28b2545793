"""The lab's transport against real test smart hosts over SMTP on loopback.

The transport (receive connector, router, queues, SMTP client, logs) runs in this process with
a connector list the test controls; messages go in through smtplib and out to H4's SmartHost.
The over-the-wire path through PowerShell remoting is in test_mail_e2e.py.
"""

from __future__ import annotations

import copy
import os
import smtplib
import socket
import time
import uuid

import pytest

from exchange_lab.config import LabConfig
from exchange_lab.mail.listener import ReceiveConnector
from exchange_lab.mail.logfiles import read_records
from exchange_lab.mail.service import MailTransport
from exchange_lab.smarthost import SmartHost, SmartHostConfig

RELAY = "relay.lab.test"
PASSWORD = "S3cret-relay-pw"


def smart_host_connector(name: str, port: int, **kw):
    base = {
        "Name": name, "Guid": str(uuid.uuid4()),
        "AddressSpaces": [{"Type": "SMTP", "Address": "*", "Cost": 1}],
        "SmartHosts": [RELAY], "DNSRoutingEnabled": False, "Port": port, "Fqdn": None, "ForceHELO": False,
        "IgnoreSTARTTLS": False, "RequireTLS": False, "TlsAuthLevel": None, "TlsDomain": None,
        "SmartHostAuthMechanism": "None", "AuthenticationCredential": None, "MaxMessageSize": 36700160,
        "ProtocolLoggingLevel": "Verbose", "Enabled": True, "IsScopedConnector": False,
        "SourceTransportServers": ["EX01"], "ConnectionInactivityTimeOut": 600,
    }
    base.update(kw)
    return base


class Lab:
    """An in-process transport + receive connector with a mutable connector list."""

    def __init__(self, state: str, ca_bundle: str | None = None, hosts: dict[str, str] | None = None, **mail) -> None:
        self.connectors: list[dict] = []
        mail_cfg = {"retry_interval": 0.3, "connect_timeout": 5, **mail}
        if ca_bundle:
            mail_cfg["ca_bundle"] = ca_bundle
        config = LabConfig.from_dict({"hosts": hosts if hosts is not None else {RELAY: "127.0.0.1"}, "mail": mail_cfg})
        self.transport = MailTransport(lambda: [dict(c) for c in self.connectors], config, state)
        self.listener = ReceiveConnector(self.transport, "127.0.0.1", 0)
        self.port = self.listener.start()
        self.transport.start()

    def stop(self) -> None:
        self.listener.stop()
        self.transport.stop()

    def submit(self, sender="chris@contoso.com", to=("pat@fabrikam.com",), subject="Test", body="Hello.\r\n", extra=b""):
        message_id = f"<{uuid.uuid4()}@contoso.com>"
        data = (
            f"From: {sender}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\n{body}"
        ).encode() + extra
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.sendmail(sender, list(to), data)
        return message_id

    def events(self, server="EX01", message_id=None, event_id=None):
        rows = self.transport.tracking.records(server)
        if message_id:
            rows = [r for r in rows if r["MessageId"] == message_id]
        if event_id:
            rows = [r for r in rows if r["EventId"] == event_id]
        return rows

    def wait_event(self, event_id, message_id, server="EX01", timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.events(server, message_id, event_id)
            if rows:
                return rows
            time.sleep(0.05)
        raise AssertionError(f"no {event_id} for {message_id} on {server}; events: {[r['EventId'] for r in self.events(server, message_id)]}")

    def queue(self, connector_name):
        with self.transport.store.lock:
            return next(q for q in self.transport.store.queues.values() if q.connector_name == connector_name)

    def settled_queue(self, connector_name, timeout=15.0):
        """The queue once its delivery run has finished. A SEND, DEFER or FAIL event is written during the
        run; the queue's status, LastError and message list are updated when the run ends, a moment later."""
        deadline = time.monotonic() + timeout
        while True:
            with self.transport.store.lock:
                queue = self.queue(connector_name)
                if not queue.active:
                    return copy.deepcopy(queue)
            if time.monotonic() >= deadline:
                raise AssertionError(f"queue {connector_name!r} still delivering after {timeout} s")
            time.sleep(0.05)

    def protocol_log(self, server="EX01"):
        return list(read_records(self.transport.protocol_logs.folder(server), "SEND"))


@pytest.fixture
def make_lab(tmp_path):
    labs = []

    def make(**kw):
        lab = Lab(str(tmp_path / f"lab{len(labs)}"), **kw)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


@pytest.fixture
def make_host(tmp_path):
    hosts = []

    def make(**kw):
        if kw.get("starttls") or kw.get("implicit_tls"):
            kw.setdefault("cert_names", [RELAY])
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / f"host{len(hosts)}"), **kw))
        host.start()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()


def test_basic_auth_require_tls_delivers_and_logs(make_lab, make_host):
    host = make_host(starttls=True, auth=["LOGIN"], users={"relay": PASSWORD}, auth_require_tls=True)
    lab = make_lab(ca_bundle=host.ready["ca_cert"])
    lab.connectors.append(smart_host_connector(
        "Smart host to Internet", host.ready["port"], SmartHostAuthMechanism="BasicAuthRequireTLS",
        AuthenticationCredential={"UserName": "relay", "Password": PASSWORD}, RequireTLS=True,
        TlsAuthLevel="DomainValidation", TlsDomain=RELAY, Fqdn="mail.contoso.com",
    ))
    message_id = lab.submit(subject="Through the smart host")
    received = host.wait_for_messages(1)
    assert [m.message_id for m in received] == [message_id]
    assert received[0].tls and received[0].auth_user == "relay" and received[0].auth_mechanism == "LOGIN"
    assert received[0].helo == "mail.contoso.com"

    [receive] = lab.wait_event("RECEIVE", message_id)
    assert receive["Source"] == "SMTP" and receive["Sender"] == "chris@contoso.com"
    [send] = lab.wait_event("SEND", message_id)
    assert send["ConnectorId"] == "Smart host to Internet"
    assert send["ServerHostname"] == RELAY and send["ServerIp"] == "127.0.0.1"
    assert send["RecipientStatus"][0].startswith("250 2.6.0")
    assert send["Recipients"] == ["pat@fabrikam.com"] and send["MessageSubject"] == "Through the smart host"

    lines = [r for r in lab.protocol_log() if r["session-id"] == send["SourceContext"]]
    dialogue = [(r["event"], r["data"]) for r in sorted(lines, key=lambda r: int(r["sequence-number"]))]
    sent = [d for e, d in dialogue if e == ">"]
    assert sent[:2] == ["EHLO mail.contoso.com", "STARTTLS"]
    assert "AUTH LOGIN" in sent and sent.index("AUTH LOGIN") > sent.index("STARTTLS")
    assert sent[sent.index("AUTH LOGIN") + 1: sent.index("AUTH LOGIN") + 3] == ["****", "****"]
    assert all(r["connector-id"] == "Smart host to Internet" for r in lines)
    assert dialogue[0] == ("*", "") and dialogue[1][0] == "+" and dialogue[-1][0] == "-"
    log_text = open(lab.transport.protocol_logs.writer("EX01")._path, encoding="utf-8").read()
    assert log_text.startswith("#Software: Microsoft Exchange Server")
    assert PASSWORD not in log_text and "cmVsYXk" not in log_text  # neither the password nor base64("relay")
    assert lab.settled_queue("Smart host to Internet").messages == []


def test_plain_connector_without_tls_or_auth_and_protocol_logging_off(make_lab, make_host):
    host = make_host(starttls=True)
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Plain", host.ready["port"], IgnoreSTARTTLS=True, ForceHELO=True,
                                               ProtocolLoggingLevel="None"))
    message_id = lab.submit()
    [msg] = host.wait_for_messages(1)
    assert not msg.tls and msg.helo == "EX01.contoso.com"
    lab.wait_event("SEND", message_id)
    assert lab.protocol_log() == []


def test_wrong_password_defers_then_recovers(make_lab, make_host):
    host = make_host(starttls=True, auth=["LOGIN"], users={"relay": PASSWORD})
    lab = make_lab()
    lab.connectors.append(smart_host_connector(
        "Auth", host.ready["port"], SmartHostAuthMechanism="BasicAuth",
        AuthenticationCredential={"UserName": "relay", "Password": "wrong"},
    ))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert '"535 5.7.3 Authentication unsuccessful."' in defer["RecipientStatus"][0]
    queue = lab.settled_queue("Auth")
    assert queue.status in ("Retry", "Active")
    assert queue.last_error.startswith("[{LRT=") and "{LED=451 4.4.0 Primary target IP address responded with: \"535 5.7.3" in queue.last_error
    assert "{FQDN=relay.lab.test};{IP=127.0.0.1}" in queue.last_error
    assert "wrong" not in queue.last_error
    lab.connectors[0]["AuthenticationCredential"] = {"UserName": "relay", "Password": PASSWORD}
    lab.wait_event("SEND", message_id)
    assert [m.message_id for m in host.wait_for_messages(1)] == [message_id]
    queue = lab.settled_queue("Auth")
    assert queue.last_error is None and queue.messages == []


def test_basic_auth_require_tls_without_starttls_is_refused(make_lab, make_host):
    host = make_host(auth=["LOGIN"], users={"relay": PASSWORD})
    lab = make_lab()
    lab.connectors.append(smart_host_connector(
        "Needs TLS", host.ready["port"], SmartHostAuthMechanism="BasicAuthRequireTLS",
        AuthenticationCredential={"UserName": "relay", "Password": PASSWORD},
    ))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "451 5.7.3 STARTTLS is required to send mail" in defer["RecipientStatus"][0]
    sent = [r["data"] for r in lab.protocol_log() if r["event"] == ">"]
    assert "AUTH LOGIN" not in sent and not any("MAIL FROM" in s for s in sent)
    assert host.messages() == []


def test_basic_auth_needs_login_mechanism(make_lab, make_host):
    host = make_host(starttls=True, auth=["PLAIN"], users={"relay": PASSWORD})
    lab = make_lab()
    lab.connectors.append(smart_host_connector(
        "Plain only", host.ready["port"], SmartHostAuthMechanism="BasicAuth",
        AuthenticationCredential={"UserName": "relay", "Password": PASSWORD},
    ))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "451 5.7.3 Require basic authentication" in defer["RecipientStatus"][0]
    assert host.messages() == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_smart_host_down_then_up(make_lab, make_host):
    port = _free_port()
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Down", port))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    led = "451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect -> SocketError: Socket error code 10061"
    assert led in defer["RecipientStatus"][0]
    assert led in lab.settled_queue("Down").last_error
    host = make_host(port=port)
    [msg] = host.wait_for_messages(1)
    assert msg.message_id == message_id
    [send] = lab.wait_event("SEND", message_id)
    assert send["ServerHostname"] == RELAY


def test_unknown_name_fails_like_dns_and_fails_over(make_lab, make_host):
    host = make_host()
    lab = make_lab(hosts={"second.lab.test": "127.0.0.1"})
    lab.connectors.append(smart_host_connector("Two hosts", host.ready["port"], SmartHosts=["missing.lab.test", "second.lab.test"]))
    message_id = lab.submit()
    [send] = lab.wait_event("SEND", message_id)
    assert send["ServerHostname"] == "second.lab.test"
    assert lab.events(message_id=message_id, event_id="DEFER") == []

    lab.connectors[0]["SmartHosts"] = ["missing.lab.test"]
    second = lab.submit()
    defer = lab.wait_event("DEFER", second)[0]
    assert "451 4.4.0 DNS query failed. The error was: SMTPSEND.DNS.NonExistentDomain; nonexistent domain" in defer["RecipientStatus"][0]


def test_relay_denied_by_smart_host_fails_with_dsn(make_lab, make_host):
    host = make_host(allow_clients=["192.0.2.1"])
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Relay denied", host.ready["port"]))
    message_id = lab.submit()
    [fail] = lab.wait_event("FAIL", message_id)
    assert fail["RecipientStatus"] == ["550 5.7.1 Unable to relay"] and fail["ConnectorId"] == "Relay denied"
    dsn = [r for r in lab.events(event_id="DSN") if message_id in r["Reference"]]
    assert dsn and dsn[0]["Recipients"] == ["chris@contoso.com"]
    assert lab.settled_queue("Relay denied").messages == []


def test_size_above_smart_host_limit_is_returned(make_lab, make_host):
    host = make_host(size=2000)
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Small host", host.ready["port"]))
    message_id = lab.submit(extra=(b"x" * 98 + b"\r\n") * 30)
    [fail] = lab.wait_event("FAIL", message_id)
    assert fail["RecipientStatus"][0].startswith("552 5.3.4")
    assert host.messages() == []


def test_connector_size_limit_and_unreachable(make_lab):
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Tiny", 25, MaxMessageSize=100))
    too_big = lab.submit()
    [fail] = lab.wait_event("FAIL", too_big)
    assert fail["Source"] == "ROUTING" and fail["RecipientStatus"][0].startswith("550 5.3.4")
    lab.connectors[0]["AddressSpaces"] = [{"Type": "SMTP", "Address": "contoso.net", "Cost": 1}]
    unreachable = lab.submit()
    [fail] = lab.wait_event("FAIL", unreachable)
    assert fail["RecipientStatus"][0].startswith("550 5.4.4")
    queue = next(q for q in lab.transport.store.for_server("EX01") if q.name == "Unreachable")
    assert [m.message_id for m in queue.messages] == [unreachable]


def test_certificate_from_unknown_ca_fails_validation(make_lab, make_host):
    trusted = make_host(starttls=True)
    host = make_host(starttls=True, cert_unknown_ca=True)
    lab = make_lab(ca_bundle=trusted.ready["ca_cert"])
    lab.connectors.append(smart_host_connector("Validated", host.ready["port"], RequireTLS=True, TlsAuthLevel="CertificateValidation"))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "454 4.7.5 Certificate validation failure: UntrustedRoot" in defer["RecipientStatus"][0]


def test_domain_validation_checks_tls_domain(make_lab, make_host):
    host = make_host(starttls=True, cert_names=[RELAY])
    lab = make_lab(ca_bundle=host.ready["ca_cert"])
    lab.connectors.append(smart_host_connector("Domain", host.ready["port"], RequireTLS=True,
                                               TlsAuthLevel="DomainValidation", TlsDomain="other.lab.test"))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "RemoteCertificateNameMismatch" in defer["RecipientStatus"][0]
    lab.connectors[0]["TlsDomain"] = "*.lab.test"
    lab.wait_event("SEND", message_id)


def test_relaying_from_outside_the_organisation_is_denied(make_lab):
    lab = make_lab()
    with smtplib.SMTP("127.0.0.1", lab.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            client.sendmail("eve@evil.example", ["pat@fabrikam.com"], b"Subject: x\r\n\r\nx\r\n")
    code, text = caught.value.recipients["pat@fabrikam.com"]
    assert code == 550 and b"5.7.54" in text


def test_relay_through_source_server(make_lab, make_host):
    host = make_host()
    lab = make_lab()
    lab.connectors.append(smart_host_connector("From EX02", host.ready["port"], SourceTransportServers=["EX02"]))
    message_id = lab.submit()
    [send] = lab.wait_event("SEND", message_id, server="EX02")
    assert send["ConnectorId"] == "From EX02"
    [hop] = lab.wait_event("SEND", message_id, server="EX01")
    assert hop["ConnectorId"] == "Intra-Organization SMTP Send Connector" and hop["ServerHostname"] == "EX02.contoso.com"
    assert lab.queue("From EX02").server == "EX02"


def test_queued_message_survives_a_restart(tmp_path, make_host):
    port = _free_port()
    state = str(tmp_path / "restart")
    first = Lab(state)
    try:
        first.connectors.append(smart_host_connector("Later", port))
        message_id = first.submit()
        first.wait_event("DEFER", message_id)
        connectors = first.connectors
    finally:
        first.stop()
    host = make_host(port=port)
    second = Lab(state)
    try:
        second.connectors.extend(connectors)
        assert [m.message_id for m in host.wait_for_messages(1)] == [message_id]
        second.wait_event("SEND", message_id)
    finally:
        second.stop()


def test_dns_routed_connector_resolves_the_recipient_domain_in_the_name_map(make_lab):
    lab = make_lab(hosts={})
    lab.connectors.append(smart_host_connector("Internet by DNS", 25, SmartHosts=[], DNSRoutingEnabled=True))
    message_id = lab.submit(to=("pat@nowhere.example",))
    defer = lab.wait_event("DEFER", message_id)[0]
    assert defer["RecipientStatus"][0].startswith("451 4.4.0 DNS query failed")
    queue = lab.queue("Internet by DNS")
    assert queue.delivery_type == "DnsConnectorDelivery" and queue.next_hop_domain == "nowhere.example"


def test_sendexternal_event_when_configured(make_lab, make_host):
    host = make_host()
    lab = make_lab(send_event_id="SENDEXTERNAL")
    lab.connectors.append(smart_host_connector("External", host.ready["port"]))
    message_id = lab.submit()
    [send] = lab.wait_event("SENDEXTERNAL", message_id)
    assert send["ConnectorId"] == "External"


def test_mail_settings_are_checked():
    from exchange_lab.mail.settings import MailConfigError, MailSettings

    with pytest.raises(MailConfigError, match="mail: unknown key"):
        MailSettings.from_extra({"mail": {"retry_intervall": 1}})
    with pytest.raises(MailConfigError, match="mail.retry_interval"):
        MailSettings.from_extra({"mail": {"retry_interval": "soon"}})
    with pytest.raises(MailConfigError, match="send_event_id"):
        MailSettings.from_extra({"mail": {"send_event_id": "DELIVER"}})
    assert MailSettings.from_extra({}).retry_interval == 60.0


def test_log_files_on_disk_follow_exchange_formats(make_lab, make_host):
    import os
    import re

    from exchange_lab.mail.tracking import FIELDS as TRACKING_FIELDS

    host = make_host(starttls=True)
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Formats", host.ready["port"]))
    message_id = lab.submit(subject="Commas, \"quotes\" and more")
    lab.wait_event("SEND", message_id)

    folder = lab.transport.tracking.folder("EX01")
    assert folder.endswith(os.path.join("logs", "EX01", "MessageTracking"))
    [name] = os.listdir(folder)
    assert re.fullmatch(r"MSGTRK\d{10}-1\.LOG", name)
    lines = open(os.path.join(folder, name), encoding="utf-8", newline="").read().split("\r\n")
    assert lines[0] == "#Software: Microsoft Exchange Server"
    assert re.fullmatch(r"#Version: 15\.\d\d\.\d{4}\.\d{3}", lines[1])
    assert lines[2] == "#Log-Type: Message Tracking Log"
    assert re.fullmatch(r"#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[3])
    assert lines[4] == "#Fields: " + ",".join(TRACKING_FIELDS)
    assert TRACKING_FIELDS[:3] == ["date-time", "client-ip", "client-hostname"] and TRACKING_FIELDS[-1] == "schema-version"
    assert any('"Commas, ""quotes"" and more"' in line for line in lines[5:])
    [send] = lab.events(message_id=message_id, event_id="SEND")
    assert send["MessageSubject"] == 'Commas, "quotes" and more'

    proto = lab.transport.protocol_logs.folder("EX01")
    assert proto.endswith(os.path.join("logs", "EX01", "ProtocolLog", "SmtpSend"))
    [name] = os.listdir(proto)
    assert re.fullmatch(r"SEND\d{10}-1\.LOG", name)
    text = open(os.path.join(proto, name), encoding="utf-8", newline="").read()
    assert "#Log-type: SMTP Send Protocol Log\r\n" in text
    assert "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n" in text
    ehlo_reply = next(r["data"] for r in lab.protocol_log() if r["event"] == "<" and r["data"].startswith("250-"))
    assert ehlo_reply.startswith("250-smarthost.lab.test Hello [127.0.0.1] SIZE ") and "STARTTLS" in ehlo_reply
    assert " 250-" not in ehlo_reply  # continuation lines are folded into one log line like Exchange does


def test_unreachable_next_hop_defers_the_whole_queue_with_one_connection_attempt(make_lab):
    port = _free_port()
    lab = make_lab(retry_interval=30)
    lab.connectors.append(smart_host_connector("Nobody home", port))
    lab.transport.stop()  # hold deliveries until every message is queued
    first, second = lab.submit(), lab.submit()
    lab.transport = MailTransport(lab.transport.connectors, lab.transport.config, os.path.dirname(lab.transport.logs_root))
    lab.listener.transport = lab.transport
    lab.transport.start()
    for message_id in (first, second):
        assert "Socket error code 10061" in lab.wait_event("DEFER", message_id)[0]["RecipientStatus"][0]
    attempts = [r for r in lab.protocol_log() if r["context"] == "attempting to connect"]
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("host_kw", "connector_kw", "expect"),
    [
        ({"starttls": True, "cert_unknown_ca": True}, {"RequireTLS": True, "TlsAuthLevel": "EncryptionOnly"}, "sent"),
        ({"starttls": True, "cert_expired": True}, {"RequireTLS": True, "TlsAuthLevel": "CertificateValidation"},
         "454 4.7.5 Certificate validation failure: NotTimeValid"),
        ({}, {"RequireTLS": True}, "451 5.7.3 STARTTLS is required to send mail"),
        ({"starttls": True}, {"RequireTLS": True, "TlsAuthLevel": "CertificateValidation"}, "sent"),
    ],
    ids=["encryption-only-accepts-any-certificate", "expired-certificate", "require-tls-without-starttls", "trusted-chain"],
)
def test_tls_policies(make_lab, make_host, host_kw, connector_kw, expect):
    host = make_host(**host_kw)
    ca = host.ready["ca_cert"] if not host_kw.get("cert_unknown_ca") else None
    lab = make_lab(ca_bundle=ca)
    lab.connectors.append(smart_host_connector("TLS policy", host.ready["port"], **connector_kw))
    message_id = lab.submit()
    if expect == "sent":
        [msg] = host.wait_for_messages(1)
        assert msg.message_id == message_id and msg.tls
        lab.wait_event("SEND", message_id)
    else:
        defer = lab.wait_event("DEFER", message_id)[0]
        assert expect in defer["RecipientStatus"][0]
        assert host.messages() == []


def test_message_expires_from_the_retry_queue_with_fail_and_dsn(make_lab):
    lab = make_lab(message_expiration=0.5)
    lab.connectors.append(smart_host_connector("Never up", _free_port()))
    message_id = lab.submit()
    [fail] = lab.wait_event("FAIL", message_id)
    assert fail["Source"] == "QUEUE"
    assert fail["RecipientStatus"][0].startswith("550 4.4.7 QUEUE.Expired; message expired")
    assert "4.4.397" in fail["RecipientStatus"][0]
    assert any(message_id in r["Reference"] for r in lab.events(event_id="DSN"))
    assert lab.settled_queue("Never up").messages == []


def test_many_concurrent_submissions_all_arrive_once(make_lab, make_host):
    import concurrent.futures

    host = make_host()
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Busy", host.ready["port"]))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda n: lab.submit(subject=f"n{n}"), range(20)))
    received = host.wait_for_messages(20)
    assert sorted(m.message_id for m in received) == sorted(ids)
    for message_id in ids:
        assert len(lab.wait_event("SEND", message_id)) == 1


def test_disabling_a_connector_reroutes_its_queued_messages(make_lab, make_host):
    host = make_host()
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Primary", _free_port(), AddressSpaces=[{"Type": "SMTP", "Address": "fabrikam.com", "Cost": 1}]))
    lab.connectors.append(smart_host_connector("Backup", host.ready["port"]))
    message_id = lab.submit()
    lab.wait_event("DEFER", message_id)
    lab.connectors[0]["Enabled"] = False
    [send] = lab.wait_event("SEND", message_id)
    assert send["ConnectorId"] == "Backup"
    assert [m.message_id for m in host.wait_for_messages(1)] == [message_id]


def test_renamed_connector_keeps_its_queue(make_lab, make_host):
    port = _free_port()
    lab = make_lab()
    lab.connectors.append(smart_host_connector("Old name", port))
    message_id = lab.submit()
    lab.wait_event("DEFER", message_id)
    queue = lab.queue("Old name")
    lab.connectors[0]["Name"] = "New name"
    host = make_host(port=port)
    [send] = lab.wait_event("SEND", message_id)
    assert send["ConnectorId"] == "New name" and queue.connector_name == "New name"
    assert host.wait_for_messages(1)


def test_implicit_tls_port_times_out_like_exchange(make_lab, make_host):
    host = make_host(implicit_tls=True)
    lab = make_lab(connect_timeout=0.5)
    lab.connectors.append(smart_host_connector("Port 465", host.ready["port"]))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection timed out" in defer["RecipientStatus"][0]
    assert host.messages() == []


def test_smart_host_off_this_machine_is_never_contacted(make_lab):
    """The seed's 192.168.3.2 (or any non-loopback address) defers like a firewalled host, no packet sent."""
    lab = make_lab(hosts={"relay.outside.test": "198.51.100.7"})
    lab.connectors.append(smart_host_connector("Outside", 25, SmartHosts=["192.168.3.2", "relay.outside.test"]))
    message_id = lab.submit()
    defer = lab.wait_event("DEFER", message_id)[0]
    assert "421 4.2.1 Unable to connect -> SocketError: Socket error code 10060" in defer["RecipientStatus"][0]
    notes = [r for r in lab.protocol_log() if "only to loopback" in (r.get("context") or "")]
    assert {r["remote-endpoint"] for r in notes} == {"192.168.3.2:25", "198.51.100.7:25"}

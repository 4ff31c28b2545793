"""End to end over the wire: ``serve`` + a test smart host, driven with pypsrp and smtplib.

A Send connector is created with New-SendConnector over PowerShell remoting, a message is
submitted to the lab's SMTP port (``smtp_port`` in the ready JSON), it arrives in the smart
host's Maildir and Get-MessageTrackingLog / Get-Queue / Get-TransportService tell the story.
"""

from __future__ import annotations

import os
import smtplib
import socket
import time
import uuid

import pytest
from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from exchange_lab.mail.logfiles import read_records
from exchange_lab.smarthost import SmartHost, SmartHostConfig
from labfixture import LabProcess

RELAY = "relay.lab.test"
DOWN = "down.lab.test"
PLAIN = "plain.lab.test"
PASSWORD = "Relay-pa55word!"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def smart_host(tmp_path_factory):
    host = SmartHost(SmartHostConfig(
        state_dir=str(tmp_path_factory.mktemp("relay")), starttls=True, cert_names=[RELAY],
        auth=["LOGIN"], users={"relay": PASSWORD}, auth_require_tls=True,
    ))
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def plain_host(tmp_path_factory):
    """A smart host without STARTTLS that still asks for AUTH LOGIN."""
    host = SmartHost(SmartHostConfig(state_dir=str(tmp_path_factory.mktemp("plain")), auth=["LOGIN"], users={"relay": PASSWORD}))
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="module")
def down_port():
    return _free_port()


@pytest.fixture(scope="module")
def mail_lab(tmp_path_factory, smart_host):
    config = {
        "hosts": {RELAY: "127.0.0.1", DOWN: "127.0.0.1", PLAIN: "127.0.0.1"},
        "mail": {"retry_interval": 0.5, "connect_timeout": 5, "ca_bundle": smart_host.ready["ca_cert"]},
    }
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="ntlm", config=config)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def pool(mail_lab):
    with RunspacePool(mail_lab.wsman(), configuration_name="Microsoft.Exchange") as p:
        p.exchange_keys()
        yield p


def run(p, name, **params):
    ps = PowerShell(p)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    return ps


def prop(obj, name):
    for bag in (obj.adapted_properties, obj.extended_properties):
        if name in bag:
            return bag[name]
    raise KeyError(name)


def as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    items = getattr(value, "property_sets", None) or []
    if items and isinstance(items[0], list):
        return [str(v) for v in items[0]]
    return [str(v) for v in items] if items else [str(value)]


def submit(lab, to, subject="Lab test", sender="chris@contoso.com"):
    message_id = f"<{uuid.uuid4()}@contoso.com>"
    data = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\nHello.\r\n"
    with smtplib.SMTP(lab.ready["smtp_host"], lab.ready["smtp_port"], timeout=10) as client:
        client.sendmail(sender, [to], data.encode())
    return message_id


def wait_for(func, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = func()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def tracking(p, message_id, event_id=None, server="EX01"):
    params = {"Server": server, "MessageId": message_id}
    if event_id:
        params["EventId"] = event_id
    return run(p, "Get-MessageTrackingLog", **params).output


def queue_for(p, guid):
    return run(p, "Get-Queue", Server="EX01", Filter=f"NextHopConnector -eq '{guid}'").output


def new_connector(p, name, spaces, host, port, **extra):
    params = dict(
        Name=name, AddressSpaces=spaces, SmartHosts=[host], DNSRoutingEnabled=False, Port=port,
        SourceTransportServers=["EX01"], ProtocolLoggingLevel="Verbose",
    )
    params.update(extra)
    ps = run(p, "New-SendConnector", **params)
    assert [str(e) for e in ps.streams.error] == []
    return str(prop(ps.output[0], "Guid"))


def test_ready_json_has_smtp_port(mail_lab):
    assert isinstance(mail_lab.ready["smtp_port"], int) and mail_lab.ready["smtp_port"] > 0
    assert os.path.isdir(mail_lab.ready["logs_dir"]) or mail_lab.ready["logs_dir"].startswith(mail_lab.state_dir)


def test_message_leaves_through_connector_with_starttls_and_auth(mail_lab, pool, smart_host):
    new_connector(
        pool, "Smart host to Internet", ["*"], RELAY, smart_host.ready["port"],
        SmartHostAuthMechanism="BasicAuthRequireTLS", AuthenticationCredential=PSCredential(username="relay", password=PASSWORD),
        RequireTLS=True, TlsAuthLevel="DomainValidation", TlsDomain=RELAY, Fqdn="mail.contoso.com",
    )
    message_id = submit(mail_lab, "pat@fabrikam.com", subject="Leaves through the smart host")
    arrived = wait_for(lambda: [m for m in smart_host.messages() if m.message_id == message_id])
    assert arrived and arrived[0].tls and arrived[0].auth_user == "relay" and arrived[0].helo == "mail.contoso.com"

    sends = wait_for(lambda: tracking(pool, message_id, "Send"))
    assert len(sends) == 1
    send = sends[0]
    assert send.types[0] == "Deserialized.Microsoft.Exchange.Management.TransportLogSearchTasks.MessageTrackingEvent"
    assert prop(send, "EventId") == "SEND" and prop(send, "Source") == "SMTP"
    assert prop(send, "ConnectorId") == "Smart host to Internet"
    assert prop(send, "ServerHostname") == RELAY and prop(send, "ServerIp") == "127.0.0.1"
    assert as_list(prop(send, "RecipientStatus"))[0].startswith("250 2.6.0")
    assert as_list(prop(send, "Recipients")) == ["pat@fabrikam.com"]
    events = [prop(e, "EventId") for e in tracking(pool, message_id.strip("<>"))]
    assert events == ["RECEIVE", "SEND"]  # the id without brackets finds the same message

    [service] = run(pool, "Get-TransportService", Identity="EX01").output
    log_dir = prop(service, "SendProtocolLogPath")
    session = prop(send, "SourceContext")
    lines = sorted((r for r in read_records(log_dir, "SEND") if r["session-id"] == session), key=lambda r: int(r["sequence-number"]))
    sent = [r["data"] for r in lines if r["event"] == ">"]
    assert sent[:2] == ["EHLO mail.contoso.com", "STARTTLS"] and "AUTH LOGIN" in sent
    assert PASSWORD not in "".join(open(os.path.join(log_dir, f), encoding="utf-8").read() for f in os.listdir(log_dir))


def test_wrong_password_defers_with_exchange_last_error_then_recovers(mail_lab, pool, smart_host):
    guid = new_connector(
        pool, "Wrong password", ["wrongpw.example"], RELAY, smart_host.ready["port"],
        SmartHostAuthMechanism="BasicAuthRequireTLS", AuthenticationCredential=PSCredential(username="relay", password="nope"),
    )
    message_id = submit(mail_lab, "pat@wrongpw.example")
    defers = wait_for(lambda: tracking(pool, message_id, "DEFER"))
    assert '"535 5.7.3 Authentication unsuccessful."' in as_list(prop(defers[0], "RecipientStatus"))[0]
    [queue] = queue_for(pool, guid)
    assert prop(queue, "DeliveryType") == "SmartHostConnectorDelivery" and prop(queue, "NextHopDomain") == RELAY
    assert prop(queue, "MessageCount") == 1 and prop(queue, "Status") in ("Retry", "Active")
    last_error = prop(queue, "LastError")
    assert "{LED=451 4.4.0 Primary target IP address responded with: \"535 5.7.3 Authentication unsuccessful.\"" in last_error
    assert "nope" not in last_error

    run(pool, "Set-SendConnector", Identity="Wrong password", AuthenticationCredential=PSCredential(username="relay", password=PASSWORD))
    run(pool, "Retry-Queue", Identity=str(prop(queue, "Identity")))
    assert wait_for(lambda: tracking(pool, message_id, "SEND"))
    [queue] = queue_for(pool, guid)
    assert prop(queue, "MessageCount") == 0 and prop(queue, "LastError") is None


def test_basic_auth_require_tls_without_starttls_stays_queued(mail_lab, pool, plain_host):
    guid = new_connector(
        pool, "No STARTTLS", ["nostarttls.example"], PLAIN, plain_host.ready["port"],
        SmartHostAuthMechanism="BasicAuthRequireTLS", AuthenticationCredential=PSCredential(username="relay", password=PASSWORD),
    )
    message_id = submit(mail_lab, "pat@nostarttls.example")
    assert wait_for(lambda: tracking(pool, message_id, "DEFER"))
    [queue] = queue_for(pool, guid)
    assert "451 5.7.3 STARTTLS is required to send mail" in prop(queue, "LastError")
    assert plain_host.messages() == []


def test_smart_host_down_then_up(mail_lab, pool, down_port, tmp_path):
    guid = new_connector(pool, "Down for now", ["later.example"], DOWN, down_port)
    message_id = submit(mail_lab, "pat@later.example")
    assert wait_for(lambda: tracking(pool, message_id, "DEFER"))
    [queue] = queue_for(pool, guid)
    assert "451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect -> SocketError: Socket error code 10061" in prop(queue, "LastError")
    with SmartHost(SmartHostConfig(state_dir=str(tmp_path / "late"), port=down_port)) as late:
        assert [m.message_id for m in late.wait_for_messages(1, timeout=20)] == [message_id]
        [send] = wait_for(lambda: tracking(pool, message_id, "SEND"))
        assert prop(send, "ServerHostname") == DOWN and prop(send, "ConnectorId") == "Down for now"


def test_tracking_is_per_server_and_unknown_server_is_an_error(mail_lab, pool):
    message_id = submit(mail_lab, "pat@fabrikam.com")
    assert wait_for(lambda: tracking(pool, message_id, "RECEIVE"))
    assert tracking(pool, message_id, server="EX02") == []
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-MessageTrackingLog").add_parameter("Server", "EX99")
    ps.invoke()
    assert ps.had_errors or ps.state == PSInvocationState.FAILED
    assert "couldn't be found" in " ".join(str(e) for e in ps.streams.error)


def test_wrong_mail_config_stops_serve_with_a_clear_message(tmp_path):
    proc = LabProcess(str(tmp_path / "bad"), config={"mail": {"retry_intervall": 1}})
    with pytest.raises(RuntimeError) as caught:
        proc.start(timeout=20)
    assert "cannot start the mail transport: mail: unknown key(s) retry_intervall" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_get_queue_filter_syntax_error_names_the_parameter(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Queue").add_parameter("Filter", "Status equals Retry")
    ps.invoke()
    text = " ".join(str(e) for e in ps.streams.error)
    assert ps.state == PSInvocationState.FAILED or ps.had_errors
    assert "Filter" in text and "Invalid filter syntax" in text


def test_result_size_limits_and_warns(mail_lab, pool):
    for _ in range(2):
        submit(mail_lab, "pat@fabrikam.com", subject="Result size")
    wait_for(lambda: len(run(pool, "Get-MessageTrackingLog", Server="EX01", MessageSubject="Result size", EventId="RECEIVE").output) >= 2)
    limited = run(pool, "Get-MessageTrackingLog", Server="EX01", MessageSubject="Result size", EventId="RECEIVE", ResultSize=1)
    assert len(limited.output) == 1
    assert any("ResultSize" in str(w.message) for w in limited.streams.warning)
    everything = run(pool, "Get-MessageTrackingLog", Server="EX01", ResultSize="Unlimited")
    assert len(everything.output) > 2 and not everything.streams.warning


def test_get_queue_lists_submission_and_retry_queue_whatif(mail_lab, pool):
    queues = run(pool, "Get-Queue", Server="EX01").output
    assert str(prop(queues[0], "Identity")) == "EX01\\Submission"
    assert queues[0].types[0] == "Deserialized.Microsoft.Exchange.Data.QueueViewer.ExtensibleQueueInfo"
    ps = run(pool, "Retry-Queue", Identity="EX01\\Submission", WhatIf=True)
    assert ps.output == []
    missing = PowerShell(pool)
    missing.add_cmdlet("Get-Queue").add_parameter("Identity", "EX01\\999")
    missing.invoke()
    assert "couldn't be found" in " ".join(str(e) for e in missing.streams.error)


@pytest.fixture(scope="module")
def any_auth_host(tmp_path_factory):
    """STARTTLS, AUTH LOGIN for 'relay', and loopback clients may also relay without AUTH."""
    host = SmartHost(SmartHostConfig(
        state_dir=str(tmp_path_factory.mktemp("anyauth")), starttls=True, cert_names=[RELAY],
        auth=["LOGIN"], users={"relay": PASSWORD}, allow_clients=["127.0.0.0/8"],
    ))
    host.start()
    yield host
    host.stop()


@pytest.mark.parametrize(
    ("mechanism", "extra", "tls", "auth"),
    [
        ("None", {}, True, False),
        ("None", {"IgnoreSTARTTLS": True}, False, False),
        ("ExternalAuthoritative", {}, True, False),
        ("BasicAuth", {}, True, True),
        ("BasicAuthRequireTLS", {"RequireTLS": True}, True, True),
    ],
    ids=["none", "none-ignore-starttls", "external-authoritative", "basic", "basic-require-tls"],
)
def test_each_auth_mechanism_end_to_end(mail_lab, pool, any_auth_host, mechanism, extra, tls, auth):
    tag = uuid.uuid4().hex[:8]
    name = f"Auth {mechanism} {tag}"
    params = dict(extra, SmartHostAuthMechanism=mechanism)
    if mechanism.startswith("BasicAuth"):
        params["AuthenticationCredential"] = PSCredential(username="relay", password=PASSWORD)
    new_connector(pool, name, [f"{tag}.example"], RELAY, any_auth_host.ready["port"], **params)
    message_id = submit(mail_lab, f"pat@{tag}.example")
    arrived = wait_for(lambda: [m for m in any_auth_host.messages() if m.message_id == message_id])
    assert arrived, f"not delivered; tracking: {[prop(e, 'EventId') for e in tracking(pool, message_id)]}"
    assert arrived[0].tls is tls and (arrived[0].auth_user == "relay") is auth
    [send] = wait_for(lambda: tracking(pool, message_id, "SEND"))
    assert prop(send, "ConnectorId") == name and prop(send, "ServerHostname") == RELAY
    [service] = run(pool, "Get-TransportService", Identity="EX01").output
    lines = sorted((r for r in read_records(prop(service, "SendProtocolLogPath"), "SEND") if r["session-id"] == prop(send, "SourceContext")),
                   key=lambda r: int(r["sequence-number"]))
    sent = [r["data"] for r in lines if r["event"] == ">"]
    assert ("STARTTLS" in sent) is tls and ("AUTH LOGIN" in sent) is auth


def test_exchange_server_auth_is_not_offered_by_a_plain_relay(mail_lab, pool, any_auth_host):
    guid = new_connector(pool, "Exchange auth", ["exauth.example"], RELAY, any_auth_host.ready["port"],
                         SmartHostAuthMechanism="ExchangeServer")
    message_id = submit(mail_lab, "pat@exauth.example")
    assert wait_for(lambda: tracking(pool, message_id, "DEFER"))
    [queue] = queue_for(pool, guid)
    assert "451 5.7.3 Cannot achieve Exchange Server authentication" in prop(queue, "LastError")

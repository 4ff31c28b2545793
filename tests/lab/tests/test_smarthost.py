"""The test smart host, driven over real SMTP with the standard library's smtplib."""

from __future__ import annotations

import json
import logging
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time

import pytest

from exchange_lab.smarthost import SmartHost, SmartHostConfig, SmartHostError, read_maildir

MESSAGE = "From: a@contoso.com\r\nTo: b@fabrikam.com\r\nSubject: hi\r\nMessage-ID: <t1@contoso.com>\r\n\r\nbody\r\n"


@pytest.fixture
def smarthost(tmp_path):
    started: list[SmartHost] = []

    def make(**kwargs) -> SmartHost:
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / f"sh{len(started)}"), **kwargs))
        host.start()
        started.append(host)
        return host

    yield make
    for host in started:
        host.stop()


def client_context(ca_cert: str | None, hostname_check: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_cert)
    ctx.check_hostname = hostname_check
    return ctx


def test_plain_delivery_lands_in_maildir_with_envelope(smarthost):
    host = smarthost()
    assert host.ready["mode"] == "plain" and host.ready["ca_cert"] is None
    with smtplib.SMTP(host.ready["host"], host.ready["port"], local_hostname="ex01.contoso.com") as client:
        client.sendmail("chris@contoso.com", ["pat@fabrikam.com", "lee@fabrikam.com"], MESSAGE)
    (msg,) = host.wait_for_messages(1)
    assert msg.mail_from == "chris@contoso.com"
    assert msg.rcpt_to == ["pat@fabrikam.com", "lee@fabrikam.com"]
    assert msg.helo == "ex01.contoso.com"
    assert msg.tls is False and msg.auth_user == ""
    assert msg.message_id == "<t1@contoso.com>"
    assert os.path.dirname(msg.path).endswith(os.path.join("maildir", "new"))


def test_starttls_with_login_records_tls_and_user(smarthost):
    host = smarthost(starttls=True, auth=["LOGIN"], auth_require_tls=True, users={"relay": "pw1"}, banner_name="relay.contoso.net")
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        code, banner = client.ehlo("ex01")
        assert b"STARTTLS" in banner and b"AUTH" not in banner  # AUTH only after TLS
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.login("relay", "pw1")
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        client.starttls(context=client_context(host.ready["ca_cert"], hostname_check=False))
        assert ("DNS", "relay.contoso.net") in client.sock.getpeercert()["subjectAltName"]
        code, caps = client.ehlo("ex01")
        assert b"AUTH LOGIN" in caps and b"PLAIN" not in caps
        client.login("relay", "pw1")
        client.sendmail("chris@contoso.com", ["pat@fabrikam.com"], MESSAGE)
    (msg,) = host.wait_for_messages(1)
    assert msg.tls and msg.tls_version.startswith("TLS")
    assert (msg.auth_user, msg.auth_mechanism) == ("relay", "LOGIN")


def test_bad_credentials_get_535_and_password_is_not_recorded(smarthost):
    host = smarthost(starttls=True, auth=["LOGIN", "PLAIN"], users={"relay": "right-password"})
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        client.starttls(context=client_context(host.ready["ca_cert"], hostname_check=False))
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login("relay", "wrong-password")
    assert err.value.smtp_code == 535 and b"5.7.3 Authentication unsuccessful" in err.value.smtp_error
    events = host.events()
    attempts = [e for e in events if e["event"] == "auth"]
    assert attempts and not any(e["ok"] for e in attempts)  # smtplib tries each offered mechanism
    text = open(host.events_path, encoding="utf-8").read()
    assert "wrong-password" not in text and "right-password" not in text


def test_unauthenticated_client_refused_when_auth_configured(smarthost):
    host = smarthost(auth=["PLAIN"], users={"u": "p"})
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        client.ehlo("ex01")
        code, _ = client.mail("chris@contoso.com")
    assert code == 530


def test_size_is_advertised_and_enforced(smarthost):
    host = smarthost(size=1000)
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        client.ehlo("ex01")
        assert client.esmtp_features["size"] == "1000"
        code, text = client.mail("chris@contoso.com", ["SIZE=5000"])
        assert (code, text) == (552, b"5.3.4 Message size exceeds fixed maximum message size")
        client.rset()
        client.mail("chris@contoso.com")
        client.rcpt("pat@fabrikam.com")
        code, text = client.data(MESSAGE + ("x" * 70 + "\r\n") * 30)
        assert code == 552 and text.startswith(b"5.3.4")
    assert host.messages() == []


def test_allowlist_denies_relay_at_rcpt(smarthost):
    host = smarthost(allow_clients=["10.1.2.0/24"])
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        client.ehlo("ex01")
        assert client.mail("chris@contoso.com")[0] == 250
        assert client.rcpt("pat@fabrikam.com") == (550, b"5.7.1 Unable to relay")
    allowed = smarthost(allow_clients=["127.0.0.1"])
    with smtplib.SMTP(allowed.ready["host"], allowed.ready["port"]) as client:
        client.ehlo("ex01")
        client.mail("chris@contoso.com")
        assert client.rcpt("pat@fabrikam.com")[0] == 250


def test_implicit_tls_speaks_tls_first(smarthost):
    host = smarthost(implicit_tls=True, cert_names=["smtps.contoso.net"])
    with smtplib.SMTP_SSL(host.ready["host"], host.ready["port"], context=client_context(host.ready["ca_cert"], hostname_check=False)) as client:
        code, caps = client.ehlo("ex01")
        assert code == 250 and b"STARTTLS" not in caps
        cert = client.sock.getpeercert()
        assert ("DNS", "smtps.contoso.net") in cert["subjectAltName"]


@pytest.mark.parametrize("kwargs, reason", [({"cert_unknown_ca": True}, "unable to get local issuer"), ({"cert_expired": True}, "expired")])
def test_bad_certificates_fail_verification(smarthost, kwargs, reason):
    host = smarthost(starttls=True, **kwargs)
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        with pytest.raises(ssl.SSLCertVerificationError) as err:
            client.starttls(context=client_context(host.ready["ca_cert"], hostname_check=False))
    assert reason in str(err.value)


def test_invalid_configurations_name_the_option(tmp_path):
    with pytest.raises(SmartHostError, match="--auth needs"):
        SmartHost(SmartHostConfig(state_dir=str(tmp_path), auth=["LOGIN"]))
    with pytest.raises(SmartHostError, match="--auth-require-tls"):
        SmartHost(SmartHostConfig(state_dir=str(tmp_path), auth=["LOGIN"], users={"u": "p"}, auth_require_tls=True))
    with pytest.raises(SmartHostError, match="--cert-expired: a certificate is only served with --starttls or --implicit-tls"):
        SmartHost(SmartHostConfig(state_dir=str(tmp_path), cert_expired=True))
    with pytest.raises(SmartHostError, match="CRAM-MD5"):
        SmartHost(SmartHostConfig(state_dir=str(tmp_path), auth=["CRAM-MD5"], users={"u": "p"}))


def test_restart_keeps_port_and_certificate(smarthost):
    host = smarthost(starttls=True)
    before = dict(host.ready)
    ca_pem = open(before["ca_cert"], encoding="ascii").read()
    host.stop()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", before["port"], timeout=2)
    after = host.start()
    assert after["port"] == before["port"] and open(after["ca_cert"], encoding="ascii").read() == ca_pem
    with smtplib.SMTP("127.0.0.1", after["port"]) as client:
        client.starttls(context=client_context(after["ca_cert"], hostname_check=False))
        assert client.noop()[0] == 250


def test_stop_then_restart_on_the_same_port(smarthost, tmp_path):
    first = smarthost()
    port = first.ready["port"]
    first.stop()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)
    again = smarthost(port=port)
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.noop()[0] == 250
    assert again.ready["port"] == port


def test_cli_ready_file_and_sigterm(tmp_path):
    ready_file = tmp_path / "ready.json"
    users = tmp_path / "users.txt"
    users.write_text("relay:cli-secret\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_lab", "smarthost", "--state", str(tmp_path / "state"), "--starttls",
         "--auth", "LOGIN", "--users-file", str(users), "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    try:
        line = proc.stdout.readline()
        ready = json.loads(line)
        assert json.loads(ready_file.read_text()) == ready
        assert {"host", "port", "mode", "ca_cert", "cert_names", "auth", "maildir", "pid"} <= set(ready)
        assert ready["mode"] == "starttls" and ready["auth"] == ["LOGIN"] and ready["pid"] == proc.pid
        with smtplib.SMTP(ready["host"], ready["port"]) as client:
            client.starttls(context=client_context(ready["ca_cert"], hostname_check=False))
            client.login("relay", "cli-secret")
            client.sendmail("chris@contoso.com", ["pat@fabrikam.com"], MESSAGE)
        assert len(read_maildir(ready["maildir"])) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "cli-secret" not in out + err


def test_cli_reports_bad_options_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, "-m", "exchange_lab", "smarthost", "--state", str(tmp_path), "--auth", "LOGIN"],
        capture_output=True, text=True, env=env, timeout=30,
    )
    assert proc.returncode == 2
    assert "--auth needs accepted credentials" in proc.stderr and "Traceback" not in proc.stderr


def test_a_refused_certificate_is_one_log_line_not_a_traceback(smarthost, caplog):
    host = smarthost(starttls=True, cert_unknown_ca=True)
    caplog.set_level(logging.ERROR, logger="mail.log")
    with smtplib.SMTP(host.ready["host"], host.ready["port"]) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=client_context(host.ready["ca_cert"], hostname_check=False))
    deadline = time.monotonic() + 10  # the server logs once it sees the client's alert
    while not [r for r in caplog.records if r.name == "mail.log"] and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = [r for r in caplog.records if r.name == "mail.log"]
    assert "TLS handshake failed" in record.getMessage() and "UNKNOWN_CA" in record.getMessage().upper()
    assert record.exc_info is None and "Traceback" not in caplog.text

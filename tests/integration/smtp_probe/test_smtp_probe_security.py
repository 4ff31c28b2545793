"""smtp_probe never hands a credential to an unverified peer, and never lets a value inject SMTP commands.

Against the lab's test smart host over loopback: the smart host accepts the credential the probe holds
(so an AUTH that reached it would be logged as a success in ``events.jsonl``); the assertions read that
log, not the probe's own account. Injection cases run against a bare listening socket and assert that
nothing even connected.
"""

from __future__ import annotations

import socket

import pytest

from send_connector_harness import run_module  # noqa: E402  (the one bootstrap is tests/conftest.py)

from exchange_lab.smarthost import SmartHost, SmartHostConfig, read_maildir  # noqa: E402


NAME = "relay.contoso.net"
USER = "relay"
PASSWORD = "Secur1ty-Probe-Pass"
CREDENTIAL = {"username": USER, "password": PASSWORD}


@pytest.fixture
def smarthost(tmp_path):
    started: list[SmartHost] = []

    def make(**kwargs) -> SmartHost:
        kwargs.setdefault("banner_name", NAME)
        kwargs.setdefault("auth", ["LOGIN"])
        kwargs.setdefault("users", {USER: PASSWORD})
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / f"sh{len(started)}"), **kwargs))
        started.append(host)
        host.start()
        return host

    yield make
    for host in started:
        host.stop()


@pytest.fixture
def probe(collections_path, tmp_path):
    def run(args: dict) -> tuple[dict, str]:
        payload = dict(args)
        payload.setdefault("timeout", 5)
        return run_module("smtp_probe", payload, str(tmp_path))

    return run


def args_for(host: SmartHost, **extra) -> dict:
    args = {
        "hosts": [NAME], "port": host.ready["port"], "connect_address": "127.0.0.1", "helo_name": "ex01.contoso.com",
        "ca_cert": host.ready["ca_cert"], "authentication_credential": CREDENTIAL, "fail_on": [],
    }
    args.update(extra)
    return args


def auth_events(host: SmartHost) -> list[dict]:
    return [e for e in host.events() if e.get("event") == "auth"]


def findings(result: dict, code: str) -> list[dict]:
    return [f for f in result["findings"] if f["code"] == code]


# -- the certificate did not pass: no AUTH on the wire -------------------------------------------------------
@pytest.mark.parametrize(
    "config, settings, problem",
    [
        pytest.param({"cert_unknown_ca": True, "cert_names": [NAME]}, {"smart_host_auth_mechanism": "BasicAuthRequireTLS"},
                     "chain did not verify", id="untrusted-ca"),
        pytest.param({"cert_names": ["other.contoso.net"]}, {"smart_host_auth_mechanism": "BasicAuthRequireTLS"},
                     "does not name the smart host", id="name-mismatch"),
        pytest.param({"cert_names": [NAME]}, {"require_tls": True, "tls_auth_level": "DomainValidation", "tls_domain": "fabrikam.net",
                                              "smart_host_auth_mechanism": "BasicAuthRequireTLS"},
                     "does not carry tls_domain fabrikam.net", id="tls-domain-mismatch"),
        pytest.param({"cert_expired": True, "cert_names": [NAME]}, {"smart_host_auth_mechanism": "BasicAuth"},
                     "chain did not verify", id="expired"),
        pytest.param({"cert_unknown_ca": True, "cert_names": [NAME]}, {"smart_host_auth_mechanism": "BasicAuth"},
                     "chain did not verify", id="untrusted-ca-basicauth-without-tls-requirement"),
    ],
)
def test_no_auth_to_a_peer_whose_certificate_failed(smarthost, probe, config, settings, problem):
    host = smarthost(starttls=True, **config)
    result, output = probe(args_for(host, **settings))
    assert not result.get("failed"), result.get("msg")
    assert auth_events(host) == [], "the smart host saw an AUTH attempt"
    login = result["probes"][0]["auth"]["login"]
    assert login["attempted"] is False and login["withheld"] is True
    assert login["skipped"].startswith("AUTH was not attempted: the TLS peer is not verified") and problem in login["skipped"]
    (finding,) = findings(result, "AUTH_NOT_ATTEMPTED")
    assert finding["severity"] == "warning" and problem in finding["message"] and "not sent" in finding["message"]
    # the probe still read the session after TLS (what the smart host offers there)
    assert result["probes"][0]["ehlo_tls"]["code"] == 250
    assert not any(line.startswith("C: AUTH") for line in result["probes"][0]["transcript"])
    assert PASSWORD not in output


def test_a_verified_peer_gets_the_credential(smarthost, probe):
    """The contrast that makes the cases above mean something: same smart host set-up, trusted certificate."""
    host = smarthost(starttls=True, cert_names=[NAME])
    result, _output = probe(args_for(host, smart_host_auth_mechanism="BasicAuthRequireTLS", require_tls=True))
    assert result["probes"][0]["auth"]["login"]["ok"] is True
    assert [(e["user"], e["ok"]) for e in auth_events(host)] == [(USER, True)]
    assert not findings(result, "AUTH_NOT_ATTEMPTED")


def test_no_auth_in_clear_unless_the_settings_say_so(smarthost, probe):
    plain = smarthost()  # no STARTTLS at all, AUTH LOGIN offered in clear
    for settings in ({"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, {"smart_host_auth_mechanism": "None"},
                     {"smart_host_auth_mechanism": "BasicAuth", "require_tls": True}):
        result, _output = probe(args_for(plain, **settings))
        login = result["probes"][0]["auth"]["login"]
        assert login["attempted"] is False and "not encrypted" in login["skipped"], settings
    assert auth_events(plain) == []
    # BasicAuth without RequireTLS: the connector itself would send the password in clear, so the probe may test it
    result, _output = probe(args_for(plain, smart_host_auth_mechanism="BasicAuth"))
    assert result["probes"][0]["auth"]["login"]["ok"] is True
    assert [e["ok"] for e in auth_events(plain)] == [True]


def test_test_message_with_credential_to_an_unverified_peer_is_not_sent(smarthost, probe):
    host = smarthost(starttls=True, cert_unknown_ca=True, cert_names=[NAME], auth=["LOGIN"])
    message = {"from": "chris@contoso.com", "to": ["pat@fabrikam.com"]}
    result, output = probe(args_for(host, smart_host_auth_mechanism="BasicAuth", send_test_message=message))
    assert result["failed"] and "AUTH was not attempted and the message was not sent" in result["msg"]
    assert "chain did not verify" in result["msg"]
    assert auth_events(host) == [] and read_maildir(host.ready["maildir"]) == []
    assert PASSWORD not in output
    # Without a credential, the message may go over TLS that did not verify (opportunistic, as Exchange would).
    open_relay = smarthost(starttls=True, cert_unknown_ca=True, cert_names=[NAME], auth=[], users={})
    args = args_for(open_relay, send_test_message=message)
    del args["authentication_credential"]
    result, _output = probe(args)
    assert result["changed"] and result["test_message"]["queued"] is True
    assert result["test_message"]["tls"] is True and result["test_message"]["tls_verified"] is False


# -- injection: refused before any connection ---------------------------------------------------------------
@pytest.fixture
def listener():
    """A listening socket nobody should connect to; yields (port, connected) where connected() says if anyone did."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)

    def connected() -> bool:
        try:
            conn = sock.accept()[0]
        except BlockingIOError:
            return False
        conn.close()
        return True

    yield sock.getsockname()[1], connected
    sock.close()


@pytest.mark.parametrize(
    "extra, named",
    # (A NUL never reaches the module through Ansible: AnsibleModule refuses it while logging its arguments;
    # tests/unit/plugins/module_utils/test_smtp_probe_input.py covers the check itself.)
    [
        ({"helo_name": "fuzz\r\nMAIL FROM:<inj@x.example>"}, "helo_name: 'fuzz\\r\\nMAIL FROM:<inj@x.example>' contains a line break"),
        ({"helo_name": "ex01 contoso.com"}, "helo_name: 'ex01 contoso.com' is not a host name"),
        ({"mail_from": "a@b.example\r\nRSET", "rcpt_to": ["pat@fabrikam.com"]}, "mail_from: 'a@b.example\\r\\nRSET' contains a line break"),
        ({"mail_from": "a@b.example> SIZE=1", "rcpt_to": ["pat@fabrikam.com"]}, "mail_from: 'a@b.example> SIZE=1' does not end in a valid domain"),
        ({"mail_from": "x>,<a@y.example", "rcpt_to": ["pat@fabrikam.com"]}, "mail_from: 'x>,<a@y.example' is not an e-mail address"),
        ({"mail_from": "chris@contoso.com", "rcpt_to": ["ok@fabrikam.com", "pat@fabrikam.com\nDATA"]},
         "rcpt_to[1]: 'pat@fabrikam.com\\nDATA' contains a line break"),
        ({"mail_from": "chris@contoso.com", "rcpt_to": ["pat@fabrikam..com"]}, "rcpt_to[0]: 'pat@fabrikam..com' does not end in a valid domain"),
        ({"send_test_message": {"from": "chris@contoso.com\r\nRCPT TO:<x@y.example>", "to": ["pat@fabrikam.com"]}},
         "send_test_message.from: 'chris@contoso.com\\r\\nRCPT TO:<x@y.example>' contains a line break"),
        ({"send_test_message": {"from": "chris@contoso.com", "to": ["pat@fabrikam.com\r"]}},
         "send_test_message.to[0]: 'pat@fabrikam.com\\r' contains a line break"),
        ({"send_test_message": {"from": "chris@contoso.com", "to": ["pat@fabrikam.com"], "subject": "hi\nBcc: all@contoso.com"}},
         "send_test_message.subject: 'hi\\nBcc: all@contoso.com' contains a line break"),
        ({"hosts": ["relay.contoso.net\n"]}, "hosts[0]: 'relay.contoso.net\\n' contains a line break"),
    ],
)
def test_values_that_would_break_an_smtp_line_are_refused_before_connecting(probe, listener, extra, named):
    port, connected = listener
    args = {"hosts": ["127.0.0.1"], "port": port, **extra}
    result, _output = probe(args)
    assert result["failed"] and named in result["msg"], result["msg"]
    assert "probes" not in result
    assert connected() is False, "the module connected although its input was refused"


def test_all_bad_values_of_one_task_come_back_together(probe, listener):
    port, connected = listener
    result, _output = probe({"hosts": ["127.0.0.1"], "port": port, "helo_name": "a\rb", "mail_from": "x\n@y.example", "rcpt_to": ["p@q.example\n"],
                             "send_test_message": {"from": "f@g.example", "to": ["t@u.example"], "subject": "s\r\n"}})
    for option in ("helo_name:", "mail_from:", "rcpt_to[0]:", "send_test_message.subject:"):
        assert option in result["msg"], option
    assert connected() is False


def test_display_name_and_idn_addresses_are_accepted(smarthost, probe):
    host = smarthost(auth=[], users={})
    args = {"hosts": ["127.0.0.1"], "port": host.ready["port"], "helo_name": "[127.0.0.1]", "fail_on": [],
            "mail_from": "chris.o'neil+probe@contoso.com", "rcpt_to": ["pat@bücher.example"],
            "send_test_message": {"from": "Chris <chris@contoso.com>", "to": ["\"Pat Q\" <pat@fabrikam.com>"], "subject": "Grüße"}}
    result, _output = probe(args)
    assert not result.get("failed"), result.get("msg")
    assert result["probes"][0]["mail_rcpt"]["mail_code"] == 250
    (msg,) = read_maildir(host.ready["maildir"])
    assert msg.mail_from == "chris@contoso.com" and msg.rcpt_to == ["pat@fabrikam.com"] and msg.helo == "[127.0.0.1]"


def test_the_engine_itself_refuses_a_line_with_cr_lf(smarthost):
    """Defence in depth: even a caller that skipped the module's checks cannot put a second command on the wire."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import ProbeSettings, probe_host

    host = smarthost(auth=[], users={})
    record = probe_host(ProbeSettings(host="127.0.0.1", port=host.ready["port"], timeout=5, helo_name="fuzz\r\nMAIL FROM:<inj@x.example>"))
    assert "refused to send EHLO: the line contains CR, LF or NUL" in record["error"]
    assert not any("inj@x.example" in line for line in record["transcript"])


def test_auth_before_starttls_and_a_connector_that_would_send_its_password_in_clear(smarthost, probe):
    host = smarthost(starttls=True, cert_names=[NAME])  # AUTH LOGIN offered before and after STARTTLS
    result, _output = probe(args_for(host, smart_host_auth_mechanism="basicauth", ignore_starttls=True))
    found = {(f["severity"], f["code"]) for f in result["findings"]}
    assert ("warning", "AUTH_BEFORE_TLS") in found and ("error", "AUTH_CLEARTEXT") in found and ("info", "STARTTLS_IGNORED") in found
    (cleartext,) = findings(result, "AUTH_CLEARTEXT")
    assert "ignore_starttls is true" in cleartext["message"] and "BasicAuthRequireTLS" in cleartext["hint"]
    # The probe itself still used TLS (verified) for its own AUTH: nothing went out in clear from the probe.
    transcript = result["probes"][0]["transcript"]
    assert transcript.index("C: STARTTLS") < transcript.index("C: AUTH LOGIN")
    assert [e["ok"] for e in auth_events(host)] == [True]
    # BasicAuth that would use STARTTLS: the downgrade risk is a warning, not an error
    result, _output = probe(args_for(host, smart_host_auth_mechanism="BasicAuth"))
    codes = {(f["severity"], f["code"]) for f in result["findings"]}
    assert ("warning", "AUTH_CLEARTEXT_POSSIBLE") in codes and not findings(result, "AUTH_CLEARTEXT")
    # BasicAuthRequireTLS cannot work with IgnoreSTARTTLS at all
    result, _output = probe(args_for(host, smart_host_auth_mechanism="BasicAuthRequireTLS", ignore_starttls=True))
    assert [f["severity"] for f in findings(result, "STARTTLS_IGNORED")] == ["error"]

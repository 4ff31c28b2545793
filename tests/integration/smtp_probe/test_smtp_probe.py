"""smtp_probe against real test smart hosts over loopback SMTP.

The module runs as Ansible runs it: a separate Python process fed an args file, its JSON result
read from stdout (plus one full ``ansible-playbook -vvvv`` run for the secret check). Each
finding is caused by a smart host configured to cause it.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from send_connector_harness import run_module  # noqa: E402  (the one bootstrap is tests/conftest.py)

from exchange_lab.smarthost import SmartHost, SmartHostConfig, read_maildir  # noqa: E402

NAME = "relay.contoso.net"
PASSWORD = "Pr0be-S3cret-Value"
PASSWORD_B64 = base64.b64encode(PASSWORD.encode()).decode()


@pytest.fixture
def smarthost(tmp_path):
    started: list[SmartHost] = []

    def make(**kwargs) -> dict:
        kwargs.setdefault("banner_name", NAME)
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / f"sh{len(started)}"), **kwargs))
        started.append(host)
        return host.start()

    yield make
    for host in started:
        host.stop()


@pytest.fixture
def probe(collections_path, tmp_path):
    """Run the module like Ansible does; returns its result (and the raw stdout+stderr with with_output)."""

    def run(args: dict, check_mode: bool = False, with_output: bool = False):
        payload = dict(args)
        payload.setdefault("timeout", 5)
        if check_mode:
            payload["_ansible_check_mode"] = True
        result, output = run_module("smtp_probe", payload, str(tmp_path))
        return (result, output) if with_output else result

    return run


def base_args(ready: dict, **extra) -> dict:
    args = {"hosts": [NAME], "port": ready["port"], "connect_address": "127.0.0.1", "helo_name": "ex01.contoso.com"}
    if ready.get("ca_cert"):
        args["ca_cert"] = ready["ca_cert"]
    args.update(extra)
    return args


def codes(result: dict, severity: str | None = None) -> set[str]:
    return {f["code"] for f in result["findings"] if severity is None or f["severity"] == severity}


def test_clean_smart_host_has_no_error_findings(smarthost, probe):
    ready = smarthost(starttls=True, auth=["LOGIN"], auth_require_tls=True, users={"relay": PASSWORD}, cert_names=[NAME])
    result, raw = probe(base_args(
        ready, require_tls=True, tls_auth_level="DomainValidation", tls_domain=NAME,
        smart_host_auth_mechanism="BasicAuthRequireTLS", authentication_credential={"username": "relay", "password": PASSWORD},
        max_message_size="35MB", mail_from="chris@contoso.com", rcpt_to=["pat@fabrikam.com"],
    ), with_output=True)
    assert not result.get("failed"), result.get("msg")
    assert codes(result, "error") == set() and result["summary"]["error"] == 0
    (rec,) = result["probes"]
    assert rec["banner"]["code"] == 220 and rec["ehlo"]["starttls"] is True
    assert rec["auth"]["mechanisms_before_tls"] == [] and rec["auth"]["mechanisms_after_tls"] == ["LOGIN"]
    assert rec["auth"]["login"]["ok"] is True and rec["auth"]["login"]["code"] == 235
    assert rec["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    cert = rec["certificate"]
    assert cert["chain"]["verified"] is True and cert["host_match"]["matched"] is True and cert["tls_domain_match"]["matched"] is True
    assert cert["sans"] == [NAME] and len(cert["sha256"]) == 64
    assert rec["mail_rcpt"]["rcpt"] == [{"address": "pat@fabrikam.com", "code": 250, "text": "2.1.5 Recipient OK"}]
    assert rec["ehlo_tls"]["size"] == 36700160
    assert PASSWORD not in raw and PASSWORD_B64 not in raw
    assert any("(password)" in line for line in rec["transcript"])


def test_no_starttls_with_require_tls_or_basic_auth_require_tls(smarthost, probe):
    ready = smarthost(auth=["LOGIN"], users={"relay": PASSWORD})
    result = probe(base_args(ready, require_tls=True))
    assert result["failed"] and "STARTTLS_NOT_OFFERED" in codes(result, "error")
    result = probe(base_args(ready, smart_host_auth_mechanism="BasicAuthRequireTLS", authentication_credential={"username": "relay", "password": PASSWORD}))
    assert {"STARTTLS_NOT_OFFERED", "AUTH_NOT_OFFERED"} <= codes(result, "error")
    # BasicAuthRequireTLS never sends the password without TLS
    assert result["probes"][0]["auth"]["login"]["attempted"] is False
    # without any TLS requirement, the same host is only worth an info
    result = probe(base_args(ready))
    assert not result.get("failed") and "STARTTLS_NOT_OFFERED" in codes(result, "info")


def test_plain_only_with_basic_auth_names_the_problem(smarthost, probe):
    ready = smarthost(starttls=True, auth=["PLAIN"], users={"relay": PASSWORD})
    result = probe(base_args(ready, smart_host_auth_mechanism="BasicAuth"))
    assert result["failed"]
    (finding,) = [f for f in result["findings"] if f["code"] == "AUTH_LOGIN_NOT_OFFERED"]
    assert finding["severity"] == "error" and "only AUTH PLAIN" in finding["message"] and "LOGIN" in finding["hint"]
    assert "AUTH_LOGIN_NOT_OFFERED" in result["msg"]


def test_certificate_name_mismatch(smarthost, probe):
    ready = smarthost(starttls=True, auth=["LOGIN"], users={"relay": PASSWORD}, cert_names=["other.contoso.net"])
    result = probe(base_args(ready, smart_host_auth_mechanism="BasicAuthRequireTLS", require_tls=True))
    (finding,) = [f for f in result["findings"] if f["code"] == "CERT_NAME_MISMATCH"]
    assert finding["severity"] == "error" and "other.contoso.net" in finding["message"]
    assert result["probes"][0]["certificate"]["host_match"]["matched"] is False


def test_wildcard_certificate_matches_one_label_only(smarthost, probe):
    ready = smarthost(starttls=True, cert_names=["*.contoso.net"])
    result = probe(base_args(ready, require_tls=True, tls_auth_level="DomainValidation", tls_domain="*.contoso.net"))
    assert codes(result, "error") == set(), result["findings"]
    deeper = dict(base_args(ready, require_tls=True, tls_auth_level="DomainValidation", tls_domain="contoso.net"), hosts=["a.relay.contoso.net"])
    result = probe(deeper)
    assert {"CERT_TLS_DOMAIN_MISMATCH"} <= codes(result, "error")
    assert "CERT_NAME_MISMATCH" in codes(result, "warning")


def test_unknown_ca_is_untrusted(smarthost, probe):
    ready = smarthost(starttls=True, cert_unknown_ca=True, cert_names=[NAME])
    result = probe(base_args(ready, require_tls=True, tls_auth_level="CertificateValidation"))
    (finding,) = [f for f in result["findings"] if f["code"] == "CERT_UNTRUSTED"]
    assert finding["severity"] == "error" and "unable to get local issuer certificate" in finding["message"]
    assert "issued by a CA that is not trusted" in finding["message"] and "unknown CA" in finding["message"]
    rec = result["probes"][0]
    assert rec["certificate"]["chain"]["problem"] == "unknown_ca"
    # the probe still read the rest of the session after the failed verification
    assert rec["ehlo_tls"]["code"] == 250 and "exchange_lab unknown CA" in rec["certificate"]["issuer"]


def test_expired_and_expiring_certificates(smarthost, probe):
    expired = smarthost(starttls=True, cert_expired=True, cert_names=[NAME])
    result = probe(base_args(expired, require_tls=True, tls_auth_level="CertificateValidation"))
    assert "CERT_EXPIRED" in codes(result, "error")
    # The chain fails only because of the date: one finding, not "install the issuing CA" too.
    assert "CERT_UNTRUSTED" not in codes(result, "error")
    assert result["probes"][0]["certificate"]["chain"]["verified"] is False
    assert result["probes"][0]["certificate"]["chain"]["problem"] == "expired"
    # the same certificate under opportunistic TLS: Exchange does not check the dates, so only a warning
    result = probe(base_args(expired))
    assert not result.get("failed") and "CERT_EXPIRED" in codes(result, "warning")
    assert result["probes"][0]["certificate"]["days_left"] < 0
    soon = smarthost(starttls=True, cert_valid_days=10, cert_names=[NAME])
    result = probe(base_args(soon, require_tls=True))
    assert not result.get("failed") and "CERT_EXPIRES_SOON" in codes(result, "warning")
    assert result["probes"][0]["certificate"]["days_left"] == 10
    result = probe(base_args(soon, require_tls=True, fail_on=["error", "warning"]))
    assert result["failed"] and "CERT_EXPIRES_SOON" in result["msg"]


def test_size_below_max_message_size(smarthost, probe):
    ready = smarthost(size=10 * 1024 * 1024)
    result = probe(base_args(ready, max_message_size="35MB"))
    (finding,) = [f for f in result["findings"] if f["code"] == "SIZE_TOO_SMALL"]
    assert finding["severity"] == "error" and "10485760" in finding["message"] and "36700160" in finding["message"]
    result = probe(base_args(ready, max_message_size="10 MB (10,485,760 bytes)"))
    assert "SIZE_TOO_SMALL" not in codes(result)


def test_implicit_tls_port(smarthost, probe):
    ready = smarthost(implicit_tls=True, cert_names=[NAME])
    # the probe waits half its timeout for a banner before it tries TLS on connect; the other half holds two
    # reconnects and two handshakes, which a loaded 2-core machine may not finish in 1.5 s
    result = probe(base_args(ready, timeout=8))
    assert "IMPLICIT_TLS" in codes(result, "error")
    rec = result["probes"][0]
    assert rec["implicit_tls"] is True and rec["banner"]["code"] == 220 and rec["tls"]["version"]


def test_unreachable_port(probe):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = probe({"hosts": ["127.0.0.1"], "port": port, "timeout": 3})
    assert result["failed"] and codes(result, "error") == {"TCP_CONNECT_FAILED"}
    assert result["probes"][0]["tcp"]["ok"] is False


def test_unresolvable_name(probe):
    result = probe({"hosts": ["no-such-host.invalid"], "timeout": 3})
    assert codes(result, "error") == {"DNS_NO_ADDRESS"}


def test_relay_denied_at_rcpt(smarthost, probe):
    ready = smarthost(allow_clients=["192.0.2.0/24"])
    result = probe(base_args(ready, mail_from="chris@contoso.com", rcpt_to=["pat@fabrikam.com"]))
    (finding,) = [f for f in result["findings"] if f["code"] == "RELAY_DENIED"]
    assert finding["severity"] == "error" and "550 5.7.1 Unable to relay" in finding["message"]


def test_bad_credentials_535(smarthost, probe):
    ready = smarthost(starttls=True, auth=["LOGIN"], users={"relay": "the-right-one"}, cert_names=[NAME])
    result, raw = probe(base_args(ready, smart_host_auth_mechanism="BasicAuthRequireTLS", require_tls=True,
                                  authentication_credential={"username": "relay", "password": PASSWORD}), with_output=True)
    (finding,) = [f for f in result["findings"] if f["code"] == "AUTH_FAILED"]
    assert "535 5.7.3 Authentication unsuccessful" in finding["message"]
    assert PASSWORD not in raw and PASSWORD_B64 not in raw


def test_several_hosts_concurrently_in_order(smarthost, probe):
    ready = smarthost(starttls=True)
    # One port for all hosts, as on a connector: the smart host listens on 127.0.0.1 only, so the
    # IPv6 loopback stands for a smart host that is down.
    result = probe({"hosts": ["127.0.0.1", "localhost", "[::1]"], "port": ready["port"], "timeout": 3, "fail_on": []})
    assert not result.get("failed")
    assert [p["host"] for p in result["probes"]] == ["127.0.0.1", "localhost", "::1"]
    assert result["probes"][0]["ehlo"]["starttls"] is True and result["probes"][1]["ehlo"]["starttls"] is True
    assert result["probes"][1]["address"] == "127.0.0.1"
    assert [f["host"] for f in result["findings"] if f["code"] == "TCP_CONNECT_FAILED"] == ["::1"]


def test_send_test_message_and_check_mode(smarthost, probe):
    ready = smarthost(starttls=True, auth=["LOGIN"], users={"relay": PASSWORD})
    args = base_args(ready, smart_host_auth_mechanism="BasicAuth", authentication_credential={"username": "relay", "password": PASSWORD},
                     send_test_message={"from": "chris@contoso.com", "to": ["pat@fabrikam.com"], "subject": "probe test"})
    result = probe(args, check_mode=True)
    assert result["test_message"]["skipped"] is True and not result["changed"]
    assert read_maildir(ready["maildir"]) == []
    result, raw = probe(args, with_output=True)
    assert result["changed"] is True and result["test_message"]["queued"] is True
    (msg,) = read_maildir(ready["maildir"])
    assert msg.message_id == result["message_id"]
    assert msg.tls and msg.auth_user == "relay" and msg.rcpt_to == ["pat@fabrikam.com"]
    assert str(msg.message["Subject"]) == "probe test"
    assert PASSWORD not in raw and PASSWORD_B64 not in raw


def test_invalid_combinations_fail_before_probing(probe):
    result = probe({"hosts": ["a.example", "b.example"], "connect_address": "127.0.0.1", "tls_auth_level": "DomainValidation", "max_message_size": "lots"})
    assert result["failed"]
    for fragment in ("connect_address: only allowed with exactly one", "require_tls: tls_auth_level needs require_tls true",
                     "tls_domain: required when tls_auth_level is DomainValidation", "max_message_size: 'lots' is not a size"):
        assert fragment in result["msg"]
    assert "probes" not in result


def test_bad_ca_cert_port_in_host_and_connect_address_are_named(probe, tmp_path):
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello")
    result = probe({"hosts": ["relay.contoso.net:587"], "ca_cert": str(not_pem), "connect_address": "relay"})
    assert result["failed"]
    assert "hosts[0]: 'relay.contoso.net:587' carries a port" in result["msg"]
    assert f"ca_cert: {not_pem} holds no PEM CA certificate" in result["msg"]
    assert "connect_address: 'relay' is not an IP address" in result["msg"]
    # a missing file, a directory and a file that is not PEM each read differently
    assert probe({"hosts": ["::1"], "ca_cert": str(tmp_path / "missing.pem")})["msg"].count("missing.pem does not exist") == 1
    assert "is a directory" in probe({"hosts": ["::1"], "ca_cert": str(tmp_path)})["msg"]


def test_playbook_at_vvvv_never_shows_the_password(smarthost, collections_path, tmp_path):
    ready = smarthost(starttls=True, auth=["LOGIN"], users={"relay": PASSWORD}, cert_names=[NAME])
    playbook = tmp_path / "probe.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          vars:
            relay_password: "{PASSWORD}"
          tasks:
            - name: Probe with the connector's credential
              mailflow.exchange.smtp_probe:
                hosts: [{NAME}]
                connect_address: 127.0.0.1
                port: {ready['port']}
                ca_cert: {ready['ca_cert']}
                require_tls: true
                smart_host_auth_mechanism: BasicAuthRequireTLS
                authentication_credential:
                  username: relay
                  password: "{{{{ relay_password }}}}"
                helo_name: ex01.contoso.com
              register: probe
            - name: Show the probe
              ansible.builtin.debug:
                var: probe
            - name: The login worked
              ansible.builtin.assert:
                that:
                  - probe.probes[0].auth.login.ok
                  - probe.summary.error == 0
        """))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook_bin, "-vvvv", "-i", "localhost,", "-c", "local", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "ok: [localhost]" in output and '"code": 235' in output
    assert PASSWORD not in output and PASSWORD_B64 not in output


def _silent_then(listener, script: list[bytes]) -> None:
    """Accept clients; send each scripted reply after each client line, then fall silent (never close)."""
    import threading  # pylint: disable=import-outside-toplevel

    def serve(conn) -> None:
        with conn, conn.makefile("rb") as reader:
            if script:
                conn.sendall(script[0])
            for reply in script[1:]:
                if not reader.readline():
                    return
                conn.sendall(reply)
            threading.Event().wait(30)

    while True:
        try:
            conn = listener.accept()[0]
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def test_timeouts_read_distinctly_from_refusals(probe):
    import threading  # pylint: disable=import-outside-toplevel

    silent, stalling = socket.socket(), socket.socket()
    for sock in (silent, stalling):
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
    threading.Thread(target=_silent_then, args=(silent, []), daemon=True).start()
    threading.Thread(target=_silent_then, args=(stalling, [b"220 stall.test ESMTP\r\n", b"250 stall.test\r\n"]), daemon=True).start()
    try:
        result = probe({"targets": [{"host": "127.0.0.1", "port": silent.getsockname()[1], "label": "silent"},
                                    {"host": "127.0.0.1", "port": stalling.getsockname()[1], "label": "stalling"}],
                        "mail_from": "chris@contoso.com", "rcpt_to": ["pat@fabrikam.com"], "timeout": 3, "fail_on": []})
    finally:
        silent.close()
        stalling.close()
    by_label = {f["label"]: f for f in result["findings"] if f["severity"] == "error"}
    assert by_label["silent"]["code"] == "SMTP_TIMEOUT" and "sent no SMTP greeting" in by_label["silent"]["message"]
    assert by_label["stalling"]["code"] == "SMTP_TIMEOUT" and "stopped answering" in by_label["stalling"]["message"]
    assert "MAIL FROM" in by_label["stalling"]["message"]
    assert [p["error_kind"] for p in result["probes"]] == ["timeout", "timeout"]


def test_a_smart_host_refusing_auth_login_itself_is_not_a_wrong_password(probe):
    """AUTH LOGIN answered 504 before any credential went out: AUTH_REFUSED, not AUTH_FAILED."""
    import threading  # pylint: disable=import-outside-toplevel

    received: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)

    def serve() -> None:
        conn = listener.accept()[0]
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 refuse.test ESMTP\r\n")
            for line in reader:
                received.append(line)
                verb = line.split(b" ", 1)[0].strip().upper()
                reply = {b"EHLO": b"250-refuse.test\r\n250 AUTH LOGIN\r\n", b"AUTH": b"504 5.7.4 Unrecognized authentication type\r\n",
                         b"QUIT": b"221 bye\r\n"}.get(verb, b"250 ok\r\n")
                conn.sendall(reply)
                if verb == b"QUIT":
                    return

    threading.Thread(target=serve, daemon=True).start()
    try:
        result = probe({"hosts": ["127.0.0.1"], "port": listener.getsockname()[1], "smart_host_auth_mechanism": "BasicAuth",
                        "authentication_credential": {"username": "relay", "password": PASSWORD}, "fail_on": []})
    finally:
        listener.close()
    (refused,) = [f for f in result["findings"] if f["code"] == "AUTH_REFUSED"]
    assert refused["severity"] == "error" and "504 5.7.4 Unrecognized authentication type" in refused["message"]
    assert not [f for f in result["findings"] if f["code"] == "AUTH_FAILED"]
    assert result["probes"][0]["auth"]["login"]["stage"] == "command"
    assert b"AUTH LOGIN\r\n" in received and not any(PASSWORD_B64.encode() in line for line in received)


def test_a_starttls_that_does_not_start_tls_is_named(probe):
    """220 to STARTTLS, then plain text on the wire (an inspecting proxy): the handshake failure says what happened."""
    import threading  # pylint: disable=import-outside-toplevel

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)

    def serve() -> None:
        while True:
            try:
                conn = listener.accept()[0]
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                conn.sendall(b"220 proxy.test ESMTP\r\n")
                for line in reader:
                    verb = line.split(b" ", 1)[0].strip().upper()
                    if verb == b"STARTTLS":
                        conn.sendall(b"220 go ahead\r\n")
                        conn.recv(4096)  # the ClientHello
                        conn.sendall(b"500 this is not TLS at all, but plain text on the wire\r\n" * 4)
                        threading.Event().wait(3)  # keep the line open: the client judges the bytes, not a close
                        break
                    conn.sendall({b"EHLO": b"250-proxy.test\r\n250 STARTTLS\r\n", b"QUIT": b"221 bye\r\n"}.get(verb, b"250 ok\r\n"))

    threading.Thread(target=serve, daemon=True).start()
    try:
        result = probe({"hosts": ["127.0.0.1"], "port": listener.getsockname()[1], "require_tls": True, "fail_on": [], "timeout": 4})
    finally:
        listener.close()
    (finding,) = [f for f in result["findings"] if f["code"] == "TLS_HANDSHAKE_FAILED"]
    assert finding["severity"] == "error" and "did not speak TLS after agreeing to STARTTLS" in finding["message"], finding

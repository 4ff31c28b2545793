"""A real MTA as the smart host: Debian's Postfix 3.7 with STARTTLS, Cyrus SASL and a Maildir (issue 9).

One private Postfix (exchange_lab/postfix.py) serves the whole module on four loopback ports:
``default`` (AUTH only after STARTTLS, relay only when authenticated), ``auth_before_tls``
(``smtpd_tls_auth_only = no``), ``expired`` (an expired certificate from the trusted CA) and
``defer`` (451 4.7.1 to every recipient). One Exchange lab resolves smarthost.lab.test to it and
trusts its CA.

Every case runs the three parts of the collection over the wire and asserts that they agree:
the probe (smtp_probe with the connector's intended settings), the lab's delivery through a
connector with those settings (send_connector + a test message + message_trace, and what Postfix
logged and delivered), and the role's verdict on those results (its own filter functions: which
findings stop preflight, which hint a failed trace gets). The main job itself runs against
Postfix end to end, twice.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import sys
import typing as t

import pytest

from role_lab import collections_path, run_playbook
from send_connector_harness import Ansible, LabProcess, exchange_env

from exchange_lab.postfix import LISTENER_KINDS, Postfix, PostfixConfig, make_state_dir, missing_packages, remove_state

from ansible_collections.mailflow.exchange.plugins.filter.__internal import smart_host_routing as role_filter  # noqa: E402

NAME = "smarthost.lab.test"
USER = "relay"
PASSWORD = "Pf9-" + secrets.token_urlsafe(12)
SENDER = "administrator@contoso.com"


@pytest.fixture(scope="module")
def postfix():
    missing = missing_packages()
    if missing:
        pytest.fail(f"Debian packages missing: {' '.join(missing)}; `make system-packages` installs hacking/apt-packages.txt")
    state = make_state_dir()
    server = Postfix(PostfixConfig(state_dir=state, hostname=NAME, users={USER: PASSWORD}, listeners={k: 0 for k in LISTENER_KINDS}))
    server.start()
    yield server
    server.stop()
    remove_state(state)


@pytest.fixture(scope="module")
def lab(postfix, tmp_path_factory):
    proc = LabProcess(
        str(tmp_path_factory.mktemp("lab")),
        # connect_timeout caps ConnectionInactivityTimeOut: the "stall" listener outlasts it.
        config={"hosts": {NAME: postfix.config.host}, "mail": {"ca_bundle": postfix.ca_cert, "retry_interval": 1, "connect_timeout": 5}},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def role_lab(lab, postfix, tmp_path_factory):
    """What playbooks/inventory/lab.yml reads: the lab's ready file and the smart host's (here Postfix's)."""
    ready = str(tmp_path_factory.mktemp("postfix-ready") / "ready.json")
    with open(ready, "w", encoding="utf-8") as handle:
        json.dump(postfix.ready, handle)
    return {"lab": lab, "lab_ready_file": os.path.join(lab.state_dir, "ready.json"), "smart_host_ready_file": ready}


class Case:
    """One connector setting against one Postfix listener: the probe, the lab's delivery, the role's verdict."""

    def __init__(self, run, name: str, recipient: str) -> None:
        self.run = run
        self.name = name
        self.recipient = recipient
        self.probe = run.result("probe")
        self.connector = run.result("connector")
        self.submitted = run.result("submit")
        self.trace = run.result("trace")

    @property
    def findings(self) -> dict[str, str]:
        return {f["code"]: f["severity"] for f in self.probe.get("findings") or []}

    @property
    def preflight_blockers(self) -> list[str]:
        """The role's decision: which findings stop preflight (its own filter over this probe result)."""
        registered = {"results": [dict(self.probe, item={"connector": self.name, "host": NAME})]}
        return [f["code"] for f in role_filter.blocking_findings(registered, ["error"])]

    @property
    def role_hint(self) -> str:
        """message_trace's own hint for this trace (the role reports it as it is)."""
        return str(self.trace.get("hint") or "")

    def explain(self) -> str:
        return json.dumps({"findings": self.probe.get("findings"), "trace": {k: self.trace.get(k) for k in ("result", "last_error", "msg")}}, indent=1)[:6000]


def run_case(ansible: Ansible, postfix: Postfix, lab: LabProcess, case: str, *, listener: str = "default",
             auth: str = "BasicAuthRequireTLS", password: str = PASSWORD, settings: dict[str, t.Any] | None = None,
             probe_settings: dict[str, t.Any] | None = None, rcpt: bool = False, port: int | None = None) -> Case:
    """Probe, create the case's own connector (its own address space), submit a message, trace it."""
    domain = case.replace("_", "-") + ".example"
    recipient = "postmaster@" + domain
    connector_name = "Postfix " + case
    settings = dict(settings or {})
    credential = {"username": USER, "password": password} if auth.startswith("BasicAuth") else None
    port = port or postfix.ports[listener]
    probe = {"hosts": [NAME], "port": port, "connect_address": postfix.config.host, "ca_cert": postfix.ca_cert,
             "smart_host_auth_mechanism": auth, "helo_name": "EX01.contoso.com", "fail_on": [], "timeout": 5}
    probe.update({k: v for k, v in settings.items() if k in ("require_tls", "tls_auth_level", "tls_domain")})
    probe.update(probe_settings or {})
    if credential:
        probe["authentication_credential"] = credential
    if rcpt:
        probe.update({"mail_from": SENDER, "rcpt_to": [recipient]})
    connector = {"name": connector_name, "usage": "Custom", "address_spaces": [f"SMTP:{domain};1"], "dns_routing_enabled": False,
                 "smart_hosts": [NAME], "port": port, "smart_host_auth_mechanism": auth, "source_transport_servers": ["EX01"],
                 "protocol_logging_level": "Verbose", **settings}
    if credential:
        connector["authentication_credential"] = credential
    ready = lab.ready
    tasks = [
        {"name": "probe", "mailflow.exchange.smtp_probe": probe, "register": "probe", "ignore_errors": True},
        {"name": "connector", "mailflow.exchange.send_connector": connector},
        {"name": "submit", "register": "submit", "mailflow.exchange.smtp_probe": {
            "hosts": [ready["smtp_host"]], "port": ready["smtp_port"], "fail_on": [],
            "send_test_message": {"from": SENDER, "to": [recipient], "subject": "postfix case " + case}}},
        {"name": "trace", "ignore_errors": True, "mailflow.exchange.message_trace": {
            "message_id": "{{ submit.message_id }}", "connector": connector_name,
            "servers": ["EX01"], "start": "-15m", "wait_for": "send", "timeout": 20, "poll_interval": 0.5}},
    ]
    run = ansible.play(json.dumps(tasks))
    assert run.result("connector").get("failed") is not True, run.stdout[-3000:]
    return Case(run, connector_name, recipient)


def message_id_of(case: Case) -> str:
    return str(case.submitted["message_id"])


def smtp_send_log(lab: LabProcess) -> str:
    text = ""
    for path in sorted(glob.glob(os.path.join(lab.ready["logs_dir"], "**", "*.LOG"), recursive=True)):
        if "SmtpSend" in path or "Send" in os.path.basename(os.path.dirname(path)):
            with open(path, encoding="utf-8", errors="replace") as handle:
                text += handle.read()
    return text


# --- the agreement cases -----------------------------------------------------------------------
# Each case runs once (cached); the lab/role assertions and the probe assertions are separate
# tests, so a probe fix that has not landed yet cannot hide what the lab and the role do.

CASES: dict[str, dict[str, t.Any]] = {
    "clean": {},
    "wrong_password": {"password": "not-" + PASSWORD},
    "temporary_refusal": {"listener": "defer"},
    "relay_denied": {"auth": "None", "rcpt": True},
    # BasicAuthRequireTLS without TlsAuthLevel: Exchange validates neither the chain nor the dates.
    "expired_opportunistic": {"listener": "expired"},
    "expired_validating": {"listener": "expired", "settings": {"require_tls": True, "tls_auth_level": "CertificateValidation"}},
    # Postfix accepts the connection, STARTTLS and AUTH, then holds RCPT longer than the connector waits.
    "stalled": {"listener": "stall"},
    # smtpd_tls_auth_only = no and a BasicAuth connector with IgnoreSTARTTLS: AUTH LOGIN in clear text.
    "auth_before_tls": {"listener": "auth_before_tls", "auth": "BasicAuth", "settings": {"ignore_starttls": True},
                        "probe_settings": {"ignore_starttls": True}},
}


@pytest.fixture(scope="module")
def case(ansible, postfix, lab):
    done: dict[str, Case] = {}

    def get(name: str) -> Case:
        if name not in done:
            done[name] = run_case(ansible, postfix, lab, name, **CASES[name])
        return done[name]

    return get


def test_clean_lab_delivers_with_auth_login_over_tls_and_bdat(case, postfix, lab):
    c = case("clean")
    assert c.trace["result"] == "sent", c.explain()
    delivered = postfix.wait_for_message(message_id_of(c))
    assert "with ESMTPSA" in delivered.received, delivered.received  # authenticated, over TLS
    assert delivered.message["To"] == c.recipient
    queue_id = re.search(r"id (\w+)", delivered.received).group(1)
    postfix.wait_for_log(rf"{queue_id}: client=localhost\[127\.0\.0\.1\], sasl_method=LOGIN, sasl_username={USER}@{re.escape(NAME)}")
    postfix.wait_for_log(rf"{queue_id}: to=<{re.escape(c.recipient)}>, relay=virtual.*status=sent")
    # Exchange sends BDAT to a host that offers CHUNKING (Postfix does) and logs it in SmtpSend.
    log = smtp_send_log(lab)
    assert re.search(r",>,BDAT \d+ LAST,", log), log[-3000:]
    assert PASSWORD not in log and PASSWORD not in c.run.stdout


def test_clean_probe_and_role_agree(case):
    c = case("clean")
    assert not [code for code, sev in c.findings.items() if sev in ("error", "warning")], c.explain()
    assert c.preflight_blockers == []


def test_wrong_password_lab_queues_postfix_535(case, postfix):
    c = case("wrong_password")
    assert c.trace["result"] == "deferred", c.explain()
    assert re.search(r"535 5\.7\.8 Error: authentication failed", c.trace.get("last_error") or ""), c.explain()
    assert "credentials" in c.role_hint
    postfix.wait_for_log(r"SASL LOGIN authentication failed")
    assert PASSWORD not in c.run.stdout


def test_wrong_password_probe_and_role_agree(case):
    c = case("wrong_password")
    assert c.findings.get("AUTH_FAILED") == "error", c.explain()
    assert "AUTH_FAILED" in c.preflight_blockers


def test_temporary_refusal_is_deferred_with_postfix_text_and_the_hint_says_deferred(case, postfix):
    c = case("temporary_refusal")
    assert c.preflight_blockers == [], c.explain()  # a refusal at RCPT is not visible to a probe without RCPT
    assert c.trace["result"] == "deferred", c.explain()
    assert "451 4.7.1" in c.trace["last_error"] and "Service temporarily unavailable" in c.trace["last_error"], c.explain()
    assert "deferred" in c.role_hint and "unreachable" not in c.role_hint, c.role_hint
    postfix.wait_for_log(r"reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.7\.1 <" + re.escape(c.recipient))


def test_stalled_session_after_auth_is_not_called_unreachable(case, lab):
    """Issue 9 item 5: connected and authenticated, then timed out: the hint must not say unreachable."""
    c = case("stalled")
    assert c.preflight_blockers == [], c.explain()
    assert c.trace["result"] == "deferred", c.explain()
    assert "4.4.397" in c.trace["last_error"] and "Connection timed out" in c.trace["last_error"], c.explain()
    assert "unreachable" not in c.role_hint and "stopped answering" in c.role_hint, c.role_hint
    log = smtp_send_log(lab)
    session = [line for line in log.splitlines() if ",Postfix stalled," in line]
    assert any(",<,235 " in line for line in session), "\n".join(session)  # it did authenticate


def test_relay_denied_lab_returns_the_message_with_postfix_554(case, postfix):
    c = case("relay_denied")
    assert c.trace["result"] == "failed", c.explain()
    text = json.dumps(c.trace)
    assert "554 5.7.1" in text and "Relay access denied" in text, c.explain()
    assert "relay" in c.role_hint.lower()
    postfix.wait_for_log(r"554 5\.7\.1 <" + re.escape(c.recipient) + r">: Relay access denied")


def test_relay_denied_probe_and_role_agree(case):
    c = case("relay_denied")
    assert c.findings.get("RELAY_DENIED") == "error", c.explain()
    assert "RELAY_DENIED" in c.preflight_blockers


def test_expired_certificate_opportunistic_lab_delivers(case, postfix):
    c = case("expired_opportunistic")
    assert c.trace["result"] == "sent", c.explain()
    postfix.wait_for_message(message_id_of(c))


def test_expired_certificate_opportunistic_probe_warns_and_role_goes_on(case):
    c = case("expired_opportunistic")
    assert c.findings.get("CERT_EXPIRED") == "warning", c.explain()
    assert c.preflight_blockers == []


def test_expired_certificate_validating_lab_queues_not_time_valid(case):
    c = case("expired_validating")
    assert c.trace["result"] == "deferred", c.explain()
    assert "4.7.5 Certificate validation failure: NotTimeValid" in c.trace["last_error"]
    assert "certificate" in c.role_hint


def test_expired_certificate_validating_probe_and_role_stop(case):
    c = case("expired_validating")
    assert c.findings.get("CERT_EXPIRED") == "error", c.explain()
    assert "CERT_EXPIRED" in c.preflight_blockers


def test_auth_before_tls_lab_authenticates_in_clear(case, postfix):
    c = case("auth_before_tls")
    assert c.trace["result"] == "sent", c.explain()
    delivered = postfix.wait_for_message(message_id_of(c))
    assert "with ESMTPA " in delivered.received, delivered.received  # AUTH, no TLS
    queue_id = re.search(r"id (\w+)", delivered.received).group(1)
    postfix.wait_for_log(rf"auth_before_tls/smtpd\[\d+\]: {queue_id}: client=localhost\[127\.0\.0\.1\], sasl_method=LOGIN")


def test_auth_before_tls_probe_names_the_cleartext_password(case):
    """The lab did send the password in clear (above): for the probe that is an error that stops preflight
    (issue 9 item 2: a connector that would send its password in clear gets an error finding), and the
    smart host offering AUTH before STARTTLS is a finding of its own."""
    c = case("auth_before_tls")
    assert not c.probe.get("failed"), c.explain()
    assert c.findings.get("AUTH_CLEARTEXT") == "error", c.explain()
    assert c.findings.get("AUTH_BEFORE_TLS") == "warning", c.explain()
    assert "AUTH_CLEARTEXT" in c.preflight_blockers


def test_queue_follows_a_connector_removed_and_created_again(ansible, postfix, lab):
    """Issue 9 item 4: message_trace finds the queue of the NEW connector of the same name."""
    first = run_case(ansible, postfix, lab, "recreated", listener="defer")
    assert first.trace["result"] == "deferred" and first.trace.get("queues"), first.explain()
    removed = ansible.play(json.dumps([{"name": "remove", "mailflow.exchange.send_connector": {"name": "Postfix recreated", "state": "absent"}}]))
    assert removed.result("remove")["changed"] is True
    second = run_case(ansible, postfix, lab, "recreated", listener="defer")
    assert second.connector["changed"] is True
    assert second.trace["result"] == "deferred", second.explain()
    [queue] = second.trace["queues"]
    assert "451 4.7.1" in queue["last_error"]


def test_main_job_against_postfix_then_no_change(role_lab, postfix, tmp_path):
    """playbooks/smart_host.yml with BasicAuthRequireTLS + DomainValidation against Postfix, twice.

    Postfix is given to the lab inventory as "your own smart host" (SMART_HOST_NAME/PORT/ADDRESS/CA_CERT,
    no ready JSON), as docs/own-smart-host.md describes.
    """
    extra = {
        "smart_host_auth_mechanism": "BasicAuthRequireTLS",
        "smart_host_connector_name": "Postfix main job",
        "smart_host_address_spaces": ["SMTP:main-job.example;1"],
        "smart_host_routing_test_recipient": "postmaster@main-job.example",
        "smart_host_connector_settings": {"require_tls": True, "tls_auth_level": "DomainValidation", "tls_domain": NAME,
                                          "protocol_logging_level": "Verbose"},
    }
    env = {"SMART_HOST_USERNAME": USER, "SMART_HOST_PASSWORD": PASSWORD, "SMART_HOST_READY": None,
           "SMART_HOST_NAME": NAME, "SMART_HOST_PORT": str(postfix.ports["default"]), "SMART_HOST_ADDRESS": postfix.config.host,
           "SMART_HOST_CA_CERT": postfix.ca_cert}
    first = run_playbook(role_lab, tmp_path, extra, env=env)
    assert first.rc == 0, first.output[-6000:]
    [created] = first.report
    assert created["changed"] is True and created["trace"]["result"] == "sent", created
    postfix.wait_for_message(created["test_message_id"])
    # The role read the SmtpSend protocol log of that session: STARTTLS, AUTH LOGIN, BDAT to Postfix.
    session = "\n".join(str(line) for line in created.get("smtp_session") or [])
    assert "STARTTLS" in session and "AUTH LOGIN" in session and "BDAT" in session, session
    second = run_playbook(role_lab, tmp_path, extra, env=env)
    assert second.rc == 0, second.output[-6000:]
    [again] = second.report
    assert again["changed"] is False and again["trace"]["result"] == "sent"
    for run in (first, second):
        assert PASSWORD not in run.output and "Traceback" not in run.output


def test_main_job_stops_in_preflight_on_a_wrong_password(role_lab, postfix, tmp_path):
    extra = {"smart_host_auth_mechanism": "BasicAuthRequireTLS", "smart_host_connector_name": "Postfix bad password",
             "smart_host_address_spaces": ["SMTP:bad-password.example;1"]}
    run = run_playbook(role_lab, tmp_path, extra, env={"SMART_HOST_USERNAME": USER, "SMART_HOST_PASSWORD": "wrong-" + PASSWORD})
    assert run.rc != 0
    message = run.task("Preflight | Stop before any change when a smart host cannot work with its connector")["result"]["msg"]
    assert "(AUTH_FAILED)" in message and "no connector was changed" in message, message
    assert PASSWORD not in run.output


def test_main_job_hint_for_a_deferring_smart_host(role_lab, postfix, tmp_path):
    extra = {"smart_host_auth_mechanism": "BasicAuthRequireTLS", "smart_host_connector_name": "Postfix deferring",
             "smart_host_address_spaces": ["SMTP:deferring.example;1"], "smart_host_port": postfix.ports["defer"],
             "smart_host_routing_test_recipient": "postmaster@deferring.example", "smart_host_routing_trace_timeout": 20}
    run = run_playbook(role_lab, tmp_path, extra, env={"SMART_HOST_USERNAME": USER, "SMART_HOST_PASSWORD": PASSWORD})
    assert run.rc != 0, run.output[-4000:]
    [summary] = run.report
    assert summary["trace"]["result"] == "deferred", summary
    assert "451 4.7.1" in run.output and "deferred the message" in run.output, run.output[-4000:]
    assert "unreachable" not in summary["trace"].get("hint", "")


def test_prove_mail_flow_example_creates_the_authenticated_connector_on_a_fresh_organisation(postfix, role_lab, tmp_path):
    """Issue 9 item 7: the example playbook against a smart host that requires AUTH, on a fresh lab."""
    import subprocess

    from role_lab import LAB_INVENTORY, ROOT

    fresh = LabProcess(str(tmp_path / "fresh-lab"), config={"hosts": {NAME: postfix.config.host}, "mail": {"ca_bundle": postfix.ca_cert}})
    ready = fresh.start()
    try:
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_path(), "ANSIBLE_NOCOLOR": "1",
            **exchange_env(ready),
            "EXCHANGE_LAB_READY": os.path.join(fresh.state_dir, "ready.json"), "SMART_HOST_READY": role_lab["smart_host_ready_file"],
            "SMART_HOST_USERNAME": USER, "SMART_HOST_PASSWORD": PASSWORD,
        })
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
             os.path.join(ROOT, "playbooks", "examples", "prove_mail_flow.yml"), "-i", LAB_INVENTORY],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
        )
        connectors = fresh.run_cmdlet("Get-SendConnector", records=True).output
    finally:
        fresh.stop()
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    assert "SEND | Prove mail flow (example) | smarthost.lab.test | 250 " in out, out[-4000:]
    [connector] = connectors  # the example's own: it never makes or changes "Smart host to Internet"
    assert connector["Name"] == "Prove mail flow (example)"
    assert connector["SmartHostAuthMechanism"] == "BasicAuth"
    message_id = re.search(r"(<[^>]+>) left through Prove mail flow \(example\) to smarthost.lab.test", out).group(1)
    delivered = postfix.wait_for_message(message_id)
    assert "with ESMTPSA" in delivered.received
    assert PASSWORD not in out and "Traceback" not in out


def test_stopped_postfix_is_tcp_connect_failed_everywhere(ansible, postfix, lab):
    """Last in the module: stops Postfix (by its PID), then starts it again for anything after."""
    postfix.stop()
    try:
        c = run_case(ansible, postfix, lab, "stopped")
    finally:
        postfix.start()
    assert c.trace["result"] == "deferred", c.explain()
    assert "Unable to connect" in c.trace["last_error"] and "10061" in c.trace["last_error"]
    assert "unreachable" in c.role_hint
    assert c.findings.get("TCP_CONNECT_FAILED") == "error", c.explain()
    assert "TCP_CONNECT_FAILED" in c.preflight_blockers

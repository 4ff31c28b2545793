"""The role smart_host_routing through the main playbook, against the lab and a test smart host.

What molecule does not cover: validation errors all at once with nothing touched, check mode
without a single write, preflight naming the AUTH PLAIN-only smart host, and a failed trace that
fails the play with the relay hint after printing the report. Each run is a real
``ansible-playbook mailflow.exchange.smart_host -i playbooks/inventory/lab.yml``.
"""

from __future__ import annotations

import secrets

import pytest

from role_lab import APPLY, SEED, lab_with_smart_host, run_playbook

# the role's one validate task: role settings, then the input, then the verification settings
VALIDATE_TASK = "Validate | Check the role's settings, smart_host_routing_connectors (JSON Schema) and the verification settings"


@pytest.fixture
def lab_starttls(tmp_path):
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        yield lab


def test_validate_lists_every_error_and_touches_nothing(lab_starttls, tmp_path):
    bad = {
        "smart_host_connectors": [
            {"name": SEED, "address_spaces": ["*"], "smart_hosts": ["bad host!"], "smart_host": ["x"], "port": 70000,
             "authentication_credential": {"username": "relay", "password": 424242}},
            {"name": SEED.upper(), "address_spaces": []},
        ]
    }
    run = run_playbook(lab_starttls, tmp_path, bad)
    assert run.rc != 0
    message = run.task(VALIDATE_TASK)["result"]["msg"]
    assert " problem(s) in the input; nothing was changed:" in message.split("\n", 1)[0], message  # the input check refused
    for expected in (
        "smart_host_routing_connectors[0].smart_hosts[0]: 'bad host!' is neither an IP address nor a valid host name",
        "smart_host_routing_connectors[0].smart_host: is not an option (did you mean smart_hosts?)",
        "smart_host_routing_connectors[0].port: must be from 0 to 65535",
        "smart_host_routing_connectors[1].address_spaces: must not be empty",
        "smart_host_routing_connectors[1].name: 'SMART HOST TO INTERNET' names the same connector as "
        "smart_host_routing_connectors[0].name ('Smart host to Internet')",
    ):
        assert expected in message, message
    assert "424242" not in run.output
    # Nothing touched: no probe ran, and the lab never even saw a session.
    assert not [r for r in run.records if "Preflight" in r["task"] or "Apply" in r["task"]]
    assert lab_starttls["lab"].counters().get("runspaces_opened", 0) == 0


def test_three_connectors_three_kinds_of_mistake_together_before_any_remote_call(lab_starttls, tmp_path):
    """Issue 12: a wrong type, an unknown enum value and a missing credential, each naming its connector and field."""
    base = {"address_spaces": ["*"], "smart_hosts": ["smarthost.lab.test"], "source_transport_servers": ["EX01"]}
    bad = {
        "smart_host_connectors": [
            dict(base, name="Relay A", port="twenty-five"),
            dict(base, name="Relay B", address_spaces=["b.example"], tls_auth_level="Sometimes", require_tls=True),
            dict(base, name="Relay C", address_spaces=["c.example"], smart_host_auth_mechanism="basicauthrequiretls"),
        ]
    }
    run = run_playbook(lab_starttls, tmp_path, bad, env={"SMART_HOST_USERNAME": "", "SMART_HOST_PASSWORD": ""})
    assert run.rc != 0
    message = run.task(VALIDATE_TASK)["result"]["msg"]
    assert "3 problem(s) in the input" in message, message
    assert "smart_host_routing_connectors[0].port: must be a whole number, not a string (connector 'Relay A')" in message
    assert "smart_host_routing_connectors[1].tls_auth_level: 'Sometimes' is not one of" in message and "(connector 'Relay B')" in message
    # no credential for Relay C: the message names where the role takes it from (issue 19 item 5)
    assert "smart_host_routing_connectors[2]: smart_host_auth_mechanism basicauthrequiretls needs the smart host's user name" in message
    assert "SMART_HOST_USERNAME and SMART_HOST_PASSWORD" in message and "(connector 'Relay C')" in message
    assert lab_starttls["lab"].counters().get("runspaces_opened", 0) == 0


def test_check_mode_shows_the_change_and_writes_nothing(lab_starttls, tmp_path):
    run = run_playbook(lab_starttls, tmp_path, {}, "--check", "--diff")
    assert run.rc == 0, run.output[-6000:]
    [summary] = run.report
    assert summary["name"] == SEED and summary["changed"] is True and summary["check_mode"] is True
    assert summary["commands"] and summary["commands"][0].startswith("New-SendConnector -Name 'Smart host to Internet'")
    assert "-AddressSpaces 'SMTP:*;1'" in summary["commands"][0]
    assert "Send connector 'Smart host to Internet' (present): would be created" in run.output
    applied = run.task(APPLY)["result"]
    assert not any("read_back" in r for r in applied["results"]), applied  # nothing written, nothing read back
    counters = lab_starttls["lab"].counters()
    assert counters.get("writes", 0) == 0, counters
    assert counters.get("cmdlet:Get-SendConnector", 0) >= 1  # it did look


def test_tags_preflight_checks_only_and_skipping_either_stage_is_refused(tmp_path):
    """Preflight and apply are one task tagged with both: --tags preflight runs it in check mode (the checks, no
    write); --skip-tags preflight (or apply) would skip both, so validate refuses it before anything is read."""
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        checked = run_playbook(lab, tmp_path, {}, "--tags", "preflight")
        assert checked.rc == 0, checked.output[-6000:]
        result = checked.task(APPLY)["result"]
        assert result["preflight"]["probe"]["probes"] and result["preflight"]["stopped"] is False, result
        assert result["changed"] and not any(r["written"] for r in result["results"]), result
        assert lab["lab"].counters().get("writes", 0) == 0
        assert not [r for r in checked.records if "Verify |" in r["task"]]  # only the tagged stage (and always)

        for skipped in ("preflight", "apply"):
            refused = run_playbook(lab, tmp_path, {}, "--skip-tags", skipped)
            assert refused.rc != 0
            message = refused.task(VALIDATE_TASK)["result"]["msg"]
            assert message.startswith("smart_host_routing: --skip-tags %s would skip both stages" % skipped), message
            assert "smart_host_routing_preflight: false" in message
        counters = lab["lab"].counters()
        assert counters.get("writes", 0) == 0 and counters.get("runspaces_opened") == 1, counters  # --tags preflight's


def test_preflight_names_a_smart_host_that_offers_only_auth_plain(tmp_path):
    password = secrets.token_urlsafe(12)
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, auth=["PLAIN"], users={"relay": password}) as lab:
        run = run_playbook(
            lab, tmp_path, {"smart_host_auth_mechanism": "BasicAuth"},
            env={"SMART_HOST_USERNAME": "relay", "SMART_HOST_PASSWORD": password},
        )
        assert run.rc != 0
        failed = run.task("Preflight | Stop before any change when a smart host cannot work with its connector")
        assert failed["status"] == "failed"
        message = failed["result"]["msg"]
        assert "no connector was changed" in message
        assert "AUTH_LOGIN_NOT_OFFERED" in message and "smarthost.lab.test" in message
        assert "hint:" in message and "LOGIN" in message
        assert password not in run.output
        assert lab["lab"].counters().get("writes", 0) == 0


def test_a_relay_refusal_fails_verification_with_its_hint_after_the_report(tmp_path):
    # The smart host accepts the probe's session (no MAIL/RCPT), but refuses to relay for anyone.
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, allow_clients=["192.0.2.1"]) as lab:
        run = run_playbook(lab, tmp_path, {"smart_host_routing_trace_timeout": 20})
        assert run.rc != 0
        [summary] = run.report
        assert summary["changed"] is True and summary["read_back"] == "matches"
        assert summary["trace"]["result"] in ("failed", "deferred"), summary["trace"]
        assert "relay" in summary["trace"]["hint"]
        failed = run.task("Report | Fail when the verification found a problem")
        assert failed["status"] == "failed"
        assert "did not leave through connector" in failed["result"]["msg"]
        assert "allow the transport servers' IP addresses on the smart host" in failed["result"]["msg"]
        # The report was printed before the failure.
        assert run.output.index("trace: ") < run.output.index("the verification found")


@pytest.mark.timeout(900)  # three playbook runs: past pytest.ini's 300 s at load 25 (make test-matrix, 2.19 and 2.20)
def test_smart_host_items_add_a_relay_to_the_existing_connector(tmp_path):
    with lab_with_smart_host(str(tmp_path / "services"), aliases=["relay2.lab.test"], starttls=True) as lab:
        address = lab["smart_host"].ready["host"]
        created = run_playbook(lab, tmp_path, {"smart_host_routing_verify": False})
        assert created.rc == 0, created.output[-6000:]

        add = {
            "smart_host_connectors": [],
            "smart_host_routing_smart_hosts": [{"connector": SEED.lower(), "hosts": ["relay2.lab.test"]}],
            "smart_host_routing_connect_addresses": {"smarthost.lab.test": address, "relay2.lab.test": address},
        }
        first = run_playbook(lab, tmp_path, add)
        assert first.rc == 0, first.output[-6000:]
        [summary] = first.report
        assert summary["name"] == SEED.lower() and summary["changed"] is True
        assert summary["smart_host_changes"][0]["smart_hosts_after"] == ["smarthost.lab.test", "relay2.lab.test"]
        # every smart host the connector will have is probed (in one smtp_probe run)
        assert sorted(p["host"] for p in summary["probes"]) == ["relay2.lab.test", "smarthost.lab.test"]
        assert summary["probes"][0]["port"] == lab["smart_host"].ready["port"]  # the existing connector's port
        assert summary["read_back"] == "matches"
        assert summary["trace"]["result"] == "sent"
        assert any(c.startswith("Set-SendConnector") for c in summary["commands"]), summary["commands"]

        again = run_playbook(lab, tmp_path, add)
        assert again.rc == 0
        assert again.report[0]["changed"] is False


def test_protocol_logging_is_turned_on_for_the_test_and_back_off(lab_starttls, tmp_path):
    run = run_playbook(lab_starttls, tmp_path, {"smart_host_connector_settings": {}})  # the connector does not log
    assert run.rc == 0, run.output[-6000:]
    assert run.task("Verify | Turn on SmtpSend protocol logging for the test")["status"] == "ok"
    assert run.task("Verify | Turn SmtpSend protocol logging back off")["status"] == "ok"
    [summary] = run.report
    session = "\n".join(summary["smtp_session"])
    assert "> STARTTLS" in session and "InternetMessageId %s" % summary["test_message_id"] in session
    ps = lab_starttls["lab"].run_cmdlet("Get-SendConnector", {"Identity": SEED}, records=True)
    assert not ps.had_errors
    assert ps.output[0]["ProtocolLoggingLevel"] == "None"


def test_connection_from_role_variables_instead_of_the_environment(lab_starttls, tmp_path):
    ready = lab_starttls["lab"].ready
    connection = {
        "server": ready["host"],
        "server_port": ready["port"],
        "protocol": ready["scheme"],
        "auth": ready["auth"],
        "username": ready["username"],
        "password": ready["password"],
    }
    no_env = {name: None for name in ("EXCHANGE_SERVER", "EXCHANGE_PORT", "EXCHANGE_PROTOCOL", "EXCHANGE_AUTH", "EXCHANGE_USERNAME", "EXCHANGE_PASSWORD")}
    run = run_playbook(lab_starttls, tmp_path, {"smart_host_routing_exchange": connection}, "--check", "-vvv", env=no_env)
    assert run.rc == 0, run.output[-6000:]
    assert run.report[0]["changed"] is True
    assert lab_starttls["lab"].counters().get("cmdlet:Get-SendConnector", 0) >= 1
    assert ready["password"] not in run.output


def test_a_refused_test_message_still_restores_protocol_logging_and_prints_the_report(lab_starttls, tmp_path):
    # The lab's receive connector refuses a sender outside its accepted domains (550 5.7.54): the test message
    # task fails, the always: part turns protocol logging back off and the report is printed.
    run = run_playbook(lab_starttls, tmp_path, {"smart_host_connector_settings": {},
                                                "smart_host_routing_test_sender": "someone@not-accepted.example"})
    assert run.rc != 0
    sent = run.task("Verify | Send the test message over SMTP and trace it until it leaves through each connector")
    assert sent["status"] == "failed"
    # smtp_probe's words (message_trace submits with the same code), and nothing was traced
    assert sent["result"]["msg"].startswith("The test message was not accepted: RCPT TO refused: 550 5.7.54"), sent["result"]
    assert sent["result"]["test_message"]["queued"] is False and "traces" not in sent["result"]
    assert run.task("Verify | Turn SmtpSend protocol logging back off")["status"] == "ok"
    [summary] = run.report
    assert summary["changed"] is True and summary["read_back"] == "matches"
    assert "test_message_id" in summary and summary["test_message_id"] is None and "trace" not in summary
    failed = run.task("Report | Fail when the verification found a problem")
    assert failed["status"] == "failed" and ("%s: the test message was not accepted by Exchange's SMTP endpoint (hint: check "
                                             "smart_host_routing_smtp_server/port and that the sender may relay)" % SEED) in failed["result"]["msg"]
    assert "Send connector 'Smart host to Internet' (present): created" in run.output
    ps = lab_starttls["lab"].run_cmdlet("Get-SendConnector", {"Identity": SEED}, records=True)
    assert ps.output[0]["ProtocolLoggingLevel"] == "None"

"""What the role says, run through the main playbook against the lab and a test smart host (issue 19 items 3-5, 9):

* an unchanged re-run of a BasicAuthRequireTLS connector says "no change" everywhere (printed report, Markdown
  file, set_stats, --diff) and lists no credential change; a real change with update_password on_create shows
  no "password: (updated)" because no credential is sent;
* a test message another connector takes ends the trace at once, naming that connector;
* while the trace waits (a slow smart host), a progress line every slice names the connector and the time waited;
* a connector without authentication to a smart host that offers AUTH gets preflight's info line in the printed report;
* without a test recipient, each connector's test message goes to the postmaster of its address space's domain, and
  the report says so; a connector whose address spaces name no single domain is refused before any change;
* a missing smart host credential names the environment variables the main playbook reads;
* every run writes its own report file.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import tempfile

import pytest

from role_lab import APPLY, lab_with_smart_host
from role_lab import SEED, run_playbook

# the role's one validate task: role settings, then the input, then the verification settings
VALIDATE_TASK = "Validate | Check the role's settings, smart_host_routing_connectors (JSON Schema) and the verification settings"

PASSWORD = "relay-password-for-the-output-test"
BASIC = {"smart_host_auth_mechanism": "BasicAuthRequireTLS", "smart_host_routing_verify": False}
ENV = {"SMART_HOST_USERNAME": "relay", "SMART_HOST_PASSWORD": PASSWORD, "ANSIBLE_SHOW_CUSTOM_STATS": "true"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_with_smart_host(str(tmp_path_factory.mktemp("services")), starttls=True, auth=["LOGIN"], auth_require_tls=True,
                             users={"relay": PASSWORD}) as lab:
        yield lab


def _printed_report(output: str) -> str:
    block = output.split("Report | Show the summary]", 1)[1].split("TASK [", 1)[0]
    return block.split("=> (item=\n", 1)[1].rsplit("\n)", 1)[0]


def _stats(output: str) -> list:
    match = re.search(r"RUN: (\{.*\})", output.split("CUSTOM STATS:", 1)[1])
    assert match, output[-3000:]
    return json.loads(match.group(1))["smart_host_routing"]


def _diff_text(output: str) -> str:
    """What --diff printed for the apply task."""
    return output.split(APPLY + "]", 1)[1].split("TASK [", 1)[0]


@pytest.mark.timeout(900)  # three playbook runs: past pytest.ini's 300 s at load 25 (make test-matrix, 2.17 and 2.18)
def test_a_basic_auth_connector_reports_a_credential_change_only_when_a_credential_is_sent(lab, tmp_path):
    created = run_playbook(lab, tmp_path, BASIC, env=ENV)
    assert created.rc == 0, created.output[-6000:]
    assert any("-AuthenticationCredential (Get-Credential)" in c for c in created.report[0]["commands"])

    report_file = tmp_path / "again.md"
    again = run_playbook(lab, tmp_path, dict(BASIC, smart_host_routing_report_file=str(report_file)), "--diff", env=ENV)
    assert again.rc == 0, again.output[-6000:]
    [summary] = again.report
    assert summary["changed"] is False and summary["changes"] == [] and summary["commands"] == []
    printed = _printed_report(again.output)
    assert printed.splitlines()[0] == "Send connector '%s' (present): no change" % SEED
    assert "authentication_credential" not in printed
    assert "authentication_credential" not in report_file.read_text(encoding="utf-8")
    [published] = _stats(again.output)
    assert published["changed"] is False and published["changes"] == []
    assert "password" not in _diff_text(again.output)  # no diff at all for an unchanged connector
    assert again.task(APPLY)["status"] == "ok"

    # A real change of another setting, the same user and update_password on_create: no credential is sent,
    # so neither --diff nor the report shows one.
    changed = run_playbook(lab, tmp_path, dict(BASIC, smart_host_connector_settings={"protocol_logging_level": "None"}), "--diff", env=ENV)
    assert changed.rc == 0, changed.output[-6000:]
    [summary] = changed.report
    assert summary["changed"] is True and summary["changes"] == ["protocol_logging_level: Verbose -> None"], summary
    assert not any("AuthenticationCredential" in c for c in summary["commands"]), summary["commands"]
    diff = _diff_text(changed.output)
    assert "protocol_logging_level" in diff and "(updated)" not in diff and "password" not in diff, diff[:3000]
    assert "authentication_credential" not in _printed_report(changed.output)
    assert PASSWORD not in changed.output


def test_a_missing_smart_host_credential_names_the_environment_variables(lab, tmp_path):
    run = run_playbook(lab, tmp_path, BASIC, env={"SMART_HOST_USERNAME": "", "SMART_HOST_PASSWORD": ""})
    assert run.rc != 0
    message = run.task(VALIDATE_TASK)["result"]["msg"]
    assert " problem(s) in the input; nothing was changed:" in message.split("\n", 1)[0], message  # the input check refused
    assert "SMART_HOST_USERNAME and SMART_HOST_PASSWORD" in message, message
    assert "'Exchange smart host (mailflow.exchange)'" in message, message
    assert "smart_host_routing_connectors[0].authentication_credential" not in message, message
    assert not [r for r in run.records if "Apply" in r["task"]]


def test_a_message_another_connector_takes_is_reported_at_once_with_that_connector(tmp_path):
    # 'Partner relay' routes partner.example only; its test recipient is in a domain only the seed connector
    # (address space *) routes, so the seed connector takes the message. The trace stops at that SEND (with a
    # 120 s timeout it would otherwise end as 'timeout') and the failure names the seed connector.
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        partner = {"name": "Partner relay", "address_spaces": ["partner.example"], "smart_hosts": ["smarthost.lab.test"],
                   "dns_routing_enabled": False, "source_transport_servers": ["EX01"], "port": lab["smart_host"].ready["port"]}
        seed = {"name": SEED, "usage": "Custom", "address_spaces": ["SMTP:*;1"], "smart_hosts": ["smarthost.lab.test"],
                "dns_routing_enabled": False, "source_transport_servers": ["EX01"], "port": lab["smart_host"].ready["port"]}
        run = run_playbook(lab, tmp_path, {"smart_host_connectors": [seed, partner], "smart_host_routing_trace_timeout": 120,
                                           "smart_host_routing_trace_poll_interval": 1,
                                           "smart_host_routing_test_recipients": {"Partner relay": "someone@fabrikam.example"}})
        assert run.rc != 0
        by_name = {s["name"]: s for s in run.report}
        assert by_name[SEED]["trace"]["result"] == "sent"
        trace = by_name["Partner relay"]["trace"]
        assert trace["result"] == "other_connector" and trace["taken_by"] == SEED and trace["verdict"] == "fail", trace
        assert "took the message" in trace["hint"]
        assert "  trace: other_connector (Send connector %s took it)" % SEED in _printed_report(run.output).splitlines()
        failed = run.task("Report | Fail when the verification found a problem")["result"]["msg"]
        assert "Partner relay: the message left through connector '%s', not connector 'Partner relay'" % SEED in failed, failed


def test_a_long_trace_wait_prints_progress_lines_and_still_passes(tmp_path):
    # The smart host answers the end of DATA only after 45 s (the lab waits up to 90 s), so the SEND event comes late: the
    # trace waits, and the message_trace action prints a line per slice (10 s, more under load) naming the connector
    # and the seconds waited.
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, data_delay=45, lab_config={"mail": {"connect_timeout": 90}}) as lab:
        run = run_playbook(lab, tmp_path, {"smart_host_routing_trace_timeout": 120, "smart_host_routing_trace_poll_interval": 2})
        assert run.rc == 0, run.output[-6000:]
        [summary] = run.report
        assert summary["trace"]["result"] == "sent", summary["trace"]
        assert run.task("Verify | Send the test message over SMTP and trace it until it leaves through each connector")["result"]["attempts"] >= 6
        block = run.output.split("Verify | Send the test message over SMTP and trace it until it leaves through each connector]", 1)[1].split("TASK [", 1)[0]
        waited = [int(s) for s in re.findall(
            r"^\[exchange-lab\] waiting for the message to leave through %s \((\d+) s of 120 s\)$" % re.escape(SEED), block, re.M)]
        assert len(waited) >= 2, block
        # a slice ends a little before its 10 s (the module keeps its own deadline): the first line says about 10 s
        assert waited == sorted(waited) and waited[0] >= 8 and waited[-1] < 120, waited
        assert "waiting" not in run.output.split("Verify | Send the test message over SMTP", 1)[0].rsplit("TASK [", 1)[0][-200:]


def test_a_connector_without_auth_to_a_smart_host_offering_auth_gets_an_info_line_before_the_change(tmp_path):
    # The smart host relays only after AUTH (no allowlist): preflight cannot see that from the controller, but it sees
    # AUTH offered to a connector that will not authenticate, and the printed report says so (an info finding, which
    # stops nothing). The test message is then refused (530) and the trace's hint names authentication.
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, auth=["LOGIN"], users={"relay": PASSWORD}) as lab:
        run = run_playbook(lab, tmp_path, {"smart_host_routing_trace_poll_interval": 1})
        assert run.rc != 0
        printed = _printed_report(run.output).splitlines()
        info = [line.strip() for line in printed if "[INFO]" in line]
        assert info == ["[INFO] smarthost.lab.test offers AUTH LOGIN; the connector will not authenticate. Fine when the smart host "
                        "relays for the transport servers' IP addresses; otherwise choose BasicAuthRequireTLS."], printed
        assert printed.index(next(line for line in printed if "[INFO]" in line)) < printed.index(
            next(line for line in printed if line.startswith("  trace:"))), printed
        [summary] = run.report
        assert summary["trace"]["verdict"] == "fail" and "requires authentication" in summary["trace"]["hint"], summary["trace"]


def test_without_a_test_recipient_the_postmaster_of_each_connectors_domain_gets_the_message(tmp_path):
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        port = lab["smart_host"].ready["port"]
        partner = {"name": "Partner relay", "address_spaces": ["SMTP:partner.example;1", "*.partner.example"],
                   "smart_hosts": ["smarthost.lab.test"], "dns_routing_enabled": False, "source_transport_servers": ["EX01"], "port": port}
        seed = {"name": SEED, "usage": "Custom", "address_spaces": ["SMTP:*;1"], "smart_hosts": ["smarthost.lab.test"],
                "dns_routing_enabled": False, "source_transport_servers": ["EX01"], "port": port}
        # '*' names no domain: refused before any change, naming that connector only
        refused = run_playbook(lab, tmp_path, {"smart_host_connectors": [seed, partner], "smart_host_routing_test_recipient": ""})
        assert refused.rc != 0
        message = refused.task(VALIDATE_TASK)["result"]["msg"]
        assert " problem(s) in the verification settings; nothing was changed:" in message.split("\n", 1)[0], message
        assert ("smart_host_routing_test_recipient: is required for the test message through connector '%s' (its address spaces "
                "name no single domain whose postmaster could get it)" % SEED) in message, message
        assert "Partner relay" not in message and not [r for r in refused.records if "Apply" in r["task"]]

        run = run_playbook(lab, tmp_path, {"smart_host_connectors": [partner], "smart_host_routing_test_recipient": ""})
        assert run.rc == 0, run.output[-6000:]
        [summary] = run.report
        assert summary["trace"]["result"] == "sent" and summary["test_recipient"] == "postmaster@partner.example", summary
        assert ("  test message %s to postmaster@partner.example (no test recipient given: the postmaster of its address space "
                "partner.example)" % summary["test_message_id"]) in _printed_report(run.output).splitlines()
        delivered = lab["smart_host"].wait_for_messages(1)
        assert any("postmaster@partner.example" in m.rcpt_to for m in delivered), [m.rcpt_to for m in delivered]


@pytest.fixture
def short_tmpdir():
    """A TMPDIR with a short path: ansible-playbook puts a Unix socket there, whose path may not be long."""
    path = tempfile.mkdtemp(prefix="shr-", dir="/tmp")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_every_run_writes_its_own_report_file(lab, tmp_path, short_tmpdir):
    reports = short_tmpdir
    env = dict(ENV, TMPDIR=str(reports))
    first = run_playbook(lab, tmp_path, BASIC, "--check", env=env)
    second = run_playbook(lab, tmp_path, BASIC, "--check", env=env)
    assert first.rc == 0 and second.rc == 0, (first.output + second.output)[-6000:]
    files = sorted(p.name for p in reports.iterdir() if p.suffix == ".md")
    assert len(files) == 2 and all(re.fullmatch(r"smart_host_routing-exchange-lab-\d{8}T\d{6}\.\d{6}Z\.md", f) for f in files), files
    for run in (first, second):
        said = [f for f in files if "Report for the change ticket (Markdown): %s" % (reports / f) in run.output]
        assert len(said) == 1, run.output[-3000:]

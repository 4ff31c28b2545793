"""The role's report as an administrator and AWX see it: printed one line per report line with
Ansible's default settings (no JSON quoting, no doubled backslashes), written as a Markdown file for the
change ticket (in check mode too), and published with set_stats. Real runs of the main playbook
against the lab and a test smart host."""

from __future__ import annotations

import json
import re

import pytest

from role_lab import lab_with_smart_host
from role_lab import run_playbook

SEED = "Smart host to Internet"
# summary, Markdown file and set_stats data in one controller-side task (the role's internal action)
REPORT_TASK = "Report | Summarise each connector, write the report for the change ticket and publish it for AWX workflows"
LINE = re.compile(r"^ok: \[exchange-lab\] => \(item=(.*)\)$")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_with_smart_host(str(tmp_path_factory.mktemp("services")), starttls=True) as lab:
        yield lab


def _report_lines(output: str) -> list[str]:
    """The lines of the one message the 'Show the summary' task printed (the label of its one loop item)."""
    block = output.split("Report | Show the summary]", 1)[1].split("TASK [", 1)[0]
    assert block.count("=> (item=") == 1, block[:3000]  # one message, whatever the number of connectors
    text = block.split("=> (item=\n", 1)[1].rsplit("\n)", 1)[0]
    return text.splitlines()


def _custom_stats(output: str) -> dict:
    text = output.split("CUSTOM STATS:", 1)[1]
    match = re.search(r"RUN: (\{.*\})", text)
    assert match, text[:2000]
    return json.loads(match.group(1))


def test_check_mode_report_in_yaml_result_format(lab, tmp_path):
    """--check first: nothing exists yet, so the report says what would be created; the file is written."""
    report_file = tmp_path / "check.md"
    run = run_playbook(lab, tmp_path, {"smart_host_routing_report_file": str(report_file)}, "--check",
                       env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml"})
    assert run.rc == 0, run.output[-6000:]
    lines = _report_lines(run.output)
    assert lines[0] == "Send connector '%s' (present): would be created" % SEED
    assert any(line.startswith("  command New-SendConnector -Name '%s'" % SEED) for line in lines), lines
    text = report_file.read_text(encoding="utf-8")
    assert "## Send connector `%s`: would be created" % SEED in text
    assert "check mode - nothing was changed" in text and "### Commands that would run (check mode)" in text
    assert run.task(REPORT_TASK)["result"].get("changed") is False


def test_report_lines_file_and_stats_with_default_settings(lab, tmp_path):
    report_file = tmp_path / "reports" / "change-1234.md"
    report_file.parent.mkdir()
    env = {"ANSIBLE_CALLBACK_RESULT_FORMAT": None, "ANSIBLE_SHOW_CUSTOM_STATS": "true"}
    run = run_playbook(lab, tmp_path, {"smart_host_routing_report_file": str(report_file),
                                       "smart_host_routing_protocol_log": True}, env=env)
    assert run.rc == 0, run.output[-6000:]
    lines = _report_lines(run.output)
    data = run.report
    # The printed lines are the filter's lines, character for character: no quoting, no escapes.
    assert lines[0] == "Send connector '%s' (present): created" % SEED
    assert "  trace: sent" in lines
    receive = next(line for line in lines if " RECEIVE " in line)
    assert "connector=EX01\\Default Frontend EX01" in receive and "\\\\" not in receive
    assert any(line.strip() == "> STARTTLS" for line in lines)
    assert '"msg"' not in run.output.split("Report | Show the summary]", 1)[1].split("PLAY RECAP", 1)[0]

    # The Markdown file: the connector, the commands, probe, trace events and SMTP session of this run.
    text = report_file.read_text(encoding="utf-8")
    assert "- **Exchange (inventory host):** exchange-lab" in text
    assert "## Send connector `%s`: created" % SEED in text
    assert "```powershell\n%s\n```" % "\n".join(data[0]["commands"]) in text
    assert "| `smarthost.lab.test:%s` |" % data[0]["probes"][0]["port"] in text
    assert "Message-ID `%s`" % data[0]["test_message_id"] in text
    assert "| SEND | %s | smarthost.lab.test |" % SEED in text
    assert "> STARTTLS\n" in text and "### SMTP session (SmtpSend protocol log)" in text
    assert oct(report_file.stat().st_mode & 0o777) == "0o600"
    assert "Report for the change ticket (Markdown): %s" % report_file in _all_items(run.output)

    # set_stats: the same summaries as structured data, under the documented key.
    stats = _custom_stats(run.output)
    assert stats["smart_host_routing"] == data


def _all_items(output: str) -> list[str]:
    return [LINE.match(line).group(1) for line in output.splitlines() if LINE.match(line)]


def test_no_file_when_the_path_is_empty(lab, tmp_path):
    run = run_playbook(lab, tmp_path, {"smart_host_routing_report_file": "", "smart_host_routing_verify": False})
    assert run.rc == 0, run.output[-6000:]
    assert run.task(REPORT_TASK)["result"]["report_file"] == ""  # no file written
    assert run.task("Report | Say where the report file is")["status"] == "skipped"
    # created when this test runs by itself, no change after the tests above: the report is printed either way
    assert _report_lines(run.output)[0] in ["Send connector '%s' (present): %s" % (SEED, state) for state in ("created", "no change")]


def test_a_report_file_that_cannot_be_written_fails_after_the_summary(lab, tmp_path):
    """The directory does not exist: the summary is still printed, then the play fails naming the variable and the
    reason (no traceback); nothing is published, as when the copy task failed before the publishing task."""
    report_file = tmp_path / "missing" / "change.md"
    env = {"ANSIBLE_SHOW_CUSTOM_STATS": "true"}
    run = run_playbook(lab, tmp_path, {"smart_host_routing_report_file": str(report_file), "smart_host_routing_verify": False},
                       env=env)
    assert run.rc != 0, run.output[-6000:]
    assert _report_lines(run.output)[0].startswith("Send connector '%s' (present): " % SEED)  # printed first
    failed = run.task("Report | Say where the report file is")
    assert failed["status"] == "failed"
    message = failed["result"]["results"][0]["msg"]
    assert message == ("smart_host_routing_report_file: cannot write the report to %s on the controller: its directory %s "
                       "does not exist" % (report_file, report_file.parent)), message
    assert "Traceback" not in run.output and not report_file.parent.exists()
    assert "Fail when the verification found a problem" not in run.output  # the play stopped at the file
    assert '"smart_host_routing"' not in run.output.split("CUSTOM STATS:", 1)[-1]

"""How often the role reads the Send connectors (issue 17: at most twice per run; once now), counted by the lab.

A run reads every connector once, whatever it writes: preflight and apply are one send_connectors run, whose checks
and writes are planned on its one read. Apply reads back only the connectors it wrote, in ONE call however many (their GUIDs are the pipeline input
of one ``Get-SendConnector``), and the verify stage reports that read-back instead of reading every connector a
third time. The lab's
``read_all:Get-SendConnector`` counts the reads of every connector; the rest of ``cmdlet:Get-SendConnector`` are
reads by identity. A write the read-back does not show is reported as a read-back difference.
"""

from __future__ import annotations

from role_lab import APPLY, lab_with_smart_host, run_playbook
from send_connector_harness import delta


def connectors(lab, names, port=None):
    port = port or lab["smart_host"].ready["port"]
    return [{"name": name, "usage": "Custom", "address_spaces": ["SMTP:%s.lab.example;1" % name.split()[-1].lower()],
             "dns_routing_enabled": False, "smart_hosts": ["smarthost.lab.test"], "smart_host_auth_mechanism": "None",
             "source_transport_servers": ["EX01"], "port": port, "is_scoped_connector": False,
             "protocol_logging_level": "Verbose"}
            for name in names]


def role_vars(items, **extra):
    return dict({"smart_host_connectors": items,
                 "smart_host_routing_test_recipients": {c["name"]: "postmaster@%s" % c["address_spaces"][0][5:-2]
                                                        for c in items},
                 "smart_host_routing_trace_poll_interval": 1}, **extra)


def reads(moved):
    """(reads of every connector, reads by identity) in a counter delta."""
    every = moved.get("read_all:Get-SendConnector", 0)
    return every, moved.get("cmdlet:Get-SendConnector", 0) - every


def test_a_run_reads_every_connector_once_and_what_it_wrote_in_one_call_more(tmp_path):
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        wanted = connectors(lab, ["Reads A", "Reads B", "Reads C"])

        before = lab["lab"].counters()
        created = run_playbook(lab, tmp_path, role_vars(wanted))
        assert created.rc == 0, created.output[-6000:]
        moved = delta(before, lab["lab"].counters())
        assert moved.get("writes") == 3 and reads(moved) == (1, 1), moved  # preflight and apply; one read-back for 3 News
        assert [(s["changed"], s["read_back"]) for s in created.report] == [(True, "matches")] * 3, created.report
        applied = created.task(APPLY)["result"]
        assert [r["read_back"]["differences"] for r in applied["results"]] == [[], [], []], applied
        assert "read back: matches" in created.output

        before = lab["lab"].counters()
        again = run_playbook(lab, tmp_path, role_vars(wanted))
        assert again.rc == 0, again.output[-6000:]
        moved = delta(before, lab["lab"].counters())
        assert not moved.get("writes") and reads(moved) == (1, 0), moved
        assert [(s["changed"], s["read_back"]) for s in again.report] == [(False, "matches")] * 3, again.report

        before = lab["lab"].counters()
        one = [dict(c, comment="managed by ansible") if c["name"] == "Reads B" else c for c in wanted]
        changed = run_playbook(lab, tmp_path, role_vars(one))
        assert changed.rc == 0, changed.output[-6000:]
        moved = delta(before, lab["lab"].counters())
        assert moved.get("writes") == 1 and reads(moved) == (1, 1), moved
        by_name = {s["name"]: s for s in changed.report}
        assert by_name["Reads B"]["changed"] is True and by_name["Reads B"]["read_back"] == "matches", by_name
        assert [r.get("read_back", {}).get("connector", {}).get("comment") for r in changed.task(APPLY)["result"]["results"]] == [
            None, "managed by ansible", None]


def test_a_write_the_read_back_does_not_show_fails_the_verification(tmp_path):
    # An empty organisation and no preflight: apply's first read (cmdlet 1) shows nothing, and cmdlet 2 is the
    # New-SendConnector of 'Hidden A', which another administrator removes before the next cmdlet. The read-back (one
    # call for both GUIDs) does not find 'Hidden A' ("couldn't be found" for its GUID, 'Hidden B' output): a
    # difference, reported and failing the play.
    faults = {"faults": [{"on_cmdlet": 2, "kind": "reverted"}]}
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, lab_config=faults) as lab:
        wanted = connectors(lab, ["Hidden A", "Hidden B"])
        run = run_playbook(lab, tmp_path, role_vars(wanted, smart_host_routing_preflight=False))
        assert run.rc != 0, run.output[-6000:]
        by_name = {s["name"]: s for s in run.report}
        assert by_name["Hidden A"]["read_back"] == "differs", by_name
        assert by_name["Hidden A"]["read_back_differences"] == ["it does not exist"], by_name
        assert by_name["Hidden B"]["read_back"] == "matches", by_name
        assert "Hidden A: read back differs: it does not exist (hint:" in run.output, run.output[-6000:]
        assert "read back: differs" in run.output
        # the verification still traces the other connector: one missing connector fails its own trace, not the run
        assert by_name["Hidden A"]["trace"]["result"] == "no_connector" and by_name["Hidden A"]["trace"]["verdict"] == "fail"
        assert by_name["Hidden B"]["trace"]["result"] == "sent" and by_name["Hidden B"]["trace"]["verdict"] == "pass", by_name
        assert "Hidden A: no Send connector named 'Hidden A' exists, so the message cannot leave through it (hint:" in run.output
        counters = lab["lab"].counters()
        assert counters["writes"] == 2, counters
        # apply's read, the one read-back call, and the trace's read of the connectors to explain the failed message
        assert counters["read_all:Get-SendConnector"] == 2 and counters["cmdlet:Get-SendConnector"] == 3, counters


def test_protocol_logging_for_the_test_reads_only_the_tested_connectors(tmp_path):
    """smart_host_routing_protocol_log: the runs that turn SmtpSend logging on and off for the test read the tested
    connectors by name (send_connectors' read: named), not every connector: the run still reads them all once."""
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        wanted = [dict(c, protocol_logging_level="None") for c in connectors(lab, ["Plog A", "Plog B", "Plog C"])]
        created = run_playbook(lab, tmp_path, role_vars(wanted, smart_host_routing_verify=False))
        assert created.rc == 0, created.output[-6000:]
        unmanaged = [{k: v for k, v in c.items() if k != "protocol_logging_level"} for c in wanted]

        before = lab["lab"].counters()
        run = run_playbook(lab, tmp_path, role_vars(unmanaged, smart_host_routing_protocol_log=True))
        assert run.rc == 0, run.output[-6000:]
        moved = delta(before, lab["lab"].counters())
        assert moved.get("writes") == 6, moved  # logging on and back off, three connectors each
        assert moved.get("read_all:Get-SendConnector") == 1, moved  # apply's; the logging runs read by name
        assert [s["trace"]["result"] for s in run.report] == ["sent"] * 3, run.report
        assert all(s.get("smtp_session") for s in run.report), run.report  # the sessions the logging was on for

"""send_connectors and the role inside Active Directory replication delay and after a lost answer (issue 17).

test_write_recovery.py covers one connector (send_connector, smart_host). The same recovery is the one engine's
(``_engine.apply``), so a list of connectors and the role, which applies its list with send_connectors, must
survive the same faults: a re-run whose first read comes from a domain controller the last change has not
reached (``replication_delay``: the write is visible only on the DC that took it), and a write that is made but
whose answer is lost (``write_answer_drop``: the connection is closed; ``write_answer_fault``: HTTP 500). The lab
injects both; the counters show that no write was repeated.
"""

from __future__ import annotations

import yaml

from role_lab import APPLY, lab_with_smart_host
from send_connector_harness import Ansible, LabProcess, delta
from role_lab import run_playbook

THREE = [
    {"name": "Many A", "address_spaces": ["a.example"], "smart_hosts": ["192.0.2.10"]},
    {"name": "Many B", "address_spaces": ["b.example"], "smart_hosts": ["192.0.2.11"]},
    {"name": "Many C", "address_spaces": ["c.example"], "smart_hosts": ["192.0.2.12"]},
]
REPLICATION = "Active Directory replication"


def many(connectors):
    return "- name: many\n  mailflow.exchange.send_connectors:\n    connectors: %s\n  ignore_errors: true\n" % (
        yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip())


def started(tmp_path_factory, faults, **kwargs):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", config={"faults": faults}, **kwargs)
    proc.start()
    return proc


def on_dc(lab, name):
    """Whether the DC the runs write to (the lab's DC01) holds the connector ``name``."""
    ps = lab.run_cmdlet("Get-SendConnector", {"DomainController": "DC01.contoso.com"}, records=True)
    assert not ps.had_errors
    return any(c["Name"] == name for c in ps.output)


def test_send_connectors_rerun_inside_replication_delay(tmp_path_factory, tmp_path):
    # cmdlet 3 is the first run's second New-SendConnector (Get, New A, New B, New C): the other DCs see
    # 'Many B' only after an hour, so every later first read (no -DomainController) misses it
    lab = started(tmp_path_factory, [{"on_cmdlet": 3, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        first = ansible.play(many(THREE)).result("many")
        assert not first["failed"] and first["changed"] is True, first
        assert lab.counters()["writes"] == 3

        # the same list again: B is not in the first read, its New is refused ("already exists") by the DC
        # the run writes to, and the item is decided again on what that DC holds: nothing to do
        before = lab.counters()
        again = ansible.play(many(THREE)).result("many")
        assert not again["failed"], again.get("msg")
        assert again["changed"] is False and again["commands"] == [], again
        assert [r["changed"] for r in again["results"]] == [False, False, False]
        assert again["results"][1]["connector"]["smart_hosts"] == ["192.0.2.11"]
        assert any(REPLICATION in w and "'Many B'" in w for w in again.get("warnings", [])), again
        assert delta(before, lab.counters()).get("writes", 0) == 0

        # a change without address_spaces and a removal of the hidden connector: asked for once more on the DC
        before = lab.counters()
        changed = ansible.play(many([{"name": "Many B", "port": 2525}, {"name": "Many C", "state": "absent"}])).result("many")
        assert not changed["failed"], changed.get("msg")
        assert [r["changed"] for r in changed["results"]] == [True, True], changed
        assert changed["results"][0]["connector"]["port"] == 2525
        moved = delta(before, lab.counters())
        assert moved["writes"] == 2 and moved["cmdlet:Set-SendConnector"] == 1 and moved["cmdlet:Remove-SendConnector"] == 1
        assert any(REPLICATION in w and "'Many B'" in w for w in changed.get("warnings", [])), changed
        assert on_dc(lab, "Many B") and not on_dc(lab, "Many C")
    finally:
        lab.stop()


def test_send_connectors_lost_answers_are_read_back_and_never_repeated(tmp_path_factory, tmp_path):
    lab = started(tmp_path_factory, [{"on_write": 2, "kind": "write_answer_drop"},
                                     {"on_write": 4, "kind": "write_answer_fault"}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        created = ansible.play(many(THREE)).result("many")
        assert not created["failed"] and created["changed"] is True, created
        assert [r["written"] for r in created["results"]] == [True, True, True]
        [lost] = [w for w in created.get("warnings", []) if "answer was lost" in w]
        assert lost.startswith("New-SendConnector was sent, but its answer was lost (") and "'Many B' was read back" in lost
        assert created["results"][1]["connector"]["smart_hosts"] == ["192.0.2.11"]  # as read back
        assert lab.counters()["writes"] == 3

        ports = [dict(item, port=587) for item in THREE]
        changed = ansible.play(many(ports)).result("many")
        assert not changed["failed"] and changed["changed"] is True, changed
        [lost] = [w for w in changed.get("warnings", []) if "answer was lost" in w]
        assert lost.startswith("Set-SendConnector was sent, but its answer was lost (") and "'Many A' was read back" in lost
        assert [r["connector"]["port"] for r in changed["results"]] == [587, 587, 587]
        counters = lab.counters()
        assert counters["writes"] == 6 and counters["cmdlet:New-SendConnector"] == 3  # no write was repeated
        assert counters["cmdlet:Set-SendConnector"] == 3

        again = ansible.play(many(ports)).result("many")
        assert not again["failed"] and again["changed"] is False, again
    finally:
        lab.stop()


# --- the same through the role (the main playbook, the lab and a test smart host) -------------------
def role_connectors(lab, names):
    port = lab["smart_host"].ready["port"]
    return [{"name": name, "usage": "Custom", "address_spaces": ["SMTP:%s.lab.example;1" % name.split()[-1].lower()],
             "dns_routing_enabled": False, "smart_hosts": ["smarthost.lab.test"], "smart_host_auth_mechanism": "None",
             "source_transport_servers": ["EX01"], "port": port, "is_scoped_connector": False,
             "protocol_logging_level": "Verbose"}  # already logging: the role's verify writes nothing for its test
            for name in names]


def role_vars(connectors):
    return {"smart_host_connectors": connectors,
            "smart_host_routing_test_recipients": {c["name"]: "postmaster@%s" % c["address_spaces"][0][5:-2]
                                                   for c in connectors},
            "smart_host_routing_trace_poll_interval": 1}


def test_role_inside_replication_delay_changes_nothing_twice(tmp_path):
    # cmdlet 3 is the second New-SendConnector of the send_connectors run below: 'Role B' stays hidden from every
    # read that names no DC; the role's run then finds nothing to change and writes nothing
    faults = {"faults": [{"on_cmdlet": 3, "kind": "replication_delay", "seconds": 3600}]}
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, lab_config=faults) as lab:
        connectors = role_connectors(lab, ["Role A", "Role B"])
        created = Ansible(lab["lab"], str(tmp_path)).play(many(connectors)).result("many")
        assert not created["failed"] and created["changed"] is True, created
        before = lab["lab"].counters()
        run = run_playbook(lab, tmp_path, role_vars(connectors))
        assert run.rc == 0, run.output[-6000:]
        applied = run.task(APPLY)["result"]
        assert applied["changed"] is False and applied["commands"] == [], applied
        assert delta(before, lab["lab"].counters()).get("writes", 0) == 0
        by_name = {s["name"]: s for s in run.report}
        assert by_name["Role B"]["changed"] is False and by_name["Role B"]["read_back"] == "matches"
        assert by_name["Role A"]["trace"]["result"] == by_name["Role B"]["trace"]["result"] == "sent", run.report


def test_role_after_a_lost_answer_reports_the_change_and_verifies_it(tmp_path):
    # the role's first write (apply's New-SendConnector of 'Role A') is made, then its answer is lost
    faults = {"faults": [{"on_write": 1, "kind": "write_answer_drop"}]}
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, lab_config=faults) as lab:
        connectors = role_connectors(lab, ["Role A", "Role B"])
        run = run_playbook(lab, tmp_path, role_vars(connectors))
        assert run.rc == 0, run.output[-6000:]
        applied = run.task(APPLY)["result"]
        assert applied["changed"] is True and [r["written"] for r in applied["results"]] == [True, True], applied
        assert any(w.startswith("New-SendConnector was sent, but its answer was lost") and "'Role A' was read back" in w
                   for w in applied.get("warnings", [])), applied
        counters = lab["lab"].counters()
        assert counters["writes"] == 2 and counters["cmdlet:New-SendConnector"] == 2  # no write was repeated
        by_name = {s["name"]: s for s in run.report}
        for name in ("Role A", "Role B"):
            assert by_name[name]["changed"] is True and by_name[name]["read_back"] == "matches", by_name[name]
            assert by_name[name]["trace"]["result"] == "sent", by_name[name]
        again = run_playbook(lab, tmp_path, role_vars(connectors))
        assert again.rc == 0 and [s["changed"] for s in again.report] == [False, False], again.output[-4000:]

"""A write whose answer is lost, and Active Directory replication delay, through ansible-playbook (issue 11).

The lab applies a write and then loses its answer (``write_answer_drop``: the TCP connection is
closed, ``write_answer_fault``: HTTP 500 WSManFault), or drops the write's own request (the write is
not applied). The module reconnects once, reads the connector back from the same domain controller
and reports what is true. With ``replication_delay`` a write is visible at once only on the DC that
took it; a re-run inside the delay must not fail with "already exists".
"""

from __future__ import annotations

import pytest

from send_connector_harness import Ansible, LabProcess, delta

CREATE = """
- name: create
  mailflow.exchange.send_connector:
    name: Relay
    address_spaces: [contoso.com]
    smart_hosts: [192.168.3.2]
  ignore_errors: true
"""
CHANGE = """
- name: change
  mailflow.exchange.send_connector:
    name: Relay
    port: 2525
    comment: after a lost answer
  ignore_errors: true
"""
REMOVE = """
- name: remove
  mailflow.exchange.send_connector:
    name: Relay
    state: absent
  ignore_errors: true
"""


def lab_with(tmp_path_factory, faults):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", config={"faults": faults})
    proc.start()
    return proc


@pytest.fixture(scope="module")
def answer_lab(tmp_path_factory):
    proc = lab_with(tmp_path_factory, [{"on_write": 1, "kind": "write_answer_drop"},
                                       {"on_write": 2, "kind": "write_answer_fault"},
                                       {"on_write": 3, "kind": "write_answer_drop"}])
    yield proc
    proc.stop()


def lost_answer_warning(res, cmdlet):
    [warning] = [w for w in res.get("warnings", []) if "answer was lost" in w]
    assert warning.startswith("%s was sent, but its answer was lost (" % cmdlet), warning
    assert "after reconnecting, the Send connector 'Relay' was read back on DC01.contoso.com and shows the change" in warning
    return warning


def test_lost_answers_of_new_set_and_remove_report_the_change(answer_lab, tmp_path):
    ansible = Ansible(answer_lab, str(tmp_path))
    before = answer_lab.counters()

    created = ansible.play(CREATE).result("create")
    assert not created["failed"] and created["changed"] is True, created
    assert "closed the connection without an answer" in lost_answer_warning(created, "New-SendConnector")
    assert created["connector"]["smart_hosts"] == ["192.168.3.2"] and created["connector"]["name"] == "Relay"
    again = ansible.play(CREATE).result("create")
    assert not again["failed"] and again["changed"] is False, again

    changed = ansible.play(CHANGE).result("change")
    assert not changed["failed"] and changed["changed"] is True, changed
    assert "WSMan fault" in lost_answer_warning(changed, "Set-SendConnector")
    assert changed["connector"]["port"] == 2525 and changed["connector"]["comment"] == "after a lost answer"
    assert changed["commands"] == ["Set-SendConnector -Identity Relay -Port 2525 -Comment 'after a lost answer'"]

    removed = ansible.play(REMOVE).result("remove")
    assert not removed["failed"] and removed["changed"] is True, removed
    lost_answer_warning(removed, "Remove-SendConnector")
    assert ansible.play(REMOVE).result("remove")["changed"] is False

    moved = delta(before, answer_lab.counters())
    assert moved["writes"] == 3  # no write was repeated
    assert moved["cmdlet:New-SendConnector"] == 1 and moved["cmdlet:Remove-SendConnector"] == 1
    assert answer_lab.log_tail(400).count("(injected fault)") == 3


def test_a_write_that_never_arrived_is_reported_as_not_applied(tmp_path_factory, tmp_path):
    # the run's second pipeline is New-SendConnector: its Command request is dropped before it runs
    lab = lab_with(tmp_path_factory, [{"on_command": 2, "kind": "command_drop"}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        run = ansible.play(CREATE)
        res = run.result("create")
        assert res["failed"], res
        assert res["msg"].startswith("New-SendConnector was sent, but its answer was lost (")
        assert res["msg"].endswith("after reconnecting, the Send connector 'Relay' read back on DC01.contoso.com does "
                                   "not exist: the change was not applied (run the task again to apply it)"), res["msg"]
        assert "Traceback" not in run.stdout + run.stderr
        assert lab.counters().get("writes", 0) == 0
        again = ansible.play(CREATE).result("create")
        assert not again["failed"] and again["changed"] is True, again
        assert not [w for w in again.get("warnings", []) if "answer was lost" in w]
    finally:
        lab.stop()


def test_rerun_inside_replication_delay_does_not_fail_with_already_exists(tmp_path_factory, tmp_path):
    # cmdlet 2 is the first run's New-SendConnector: the other DCs see it only after an hour
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        first = ansible.play(CREATE).result("create")
        assert first["changed"] is True and not first["failed"], first
        again = ansible.play(CREATE).result("create")
        assert not again["failed"], again["msg"]
        assert again["changed"] is False and again["commands"] == [], again
        assert any("Active Directory replication" in w and "what DC01.contoso.com, the DC this run writes to" in w
                   for w in again.get("warnings", [])), again
        changed = ansible.play(CHANGE).result("change")  # also decided on DC01, which has the connector
        assert not changed["failed"] and changed["changed"] is True, changed
        assert lab.counters()["cmdlet:New-SendConnector"] == 2 and lab.counters()["writes"] == 2  # one New refused
    finally:
        lab.stop()


def test_given_domain_controller_reads_and_writes_there(tmp_path_factory, tmp_path):
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        task = CREATE.replace("smart_hosts: [192.168.3.2]", "smart_hosts: [192.168.3.2]\n    domain_controller: DC02.contoso.com")
        first = ansible.play(task).result("create")
        assert first["changed"] is True and first["commands"][0].endswith("-DomainController 'DC02.contoso.com'"), first
        again = ansible.play(task).result("create")
        assert not again["failed"] and again["changed"] is False, again
        assert not [w for w in again.get("warnings", []) if "replication" in w]  # read on DC02: seen at once
        moved = lab.counters()
        # Get-SendConnector: the create's read by name and its names read after the New (Get-SendConnector |
        # Select-Object, for look-alikes of a name the read did not find), then the re-run's read
        assert moved["cmdlet:New-SendConnector"] == 1 and moved["cmdlet:Get-SendConnector"] == 3, moved
        assert moved["cmdlet:Select-Object"] == 1, moved
    finally:
        lab.stop()


def test_lost_answer_is_read_back_from_the_dc_that_took_the_write(tmp_path_factory, tmp_path):
    # the write is hidden from every other DC for an hour and its answer is lost: only a read on the
    # DC the session reported (DC01) can show it
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600},
                                      {"on_write": 1, "kind": "write_answer_drop"}])
    try:
        created = Ansible(lab, str(tmp_path)).play(CREATE).result("create")
        assert not created["failed"] and created["changed"] is True, created
        lost_answer_warning(created, "New-SendConnector")
        assert lab.counters()["writes"] == 1
    finally:
        lab.stop()


def test_lost_answer_over_ntlm_with_message_encryption(tmp_path_factory, tmp_path):
    """NTLM over HTTP seals every message: the reconnect must start a new security context, not reuse the old one."""
    lab = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="ntlm",
                     config={"faults": [{"on_write": 1, "kind": "write_answer_drop"}]})
    lab.start()
    try:
        run = Ansible(lab, str(tmp_path)).play(CREATE + CHANGE)
        created = run.result("create")
        assert not created["failed"] and created["changed"] is True, created
        lost_answer_warning(created, "New-SendConnector")
        changed = run.result("change")
        assert not changed["failed"] and changed["changed"] is True and changed["connector"]["port"] == 2525, changed
        assert lab.counters()["writes"] == 2
    finally:
        lab.stop()


def test_smart_host_inside_replication_delay_finds_the_new_connector(tmp_path_factory, tmp_path):
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        assert ansible.play(CREATE).result("create")["changed"] is True
        res = ansible.play("""
        - name: add a smart host
          mailflow.exchange.smart_host:
            connector: Relay
            hosts: [relay2.contoso.com]
          ignore_errors: true
        """).result("add a smart host")
        assert not res["failed"] and res["changed"] is True, res
        assert res["smart_hosts"] == ["192.168.3.2", "relay2.contoso.com"]
        assert any("Active Directory replication" in w for w in res.get("warnings", []))
    finally:
        lab.stop()


def test_a_write_answered_too_late_is_read_back(tmp_path_factory, tmp_path):
    """A timeout after the write was sent: the cmdlet ran, the answer came after the client gave up."""
    # the second run's second pipeline is Set-SendConnector; read timeout = operation_timeout + 5 = 6 s < 9 s
    lab = lab_with(tmp_path_factory, [{"on_command": 5, "kind": "command_late", "seconds": 9}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        # commands 1 to 3: the read, the New and the names read after it (look-alikes of a name the read did not find)
        assert ansible.play(CREATE).result("create")["changed"] is True
        changed = ansible.play(CHANGE.replace("comment: after a lost answer", "comment: late\n    operation_timeout: 1")
                               ).result("change")
        assert not changed["failed"] and changed["changed"] is True, changed
        assert "did not answer in time" in lost_answer_warning(changed, "Set-SendConnector")
        assert changed["connector"]["port"] == 2525 and lab.counters()["writes"] == 2
    finally:
        lab.stop()


# ---- send_connectors: the same engine, many items ------------------------------------------------
BULK = """
- name: bulk
  mailflow.exchange.send_connectors:
    connectors:
      - {name: Relay A, address_spaces: [a.example], smart_hosts: [192.0.2.10]}
      - {name: Relay B, address_spaces: [b.example], smart_hosts: [192.0.2.11]}
      - {name: Relay C, address_spaces: [c.example], smart_hosts: [192.0.2.12]}
  ignore_errors: true
"""
BULK_CHANGE = """
- name: bulk change
  mailflow.exchange.send_connectors:
    connectors:
      - {name: Relay A, smart_hosts: {add: [192.0.2.20]}}
      - {name: Relay B, state: absent}
  ignore_errors: true
"""


def test_send_connectors_inside_replication_delay_decides_on_the_dc_that_has_the_connector(tmp_path_factory, tmp_path):
    # cmdlet 2 is the first run's New-SendConnector of Relay A: the other DCs see it only after an hour
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        first = ansible.play(BULK).result("bulk")
        assert not first["failed"] and [r["changed"] for r in first["results"]] == [True, True, True], first
        again = ansible.play(BULK).result("bulk")  # the read does not show Relay A; New finds the name taken
        assert not again["failed"], again["msg"]
        assert again["changed"] is False and again["commands"] == [], again
        assert any("'Relay A' (Active Directory replication" in w and "what DC01.contoso.com, the DC this run writes to"
                   in w for w in again.get("warnings", [])), again
        assert again["results"][0]["connector"]["smart_hosts"] == ["192.0.2.10"], again["results"][0]
        # a change of Relay A alone (no address space: it cannot be created) is decided on DC01 before any write
        before = lab.counters()
        changed = ansible.play(BULK_CHANGE).result("bulk change")
        assert not changed["failed"] and changed["changed"] is True, changed
        a, b = changed["results"]
        assert a["commands"] == ["Set-SendConnector -Identity 'Relay A' -SmartHosts @{Add='192.0.2.20'}"], a
        assert a["connector"]["smart_hosts"] == ["192.0.2.10", "192.0.2.20"] and b["changed"] is True, changed
        moved = delta(before, lab.counters())
        assert moved["cmdlet:Get-SendConnector"] == 2 and moved["writes"] == 2, moved  # the read, one on DC01
        counters = lab.counters()
        assert counters["cmdlet:New-SendConnector"] == 4 and counters["writes"] == 5, counters  # one New refused
    finally:
        lab.stop()


def test_send_connectors_removal_inside_replication_delay_is_not_reported_as_nothing_to_do(tmp_path_factory, tmp_path):
    lab = lab_with(tmp_path_factory, [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        assert ansible.play(BULK).result("bulk")["changed"] is True
        removed = ansible.play(BULK.replace("smart_hosts: [192.0.2.10]}", "state: absent}")).result("bulk")
        assert not removed["failed"] and removed["results"][0]["changed"] is True, removed
        assert removed["results"][0]["commands"] == ["Remove-SendConnector -Identity 'Relay A' -Confirm:$false"], removed
        assert lab.counters()["cmdlet:Remove-SendConnector"] == 1
    finally:
        lab.stop()


def test_send_connectors_lost_answer_is_read_back_per_item(tmp_path_factory, tmp_path):
    lab = lab_with(tmp_path_factory, [{"on_write": 2, "kind": "write_answer_drop"},
                                      {"on_write": 4, "kind": "write_answer_fault"}])
    try:
        ansible = Ansible(lab, str(tmp_path))
        created = ansible.play(BULK).result("bulk")
        assert not created["failed"] and [r["changed"] for r in created["results"]] == [True, True, True], created
        [warning] = [w for w in created.get("warnings", []) if "answer was lost" in w]
        assert warning.startswith("New-SendConnector was sent, but its answer was lost (") and "'Relay B'" in warning
        assert created["results"][1]["connector"]["smart_hosts"] == ["192.0.2.11"], created["results"][1]
        changed = ansible.play(BULK_CHANGE).result("bulk change")
        assert not changed["failed"] and changed["changed"] is True, changed
        [warning] = [w for w in changed.get("warnings", []) if "answer was lost" in w]
        assert warning.startswith("Set-SendConnector was sent, but its answer was lost (") and "WSMan fault" in warning
        assert changed["results"][0]["connector"]["smart_hosts"] == ["192.0.2.10", "192.0.2.20"], changed
        assert changed["results"][1]["changed"] is True
        assert ansible.play(BULK_CHANGE).result("bulk change")["changed"] is False
        assert lab.counters()["writes"] == 5  # no write was repeated
    finally:
        lab.stop()

"""send_connectors' read_back against the Exchange lab: the connectors written are read again by GUID, only they.

The lab's counters are the oracle: ``read_all:Get-SendConnector`` counts reads of every connector (no -Identity),
``cmdlet:Get-SendConnector`` every read. A run with ``read_back: true`` makes one read of all connectors and ONE
read-back call, however many connectors it wrote (their GUIDs are the pipeline input of one Get-SendConnector);
a run that writes nothing (or runs in check mode) makes only the first. A write the lab keeps invisible to the
read-back (Active Directory replication), or a removed connector, is a GUID not found: absent for that item only.
Where Exchange binds no pipeline input (the lab's ``unbound_pipeline_input``), each GUID is read by itself.
"""

from __future__ import annotations

import contextlib

import yaml

from send_connector_harness import Ansible, delta, started_lab

FOUR = [
    {"name": "Back A", "address_spaces": ["a.example"], "smart_hosts": ["192.0.2.10"]},
    {"name": "Back B", "address_spaces": ["b.example"], "smart_hosts": ["192.0.2.11"], "port": 587},
    {"name": "Back C", "address_spaces": ["c.example"], "smart_hosts": ["192.0.2.12"]},
    {"name": "Back D", "address_spaces": ["d.example"], "smart_hosts": ["192.0.2.13"]},
]


def task(connectors, read_back=True):
    return ("- name: bulk\n  mailflow.exchange.send_connectors:\n    connectors: %s\n    read_back: %s\n"
            "  ignore_errors: true\n" % (yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip(),
                                         "true" if read_back else "false"))


def own_lab(tmp_path_factory, **config):
    """A lab of its own (an empty organisation) with ``config`` (faults...), stopped also when the test fails: the
    harness's started_lab, as a ``with`` block."""
    return contextlib.contextmanager(started_lab)(tmp_path_factory, auth="basic", config=config)


def reads(moved):
    """(reads of every connector, reads by identity) in a counter delta."""
    every = moved.get("read_all:Get-SendConnector", 0)
    return every, moved.get("cmdlet:Get-SendConnector", 0) - every


def test_a_create_reads_the_new_connectors_back_by_guid_in_one_call(ansible, lab):
    before = lab.counters()
    res = ansible.play(task(FOUR)).result("bulk")
    assert not res["failed"] and res["changed"] is True, res
    moved = delta(before, lab.counters())
    assert reads(moved) == (1, 1) and moved.get("writes") == 4 and moved.get("runspaces_opened") == 1, moved
    for result in res["results"]:
        assert result["written"] is True and result["read_back"]["differences"] == [], result
        assert result["read_back"]["connector"]["smart_hosts"] == result["connector"]["smart_hosts"], result
    assert res["results"][1]["read_back"]["connector"]["port"] == 587
    assert not [w for w in res.get("warnings", []) if "read back" in w], res.get("warnings")


def test_nothing_written_nothing_read_back(ansible, lab):
    before = lab.counters()
    res = ansible.play(task(FOUR)).result("bulk")
    assert not res["failed"] and res["changed"] is False, res
    assert not any("read_back" in r for r in res["results"]), res["results"]
    moved = delta(before, lab.counters())
    assert reads(moved) == (1, 0) and moved.get("cmdlets_run") == 1, moved

    before = lab.counters()  # check mode writes nothing, so it reads nothing back
    checked = ansible.play(task([dict(FOUR[0], port=2525)]), args=["--check"]).result("bulk")
    assert not checked["failed"] and checked["changed"] is True and "read_back" not in checked["results"][0], checked
    moved = delta(before, lab.counters())
    assert moved.get("cmdlets_run") == 1 and not moved.get("writes"), moved


def test_only_the_connectors_written_are_read_back_and_a_removed_one_is_gone(ansible, lab):
    items = [dict(FOUR[0], port=2525), FOUR[1], {"name": "Back C", "state": "absent"}, FOUR[3]]
    before = lab.counters()
    res = ansible.play(task(items)).result("bulk")
    assert not res["failed"] and res["changed"] is True, res
    by_name = {r["name"]: r for r in res["results"]}
    assert by_name["Back A"]["read_back"] == {"connector": by_name["Back A"]["read_back"]["connector"], "differences": []}
    assert by_name["Back A"]["read_back"]["connector"]["port"] == 2525
    assert by_name["Back C"]["read_back"] == {"connector": {}, "differences": []}  # confirmed absent
    assert "read_back" not in by_name["Back B"] and "read_back" not in by_name["Back D"]
    moved = delta(before, lab.counters())
    assert reads(moved) == (1, 1) and moved.get("writes") == 2, moved  # the removed GUID is "not found" in that call


def test_without_read_back_a_change_makes_no_read_after_its_write(ansible, lab):
    before = lab.counters()
    res = ansible.play(task([dict(FOUR[3], port=2526)], read_back=False)).result("bulk")
    assert not res["failed"] and res["changed"] is True and "read_back" not in res["results"][0], res
    moved = delta(before, lab.counters())
    assert moved.get("cmdlet:Get-SendConnector") == 1 and moved.get("writes") == 1 and moved.get("cmdlets_run") == 2, moved


def test_in_an_empty_organisation_the_first_new_pins_the_run_to_its_dc(tmp_path_factory, tmp_path):
    # an empty organisation: the first read names no DC. Cmdlet 2 is the first New-SendConnector (Get, New A), and
    # replication keeps 'Back A' from every DC but the one that took it for an hour. The New's answer names that DC
    # (OriginatingServer), so the other writes and the read-back go there, and the read-back shows all three.
    with own_lab(tmp_path_factory, faults=[{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}]) as lab:
        res = Ansible(lab, str(tmp_path)).play(task(FOUR[:3])).result("bulk")
        assert not res["failed"] and res["changed"] is True, res
        for result in res["results"]:
            assert result["read_back"]["differences"] == [] and result["read_back"]["connector"]["name"] == result["name"]
        assert not [w for w in res.get("warnings", []) if "read back" in w], res.get("warnings")
        # the DC the run learned is not shown in the rendered commands (as for one learned from a read)
        assert not [c for c in res["commands"] if "DomainController" in c], res["commands"]
        counters = lab.counters()
        assert reads(counters) == (1, 1) and counters["writes"] == 3, counters


def test_a_write_the_read_back_does_not_show_is_reported_per_item(tmp_path_factory, tmp_path):
    # an empty organisation; cmdlet 2 is the first New-SendConnector (Get, New A): another administrator removes
    # 'Back A' before the next cmdlet. The read-back (one call for the three GUIDs, on the DC the New named) does not
    # find it ("couldn't be found" for its GUID) while the other two are output: a difference, per item.
    with own_lab(tmp_path_factory, faults=[{"on_cmdlet": 2, "kind": "reverted"}]) as lab:
        res = Ansible(lab, str(tmp_path)).play(task(FOUR[:3])).result("bulk")
        assert not res["failed"] and res["changed"] is True, res  # a difference is reported, not a failure
        by_name = {r["name"]: r for r in res["results"]}
        assert by_name["Back A"]["read_back"] == {"connector": {}, "differences": ["it does not exist"]}, by_name["Back A"]
        assert by_name["Back B"]["read_back"]["differences"] == by_name["Back C"]["read_back"]["differences"] == []
        [warning] = [w for w in res.get("warnings", []) if "read back" in w]
        assert warning.startswith("connectors[0]: the Send connector 'Back A' read back on DC01.contoso.com after the write") \
            and "it does not exist" in warning, warning
        assert "another writer changed it after this write" in warning and warning.endswith("(connector 'Back A')"), warning
        counters = lab.counters()
        assert reads(counters) == (1, 1) and counters["writes"] == 3, counters


def test_where_exchange_binds_no_pipeline_input_each_guid_is_read_by_itself(tmp_path_factory, tmp_path):
    # the lab's unbound_pipeline_input: Get-SendConnector answers every input object with InputObjectNotBound
    # (non-terminating); the read-back then reads each GUID with -Identity, with the same results
    with own_lab(tmp_path_factory, unbound_pipeline_input=["Get-SendConnector"]) as lab:
        ansible = Ansible(lab, str(tmp_path))
        res = ansible.play(task(FOUR[:3])).result("bulk")
        assert not res["failed"] and res["changed"] is True, res
        for result in res["results"]:
            assert result["written"] is True and result["read_back"]["differences"] == [], result
            assert result["read_back"]["connector"]["name"] == result["name"], result
        assert not [w for w in res.get("warnings", []) if "read back" in w], res.get("warnings")
        counters = lab.counters()
        # first read, the refused pipeline call, then one read per GUID
        assert reads(counters) == (1, 1 + 3) and counters["writes"] == 3, counters

        before = lab.counters()
        items = [dict(FOUR[0], port=2525), {"name": FOUR[1]["name"], "state": "absent"}]
        res = ansible.play(task(items)).result("bulk")
        assert not res["failed"] and res["changed"] is True, res
        by_name = {r["name"]: r for r in res["results"]}
        assert by_name["Back A"]["read_back"]["connector"]["port"] == 2525 and \
            by_name["Back A"]["read_back"]["differences"] == [], by_name
        assert by_name["Back B"]["read_back"] == {"connector": {}, "differences": []}  # removed: confirmed absent
        assert reads(delta(before, lab.counters())) == (1, 1 + 2)


def test_a_read_back_call_that_fails_is_reported_for_every_item_it_read(tmp_path_factory, tmp_path):
    # an empty organisation; command 1 is the first read, 2 and 3 the News, 4 the one read-back call: the lab closes
    # the connection before it runs. The writes stand; each item written says its read-back failed, the task does not.
    with own_lab(tmp_path_factory, faults=[{"on_command": 4, "kind": "command_drop"}]) as lab:
        res = Ansible(lab, str(tmp_path)).play(task(FOUR[:2])).result("bulk")
        assert not res["failed"] and res["changed"] is True, res
        for result in res["results"]:
            assert result["written"] is True and result["read_back"]["connector"] == {}, result
            [difference] = result["read_back"]["differences"]
            assert difference.startswith("it could not be read back (") and "closed the connection" in difference, result
        warnings = [w for w in res.get("warnings", []) if "reading it back failed" in w]
        assert [w.split(":")[0] for w in warnings] == ["connectors[0]", "connectors[1]"], res.get("warnings")
        counters = lab.counters()
        assert counters["writes"] == 2 and counters["cmdlet:Get-SendConnector"] == 1, counters  # the dropped one never ran

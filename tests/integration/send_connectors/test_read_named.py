"""send_connectors with ``read: named`` against the Exchange lab: only the items' connectors are read, in one call.

The lab's counters are the oracle: ``read_all:Get-SendConnector`` counts reads of every connector (no -Identity),
``cmdlet:Get-SendConnector`` every read. With ``read: named`` a list of several plainly named connectors is one
Get-SendConnector with the names as its pipeline input and no read of every connector; the results are those of
``read: all``. A name not found is created, and the other connectors' names are read after the write (look-alikes).
A name -Identity could misread makes the run read every connector. Where Exchange binds no pipeline input (the lab's
``unbound_pipeline_input``), each name is read by itself, with the same results.
"""

from __future__ import annotations

import pytest
import yaml

from send_connector_harness import Ansible, LabProcess, delta

OTHERS = [{"name": "Named other %d" % i, "address_spaces": ["o%d.example" % i], "smart_hosts": ["192.0.2.%d" % (20 + i)]}
          for i in range(4)]
TWO = [{"name": "Named A", "address_spaces": ["a.example"], "smart_hosts": ["192.0.2.10"]},
       {"name": "Named B", "address_spaces": ["b.example"], "smart_hosts": ["192.0.2.11"], "port": 587}]


@pytest.fixture(scope="module", params=[{}, {"unbound_pipeline_input": ["Get-SendConnector"]}], ids=["pipeline", "unbound"])
def lab(request, tmp_path_factory):
    lab = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", config=request.param)
    lab.start()
    try:
        lab.unbound = bool(request.param)
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def ansible(lab, tmp_path_factory):
    run = Ansible(lab, str(tmp_path_factory.mktemp("plays")))
    assert not run.play(task(OTHERS + TWO, "all")).result("bulk")["failed"]
    return run


def task(connectors, read, check=False):
    return ("- name: bulk\n  mailflow.exchange.send_connectors:\n    connectors: %s\n    read: %s\n"
            "  ignore_errors: true\n%s" % (yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip(), read,
                                           "  check_mode: true\n" if check else ""))


def test_named_reads_only_the_items_connectors_in_one_call_with_the_results_of_all(ansible, lab):
    wanted = [dict(TWO[0], port=2525), TWO[1]]
    everything = ansible.play(task(wanted, "all", check=True)).result("bulk")
    before = lab.counters()
    named = ansible.play(task(wanted, "named", check=True)).result("bulk")
    moved = delta(before, lab.counters())
    assert not named["failed"], named
    assert named["results"] == everything["results"] and named["commands"] == everything["commands"]
    assert [r["changed"] for r in named["results"]] == [True, False]
    assert not moved.get("read_all:Get-SendConnector"), moved
    # one pipeline call; where Exchange binds no pipeline input, that call and one read per name
    assert moved.get("cmdlet:Get-SendConnector") == (1 + 2 if lab.unbound else 1), moved

    before = lab.counters()
    written = ansible.play(task(wanted, "named")).result("bulk")
    assert not written["failed"] and written["changed"] and written["commands"] == everything["commands"], written
    assert delta(before, lab.counters()).get("writes") == 1


def test_named_creates_a_missing_one_and_reads_the_names_once_after_the_write(ansible, lab):
    wanted = [TWO[1], {"name": "Named new", "address_spaces": ["n.example"], "smart_hosts": ["192.0.2.12"]}]
    before = lab.counters()
    res = ansible.play(task(wanted, "named")).result("bulk")
    moved = delta(before, lab.counters())
    assert not res["failed"] and [r["changed"] for r in res["results"]] == [False, True], res
    assert res["commands"][0].startswith("New-SendConnector -Name 'Named new'")
    assert moved.get("writes") == 1, moved
    # the names read for look-alikes after the write reads every connector's name (one pipeline), nothing more
    assert moved.get("read_all:Get-SendConnector") == 1, moved


def test_a_name_identity_could_misread_reads_every_connector(ansible, lab):
    wanted = [TWO[1], {"name": "Named [x]", "address_spaces": ["x.example"], "smart_hosts": ["192.0.2.13"]}]
    before = lab.counters()
    res = ansible.play(task(wanted, "named", check=True)).result("bulk")
    moved = delta(before, lab.counters())
    assert not res["failed"] and [r["changed"] for r in res["results"]] == [False, True], res
    assert moved.get("read_all:Get-SendConnector") == 1 and moved.get("cmdlet:Get-SendConnector") == 1, moved

"""send_connectors against the Exchange lab over HTTP Basic: many connectors, one session, one read.

The steps of a life cycle: bad input (every problem, no call), check mode (no write), create, again
(nothing), a mixed change (add a smart host, remove the last one with fallback to DNS, a credential, a
removal), and 50 connectors, where the lab's counters prove the promise: one runspace, one
Get-SendConnector, one write per connector that differs. Each test has a lab of its own and creates the
connectors it starts from (``seeded``), so any test runs alone and in any order.
"""

from __future__ import annotations

import secrets

import pytest
import yaml

from send_connector_harness import Ansible, delta, started_lab

THREE = [
    {"name": "Bulk A", "address_spaces": ["a.example"], "usage": "Custom", "smart_hosts": ["192.0.2.10"],
     "smart_host_auth_mechanism": "None"},
    {"name": "Bulk B", "address_spaces": ["b.example"], "smart_hosts": ["192.0.2.11", "192.0.2.12"], "port": 587},
    {"name": "Bulk C", "address_spaces": ["c.example"], "smart_hosts": ["relay.example.net"], "require_tls": True},
]


def task(connectors, extra=""):
    return "- name: bulk\n  mailflow.exchange.send_connectors:\n    connectors: %s\n  register: bulk\n  ignore_errors: true\n%s" % (
        yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip(), extra)


def run(ansible, connectors, *args):
    return ansible.play(task(connectors), args=args).result("bulk")


@pytest.fixture
def lab(tmp_path_factory):
    """A fresh lab per test (the suite's lab is per file): no test depends on what another left."""
    yield from started_lab(tmp_path_factory, auth="basic")


@pytest.fixture
def ansible(lab, tmp_path):
    return Ansible(lab, str(tmp_path))


def seeded(ansible, connectors=None):
    """Create ``connectors`` (THREE unless given: the starting point of a test that changes existing ones)."""
    res = run(ansible, THREE if connectors is None else connectors)
    assert not res["failed"] and res["changed"] is True, res


def test_every_problem_of_every_item_in_one_message_before_any_call(ansible, lab):
    before = lab.counters()
    secret = secrets.token_hex(8)
    bad = [
        {"name": "Bulk A", "address_spaces": ["a.example"], "port": "twenty-five"},
        {"name": "Bulk B", "address_spaces": ["b.example"], "smart_hosts": ["192.0.2.11"], "tls_auth_level": "Sometimes"},
        {"name": "Bulk C", "address_spaces": ["c.example"], "smart_hosts": ["192.0.2.12"], "smart_host_auth_mechanism": "basicauth",
         "authentication_credential": {"password": secret}},
        {"name": "Bulk D", "address_spaces": ["d.example"], "smart_host": ["x"],
         "authentication_credential": {"username": "u", "password": {"nested": secret}}},
        "not a mapping",
    ]
    res = run(ansible, bad)
    assert res["failed"]
    errors = res["errors"]
    text = "\n".join(errors)
    assert "connectors[0].port: must be a whole number, not a string (connector 'Bulk A')" in errors, text
    assert any(e.startswith("connectors[1].tls_auth_level: ") and "Bulk B" in e for e in errors), text
    assert "connectors[2].authentication_credential.username: is required (connector 'Bulk C')" in errors, text
    assert "connectors[3].smart_host: is not an option (did you mean smart_hosts?) (connector 'Bulk D')" in errors, text
    assert any(e.startswith("connectors[3].authentication_credential.password: must be a string, not a mapping")
               for e in errors), text
    assert "connectors[4]: must be a mapping, not a string" in errors, text
    assert secret not in res["msg"] and secret not in text
    moved = delta(before, lab.counters())
    assert not any(k.startswith(("cmdlet", "runspaces")) for k in moved), moved


def test_check_mode_reads_once_and_writes_nothing(ansible, lab):
    before = lab.counters()
    res = run(ansible, THREE, "--check", "--diff")
    assert not res["failed"], res
    assert res["changed"] is True
    assert [r["name"] for r in res["results"]] == ["Bulk A", "Bulk B", "Bulk C"]
    assert all(r["changed"] and r["existed"] is False for r in res["results"])
    assert [c.split(" ")[0] for c in res["commands"]] == ["New-SendConnector"] * 3
    # the diff of a create shows what the item gave, not every predicted default
    assert set(res["results"][1]["diff"]["after"]) == {"name", "address_spaces", "smart_hosts", "port", "dns_routing_enabled"}
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlets_run") == 1 and not moved.get("writes"), moved


def test_create_three_in_one_session_then_nothing_to_do(ansible, lab):
    before = lab.counters()
    res = run(ansible, THREE)
    assert not res["failed"] and res["changed"] is True, res
    assert res["results"][1]["connector"]["port"] == 587 and res["results"][1]["connector"]["dns_routing_enabled"] is False
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert moved.get("cmdlet:New-SendConnector") == 3 and moved.get("writes") == 3, moved

    before = lab.counters()
    again = run(ansible, [dict(c, name=c["name"].upper()) for c in THREE])  # names match in any case; usage is not compared
    assert not again["failed"] and again["changed"] is False, again
    assert again["commands"] == [] and all(r["commands"] == [] for r in again["results"])
    assert not [w for w in again.get("warnings", []) if "usage" in w]  # usage on an existing connector: no warning every run
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlets_run") == 1 and not moved.get("writes"), moved


def test_smart_host_semantics_credential_and_removal_in_one_run(ansible, lab):
    seeded(ansible)
    password = secrets.token_urlsafe(12)
    items = [
        {"name": "Bulk A", "smart_hosts": {"add": ["[192.0.2.20]"]}},
        {"name": "Bulk B", "smart_hosts": {"remove": ["192.0.2.11", "192.0.2.12"]}, "fallback_to_dns": True},
        {"name": "Bulk C", "smart_host_auth_mechanism": "basicauthrequiretls",
         "authentication_credential": {"username": "relay", "password": password}},
        {"name": "Bulk Z", "state": "absent"},
    ]
    before = lab.counters()
    play = ansible.play(task(items), args=["--diff", "-v"])
    res = play.result("bulk")
    assert not res["failed"], res
    by_name = {r["name"]: r for r in res["results"]}
    assert by_name["Bulk A"]["connector"]["smart_hosts"] == ["192.0.2.10", "192.0.2.20"]
    assert by_name["Bulk A"]["commands"] == ["Set-SendConnector -Identity 'Bulk A' -SmartHosts @{Add='192.0.2.20'}"]
    b = by_name["Bulk B"]
    assert b["connector"]["smart_hosts"] == [] and b["connector"]["dns_routing_enabled"] is True, b
    assert "-DNSRoutingEnabled $true" in b["commands"][0]
    c = by_name["Bulk C"]
    assert c["commands"] == ["Set-SendConnector -Identity 'Bulk C' -SmartHostAuthMechanism BasicAuthRequireTLS "
                             "-AuthenticationCredential (Get-Credential)"]
    assert c["diff"]["after"]["authentication_credential"] == {"username": "relay", "password": "(updated)"}
    assert by_name["Bulk Z"]["changed"] is False
    assert password not in play.stdout + play.stderr
    moved = delta(before, lab.counters())
    # the read named no DC and did not show Bulk Z: the pinned DC is asked once more (AD replication), not a guess
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlet:Get-SendConnector") == 2, moved
    assert moved.get("cmdlet:Set-SendConnector") == 3 and moved.get("writes") == 3, moved


def test_a_rule_broken_after_the_read_stops_every_item_before_any_write(ansible, lab):
    seeded(ansible, [dict(THREE[0], smart_hosts=["192.0.2.10", "192.0.2.20"])] + THREE[1:])
    items = [
        {"name": "Bulk B", "port": 2525},  # fine on its own (a list names each connector once: issue 15)
        {"name": "Bulk A", "smart_hosts": {"remove": ["192.0.2.10", "192.0.2.20"]}},  # the last ones, no fallback
        {"name": "Bulk New", "smart_hosts": ["192.0.2.30"]},  # does not exist, no address space to create it
    ]
    before = lab.counters()
    res = run(ansible, items)
    assert res["failed"]
    text = "; ".join(res["errors"])
    assert ("connectors[1].smart_hosts: this would remove the last smart host of 'Bulk A', leaving it without a route; "
            "set fallback_to_dns: true to switch it to DNS routing in the same call (connector 'Bulk A')") in text, text
    assert "connectors[2].address_spaces: required to create a Send connector; 'Bulk New' does not exist" in text, text
    moved = delta(before, lab.counters())
    assert not moved.get("writes") and moved.get("cmdlets_run") == 2, moved  # the read, and Bulk New on the pinned DC


def test_remove_in_one_run(ansible, lab):
    seeded(ansible)
    before = lab.counters()
    res = run(ansible, [{"name": n, "state": "absent"} for n in ("Bulk A", "Bulk B", "Bulk C")])
    assert not res["failed"] and res["changed"], res
    assert all(r["commands"][0].startswith("Remove-SendConnector") for r in res["results"])
    moved = delta(before, lab.counters())
    assert moved.get("writes") == 3 and moved.get("runspaces_opened") == 1, moved


def fifty(port=25):
    return [{"name": "Fifty %02d" % i, "address_spaces": ["fifty%02d.example" % i], "usage": "Custom",
             "smart_hosts": ["192.0.2.%d" % (100 + i % 20)], "smart_host_auth_mechanism": "None", "port": port}
            for i in range(50)]


def test_fifty_connectors_cost_one_session_and_one_read(ansible, lab):
    created = run(ansible, fifty())
    assert not created["failed"] and sum(r["changed"] for r in created["results"]) == 50, created.get("msg")

    before = lab.counters()
    same = run(ansible, fifty())
    assert not same["failed"] and same["changed"] is False, same.get("msg")
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1, moved
    assert moved.get("cmdlets_run", 0) <= 2 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert not moved.get("writes"), moved

    items = fifty()
    for index in (3, 14, 25, 36, 47):
        items[index]["port"] = 2525
    before = lab.counters()
    changed = run(ansible, items)
    assert not changed["failed"], changed
    assert [r["name"] for r in changed["results"] if r["changed"]] == ["Fifty 03", "Fifty 14", "Fifty 25", "Fifty 36", "Fifty 47"]
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert moved.get("cmdlet:Set-SendConnector") == 5 and moved.get("writes") == 5, moved
    assert moved.get("cmdlets_run") == 6, moved

"""A task changes only the connector it names (issue 15): identity by name, as Exchange compares names.

Against the lab, through ansible-playbook: a name that is another connector's GUID, a name with the
KELVIN SIGN where an existing connector has a K, look-alikes, and names with bidi controls or
zero-width characters. Each test reads every connector before and after (send_connector_info) and the
lab's write counter, so "the others are untouched" is measured, not assumed.
"""

from __future__ import annotations

import yaml

from send_connector_harness import Ansible, LabProcess, delta

KELVIN = "Relay-\u212aelay"  # KELVIN SIGN: Python's lower() makes it 'relay-kelay'
VICTIMS = [
    {"name": "Victim A", "address_spaces": ["victim-a.example"], "smart_hosts": ["192.0.2.31"], "port": 2525},
    {"name": "Relay-Kelay", "address_spaces": ["kelay.example"], "smart_hosts": ["192.0.2.32"]},
    {"name": "Rel\u0430y Cyrillic", "address_spaces": ["cyr.example"], "smart_hosts": ["192.0.2.33"]},
]


def flow(value):
    return yaml.safe_dump(value, default_flow_style=True, width=100000).strip()


def play(ansible, tasks, *args):
    text = "".join("- name: t%d\n  %s\n  register: r%d\n  ignore_errors: true\n" % (i, t, i) for i, t in enumerate(tasks))
    run = ansible.play(text, args=args)
    return [run.result("t%d" % i) for i in range(len(tasks))]


def everything(ansible):
    """Every connector as send_connector_info reads it, by GUID."""
    res = play(ansible, ["mailflow.exchange.send_connector_info: {}"])[0]
    assert not res["failed"], res
    return {c["guid"]: c for c in res["connectors"]}


def bulk(connectors):
    return "mailflow.exchange.send_connectors: {connectors: %s}" % flow(connectors)


def setup_victims(ansible):
    res = play(ansible, [bulk(VICTIMS)])[0]
    assert not res["failed"], res
    connectors = everything(ansible)
    return connectors, next(g for g, c in connectors.items() if c["name"] == "Victim A")


def test_a_guid_named_item_leaves_the_connector_with_that_guid_untouched(ansible, lab):
    before, guid = setup_victims(ansible)
    writes = lab.counters().get("writes", 0)
    removing, creating = play(ansible, [
        bulk([{"name": guid, "state": "absent"}]),
        "mailflow.exchange.send_connector: {name: '%s', state: absent}" % guid,
    ])
    assert not removing["failed"] and removing["changed"] is False, removing
    assert not creating["failed"] and creating["changed"] is False, creating
    assert lab.counters().get("writes", 0) == writes  # nothing is named so: nothing to remove
    assert everything(ansible) == before

    # a full create item named like Victim A's GUID creates a connector of that name, it does not rewrite Victim A
    item = {"name": guid, "address_spaces": ["guid-named.example"], "smart_hosts": ["192.0.2.40"]}
    created, again, smart = play(ansible, [
        bulk([item]), bulk([item]),
        "mailflow.exchange.smart_host: {connector: '%s', hosts: [192.0.2.41], state: present}" % guid,
    ])
    assert not created["failed"] and created["changed"] is True, created
    assert created["commands"][0].startswith("New-SendConnector -Name '%s'" % guid), created["commands"]
    assert not again["failed"] and again["changed"] is False, again  # found again by its name, not as Victim A
    assert not smart["failed"] and smart["changed"] is True, smart
    # a GUID-shaped name is written by the GUID of the connector that has that name, never as -Identity '<guid>'
    assert guid not in smart["commands"][0], smart["commands"]
    after = everything(ansible)
    assert after[guid] == before[guid]  # Victim A: every setting as it was
    named = [c for c in after.values() if c["name"] == guid]
    assert len(named) == 1 and named[0]["address_spaces"] == ["SMTP:guid-named.example;1"], named
    assert named[0]["smart_hosts"] == ["192.0.2.40", "192.0.2.41"], named

    removed = play(ansible, [bulk([{"name": guid, "state": "absent"}])])[0]
    assert not removed["failed"] and removed["changed"] is True, removed
    final = everything(ansible)
    assert guid in final and final[guid] == before[guid] and not any(c["name"] == guid for c in final.values())


def test_a_kelvin_sign_name_is_not_the_connector_with_a_k(ansible, lab):
    before = everything(ansible)
    writes = lab.counters().get("writes", 0)
    absent, single, smart, info = play(ansible, [
        bulk([{"name": KELVIN, "state": "absent"}]),
        "mailflow.exchange.send_connector: {name: '%s', state: absent}" % KELVIN,
        "mailflow.exchange.smart_host: {connector: '%s', hosts: [192.0.2.50], state: present}" % KELVIN,
        "mailflow.exchange.send_connector_info: {name: '%s'}" % KELVIN,
    ])
    assert not absent["failed"] and absent["changed"] is False, absent
    assert not single["failed"] and single["changed"] is False, single
    assert smart["failed"] and "does not exist" in smart["msg"], smart
    assert not info["failed"] and info["connectors"] == [], info
    assert lab.counters().get("writes", 0) == writes
    assert everything(ansible) == before
    # the look-alike is told, naming both
    for res in (absent, single):
        text = "\n".join(res.get("warnings", []))
        assert "'Relay-Kelay'" in text and "U+212A" in text, res


def test_lookalike_create_warns_naming_both_and_leaves_the_other(ansible, lab):
    before = everything(ansible)
    fullwidth = "\uff32elay-Kelay"  # FULLWIDTH LATIN CAPITAL LETTER R
    res = play(ansible, [bulk([{"name": fullwidth, "address_spaces": ["fw.example"], "smart_hosts": ["192.0.2.60"]},
                               {"name": "Relay Cyrillic", "address_spaces": ["lat.example"], "smart_hosts": ["192.0.2.61"]}])])[0]
    assert not res["failed"] and res["changed"] is True, res
    text = "\n".join(res.get("warnings", []))
    assert "'Relay-Kelay'" in text and "U+FF32" in text, text
    assert "'Relay Cyrillic'" in text and "U+0430" in text, text
    after = everything(ansible)
    assert all(after[g] == c for g, c in before.items())
    assert {c["name"] for c in after.values()} - {c["name"] for c in before.values()} == {fullwidth, "Relay Cyrillic"}


def test_an_ascii_name_beside_an_existing_lookalike_is_warned_about_by_the_single_modules(ansible, lab):
    """Issue 15: an ASCII name (read by name, Get-SendConnector -Identity) next to a Cyrillic look-alike: the single
    modules read every connector's NAME once more when the name does not exist, and warn naming both."""
    cyrillic = "R\u0435lay ASCII check"  # CYRILLIC SMALL LETTER IE
    ascii_name = "Relay ASCII check"
    created = play(ansible, [bulk([{"name": cyrillic, "address_spaces": ["cyr-check.example"],
                                    "smart_hosts": ["192.0.2.80"]}])])[0]
    assert not created["failed"], created
    before = everything(ansible)
    counters = lab.counters()
    absent, smart, new, again = play(ansible, [
        "mailflow.exchange.send_connector: {name: '%s', state: absent}" % ascii_name,
        "mailflow.exchange.smart_host: {connector: '%s', hosts: [192.0.2.81]}" % ascii_name,
        "mailflow.exchange.send_connector: {name: '%s', address_spaces: [ascii-check.example], smart_hosts: [192.0.2.82]}"
        % ascii_name,
        "mailflow.exchange.send_connector: {name: '%s', address_spaces: [ascii-check.example], smart_hosts: [192.0.2.82]}"
        % ascii_name,
    ])
    moved = delta(counters, lab.counters())
    assert not absent["failed"] and absent["changed"] is False, absent
    assert smart["failed"] and "does not exist" in smart["msg"], smart
    assert not new["failed"] and new["changed"] is True, new
    assert not again["failed"] and again["changed"] is False, again
    for res in (absent, smart, new):  # smart_host's warning goes with its failure
        text = "\n".join(res.get("warnings", []))
        assert "'%s'" % ascii_name in text and "U+0435" in text and "looks like the existing connector" in text, res
    # the connector exists now: found by name, no names read and no warning on the re-run
    assert not [w for w in again.get("warnings", []) if "looks like" in w], again
    # reads: absent 2 Get-SendConnector (by name, by name on the pinned DC: the engine's replication rule for "does
    # not exist") and the names pipeline (Get-SendConnector | Select-Object), smart_host the same, the create 1 and
    # the names pipeline after its New, the re-run 1; one write (the create)
    assert moved.get("cmdlet:Get-SendConnector") == 9 and moved.get("cmdlet:Select-Object") == 3, moved
    assert moved.get("writes") == 1, moved
    after = everything(ansible)
    assert all(after[g] == c for g, c in before.items())  # the Cyrillic connector is untouched
    assert [c["name"] for c in after.values() if c["name"] not in {x["name"] for x in before.values()}] == [ascii_name]


def test_a_kelvin_sign_create_beside_the_k_name_fails_naming_the_lookalike(ansible, lab):
    """Exchange (Active Directory's unique-name check) counts 'Relay-\u212aelay' as taken by 'Relay-Kelay', while
    Exchange's lookup by name keeps them apart: the create warns, Exchange refuses the New, the task fails saying so,
    and nothing is changed. Both ways round: a Kelvin name beside a K name, and an ASCII name beside a Kelvin one."""
    made = play(ansible, [bulk([{"name": "Kelvin \u212aeep", "address_spaces": ["kelvin.example"],
                                 "smart_hosts": ["192.0.2.90"]}])])[0]
    assert not made["failed"], made
    before = everything(ansible)
    counters = lab.counters()
    single, listed, ascii_single = play(ansible, [
        "mailflow.exchange.send_connector: {name: '%s', address_spaces: [k1.example], smart_hosts: [192.0.2.91]}"
        % KELVIN,
        bulk([{"name": "Other new", "address_spaces": ["other.example"], "smart_hosts": ["192.0.2.92"]},
              {"name": KELVIN, "address_spaces": ["k2.example"], "smart_hosts": ["192.0.2.93"]}]),
        "mailflow.exchange.send_connector: {name: 'Kelvin Keep', address_spaces: [k3.example], smart_hosts: [192.0.2.94]}",
    ])
    moved = delta(counters, lab.counters())
    for res, name, other in ((single, KELVIN, "Relay-Kelay"), (ascii_single, "Kelvin Keep", "Kelvin \u212aeep")):
        assert res["failed"] and res.get("changed", False) is False, res
        assert res["msg"].startswith("name: Exchange refused to create the Send connector "), res["msg"]
        assert "because it counts the name as taken: the existing connector '%s'" % other in res["msg"], res["msg"]
        assert "already exists" in res["msg"] and "Traceback" not in res["msg"]
        assert any("looks like the existing connector '%s'" % other in w for w in res.get("warnings", [])), res
    assert listed["failed"] and listed["changed"] is True, listed  # item 0 was written before item 1 was refused
    assert listed["msg"].startswith("connectors[1].name: Exchange refused to create the Send connector "), listed["msg"]
    assert [r.get("written") for r in listed["results"]] == [True, False], listed["results"]
    # the Kelvin New (twice) and the ASCII New were refused: one write, the list's item 0
    assert moved.get("cmdlet:New-SendConnector") == 4 and moved.get("writes") == 1, moved
    after = everything(ansible)
    assert all(after[g] == c for g, c in before.items())
    assert {c["name"] for c in after.values()} - {c["name"] for c in before.values()} == {"Other new"}


def test_without_select_object_the_names_are_read_in_full(tmp_path_factory):
    """A session that does not offer Select-Object (the contract lists it as reported, unverified): the names read
    falls back to reading every connector, and the warning is the same."""
    lab = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", config={"core_cmdlets": []})
    lab.start()
    try:
        ansible = Ansible(lab, str(tmp_path_factory.mktemp("plays")))
        assert not play(ansible, [bulk([{"name": "R\u0435lay", "address_spaces": ["c.example"],
                                         "smart_hosts": ["192.0.2.95"]}])])[0]["failed"]
        counters = lab.counters()
        [created] = play(ansible, ["mailflow.exchange.send_connector: {name: Relay, address_spaces: [a.example], "
                                   "smart_hosts: [192.0.2.96]}"])
        moved = delta(counters, lab.counters())
        assert not created["failed"] and created["changed"] is True, created
        assert any("looks like the existing connector 'R\u0435lay'" in w for w in created.get("warnings", [])), created
        # by name, New, the names pipeline refused before it ran ("not recognized": not counted), every connector
        assert moved.get("cmdlet:Get-SendConnector") == 2 and "cmdlet:Select-Object" not in moved, moved
        assert moved.get("writes") == 1, moved
    finally:
        lab.stop()


def test_names_with_bidi_controls_or_zero_width_characters_are_refused_before_any_call(ansible, lab):
    before = lab.counters()
    results = play(ansible, [
        bulk([{"name": "Victim\u202eA", "address_spaces": ["x.example"]}]),
        bulk([{"name": "Victim\u200b A", "state": "absent"}]),
        "mailflow.exchange.send_connector: {name: \"Relay\u2066-Kelay\", state: absent}",
        "mailflow.exchange.smart_host: {connector: \"Victim A\ufeff\", hosts: [192.0.2.1]}",
        "mailflow.exchange.send_connector_info: {name: \"Victim\u200dA\"}",
    ])
    for res, point in zip(results, ["U+202E", "U+200B", "U+2066", "U+FEFF", "U+200D"]):
        assert res["failed"] and point in res["msg"], res
        assert "bidirectional control" in res["msg"] or "zero-width" in res["msg"], res
    moved = delta(before, lab.counters())
    assert not any(k.startswith(("cmdlet", "runspaces", "writes")) for k in moved), moved


def test_two_items_naming_one_connector_are_refused_before_any_call(ansible, lab):
    before_connectors = everything(ansible)
    before = lab.counters()
    lists = [
        [{"name": "Victim A", "state": "absent"}, {"name": "Victim A", "address_spaces": ["victim-a.example"]}],
        [{"name": "Victim A", "address_spaces": ["v.example"]}, {"name": "Other", "address_spaces": ["o.example"]},
         {"name": "Other 2", "address_spaces": ["o.example"]}, {"name": " victim a\u00a0", "state": "absent"}],
    ]
    first, second = play(ansible, [bulk(items) for items in lists])
    assert first["failed"] and any(e.startswith("connectors[1].name: 'Victim A' names the same connector as connectors[0].name")
                                   for e in first["errors"]), first
    assert second["failed"] and any(e.startswith("connectors[3].name:") and "connectors[0].name ('Victim A')" in e
                                    for e in second["errors"]), second
    moved = delta(before, lab.counters())
    assert not any(k.startswith(("cmdlet", "runspaces", "writes")) for k in moved), moved
    assert everything(ansible) == before_connectors


def test_a_partial_failure_says_what_was_written_and_a_rerun_converges(ansible, lab):
    before = everything(ansible)
    writes = lab.counters().get("writes", 0)
    items = [
        {"name": "Partial 1", "address_spaces": ["partial1.example"], "smart_hosts": ["192.0.2.70"]},
        {"name": "Partial 2", "address_spaces": ["partial2.example"], "smart_hosts": ["192.0.2.71"],
         "source_transport_servers": ["EX99"]},  # no such server: Exchange refuses this write
        {"name": "Partial 3", "address_spaces": ["partial3.example"], "smart_hosts": ["192.0.2.72"]},
    ]
    res = play(ansible, [bulk(items)])[0]
    assert res["failed"] and res["changed"] is True, res
    assert [(r["name"], r["written"]) for r in res["results"]] == [("Partial 1", True), ("Partial 2", False),
                                                                   ("Partial 3", False)], res["results"]
    assert "EX99" in res["results"][1]["error"] and "error" not in res["results"][2], res["results"]
    # the refusal names the option the value came from, not only the value
    assert res["msg"].startswith("source_transport_servers: "), res["msg"]
    assert "written before the failure: Partial 1; not written: Partial 2, Partial 3" in res["msg"], res["msg"]
    assert lab.counters().get("writes", 0) == writes + 1
    after = everything(ansible)
    assert {c["name"] for c in after.values()} - {c["name"] for c in before.values()} == {"Partial 1"}

    items[1]["source_transport_servers"] = ["EX01"]
    fixed, again = play(ansible, [bulk(items), bulk(items)])
    assert not fixed["failed"] and fixed["changed"] is True, fixed
    assert [r["changed"] for r in fixed["results"]] == [False, True, True], fixed["results"]
    assert not again["failed"] and again["changed"] is False, again

"""A task changes only the connector it names (issue 15): identity by name, as Exchange compares names.

Against the lab, through ansible-playbook: a name that is another connector's GUID, a name with the
KELVIN SIGN where an existing connector has a K, look-alikes, and names with bidi controls or
zero-width characters. Each test reads every connector before and after (send_connector_info) and the
lab's write counter, so "the others are untouched" is measured, not assumed.
"""

from __future__ import annotations

import yaml

from send_connector_harness import delta

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

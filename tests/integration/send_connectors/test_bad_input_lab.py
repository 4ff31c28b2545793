"""Generated bad input against the Exchange lab: nothing decidable from the input reaches Exchange (issue 11).

The same generators as the server-less suite (tests/unit/plugins/modules/bad_input) with the lab's real
connection: every case that breaks a rule decidable from its input must be refused with its paths in
one message, and the lab's counters must show that not one runspace was opened and not one cmdlet ran
for the whole batch. Then the inputs that look hostile but are valid (wildcard characters and spaces in
names, injection strings and 100,000 characters in free text, Unicode) are applied for real: created,
found again on the next run (no change), read back unchanged, and removed.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("hypothesis")


import test_bad_input as suite  # noqa: E402
from bad_input import cases as c  # noqa: E402


def lab_connection(lab) -> dict:
    ready = lab.ready
    return {"server": ready["host"], "server_port": int(ready["port"]), "protocol": ready["scheme"],
            "path": ready["path"], "auth": ready["auth"], "username": ready["username"],
            "password": ready["password"], "connection_timeout": 10, "operation_timeout": 10}


def delta(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)}


def run(cases: list, tmp_path, name: str, processes: int = 2) -> dict:
    for index, case in enumerate(cases):
        case.setdefault("id", index)
    workdir = tmp_path / name
    workdir.mkdir()
    return suite.run_batches(cases, str(workdir), processes)


def test_nothing_decidable_from_the_input_reaches_the_lab(lab, tmp_path, record_property):
    conn = lab_connection(lab)
    plan = [(c.send_connector_case(), 70), (c.smart_host_case(), 30), (c.info_case(), 15), (c.trace_case(), 30),
            (c.connectors_case(), 20)]
    cases = []
    for strategy, count in plan:
        for case in suite.draw(strategy, count):
            if not case["bad"]:
                continue
            case["args"].update({k: v for k, v in conn.items() if k not in case["args"] or k in c.CONNECTION})
            cases.append(case)
    before = lab.counters()
    results = run(cases, tmp_path, "bad")
    moved = delta(before, lab.counters())
    failures = {}
    for case in cases:
        for problem in suite.classify(case, results.get(case["id"])):
            failures.setdefault(problem, case)
    line = "generated bad input (against the lab): %d cases; failures by class: %s; lab runspaces opened %d, cmdlets run %d" % (
        len(cases), ", ".join(sorted(failures)) or "all 0", moved.get("runspaces_opened", 0),
        moved.get("cmdlets_run", 0))
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert len(cases) >= 100
    assert not failures, {k: v["args"] for k, v in failures.items()}
    assert moved.get("runspaces_opened", 0) == 0 and moved.get("cmdlets_run", 0) == 0, moved


def case(module: str, conn: dict, **args) -> dict:
    return {"module": module, "args": dict(conn, **args), "bad": []}


def answers(results: dict, count: int) -> list[dict]:
    out = []
    for index in range(count):
        record = results[index]
        assert not record["traceback"], record["traceback"]
        out.append(json.loads(record["output"].strip().splitlines()[-1]))
    return out


@pytest.mark.parametrize("name, comment", [
    ("fz[ab]", c.INJECT[0]),
    ("  Padded name  ", c.INJECT[1]),
    ("Relay* what?", c.HUGE),
    ("\u00dcn\u00efcode relay", "\u00dcn\u00efc\u00f8d\u00e9 \U0001f4e7 \u2018quoted\u2019"),
])
def test_hostile_looking_but_valid_input_is_applied_exactly(lab, tmp_path, name, comment):
    conn = lab_connection(lab)
    stored = name.strip()
    settings = {"name": name, "address_spaces": ["valid-%d.example" % len(name)], "dns_routing_enabled": True,
                "comment": comment, "source_transport_servers": ["EX01"]}
    steps = [
        case("send_connector", conn, **settings),
        case("send_connector", conn, **settings),
        case("send_connector_info", conn, name=name),
        case("send_connector", conn, name=name, state="absent"),
        case("send_connector_info", conn, name=name),
    ]
    created, again, info, removed, gone = answers(run(steps, tmp_path, "valid", processes=1), len(steps))
    assert created.get("changed") is True and not created.get("failed"), created
    assert again.get("changed") is False and not again.get("failed"), again  # found again under its name
    [connector] = info["connectors"]
    assert connector["name"] == stored and connector["comment"] == comment
    assert removed.get("changed") is True and not removed.get("failed"), removed
    assert gone["connectors"] == []


@pytest.mark.parametrize("name", ["fz[ab]", "  Padded bulk  ", "Relay* what?"])
def test_send_connectors_applies_such_names_exactly(lab, tmp_path, name):
    conn = lab_connection(lab)
    item = {"name": name, "address_spaces": ["bulk-%d.example" % len(name)], "dns_routing_enabled": True,
            "source_transport_servers": ["EX01"], "comment": c.INJECT[0]}
    changed = dict(item, port=2525)
    steps = [
        case("send_connectors", conn, connectors=[item]),
        case("send_connectors", conn, connectors=[item]),
        case("send_connectors", conn, connectors=[changed]),
        case("send_connector_info", conn, name=name),
        case("send_connectors", conn, connectors=[{"name": name, "state": "absent"}]),
        case("send_connector_info", conn, name=name),
    ]
    created, again, set_, info, removed, gone = answers(run(steps, tmp_path, "bulk", processes=1), len(steps))
    assert created.get("changed") is True and not created.get("failed"), created
    assert again.get("changed") is False and not again.get("failed"), again
    assert set_.get("changed") is True and not set_.get("failed"), set_
    [connector] = info["connectors"]
    assert connector["name"] == name.strip() and connector["port"] == 2525 and connector["comment"] == c.INJECT[0]
    assert removed.get("changed") is True and not removed.get("failed"), removed
    assert gone["connectors"] == []

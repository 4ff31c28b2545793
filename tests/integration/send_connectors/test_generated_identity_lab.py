"""Generated identity cases against the Exchange lab (issue 15): a task changes only the connector it names.

The generators of tests/unit/plugins/modules/bad_input/identity_cases.py (their own pools and draws), with the
lab's real connection, through each module's real entry point (bad_input/runner.py, one process per batch):

* identity: names that read as an existing connector's GUID, in every form Guid.Parse accepts, given to
  send_connector (create, absent), smart_host, send_connector_info and send_connectors;
* confusables: names that look like an existing connector's (Kelvin sign, Cyrillic, Greek, fullwidth, NFD,
  zero-width, bidi); the zero-width and bidi ones are refused without a single call to the lab, the others
  warn naming the existing connector. A create with the Kelvin sign beside the K name ('Relay \u212aelay' beside
  'Relay Kelay') is refused by Exchange: Active Directory counts the name as taken by the look-alike, while for
  Exchange's lookup (and the modules') they are two names; the task fails naming the option and the look-alike,
  and nothing is written (docs/exchange-rules.md 1.3);
* duplicates: send_connectors lists naming one connector twice, refused without a single call;
* partial failure: a list whose item 0, 1 or 2 Exchange refuses, on create and on change: ``changed`` is true
  exactly when an earlier item was written, the per-item results say which, the lab agrees, a re-run converges.

Every connector no case names (the "victims", read by GUID before and after each batch) must be unchanged: the
count of those that changed is printed as "written" with the counts per class (tests/conftest.py).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("hypothesis")

import test_bad_input as suite  # noqa: E402
from bad_input import identity_cases as ic  # noqa: E402
from test_bad_input_lab import delta, lab_connection as _lab_connection  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity  # noqa: E402

VICTIM_SETTINGS = {"address_spaces": ["victim.example"], "smart_hosts": ["192.0.2.201"], "port": 2525,
                   "source_transport_servers": ["EX01"]}
COUNTS: dict[str, int] = {}
LIMIT = 120  # seconds per case (the server-less suites keep their 5 s)


def lab_connection(lab) -> dict:
    """The lab's connection, with time limits a loaded machine does not run into."""
    return dict(_lab_connection(lab), connection_timeout=30, operation_timeout=90)


def run(cases: list, tmp_path, name: str) -> dict:
    for index, case in enumerate(cases):
        case["id"] = index
    workdir = tmp_path / name
    workdir.mkdir()
    # in order (later cases see earlier writes); these cases talk to the lab, which a loaded machine makes slow
    return suite.run_batches(cases, str(workdir), processes=1, limit=LIMIT)


def answer(record: dict) -> dict:
    assert record and not record["traceback"], record
    return json.loads(record["output"].strip().splitlines()[-1])


def everything(lab, tmp_path, name: str) -> dict:
    """Every connector as send_connector_info returns it, by GUID."""
    [record] = run([{"module": "send_connector_info", "args": lab_connection(lab), "bad": []}], tmp_path, name).values()
    result = answer(record)
    assert not result.get("failed"), result
    return {c["guid"]: c for c in result["connectors"]}


def apply(lab, tmp_path, name: str, connectors: list) -> dict:
    [record] = run([{"module": "send_connectors", "args": dict(lab_connection(lab), connectors=connectors), "bad": []}],
                   tmp_path, name).values()
    return answer(record)


@pytest.fixture(scope="module")
def victims(lab, tmp_path_factory):
    """A connector for each base name of the generators (what the look-alikes look like), created once."""
    tmp = tmp_path_factory.mktemp("victims")
    created = apply(lab, tmp, "create", [dict(VICTIM_SETTINGS, name=base, address_spaces=["victim%d.example" % i])
                                         for i, base in enumerate(ic.BASES)])
    assert not created.get("failed"), created
    return everything(lab, tmp, "read")


def changed_victims(before: dict, after: dict) -> list[str]:
    return [c["name"] for g, c in before.items() if after.get(g) != c]


def remove_all_but(lab, tmp_path, keep: dict) -> None:
    """Remove what the cases created (by name: every name here is unique), so the next test starts from the victims."""
    extra = [c["name"] for g, c in everything(lab, tmp_path, "left").items() if g not in keep]
    if extra:
        removed = apply(lab, tmp_path, "cleanup", [{"name": n, "state": "absent"} for n in extra])
        assert not removed.get("failed"), removed
    assert set(everything(lab, tmp_path, "clean")) == set(keep)


def clean_answers(cases: list, results: dict) -> dict:
    problems: dict = {}
    for case in cases:
        for problem in suite.classify(case, results.get(case["id"]), limit=LIMIT):
            problems.setdefault(problem, (case["args"], (results.get(case["id"]) or {}).get("output", "")[:600]))
    return problems


@pytest.mark.timeout(1500)  # dozens of module runs against the lab on a loaded machine
def test_names_that_read_as_another_connectors_guid_never_address_it(lab, victims, tmp_path, record_property):
    guids = sorted(victims)
    cases = suite.draw(ic.guid_case(lab_connection(lab), guids), 40)
    results = run(cases, tmp_path, "identity")
    after = everything(lab, tmp_path, "after")
    changed = changed_victims(victims, after)
    COUNTS.update(identity=len(cases))
    record_property("bad_input_classes", json.dumps({"identity": len(cases), "written": len(changed)}))
    assert not clean_answers(cases, results), clean_answers(cases, results)
    assert changed == [], changed
    # the cases did reach Exchange: a GUID-named connector was created, and removed again, by its own name
    made = [case for case in cases if case["module"] == "send_connector" and case["args"].get("address_spaces")]
    assert any(answer(results[case["id"]]).get("changed") is True for case in made), made[:2]
    remove_all_but(lab, tmp_path, victims)


@pytest.mark.timeout(1500)  # dozens of module runs against the lab on a loaded machine
def test_lookalike_names_leave_the_connector_they_look_like_untouched(lab, victims, tmp_path, record_property):
    connection = lab_connection(lab)
    cases = suite.draw(ic.confusable_case(connection), 56)
    refused = [case for case in cases if case["bad"]]
    valid = [case for case in cases if not case["bad"]]
    before = lab.counters()
    refused_results = run(refused, tmp_path, "refused")
    moved = delta(before, lab.counters())
    valid_results = run(valid, tmp_path, "valid")
    after = everything(lab, tmp_path, "after")
    changed = changed_victims(victims, after)
    COUNTS.update(confusables=len(cases))
    record_property("bad_input_classes", json.dumps({"confusables": len(cases), "written": len(changed)}))
    assert not clean_answers(refused, refused_results), clean_answers(refused, refused_results)
    # refused before any call: no runspace opened (the lab's other counters may still move with the previous batch's
    # last read, counted after its answer)
    assert not moved.get("runspaces_opened") and not moved.get("writes"), moved
    assert not clean_answers(valid, valid_results), clean_answers(valid, valid_results)
    assert changed == [], changed
    # a create that only Active Directory takes as the existing connector's name fails saying so; every other
    # create of a look-alike makes a new connector
    wrong = []
    for case in valid:
        if case["module"] != "send_connector" or not case["args"].get("address_spaces"):
            continue
        result = answer(valid_results[case["id"]])
        if case["how"] == "kelvin":
            ok = result.get("failed") is True and not result.get("changed") and str(result.get("msg", "")).startswith(
                "name: Exchange refused to create the Send connector ") and (
                "because it counts the name as taken: the existing connector %s" % _identity.shown(case["base"])
                in result["msg"])
        else:
            ok = not result.get("failed")
        if not ok:
            wrong.append((case["how"], case["args"]["name"], result.get("msg")))
    assert wrong == [], wrong[:3]
    # every task that would act on a look-alike name warns naming the connector it looks like
    unwarned = []
    for case in valid:
        if case["module"] == "send_connector_info":
            continue
        result = answer(valid_results[case["id"]])
        text = "\n".join(w if isinstance(w, str) else json.dumps(w, ensure_ascii=False) for w in result.get("warnings") or [])
        if _identity.shown(case["base"]) not in text:
            unwarned.append((case["how"], case["module"], case["args"].get("name") or case["args"].get("connector")
                             or case["args"].get("connectors"), result.get("warnings"), result.get("msg")))
    assert unwarned == [], unwarned[:3]
    assert {case["how"] for case in cases} == set(ic.HOWS)
    remove_all_but(lab, tmp_path, victims)


@pytest.mark.timeout(1500)  # dozens of module runs against the lab on a loaded machine
def test_duplicate_items_write_nothing_and_name_both(lab, victims, tmp_path, record_property):
    cases = suite.draw(ic.duplicates_case(lab_connection(lab)), 30)
    before = lab.counters()
    results = run(cases, tmp_path, "duplicates")
    moved = delta(before, lab.counters())
    changed = changed_victims(victims, everything(lab, tmp_path, "after"))
    COUNTS.update(duplicates=len(cases))
    record_property("bad_input_classes", json.dumps({"duplicates": len(cases), "written": len(changed)}))
    assert not clean_answers(cases, results), clean_answers(cases, results)
    for case in cases:
        output = results[case["id"]]["output"]
        assert case["also_named"] in output and case["words"] in output, (case["args"]["connectors"], output[:600])
    assert not moved.get("runspaces_opened") and not moved.get("writes"), moved
    assert changed == []


PARTIAL = [(kind, failing) for kind in ("create", "change") for failing in (0, 1, 2)]


@pytest.mark.timeout(1500)  # dozens of module runs against the lab on a loaded machine
def test_a_partial_failure_reports_what_was_written_and_a_rerun_converges(lab, victims, tmp_path, record_property):
    connection = lab_connection(lab)
    wrong = []
    for number, (kind, failing) in enumerate(PARTIAL):
        names = ["Partial %d-%d" % (number, i) for i in range(3)]
        items = [{"name": n, "address_spaces": ["partial%d-%d.example" % (number, i)], "smart_hosts": ["192.0.2.7%d" % i],
                  "source_transport_servers": ["EX01"]} for i, n in enumerate(names)]
        if kind == "change":
            seeded = apply(lab, tmp_path, "seed-%d" % number, items)
            assert not seeded.get("failed"), seeded
            items = [{"name": n, "port": 2600 + i} for i, n in enumerate(names)]
        items[failing]["source_transport_servers"] = ["EX99"]  # no such server: Exchange refuses this write
        writes = lab.counters().get("writes", 0)
        steps = [
            {"module": "send_connectors", "args": dict(connection, connectors=items), "bad": []},
            {"module": "send_connector_info", "args": connection, "bad": []},
        ]
        first, info = (answer(r) for r in run(steps, tmp_path, "partial-%d" % number).values())
        state = {c["name"]: c for c in info["connectors"]}
        expected_written = [i < failing for i in range(3)]
        checks = {
            "failed": first.get("failed") is True,
            "changed": bool(first.get("changed")) is (failing > 0),
            "written": [r.get("written") for r in first.get("results") or []] == expected_written,
            "error on the refused item": "EX99" in str((first.get("results") or [{}] * 3)[failing].get("error")),
            "option named": str(first.get("msg", "")).startswith("source_transport_servers: "),
            "lab writes": lab.counters().get("writes", 0) - writes == failing,
            # create: the items before the refused one exist; change: those carry their new port, the others not
            "lab state": all((names[i] in state) is (i < failing) for i in range(3)) if kind == "create" else all(
                names[i] in state and (state[names[i]]["port"] == 2600 + i) is (i < failing) for i in range(3)),
        }
        items[failing]["source_transport_servers"] = ["EX01"]
        rerun = [{"module": "send_connectors", "args": dict(connection, connectors=items), "bad": []} for _twice in "ab"]
        fixed, again = (answer(r) for r in run(rerun, tmp_path, "rerun-%d" % number).values())
        checks["re-run converges"] = not fixed.get("failed") and [r["changed"] for r in fixed["results"]] == [
            i >= failing for i in range(3)] and again.get("changed") is False and not again.get("failed")
        wrong += ["%s item %d: %s" % (kind, failing, name) for name, ok in checks.items() if not ok]
    changed = changed_victims(victims, everything(lab, tmp_path, "after"))
    COUNTS.update({"partial failure": len(PARTIAL)})
    record_property("bad_input_classes", json.dumps({"partial failure": len(PARTIAL), "written": len(changed)}))
    assert wrong == [], wrong
    assert changed == []
    remove_all_but(lab, tmp_path, victims)

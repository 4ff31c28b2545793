"""Generated bad input through the modules' real entry point, without a server (issue 11).

Over a thousand cases (see bad_input/cases.py) run through each module's ``main()`` with its arguments
as Ansible passes them (bad_input/runner.py, one batch process per core). The connection points at a
closed local port: a case refused locally never gets that far, and a valid one fails to connect.

Asserted for every case: no traceback, no "unexpected error", an answer within 5 s, no secret (a
canary password) in the output. For every case whose input breaks a rule decidable from the input:
refused before any connection ("invalid ..."), every bad option named with its path in the ONE
message, every problem stated in words (no internal rule numbers). The counts are printed.
"""

from __future__ import annotations

import collections
import json
import os
import re
import socket
import subprocess
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from bad_input import cases as c  # noqa: E402
from bad_input import identity_cases as ic  # noqa: E402
from send_connector_harness import collections_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "bad_input", "runner.py")
SUMMARY: dict = {}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def draw(strategy, count: int) -> list:
    found: list = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        found.append(case)

    collect()
    return found


def all_cases(port: int) -> list:
    plan = [
        (c.send_connector_case(), 420), (c.odd_valid_case(), 30), (c.connection_case(), 130),
        (c.smart_host_case(), 150), (c.info_case(), 30), (c.trace_case(), 200), (c.connectors_case(), 90),
        (c.probe_case(port), 130), (c.preflight_case(), 80), (c.connectors_preflight_case(), 60), (c.route_case(), 80),
    ]
    cases = []
    for strategy, count in plan:
        cases.extend(draw(strategy, count))
    for index, case in enumerate(cases):
        case["id"] = index
        if case["module"] != "smtp_probe":
            case["args"].setdefault("server_port", port)
    return cases


def run_batches(cases: list, workdir: str, processes: int = 2, limit: int = 5) -> dict:
    """Runner processes (two: the machine has two cores), each over its share of the cases, through
    files; ``processes=1`` runs the cases one after the other, in order. ``limit``: seconds per case."""
    env = dict(os.environ, BAD_INPUT_CASE_LIMIT=str(limit))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (collections_path(), env.get("PYTHONPATH")) if p)
    for key in [k for k in env if k.startswith("EXCHANGE_")]:
        del env[key]  # the cases name their connection; nothing from the caller's environment
    procs = []
    for index, half in enumerate([cases[i::processes] for i in range(processes)]):
        source = os.path.join(workdir, "cases-%d.jsonl" % index)
        with open(source, "w", encoding="utf-8") as handle:
            for case in half:
                handle.write(json.dumps({k: case[k] for k in ("id", "module", "args")}) + "\n")
        target = os.path.join(workdir, "results-%d.jsonl" % index)
        with open(source, encoding="utf-8") as stdin, open(target, "w", encoding="utf-8") as stdout:
            procs.append((subprocess.Popen([sys.executable, RUNNER], stdin=stdin, stdout=stdout,
                                           stderr=subprocess.DEVNULL, env=env, cwd=workdir), target))
    results = {}
    for proc, target in procs:
        proc.wait(timeout=600)
        with open(target, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("{"):
                    record = json.loads(line)
                    results[record["id"]] = record
    return results


def named(path: str, message: str) -> bool:
    return re.search(r"(?:^|[;:] )%s(?=[:\[.])" % re.escape(path), message) is not None


def classify(case: dict, record: dict | None, limit: int = 5) -> list[str]:
    if record is None:
        return ["no_answer"]
    problems = []
    text = record["output"] + record["stderr"]
    if record["traceback"] == "hang" or record["seconds"] > limit:
        return ["over_5s" if limit == 5 else "over_limit"]
    if record["traceback"] or "Traceback (most recent call last)" in text:
        problems.append("traceback")
    try:
        result = json.loads(record["output"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        return problems + ["no_json_answer"]
    msg = str(result.get("msg", ""))
    if "unexpected error" in msg:
        problems.append("unexpected_error")
    if c.CANARY in text:
        problems.append("secret_echoed")
    if re.search(r"\(R\d+\)|EXCHANGE-CONTRACT", msg):
        problems.append("rule_number_in_message")
    if not case["bad"]:
        return problems
    if not result.get("failed") or not msg.lower().startswith("invalid"):
        return problems + ["not_refused_before_connecting"]
    missing = [p for p in case["bad"] if not named(p, msg)]
    if missing:
        problems.append("option_not_named")
    for item in result.get("errors") or [msg]:
        path, _sep, words = str(item).partition(": ")
        if not re.search(r"[A-Za-z]{3,}", words):
            problems.append("rule_not_in_words")
            break
    return problems


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    port = closed_port()
    cases = all_cases(port)
    return cases, run_batches(cases, str(tmp_path_factory.mktemp("bad-input")))


def test_generated_bad_input(outcome, record_property):
    cases, results = outcome
    failures = collections.Counter()
    examples: dict = {}
    by_module = collections.Counter(case["module"] for case in cases)
    for case in cases:
        for problem in classify(case, results.get(case["id"])):
            failures[problem] += 1
            examples.setdefault(problem, (case, (results.get(case["id"]) or {}).get("output", "")[:600],
                                          (results.get(case["id"]) or {}).get("traceback", "")[-1500:]))
    bad = sum(1 for case in cases if case["bad"])
    SUMMARY.update(cases=len(cases), decidable_bad=bad, modules=dict(by_module), failures=dict(failures),
                   slowest=max((r["seconds"] for r in results.values()), default=0))
    classes = ["traceback", "unexpected_error", "over_5s", "no_answer", "no_json_answer", "secret_echoed",
               "not_refused_before_connecting", "option_not_named", "rule_not_in_words", "rule_number_in_message"]
    line = "generated bad input (modules, no server): %d cases (%d decidable from the input), by module %s; " \
        "failures by class: %s; slowest case %.2f s" % (
            len(cases), bad, dict(sorted(by_module.items())),
            ", ".join("%s %d" % (k, failures.get(k, 0)) for k in classes), SUMMARY["slowest"])
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert len(cases) >= 1000
    assert not failures, "\n\n".join("%s: %r\n%s\n%s" % (k, case["args"] if len(repr(case["args"])) < 2000 else
                                                         "(long args)", out, tb) for k, (case, out, tb) in examples.items())


def identity_cases(port: int) -> list:
    """Issue 15's classes without a server (bad_input/identity_cases.py: own pools, so the draws above stay as
    they are): look-alike names, GUID-shaped names, duplicate items."""
    connection = dict(c.CONNECTION, server_port=port)
    plan = [(ic.confusable_case(connection), 120), (ic.guid_case(connection), 60), (ic.duplicates_case(connection), 60)]
    cases = []
    for strategy, count in plan:
        cases.extend(draw(strategy, count))
    for index, case in enumerate(cases):
        case["id"] = index
    return cases


def test_generated_identity_input(tmp_path, record_property):
    cases = identity_cases(closed_port())
    results = run_batches(cases, str(tmp_path))
    failures = collections.Counter()
    examples: dict = {}
    for case in cases:
        record = results.get(case["id"])
        problems = classify(case, record)
        output = (record or {}).get("output", "")
        if case.get("also_named") and not problems and case["also_named"] not in output:
            problems.append("earlier_item_not_named")
        if case.get("words") and not problems and case["words"] not in output:
            problems.append("rule_not_stated")
        for problem in problems:
            failures[problem] += 1
            examples.setdefault(problem, (case, (record or {}).get("output", "")[:600]))
    counts = collections.Counter(case["klass"] for case in cases)
    refused = sum(1 for case in cases if case["bad"])
    line = "generated bad input (modules, no server, issue 15): %s (%d refused before any connection, %d valid names " \
        "answered cleanly); failures: %s" % (
            ", ".join("%s %d" % (k, counts[k]) for k in ("identity", "confusables", "duplicates")), refused,
            len(cases) - refused, ", ".join("%s %d" % kv for kv in sorted(failures.items())) or "0")
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert counts["identity"] >= 50 and counts["confusables"] >= 100 and counts["duplicates"] >= 50, counts
    # every class drew both kinds it has: refused and valid look-alikes, every way of naming one connector twice
    assert {case["how"] for case in cases if case["klass"] == "confusables"} == set(ic.HOWS)
    assert {case["how"] for case in cases if case["klass"] == "duplicates"} == {how for how, _f in ic.SAME}
    assert not failures, {k: (v[0]["args"], v[1]) for k, v in examples.items()}

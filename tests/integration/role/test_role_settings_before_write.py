"""Every role setting with a bad value stops the role before its first write (issue 15).

The lab inventory's play would create a connector; each case adds one bad role variable (a wrong value or a
wrong type) and runs the real ``mailflow.exchange.smart_host`` playbook. The play must fail naming the
variable, with no interpreter text, and the lab's counters must show that nothing was written. The suite's
count is printed the way the generated bad-input suites print theirs.
"""

from __future__ import annotations

import json
import os
import re
import typing as t

import pytest
import yaml

from role_lab import ROOT, lab_with_smart_host, run_playbook

P = "smart_host_routing_"
# (variable, bad value, words the message must contain): one bad value per class, the seven of issue 15 first
CASES = [
    ("trace_timeout", -5, "must be from 1 to 86400"),
    ("trace_poll_interval", 0, "must be a number of seconds"),
    ("test_sender", "not an address", "is not an e-mail address"),
    ("smtp_port", 70000, "must be from 1 to 65535"),
    ("stats_key", "", "must not be empty"),
    ("report_file", ["x"], "must be a string, got a list"),
    ("test_recipients", {"Smart host to Internet": "a@contoso.com\r\nBcc: b@contoso.com"}, "line break"),
    # wrong types
    ("trace_timeout", [1], "must be a whole number"),
    ("smtp_port", "twenty-five", "must be a whole number"),
    ("test_sender", ["a@contoso.com"], "must be a string"),
    ("test_subject", {"a": 1}, "must be a string, got a mapping"),
    ("trace_servers", "EX01", "must be a list of server names"),
    ("verify", "maybe", "must be true or false"),
    ("stats_key", "has space", "must be a variable name"),
]
INTERPRETER_TEXT = ("object has no attribute", "Traceback", "TypeError", "AttributeError", "_AnsibleTagged")
SEEN: list[tuple[str, bool]] = []


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with lab_with_smart_host(str(tmp_path_factory.mktemp("services")), starttls=True) as lab:
        yield lab


@pytest.mark.parametrize("variable, value, words", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_a_bad_role_setting_writes_nothing(services, tmp_path, variable, value, words):
    before = services["lab"].counters()
    run = run_playbook(services, tmp_path, {P + variable: value})
    after = services["lab"].counters()
    wrote = after.get("writes", 0) != before.get("writes", 0)
    SEEN.append((variable, wrote))
    assert run.rc != 0
    assert not wrote, (variable, after)
    assert after.get("runspaces_opened", 0) == before.get("runspaces_opened", 0), (variable, after)
    # the role's settings check names the variable and the rule; a wrong type may already be stopped by the role's
    # argument spec (Ansible's validate_argument_spec, which names the variable too)
    by_spec = "argument '%s%s' is of type" % (P, variable) in run.output
    assert by_spec or P + variable + ":" in run.output or P + variable + "[" in run.output, run.output[-4000:]
    assert by_spec or words in run.output, run.output[-4000:]
    assert not any(text in run.output for text in INTERPRETER_TEXT), run.output[-4000:]


def test_duplicate_names_as_exchange_compares_them_are_refused_by_the_role(services, tmp_path):
    base = {"address_spaces": ["dup.example"], "smart_hosts": ["smarthost.lab.test"], "source_transport_servers": ["EX01"]}
    before = services["lab"].counters()
    run = run_playbook(services, tmp_path, {"smart_host_connectors": [
        dict(base, name="role-base"), dict(base, name=" role-base"), dict(base, name="role-base\u00a0")]})
    assert run.rc != 0
    assert "smart_host_routing_connectors[1].name: ' role-base' names the same connector as " \
           "smart_host_routing_connectors[0].name ('role-base')" in run.output, run.output[-4000:]
    assert "smart_host_routing_connectors[2].name:" in run.output, run.output[-4000:]
    assert services["lab"].counters().get("writes", 0) == before.get("writes", 0)
    SEEN.append(("connectors (duplicates)", False))


@pytest.mark.parametrize("preflight", [True, False])
def test_a_dns_routed_connector_without_the_choice_is_refused_by_the_role_before_any_write(services, tmp_path, preflight):
    """A create without smart hosts needs dns_routing_enabled: true (issue 15); the role's items are send_connectors
    items, so the same planner refuses it in apply's run (which holds the preflight) before its checks and its first write."""
    before = services["lab"].counters()
    run = run_playbook(services, tmp_path, {"smart_host_connectors": [
        {"name": "Role direct", "address_spaces": ["role-direct.example"], "source_transport_servers": ["EX01"]}],
        P + "preflight": preflight, P + "verify": False})
    assert run.rc != 0
    assert "connectors[0].dns_routing_enabled: required to create a connector without smart hosts" in run.output, \
        run.output[-4000:]
    assert "(connector 'Role direct')" in run.output and "Traceback" not in run.output, run.output[-4000:]
    stopped = [r for r in run.records if r.get("status") == "failed"]
    assert stopped and "Apply |" in stopped[0]["task"], [r["task"] for r in stopped]
    assert services["lab"].counters().get("writes", 0) == before.get("writes", 0)
    SEEN.append(("connectors (DNS routing not stated)", False))


def test_zz_count(services, record_property):
    """The suite's figures, printed at the end of make test like the generated suites' (bad_input_summary)."""
    line = "role variables before write (against the lab): %d cases over %d variables; writes before the refusal: %d" % (
        len(SEEN), len({v for v, _w in SEEN}), sum(1 for _v, w in SEEN if w))
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert SEEN and not any(w for _v, w in SEEN), line


# ---- generated: every role variable, one bad value per class (issue 15) -------------------------------------------
# The classes a variable's type gives it (from meta/argument_specs.yml): a value of another type, and for numbers
# a value out of range, for strings a line break (a header or path that would carry another line), for choices a
# word that is none of them, for mandatory words an empty value.
WRONG_TYPE = {"str": ["a list"], "int": "twenty", "float": "soon", "bool": "maybe", "list": {"not": "a list"},
              "dict": ["not", "a mapping"]}
OUT_OF_RANGE = {"smtp_port": 70000, "trace_timeout": -5, "probe_timeout": 0, "trace_poll_interval": 0}
EMPTY = {"stats_key": ""}
CHOICE = {"mode": "bogus", "fail_on": ["fatal"]}
ROLE_GENERATED: list[dict[str, t.Any]] = []


def role_variable_cases() -> list[dict[str, t.Any]]:
    with open(os.path.join(ROOT, "roles", "smart_host_routing", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    cases = []
    for full, spec in sorted(options.items()):
        variable = full[len(P):]
        kind = spec.get("type", "str")
        values = [("type", WRONG_TYPE[kind])]
        if variable in OUT_OF_RANGE:
            values.append(("range", OUT_OF_RANGE[variable]))
        if variable in EMPTY:
            values.append(("empty", EMPTY[variable]))
        if variable in CHOICE:
            values.append(("choice", CHOICE[variable]))
        elif kind == "str" or (kind == "list" and spec.get("elements") == "str"):
            line = "relay.contoso.com\r\nRCPT TO:<x@y.example>"
            values.append(("line break", [line] if kind == "list" else line))
        if variable == "test_recipients":
            values.append(("line break", {"Smart host to Internet": "a@contoso.com\r\nBcc: b@contoso.com"}))
        cases += [{"variable": full, "class": klass, "value": value} for klass, value in values]
    return cases


def generated_play(cases: list[dict[str, t.Any]], counters: str, out: str) -> str:
    """One play: per case, the role with one bad variable (include_role), rescued; the failing task, its message
    and the lab's counters before and after go to ``out``."""
    tasks = []
    # (the lab writes counters.json at its first counted event: none yet reads as {})
    read = "lookup('ansible.builtin.pipe', 'cat %s 2>/dev/null || echo {}') | from_json" % counters
    for index, case in enumerate(cases):
        connector = {"name": "Role generated %d" % index, "address_spaces": ["role-generated-%d.example" % index],
                     "smart_hosts": ["smarthost.lab.test"], "source_transport_servers": ["EX01"],
                     "port": "{{ lab_smart_host.port | int }}"}
        variables = {P + "connectors": [connector], P + "test_sender": "chris@contoso.com",
                     P + "test_recipient": "pat@fabrikam.com"}
        variables[case["variable"]] = case["value"]
        tasks.append({
            "name": "case %d" % index,
            "block": [
                {"name": "case %d before" % index, "ansible.builtin.set_fact": {
                    "before": "{{ %s }}" % read}},
                {"name": "case %d role" % index, "ansible.builtin.include_role": {"name": "mailflow.exchange.smart_host_routing"},
                 "vars": variables},
                {"name": "case %d not refused" % index, "ansible.builtin.fail": {"msg": "NOT REFUSED"}},
            ],
            "rescue": [{"name": "case %d record" % index, "ansible.builtin.set_fact": {"seen": (
                "{{ seen | default([]) + [{'index': %d, 'task': ansible_failed_task.name, "
                "'msg': ansible_failed_result.msg | default('') | string, 'before': before, "
                "'after': %s}] }}" % (index, read))}}],
        })
    record = {"dest": out, "content": "{{ seen | to_json }}", "mode": "0600"}
    tasks.append({"name": "write the record", "ansible.builtin.copy": record})
    return yaml.safe_dump([{"name": "generated role variables", "hosts": "exchange", "gather_facts": False,
                            "tasks": tasks}], width=100000)


@pytest.mark.timeout(1200)
def test_generated_role_variables_write_nothing(services, tmp_path, record_property):
    cases = role_variable_cases()
    counters = os.path.join(services["lab"].state_dir, "counters.json")
    out = tmp_path / "seen.json"
    playbook = tmp_path / "generated.yml"
    playbook.write_text(generated_play(cases, counters, str(out)))
    run = run_playbook(services, tmp_path, {}, playbook=str(playbook), timeout=1100)
    assert run.rc == 0 and out.exists(), run.output[-4000:]
    seen = {record["index"]: record for record in json.loads(out.read_text())}
    wrong, written, by_core = [], 0, 0
    for index, case in enumerate(cases):
        record = seen.get(index)
        if record is None:
            wrong.append((case["variable"], case["class"], "no record"))
            continue
        moved = {k: record["after"].get(k, 0) - record["before"].get(k, 0) for k in ("writes", "runspaces_opened")}
        written += 1 if moved["writes"] else 0
        msg = record["msg"]
        # A wrong type may be stopped first by ansible-core's own check of the role's argument spec, which names the
        # variable and the type and then quotes its internal class (e.g. "<class '..._AnsibleTaggedList'> cannot be
        # converted to a dict"): ansible-core's wording, counted and printed, not our checker's text.
        core = "Validating arguments against arg spec" in record["task"]
        by_core += core
        if core:
            msg = re.sub(r"<class '[^']+'>", "<class>", msg)
        problems = [text for text, bad in (
            ("not refused", "NOT REFUSED" in msg),
            ("wrote", moved["writes"] != 0),
            ("opened a runspace", moved["runspaces_opened"] != 0),
            ("variable not named", case["variable"] not in msg),
            ("interpreter text", any(text in msg for text in INTERPRETER_TEXT)),
        ) if bad]
        if problems:
            wrong.append((case["variable"], case["class"], problems, record["task"], msg))
    by_class = {}
    for case in cases:
        by_class[case["class"]] = by_class.get(case["class"], 0) + 1
    line = "generated bad input (role variables, against the lab): %d cases over %d variables (%s); %d stopped by " \
        "ansible-core's argument spec check, the rest by the role's own; written %d" % (
            len(cases), len({c["variable"] for c in cases}), ", ".join("%s %d" % kv for kv in sorted(by_class.items())),
            by_core, written)
    print("\n" + line)
    record_property("bad_input_summary", line)
    record_property("bad_input_classes", json.dumps({"role variables": len(cases), "written": written}))
    assert len({c["variable"] for c in cases}) >= 30
    assert wrong == [], wrong

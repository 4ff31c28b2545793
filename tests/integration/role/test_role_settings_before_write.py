"""Every role setting with a bad value stops the role before its first write (issue 15).

The lab inventory's play would create a connector; each case adds one bad role variable (a wrong value or a
wrong type) and runs the real ``mailflow.exchange.smart_host`` playbook. The play must fail naming the
variable, with no interpreter text, and the lab's counters must show that nothing was written. The suite's
count is printed the way the generated bad-input suites print theirs.
"""

from __future__ import annotations

import pytest

from role_lab import lab_with_smart_host
from role_lab import run_playbook

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
    items, so the same planner refuses it: in preflight's check-mode run, or in apply's run before its first write."""
    before = services["lab"].counters()
    run = run_playbook(services, tmp_path, {"smart_host_connectors": [
        {"name": "Role direct", "address_spaces": ["role-direct.example"], "source_transport_servers": ["EX01"]}],
        P + "preflight": preflight, P + "verify": False})
    assert run.rc != 0
    assert "connectors[0].dns_routing_enabled: required to create a connector without smart hosts" in run.output, \
        run.output[-4000:]
    assert "(connector 'Role direct')" in run.output and "Traceback" not in run.output, run.output[-4000:]
    stopped = [r for r in run.records if r.get("status") == "failed"]
    assert stopped and ("Preflight" if preflight else "Apply") in stopped[0]["task"], [r["task"] for r in stopped]
    assert services["lab"].counters().get("writes", 0) == before.get("writes", 0)
    SEEN.append(("connectors (DNS routing not stated)", False))


def test_zz_count(services, record_property):
    """The suite's figures, printed at the end of make test like the generated suites' (bad_input_summary)."""
    line = "role variables before write (against the lab): %d cases over %d variables; writes before the refusal: %d" % (
        len(SEEN), len({v for v, _w in SEEN}), sum(1 for _v, w in SEEN if w))
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert SEEN and not any(w for _v, w in SEEN), line

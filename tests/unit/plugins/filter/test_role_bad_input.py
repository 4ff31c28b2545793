"""Generated bad role variables through the role's validation (issue 11, issue 12 item 3).

``roles/smart_host_routing/tasks/validate.yml`` runs ``plan`` and ``smart_host_routing_input_errors`` on
``smart_host_routing_connectors`` / ``smart_host_routing_smart_hosts`` (with the role's smart host
credential) before any remote call; here the same two filters get generated hostile variables (the pools
of the module suite: type confusion, ranges, non-finite numbers, NUL/CR/LF, 100,000 characters,
injection strings, every cross-option rule, several connectors at once). Asserted: no exception, an
answer well within 5 s, every bad setting named with its variable path (``..._connectors[2].port``),
the rule in words, no internal rule numbers, no secret (a canary password) in any message.
"""

from __future__ import annotations

import collections
import re
import time

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bad_input import cases as c  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.filter.__internal import smart_host_routing as f  # noqa: E402

CONNECTORS = f.ROLE_VAR
HOSTS = f.SMART_HOSTS_VAR
CREDENTIAL = {"username": "relay", "password": c.CANARY}


@st.composite
def role_case(draw):
    items = [{"name": "Role %d" % i, "address_spaces": ["role%d.example" % i],
              "smart_hosts": ["relay%d.contoso.com" % i]} for i in range(3)]
    bad = []
    for index in draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True)):
        if draw(st.booleans()):
            settings_, paths = draw(st.sampled_from(c.CROSS))
            if "authentication_credential" in paths:
                continue  # the role fills in its own smart host credential for BasicAuth
            items[index].update(settings_)
            if "smart_hosts" in settings_ or "dns_routing_enabled" in settings_:
                items[index].setdefault("dns_routing_enabled", None)
            items[index] = {k: v for k, v in items[index].items() if v is not None}
            bad += ["%s[%d].%s" % (CONNECTORS, index, p) for p in paths]
        else:
            option = draw(st.sampled_from(sorted(o for o in c.OPTION_KIND if o not in ("name", "smart_hosts"))))
            items[index][option] = draw(st.sampled_from(c.bad_for(option)))
            bad.append("%s[%d].%s" % (CONNECTORS, index, option))
    hosts = []
    if draw(st.booleans()):
        option = draw(st.sampled_from(sorted(c.SMART_HOST_BAD)))
        item = {"connector": "Role 0", "hosts": ["relay9.contoso.com"], option: draw(st.sampled_from(c.SMART_HOST_BAD[option]))}
        if option == "smart_host_auth_mechanism" or (option == "authentication_credential"
                                                     and item[option] in (c.CANARY,)):
            pass
        hosts.append(item)
        bad.append("%s[0].%s" % (HOSTS, option))
    return {"connectors": items, "smart_hosts": hosts, "bad": sorted(set(bad))}


def draw_cases(count: int) -> list:
    found: list = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(role_case())
    def collect(case):
        found.append(case)

    collect()
    return found


def named(path: str, errors: list[str]) -> bool:
    return any(re.match(r"%s(?=[:\[.])" % re.escape(path), e) for e in errors)


def test_generated_bad_role_variables(record_property):
    cases = draw_cases(300)
    failures = collections.Counter()
    example = {}
    slowest = 0.0
    for case in cases:
        started = time.monotonic()
        try:
            planned = f.plan(case["connectors"], CREDENTIAL, case["smart_hosts"])
            errors = f.input_errors(planned["connectors"], planned["smart_hosts"])
        except Exception as err:  # noqa: BLE001 - what the user would see as a templating traceback
            failures["exception"] += 1
            example.setdefault("exception", (case, repr(err)))
            continue
        slowest = max(slowest, time.monotonic() - started)
        problems = []
        if time.monotonic() - started > 5:
            problems.append("over_5s")
        if any(c.CANARY in e for e in errors):
            problems.append("secret_echoed")
        if any(re.search(r"\(R\d+\)", e) for e in errors):
            problems.append("rule_number_in_message")
        if [p for p in case["bad"] if not named(p, errors)]:
            problems.append("option_not_named")
        if any(not re.search(r"[A-Za-z]{3,}", e.partition(": ")[2]) for e in errors):
            problems.append("rule_not_in_words")
        for problem in problems:
            failures[problem] += 1
            example.setdefault(problem, (case, errors))
    classes = ["exception", "over_5s", "secret_echoed", "rule_number_in_message", "option_not_named", "rule_not_in_words"]
    line = "generated bad input (role variables): %d cases; failures by class: %s; slowest case %.3f s" % (
        len(cases), ", ".join("%s %d" % (k, failures.get(k, 0)) for k in classes), slowest)
    print("\n" + line)
    record_property("bad_input_summary", line)
    assert len(cases) >= 250
    assert not failures, {k: (v[0]["bad"], str(v[1])[:1500]) for k, v in example.items()}

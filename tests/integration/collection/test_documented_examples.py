"""The modules' documented EXAMPLES, run as written against the lab: each example twice in a row.

The second run of every example must change nothing and no run may print a warning (a warning on every
run of a correct playbook teaches people to ignore warnings). That includes ``update_password: always``
(rotate a password): sent again unchanged, Exchange answers that nothing was modified, so nothing changed.

Only the connection differs from the documentation: ``server`` and ``auth`` (in a task or in
``module_defaults``) name the reader's Exchange, so they are dropped and the lab's connection comes from the
EXCHANGE_* environment variables, as the collection documents; a ``clixml_path`` reads the repository's copy
of the public capture the example names (tests/data/exchange). The lab speaks HTTPS with a CA the modules
trust (Basic over plain HTTP would rightly warn). smtp_probe and message_trace are left out: their examples
change nothing and need a smart host and a message of the reader's.
"""

from __future__ import annotations

import ast
import copy
import os

import pytest
import yaml

from send_connector_harness import ROOT, LabProcess

MODULES = ["send_connector", "smart_host", "send_connector_info", "send_connectors"]
CONNECTION = ("server", "auth")
ANNOUNCED = "switching to DNS routing makes Exchange drop"
VARS = {
    "relay_password": "Relay-Pa55-1",
    "new_relay_password": "Relay-Pa55-2",
    "wanted_connectors": [
        {"name": "Smart host to Internet", "address_spaces": ["*"], "smart_hosts": ["192.168.3.2"],
         "smart_host_auth_mechanism": "None"},
    ],
}


def examples(module: str) -> list[dict]:
    path = os.path.join(ROOT, "plugins", "modules", module + ".py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no EXAMPLES" % module)


def for_the_lab(task: dict) -> dict:
    """The task with the reader's connection (server, auth) left to the environment."""
    task = dict(task)
    for key, value in list(task.items()):
        if key.startswith("mailflow.exchange.") and isinstance(value, dict):
            task[key] = {k: v for k, v in value.items() if k not in CONNECTION}
            if "clixml_path" in value:  # the export named in the example is the repository's copy of that capture
                task[key]["clixml_path"] = os.path.join(ROOT, "tests", "data", "exchange", os.path.basename(value["clixml_path"]))
        elif key == "module_defaults":
            task[key] = {group: {k: v for k, v in (args or {}).items() if k not in CONNECTION}
                         for group, args in value.items()}
        elif key == "block":
            task[key] = [for_the_lab(t) for t in value]
    return task


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic", https=True)
    proc.start()
    yield proc
    proc.stop()


def test_examples_are_what_the_test_runs():
    first = examples("send_connector")[0]
    assert first["mailflow.exchange.send_connector"]["server"] == "ex01.contoso.com"  # documented as a reader writes it
    assert "server" not in for_the_lab(first)["mailflow.exchange.send_connector"]
    assert for_the_lab(first)["mailflow.exchange.send_connector"]["usage"] == "Custom"  # kept: it is the point


@pytest.mark.parametrize("module", MODULES)
def test_each_example_twice_no_warning_no_change_the_second_time(ansible, module):
    tasks = []
    checking = set()  # second-run task names of examples in check mode
    for index, example in enumerate(examples(module)):
        example = for_the_lab(example)
        for run in ("first", "second"):
            task = dict(copy.deepcopy(example), name="%s #%d %s run: %s" % (module, index + 1, run, example.get("name", "")))
            if "block" in task:
                task["block"] = [dict(t, name="%s (%s)" % (t.get("name", ""), task["name"])) for t in task["block"]]
            tasks.append(task)
            if example.get("check_mode") is True and run == "second":
                checking.add(task["name"])
    run = ansible.play(yaml.safe_dump(tasks, sort_keys=False), vars_=VARS)
    output = run.stdout + run.stderr
    assert run.rc == 0, output[-6000:]
    # The one warning a correct playbook gets on purpose: an example that switches a connector to DNS routing is
    # told what Exchange drops with the smart hosts (issue 16). Its second run changes nothing and must not warn.
    warned = [line for line in output.splitlines() if "[WARNING]" in line or "[DEPRECATION WARNING]" in line]
    assert all(ANNOUNCED in line for line in warned), output[-6000:]
    seen = 0
    firsts = {r["task"].replace(" first run: ", " second run: "): r for r in run.records if " first run: " in r["task"]}
    for record in run.records:
        if " second run: " not in record["task"] or record["status"] == "skipped":
            continue
        seen += 1
        result = record["result"]
        assert not result.get("warnings"), (record["task"], result.get("warnings"))
        if record["task"] in checking:
            # A check-mode example writes nothing, so it says the same both times.
            assert result.get("commands") == firsts[record["task"]]["result"].get("commands"), record
            continue
        # update_password: always sends the password again; Exchange answers that nothing was modified.
        assert result.get("changed") is False, (record["task"], result.get("diff"), result.get("commands"))
    assert seen >= 1, [r["task"] for r in run.records]

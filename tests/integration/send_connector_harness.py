"""Run real ``ansible-playbook`` against a real Exchange lab process, and read the outcome.

Nothing is mocked: the lab (tests/lab) serves WSMan/PSRP on loopback, the modules talk to it with
pypsrp, and each task result comes back through a small callback plugin that writes JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import typing as t
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The callback plugin that records each task's result (tests/integration/callback_plugins/record_results.py).
CALLBACK_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")

from labfixture import LabProcess, exchange_env  # noqa: E402,F401  (on sys.path through tests/conftest.py, the one bootstrap)

SEED_NAME = "Smart host to Internet"


def started_lab(tmp_path_factory: t.Any, **kwargs: t.Any) -> t.Iterator[LabProcess]:
    """A lab process for a module-scoped fixture (``yield from``): its state in a kept temporary directory,
    stopped when the fixture ends, also on failure."""
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), **kwargs)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def collections_path() -> str:
    """The parent of the ``ansible_collections`` the collection was imported from (ANSIBLE_COLLECTIONS_PATH,
    or PYTHONPATH, for a child process): ``<repo>/collections`` in a checkout (tests/conftest.py links the
    repository there, as make does), or ansible-test's copy."""
    import ansible_collections.mailflow.exchange as collection

    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(list(collection.__path__)[0]))))


def run_module(name: str, args: dict[str, t.Any], workdir: str, timeout: float = 60) -> tuple[dict[str, t.Any], str]:
    """Run ``plugins/modules/<name>.py`` as Ansible runs a module (arguments in a JSON file, the collection on
    PYTHONPATH): its result, and its whole output for tests that look for what must not be in it. No traceback,
    ever: that is asserted here for every module run of the suite."""
    args_file = os.path.join(workdir, "args-%s.json" % uuid.uuid4().hex)
    with open(args_file, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "plugins", "modules", name + ".py"), args_file],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=collections_path()),
                          timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-3000:]
    return json.loads(proc.stdout), output


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, records: list[dict[str, t.Any]]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = records

    def result(self, task: str) -> dict[str, t.Any]:
        found = [r for r in self.records if r["task"] == task]
        assert found, "task %r did not run; rc=%s\n%s\n%s" % (task, self.rc, self.stdout[-3000:], self.stderr[-2000:])
        res = dict(found[-1]["result"])
        res.setdefault("failed", found[-1]["status"] == "failed")
        return res

    def status(self, task: str) -> str:
        return [r for r in self.records if r["task"] == task][-1]["status"]


class Ansible:
    """ansible-playbook with the lab's connection in EXCHANGE_* environment variables."""

    def __init__(self, lab: LabProcess, workdir: str) -> None:
        self.lab = lab
        self.workdir = workdir
        self.count = 0

    def env(self, user: str = "admin", **overrides: str) -> dict[str, str]:
        ready = self.lab.ready
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": collections_path(),
                "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_PLUGINS,
                "ANSIBLE_CALLBACKS_ENABLED": "record_results",
                "ANSIBLE_LOCALHOST_WARNING": "False",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                "ANSIBLE_HOME": os.path.join(self.workdir, "ansible-home"),
                "ANSIBLE_LOCAL_TEMP": os.path.join(self.workdir, "ansible-tmp"),
            }
        )
        env.update(exchange_env(ready, user))
        env.update(overrides)
        return env

    def play(self, tasks: str, *, args: t.Sequence[str] = (), user: str = "admin",
             env: t.Optional[dict[str, str]] = None, vars_: t.Optional[dict[str, t.Any]] = None) -> Run:
        """Run a play on localhost with the given tasks (YAML text, indented as a list)."""
        self.count += 1
        playbook = os.path.join(self.workdir, "play%03d.yml" % self.count)
        records = os.path.join(self.workdir, "play%03d.json" % self.count)
        play = {"hosts": "localhost", "connection": "local", "gather_facts": False, "vars": vars_ or {},
                "tasks": yaml.safe_load(textwrap.dedent(tasks))}
        with open(playbook, "w", encoding="utf-8") as handle:
            yaml.safe_dump([play], handle, sort_keys=False)
        run_env = self.env(user, **(env or {}))
        run_env["RECORD_RESULTS_FILE"] = records
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook, *args],
            capture_output=True, text=True, env=run_env, timeout=240, check=False,
        )
        data: list[dict[str, t.Any]] = []
        if os.path.exists(records):
            with open(records, encoding="utf-8") as handle:
                data = json.load(handle)
        return Run(proc, data)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Counter differences, only the keys that moved."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)}

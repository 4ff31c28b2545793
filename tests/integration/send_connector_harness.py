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

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))  # labfixture
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))  # exchange_lab

from labfixture import LabProcess  # noqa: E402

SEED_NAME = "Smart host to Internet"


def collections_path() -> str:
    """``<repo>/collections`` with ansible_collections/mailflow/exchange -> the repository (as make does)."""
    base = os.path.join(ROOT, "collections")
    link = os.path.join(base, "ansible_collections", "mailflow", "exchange")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:  # another pytest-xdist worker made it just now
            pass
    return base


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
                "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "record_results",
                "ANSIBLE_LOCALHOST_WARNING": "False",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
                "ANSIBLE_HOME": os.path.join(self.workdir, "ansible-home"),
                "ANSIBLE_LOCAL_TEMP": os.path.join(self.workdir, "ansible-tmp"),
                "EXCHANGE_SERVER": ready["host"],
                "EXCHANGE_PORT": str(ready["port"]),
                "EXCHANGE_PROTOCOL": ready["scheme"],
                "EXCHANGE_PATH": ready["path"],
                "EXCHANGE_AUTH": ready["auth"],
                "EXCHANGE_USERNAME": ready["readonly_username"] if user == "readonly" else ready["username"],
                "EXCHANGE_PASSWORD": ready["readonly_password"] if user == "readonly" else ready["password"],
            }
        )
        if ready.get("ca_cert"):
            env["EXCHANGE_CA_CERT"] = ready["ca_cert"]
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

"""``hacking/benchmark.py --quick`` runs to the end and reports the call counts the collection promises.

The benchmark's timings are printed, never judged. What is judged here are correctness facts it
measures through the lab's counters around each ``ansible-playbook`` run of
``mailflow.exchange.send_connector``: creating the connector makes one Get-SendConnector, one write and
one names read (Get-SendConnector | Select-Object) after it; running the same task again makes exactly one Get-SendConnector and no write; a change makes
one Get-SendConnector and one write. Each run opens one runspace.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BENCHMARK = os.path.join(ROOT, "hacking", "benchmark.py")
COLLECTION = os.path.join(ROOT, "collections", "ansible_collections", "mailflow", "exchange")
CALLS = re.compile(
    r"^\s*CALLS (?P<label>[\w-]+): changed=(?P<changed>True|False) runspaces_opened=(?P<runspaces>-?\d+)"
    r" cmdlets_run=(?P<cmdlets>-?\d+) get_send_connector=(?P<gets>-?\d+) writes=(?P<writes>-?\d+)\s*$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    if not os.path.isdir(COLLECTION):
        os.makedirs(os.path.dirname(COLLECTION), exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another test may have made it meanwhile
            os.symlink(ROOT, COLLECTION)  # what `make collection-link` does
    return subprocess.run(
        [sys.executable, BENCHMARK, "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture(scope="module")
def calls(quick_run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    found = {
        m["label"]: {
            "changed": m["changed"] == "True",
            "runspaces": int(m["runspaces"]),
            "cmdlets": int(m["cmdlets"]),
            "gets": int(m["gets"]),
            "writes": int(m["writes"]),
        }
        for m in CALLS.finditer(quick_run.stdout)
    }
    return found


def test_quick_benchmark_exits_zero(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stdout[-3000:] + quick_run.stderr[-3000:]
    assert "Traceback" not in quick_run.stdout + quick_run.stderr
    for section in ("RunspacePool open", "Get-SendConnector", "cmdlets/s", "https-basic", "http-ntlm"):
        assert section in quick_run.stdout, f"benchmark printed no {section!r} figure"


def test_reports_one_line_per_module_run(calls: dict[str, dict[str, object]]) -> None:
    assert set(calls) == {"create", "no-change", "change"}


def test_create_makes_one_read_one_write_and_one_names_read(calls: dict[str, dict[str, object]]) -> None:
    # the read by name, the New, and then every connector's name (Get-SendConnector | Select-Object -ExpandProperty
    # Name, one pipeline of two cmdlets): a name the read did not find is checked for look-alikes (issue 15)
    assert calls["create"] == {"changed": True, "runspaces": 1, "cmdlets": 4, "gets": 2, "writes": 1}


def test_no_change_run_makes_exactly_one_get_and_no_write(calls: dict[str, dict[str, object]]) -> None:
    assert calls["no-change"] == {"changed": False, "runspaces": 1, "cmdlets": 1, "gets": 1, "writes": 0}


def test_change_makes_one_read_and_one_write(calls: dict[str, dict[str, object]]) -> None:
    assert calls["change"] == {"changed": True, "runspaces": 1, "cmdlets": 2, "gets": 1, "writes": 1}

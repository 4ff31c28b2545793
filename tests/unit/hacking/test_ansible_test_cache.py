"""hacking/ansible_test_cache.py removes ansible-test's broken cached venvs and keeps working ones."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "hacking", "ansible_test_cache.py")


def _venv(cache, name: str, python_target: str | None) -> str:
    path = cache / ("sanity.%s" % name) / "3.12" / "0123abcd"
    (path / "bin").mkdir(parents=True)
    (path / "marker.txt").write_text("", encoding="utf-8")
    if python_target is not None:
        os.symlink(python_target, path / "bin" / "python")
    return str(path)


def test_broken_venvs_are_removed_working_ones_kept(tmp_path):
    cache = tmp_path / "venv"
    working = _venv(cache, "pylint", sys.executable)
    dangling = _venv(cache, "changelog", str(tmp_path / "deleted-venv" / "bin" / "python3.12"))
    no_python = _venv(cache, "yamllint", None)
    failing = _venv(cache, "pep8", "/bin/false")
    building = cache / "sanity.import" / "3.12" / "feedbeef"  # no marker yet: ansible-test's own business
    (building / "bin").mkdir(parents=True)

    proc = subprocess.run([sys.executable, SCRIPT, str(cache)], capture_output=True, text=True, check=True)

    assert os.path.isdir(working)
    assert os.path.isdir(building)
    for gone in (dangling, no_python, failing):
        assert not os.path.exists(gone), proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout
    assert any(dangling in line and "no longer exists" in line for line in lines), lines
    assert any(no_python in line and "no bin/python" in line for line in lines), lines
    assert any(failing in line and "exits with status 1" in line for line in lines), lines


def test_a_missing_cache_is_fine(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "nothing")], capture_output=True, text=True, check=True)
    assert proc.stdout == ""

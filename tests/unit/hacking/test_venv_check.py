"""hacking/venv.sh: the Python check `make demo`/`make install` run before anything else.

The interpreters are stand-ins (a shell script that answers the version questions and makes a "venv" whose
bin/python is itself), so the test shows the choice and the sentences without installing anything; the real
`make demo` on Debian's Python 3.11 is recorded in the README's "Tested with".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "hacking", "venv.sh")
TABLE = os.path.join(ROOT, "hacking", "ansible-core-versions.txt")

FAKE = """#!/bin/sh
case "$1" in
  -c) case "$2" in *'[:2]'*) echo {minor};; *) echo {minor}.9;; esac; exit 0;;
  -m) [ "$2" = venv ] || exit 1; mkdir -p "$3/bin"; ln -s "{path}" "$3/bin/python"; exit 0;;
esac
exit 1
"""


def releases() -> list[list[str]]:
    with open(TABLE, encoding="utf-8") as handle:
        return [line.split("#", 1)[0].split() for line in handle if line.split("#", 1)[0].strip()]


def fake_python(tmp_path, minor: str) -> str:
    path = tmp_path / ("python" + minor)
    path.write_text(FAKE.format(minor=minor, path=path), encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def run(mode: str, venv, python: str | None, action: str = "check", **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    env.pop("PYTHON", None)
    if python:
        env["PYTHON"] = python
    return subprocess.run(["bash", SCRIPT, mode, str(venv), action], capture_output=True, text=True, env=env, timeout=60, check=False)


def newest_for(minor: str) -> str:
    return next(line[0] for line in releases() if minor in line[1:])


def test_table_is_newest_first_and_matches_requires_ansible():
    table = releases()
    versions = [tuple(int(n) for n in line[0].split(".")) for line in table]
    assert versions == sorted(versions, reverse=True), versions
    assert all(len(line) >= 2 for line in table), table
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        runtime = handle.read()
    floor = "%d.%d" % versions[-1][:2]
    assert 'requires_ansible: ">=%s.0"' % floor in runtime, "meta/runtime.yml should declare the table's oldest release %s" % floor


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_a_python_too_old_gets_one_sentence_fast_and_no_venv(tmp_path, mode):
    venv = tmp_path / "venv"
    started = time.monotonic()
    proc = run(mode, venv, fake_python(tmp_path, "3.9"), action="install")
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "found 3.9" in lines[0] and "PYTHON=" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not venv.exists()
    assert elapsed < 5, elapsed


def test_demo_on_python_311_takes_the_newest_release_that_supports_it(tmp_path):
    venv = tmp_path / "venv"
    proc = run("demo", venv, fake_python(tmp_path, "3.11"))
    assert proc.returncode == 0, proc
    core = newest_for("3.11")
    assert core != releases()[0][0]  # the newest release needs a newer Python: this is the interesting case
    assert "ansible-core %s, the newest release that supports it" % core in proc.stderr, proc.stderr
    assert "ansible-core %s needs Python 3.12" % releases()[0][0] in proc.stderr, proc.stderr
    assert (venv / ".ansible-core").read_text(encoding="utf-8").strip() == core


def test_install_needs_the_newest_release_and_says_so_about_311(tmp_path):
    proc = run("test", tmp_path / "venv", fake_python(tmp_path, "3.11"))
    assert proc.returncode == 2, proc
    assert proc.stderr.count("\n") == 1 and "found 3.11" in proc.stderr and "ansible-core %s" % releases()[0][0] in proc.stderr
    assert "make demo runs on Python 3.11" in proc.stderr


def test_a_broken_venv_is_made_again_not_reused(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(str(tmp_path / "deleted" / "python3"), venv / "bin" / "python")
    (venv / ".demo-installed").write_text("", encoding="utf-8")
    proc = run("demo", venv, fake_python(tmp_path, "3.12"))
    assert proc.returncode == 0, proc
    assert "is broken (its Python does not run): removing it" in proc.stderr, proc.stderr
    assert os.path.realpath(venv / "bin" / "python") == str(tmp_path / "python3.12")
    assert not (venv / ".demo-installed").exists()  # the stamp of the old venv went with it


def test_a_demo_venv_on_311_is_replaced_for_make_test(tmp_path):
    venv = tmp_path / "venv"
    assert run("demo", venv, fake_python(tmp_path, "3.11")).returncode == 0
    proc = run("test", venv, fake_python(tmp_path, "3.12"))
    assert proc.returncode == 0, proc
    assert "has Python 3.11, which ansible-core %s cannot run" % releases()[0][0] in proc.stderr, proc.stderr
    assert (venv / ".ansible-core").read_text(encoding="utf-8").strip() == releases()[0][0]


def test_a_working_venv_is_reused_silently(tmp_path):
    venv = tmp_path / "venv"
    assert run("demo", venv, fake_python(tmp_path, "3.12")).returncode == 0
    proc = run("demo", venv, None)
    assert proc.returncode == 0 and proc.stderr == "", proc


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_demo_checks_python_before_anything_else(tmp_path):
    """`make demo` with a Python too old: the sentence, within 5 s, and no other step ran."""
    started = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", ROOT, "demo", "VENV=%s" % (tmp_path / "venv"), "PYTHON=%s" % fake_python(tmp_path, "3.9")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode != 0
    assert time.monotonic() - started < 5
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert output[0].startswith("make demo needs Python"), output
    assert not any("Installing" in line or "pip" in line for line in output), output
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_clean_removes_the_venv(tmp_path):
    shutil.copy(os.path.join(ROOT, "Makefile"), tmp_path / "Makefile")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "collections").mkdir()
    subprocess.run(["make", "--no-print-directory", "-C", str(tmp_path), "clean"], capture_output=True, check=True, timeout=60)
    assert not (tmp_path / ".venv").exists() and not (tmp_path / "collections").exists()

"""hacking/progress.sh: a long step of make (pip, apt-get) prints a line every PROGRESS_EVERY seconds while it runs,
keeps the step's own output aside, and shows its last lines and exit status when it fails (issue 19 item 7)."""

from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "hacking", "progress.sh")


def _run(*cmd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROGRESS_EVERY="1")
    return subprocess.run([SCRIPT, "A step", "about 3 s", *cmd], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_a_long_step_prints_a_line_while_it_runs_and_keeps_its_output_aside():
    proc = _run("bash", "-c", "echo noise; sleep 3.5")
    assert proc.returncode == 0 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == "A step (about 3 s) ..."
    assert len([line for line in lines if line.startswith("  ... still working (")]) >= 2, lines
    assert lines[-1].startswith("  done in ") and "noise" not in proc.stderr


def test_a_failing_step_shows_its_last_lines_and_keeps_its_exit_status():
    proc = _run("bash", "-c", "echo first; echo the reason >&2; exit 3")
    assert proc.returncode == 3
    assert "That failed (exit status 3) after" in proc.stderr
    assert proc.stderr.rstrip().endswith("first\nthe reason"), proc.stderr

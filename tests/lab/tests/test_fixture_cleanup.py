"""A lab started by a test stops when the test fails, times out, or its process is killed (issue 15).

Each case runs a small pytest session (or a plain Python process) in a subprocess that starts a lab through the
suite's own fixture code (labfixture.LabProcess and a module-scoped fixture as tests/integration/conftest.py
has it), records the lab's process id, and then fails, runs into pytest-timeout, or is killed with SIGKILL.
Afterwards that one process id must be gone: only the labs these cases start are looked at.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from labfixture import LAB_SRC

TESTS = os.path.dirname(os.path.abspath(__file__))
CONFTEST = '''
import pytest
from labfixture import LabProcess


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="basic")
    proc.start()
    yield proc
    proc.stop()
'''
FAILING = '''
import os
import time


def test_fails(lab):
    with open(os.environ["LAB_PID_FILE"], "w") as handle:
        handle.write(str(lab.proc.pid))
    if os.environ["HOW"] == "timeout":
        time.sleep(120)
    assert False, "forced failure"
'''
KILLED = '''
import sys, time
from labfixture import LabProcess
lab = LabProcess(sys.argv[1], auth="basic")
lab.start()
print(lab.proc.pid, flush=True)
time.sleep(120)
'''


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_lab(pid: int) -> bool:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return b"exchange_lab" in handle.read()
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return not alive(pid)


def stop_if_left(pid: int | None) -> None:
    """The test's own finalizer: a lab the code under test failed to stop is stopped here (and the test fails)."""
    if pid and alive(pid) and is_lab(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, LAB_SRC, os.environ.get("PYTHONPATH", "")]))


@pytest.mark.parametrize("how", ["failure", "timeout"])
def test_a_failing_or_timed_out_test_stops_its_lab(tmp_path, how):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(FAILING)
    pid_file = tmp_path / "lab.pid"
    pid = None
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--timeout", "20",
             "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_inner.py")],
            cwd=str(tmp_path), env=dict(env(), LAB_PID_FILE=str(pid_file), HOW=how), capture_output=True, text=True,
            timeout=180, check=False)
        pid = int(pid_file.read_text())
        assert run.returncode == 1, run.stdout[-3000:]
        assert ("Timeout" if how == "timeout" else "forced failure") in run.stdout, run.stdout[-3000:]
        assert gone_within(pid, 5), "the lab (pid %d) outlived the failing pytest session" % pid
    finally:
        stop_if_left(pid)


def test_a_killed_test_process_takes_its_lab_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "lab")], env=env(), stdout=subprocess.PIPE,
                            text=True)
    pid = None
    try:
        pid = int(proc.stdout.readline())
        assert alive(pid) and is_lab(pid)
        proc.kill()  # no finalizer, no atexit: what a cancelled job or a crashed xdist worker does
        proc.wait(10)
        assert gone_within(pid, 15), "the lab (pid %d) outlived the killed process that started it" % pid
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        stop_if_left(pid)

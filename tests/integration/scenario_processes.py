"""Run a molecule scenario so that nothing it started outlives the test, also on failure or timeout.

``molecule test`` runs cleanup and destroy itself when a step fails (extensions/molecule/shared/cleanup.yml
stops the lab and the smart host by their recorded process ids). What it cannot handle is being stopped
itself: pytest-timeout, a ``subprocess`` timeout or Ctrl-C kill molecule, and the ansible-playbook it runs,
the lab and the smart host (started under ``setsid`` by create.yml) keep running. ``run_molecule`` therefore
starts molecule in a process group of its own with a private ephemeral directory, and whatever happens stops
that group and then the process groups whose ids create.yml wrote into the ephemeral directory (``*/pid``).

Only those processes are looked at (never "every exchange_lab process on the machine": other people run labs
on the same machine at the same time).
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import tempfile
import time
import typing as t

from labfixture import end_brokers


def group_members(pgid: int) -> list[int]:
    """The process ids whose process group is ``pgid`` (from /proc/<pid>/stat)."""
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after "pid (comm)": state, ppid, pgrp
            members.append(int(stat.split("/")[2]))
    return members


def cmdline(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def recorded_groups(ephemeral: str) -> list[int]:
    """The process ids create.yml recorded (``<ephemeral>/lab/pid``, ``<ephemeral>/smarthost/pid``)."""
    found = []
    for path in sorted(glob.glob(os.path.join(ephemeral, "*", "pid"))):
        try:
            with open(path, encoding="utf-8") as handle:
                digits = "".join(ch for ch in handle.read() if ch.isdigit())
        except OSError:  # removed by destroy meanwhile
            continue
        if digits:
            found.append(int(digits))
    return found


def stop_groups(pgids: t.Iterable[int], marker: str = "exchange_lab", timeout: float = 20.0) -> list[int]:
    """SIGTERM each process group, SIGKILL what is left after ``timeout``; returns the groups that had members.

    A group whose leader is alive but is not a ``marker`` process is left alone (its id was reused)."""
    live = []
    for pgid in pgids:
        if os.path.exists("/proc/%d" % pgid) and marker not in cmdline(pgid):
            continue
        if group_members(pgid):
            live.append(pgid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = list(live)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [pgid for pgid in left if group_members(pgid)]
    for pgid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return live


class MoleculeRun(t.NamedTuple):
    returncode: int | None  # None: stopped by run_molecule (timeout or stop_when)
    output: str
    groups: list[int]  # the process groups create.yml recorded (seen while molecule ran, or left at the end)
    left_running: list[int]  # those the finalizer still found with members (molecule did not stop them)
    molecule_pid: int  # molecule's own process group


def private_ephemeral_directory() -> str:
    """A scenario's ephemeral directory under /tmp that Postfix's unprivileged daemons can traverse."""
    path = tempfile.mkdtemp(prefix="molecule-")
    os.chmod(path, 0o755)
    return path


def run_molecule(argv: list[str], env: dict[str, str], cwd: str, ephemeral: str, timeout: float,
                 stop_when: t.Callable[[], bool] | None = None, keep_running: bool = False) -> MoleculeRun:
    """Run molecule (``argv``) with ``MOLECULE_EPHEMERAL_DIRECTORY=ephemeral`` until it exits, ``timeout`` passes
    or ``stop_when()`` is true; then stop molecule's own process group and the groups create.yml recorded.
    ``keep_running``: a run that exited by itself with status 0 leaves the recorded groups to the caller (who
    stops them in a finalizer: ``stop_groups(run.groups)``), e.g. after ``molecule create``."""
    env = dict(env, MOLECULE_EPHEMERAL_DIRECTORY=ephemeral)
    log_path = ephemeral.rstrip("/") + ".log"  # beside it: molecule prunes its ephemeral directory
    seen: list[int] = []

    def look() -> None:
        for pgid in recorded_groups(ephemeral):
            if pgid not in seen:
                seen.append(pgid)

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    returncode = None
    left_running: list[int] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            returncode = proc.poll()
            look()
            if returncode is not None or (stop_when is not None and stop_when()):
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            returncode = None
            stop_groups([proc.pid], marker="molecule", timeout=15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        look()
        if not (keep_running and returncode == 0):
            # the runspace the role kept (keep_session; molecule.yml's MAILFLOW_EXCHANGE_SESSION_DIR), while the lab runs
            end_brokers(os.path.join(ephemeral, "sessions"))
            left_running = stop_groups(seen)
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    os.unlink(log_path)
    return MoleculeRun(returncode, output, seen, left_running, proc.pid)

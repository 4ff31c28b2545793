"""Crash-safe JSON state: ``<state>/org.json``.

Every write goes to a temp file in the same directory, is fsynced, renamed over the old file
with ``os.replace`` and the directory is fsynced, so a reader (or a restart after kill -9)
sees either the old or the new file, never a torn one. A thread lock plus an ``fcntl`` lock on
``org.json.lock`` serialise writers in this process and across processes; a change made by
another process is picked up (re-read) before the next operation.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import glob
import json
import os
import threading
import typing as t


class StateError(ValueError):
    """The state file exists but cannot be read; the message says which file and what to do."""


class Store:
    def __init__(self, state_dir: str, name: str = "org.json", default: dict[str, t.Any] | None = None) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.dir = state_dir
        self.path = os.path.join(state_dir, name)
        self.lock_path = self.path + ".lock"
        self._default = default or {}
        self._lock = threading.RLock()
        self._sig: tuple[int, int, int] | None = None
        self.data: dict[str, t.Any] = copy.deepcopy(self._default)
        with self.locked():
            for stale in glob.glob(self.path + ".tmp.*"):  # left by a writer killed mid-write
                with contextlib.suppress(OSError):
                    os.unlink(stale)

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload_if_changed(self) -> None:
        sig = self._signature()
        if sig is None or sig == self._sig:
            return
        with open(self.path, encoding="utf-8") as handle:
            try:
                self.data = json.load(handle)
            except ValueError as exc:
                raise StateError(
                    f"{self.path} is not valid JSON ({exc}); the lab never writes a partial file, so it was changed "
                    "by something else. Fix or remove it (that deletes the lab's Send connectors) and start again."
                ) from None
        self._sig = sig

    @contextlib.contextmanager
    def locked(self) -> t.Iterator[dict[str, t.Any]]:
        """Hold both locks, with ``data`` current; call :meth:`save` inside to persist."""
        with self._lock:
            fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._reload_if_changed()
                yield self.data
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def save(self) -> None:
        """Write ``data`` atomically (call while holding :meth:`locked`)."""
        tmp = f"{self.path}.tmp.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._sig = self._signature()

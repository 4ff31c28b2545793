"""Counters the tests and the benchmark read: runspaces opened, cmdlets run, writes.

Thread-safe; every update rewrites ``<state>/counters.json`` atomically so that another
process (a test, the benchmark) can read consistent figures at any time. The lab-only cmdlet
``Get-LabCounter`` returns the same figures over PSRP.
"""

from __future__ import annotations

import collections
import json
import os
import threading


class Metrics:
    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

    def incr(self, key: str, by: int = 1) -> None:
        with self._lock:
            self._counts[key] += by
            self._flush_locked()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._path:
            return
        tmp = f"{self._path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(self._counts.items())), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

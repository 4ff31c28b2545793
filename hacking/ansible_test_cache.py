"""Find and remove broken virtual environments in ansible-test's cache (``make sanity`` runs this first).

ansible-test keeps one virtual environment per sanity test under ``~/.ansible/test/venv/<test>/<python>/<hash>``
and trusts any of them that has a ``marker.txt``. One whose ``bin/python`` no longer runs (the Python it was
made from was removed, e.g. a deleted project venv, or it was left half-built) then fails every later run with
``Required program ".../bin/python" not found``. This removes such a folder so that ansible-test builds it
again; working ones are left alone.

    python hacking/ansible_test_cache.py [CACHE_DIR]     (default ~/.ansible/test/venv)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys


def broken(venv: str) -> str | None:
    """Why ``venv`` cannot be used, or None when its Python runs."""
    python = os.path.join(venv, "bin", "python")
    if not os.path.lexists(python):
        return "it has no bin/python"
    if not os.path.exists(python):
        return "bin/python points to %s, which no longer exists" % os.path.realpath(python)
    try:
        proc = subprocess.run([python, "-c", "import sys"], capture_output=True, timeout=60, check=False)
    except OSError as err:
        return "bin/python does not run (%s)" % err
    except subprocess.TimeoutExpired:
        return "bin/python did not answer in 60 s"
    if proc.returncode != 0:
        return "bin/python exits with status %d" % proc.returncode
    return None


def clean(cache: str) -> list[str]:
    """Remove the broken environments under ``cache``; returns one line per removed folder."""
    removed = []
    for marker in sorted(glob.glob(os.path.join(cache, "*", "*", "*", "marker.txt"))):
        venv = os.path.dirname(marker)
        reason = broken(venv)
        if reason:
            shutil.rmtree(venv, ignore_errors=True)
            removed.append("ansible-test cache: removed %s (%s); ansible-test builds it again" % (venv, reason))
    return removed


def main(argv: list[str]) -> int:
    cache = argv[1] if len(argv) > 1 else os.path.expanduser("~/.ansible/test/venv")
    for line in clean(cache):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

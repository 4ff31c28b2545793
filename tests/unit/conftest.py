"""Make ``ansible_collections.mailflow.exchange`` importable when pytest runs from the repository root.

ansible-test runs the units from a real ``.../ansible_collections/mailflow/exchange`` copy, where the import
already works. From a plain checkout we point ``collections/ansible_collections/mailflow/exchange`` (the same
link ``make collection-link`` makes, git-ignored) at the repository and put ``collections`` on ``sys.path``.
"""

from __future__ import annotations

import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _importable() -> bool:
    try:
        importlib.import_module("ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values")
    except ImportError:
        return False
    return True


if not _importable():
    collections = os.path.join(ROOT, "collections")
    link = os.path.join(collections, "ansible_collections", "mailflow", "exchange")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    sys.path.insert(0, collections)
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]
    importlib.invalidate_caches()

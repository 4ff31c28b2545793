"""Suite-wide pytest settings: the one bootstrap of the collection path, and how ``make test`` spreads the tests
over pytest-xdist workers.

The bootstrap: ``ansible_collections.mailflow.exchange`` must import from a plain checkout, as Ansible imports it.
``collections/ansible_collections/mailflow/exchange`` (the git-ignored link ``make collection-link`` makes) points
at the repository and ``collections`` goes on ``sys.path``, with the lab (``exchange_lab``, ``labfixture``) and the
test support modules (``tests/integration/*.py``, ``bad_input``, ``pwsh_tokens``). No test file sets paths itself;
the ``collections_path`` fixture gives the directory to child processes (``ANSIBLE_COLLECTIONS_PATH``).
(ansible-test runs units from a real ``.../ansible_collections/mailflow/exchange`` copy, where all this is a no-op.)

The scheduler:

``make test`` runs ``pytest -n 3 --dist loadscope``, with the scheduler below: a file's tests stay together
on one worker (its module-scoped fixtures - a lab, a KDC, a Postfix - start once and its tests keep their
order), except in the files of INDEPENDENT_FILES, whose tests each start their own lab or molecule scenario
and so go to whichever worker is free. That matters for the few long ones: the molecule scenarios take one
to two minutes each and would otherwise run one after the other on a single worker.
(``--dist loadgroup`` would say the same with marks, but its group marks are not applied with pytest 9.)
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")
SUPPORT_PATHS = [
    os.path.join(ROOT, "tests", "lab"),  # exchange_lab
    os.path.join(ROOT, "tests", "lab", "tests"),  # labfixture
    os.path.join(ROOT, "tests", "integration"),  # send_connector_harness, role_lab
    os.path.join(ROOT, "tests", "unit", "plugins", "modules"),  # bad_input (its cases also run against the lab)
    os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"),  # pwsh_tokens
]


def _bootstrap() -> None:
    link = os.path.join(COLLECTIONS, "ansible_collections", "mailflow", "exchange")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:  # another pytest-xdist worker made it just now
            pass
    for path in reversed([COLLECTIONS] + SUPPORT_PATHS):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        importlib.import_module("ansible_collections.mailflow.exchange.plugins.module_utils._module")
    except ImportError:  # ansible_collections was imported before from elsewhere: import it again from here
        for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


_bootstrap()


@pytest.fixture(scope="session")
def collections_path() -> str:
    """The directory for ANSIBLE_COLLECTIONS_PATH (or PYTHONPATH) when a test runs ansible or a module file
    (send_connector_harness.collections_path, the one rule)."""
    from send_connector_harness import collections_path as where

    return where()


INDEPENDENT_FILES = {
    "tests/integration/role/test_molecule.py",
    "tests/integration/role/test_molecule_cleanup.py",
    "tests/integration/role/test_role.py",
    "tests/integration/role/test_review_e2e.py",
}


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path in INDEPENDENT_FILES else path

    return FileScheduling(config, log)


BAD_INPUT_CLASSES = ("identity", "confusables", "duplicates", "role variables", "partial failure")


def pytest_terminal_summary(terminalreporter):
    """Name the lab wire profile of this run (make test runs the integration tests under each), and print the
    generated bad-input suites' counts (they are their result).

    Each suite records one line as the user property ``bad_input_summary`` of its report; the lab suites of issue
    15's classes also record ``bad_input_classes`` (JSON: cases per class and ``written``, the writes to connectors
    no case named), summed here into one line. Reports travel to the controlling process under pytest-xdist, and
    this file is the one conftest that process always loads (a conftest further down is loaded only by the workers
    that collect its tests), so the lines show with ``-n 3 --dist loadscope`` as well.
    """
    import json
    import os

    lines: list[str] = []
    classes: dict[str, int] = {}
    seen: set[str] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", None) or ():
                if key == "bad_input_summary" and value not in lines:
                    lines.append(value)
                elif key == "bad_input_classes" and value not in seen:
                    seen.add(value)
                    for name, count in json.loads(value).items():
                        classes[name] = classes.get(name, 0) + count
    for line in lines:
        terminalreporter.write_line(line)
    if classes:
        terminalreporter.write_line("generated bad input (against the lab, issue 15): %s - %d written to a connector no case "
                                    "named" % (", ".join("%s %d" % (k, classes[k]) for k in BAD_INPUT_CLASSES if k in classes),
                                               classes.get("written", 0)))
    terminalreporter.write_line("lab wire profile: %s" % (os.environ.get("EXCHANGE_LAB_WIRE") or "the lab's default (exchange)"))

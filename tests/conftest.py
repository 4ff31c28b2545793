"""Suite-wide pytest settings: how ``make test`` spreads the tests over pytest-xdist workers.

``make test`` runs ``pytest -n 3 --dist loadscope``, with the scheduler below: a file's tests stay together
on one worker (its module-scoped fixtures - a lab, a KDC, a Postfix - start once and its tests keep their
order), except in the files of INDEPENDENT_FILES, whose tests each start their own lab or molecule scenario
and so go to whichever worker is free. That matters for the few long ones: the molecule scenarios take one
to two minutes each and would otherwise run one after the other on a single worker.
(``--dist loadgroup`` would say the same with marks, but its group marks are not applied with pytest 9.)
"""

from __future__ import annotations

INDEPENDENT_FILES = {
    "tests/integration/test_molecule.py",
    "tests/integration/test_molecule_cleanup.py",
    "tests/integration/test_role.py",
    "tests/integration/test_review_e2e.py",
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


def pytest_terminal_summary(terminalreporter):
    """Name the lab wire profile of this run (make test runs the integration tests under each)."""
    import os

    terminalreporter.write_line("lab wire profile: %s" % (os.environ.get("EXCHANGE_LAB_WIRE") or "the lab's default (exchange)"))

"""Fixtures for the lab's own tests: a lab process per module (HTTP Basic) and factories."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # exchange_lab
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # labfixture

from labfixture import WIRE_ENV, LabProcess  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def objects_wire():
    """The lab's own tests read its output with plain pypsrp, which cannot read the ``exchange`` profile's
    references: they describe the ``objects`` shape (every lab they start, unless a test names another
    profile; test_wire_profiles.py covers the profiles)."""
    patch = pytest.MonkeyPatch()
    patch.setenv(WIRE_ENV, "objects")
    yield
    patch.undo()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab over HTTP with Basic auth, shared by the tests of one module."""
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def lab_factory(tmp_path_factory):
    """Start labs with other options: ``lab_factory(https=True, auth="ntlm", config={...})``."""
    started: list[LabProcess] = []

    def make(**kwargs):
        proc = LabProcess(str(tmp_path_factory.mktemp("lab")), **kwargs)
        proc.start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()

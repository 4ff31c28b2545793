"""Shared fixtures: one lab (HTTP Basic) per test module and ansible-playbook against it, and the labs the
transport tests share (``https_lab``: HTTPS with the lab's CA and Basic; ``ntlm_lab``: NTLM over HTTP).

Test modules that need another lab (Kerberos, a mail configuration) define their own ``lab`` fixture, which
takes precedence over this one.
"""

from __future__ import annotations

import pytest

from send_connector_harness import Ansible, started_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from started_lab(tmp_path_factory, auth="basic")


@pytest.fixture(scope="module")
def https_lab(tmp_path_factory):
    yield from started_lab(tmp_path_factory, https=True, auth="basic")


@pytest.fixture(scope="module")
def ntlm_lab(tmp_path_factory):
    yield from started_lab(tmp_path_factory, auth="ntlm")


@pytest.fixture(scope="module")
def ansible(lab, tmp_path_factory):
    return Ansible(lab, str(tmp_path_factory.mktemp("plays")))


def pytest_terminal_summary(terminalreporter):
    """The docs examples test's count (its result, like a benchmark's figures): one line per document and a total."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", None) or ():
                if key == "docs_examples_summary" and value not in lines:
                    lines.append(value)
    if lines:
        ran = sum(int(line.split(": ", 1)[1].split()[0]) for line in lines)
        terminalreporter.write_line("docs examples: %d ran (%s)" % (ran, "; ".join(sorted(lines))))

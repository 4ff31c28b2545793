"""A molecule scenario that fails, or is stopped, leaves none of its processes running (issue 15).

Three ways a run ends early, each on the ``broken_smart_host`` scenario (the quickest to create):

* converge fails: ``molecule test`` runs the scenario's cleanup (extensions/molecule/shared/cleanup.yml) and
  destroy; the lab and the smart host must be gone by the time molecule exits, before the test's own finalizer;
* ``molecule cleanup`` after ``molecule create``: the processes stop and the state (the logs) stays;
* molecule itself is stopped while the lab and smart host run (what pytest-timeout or Ctrl-C do):
  run_molecule's finalizer stops molecule's process group and the groups create.yml recorded.

"Gone" is checked on the processes of this run only: the process groups whose ids create.yml wrote into the
run's private ephemeral directory (and molecule's own group), never on every lab of the machine.
"""

from __future__ import annotations

import os
import secrets

import pytest

from scenario_processes import group_members, run_molecule, stop_groups
# ephemeral and molecule are fixtures (pytest finds them in this module's namespace)
from test_molecule import ROOT, ephemeral, molecule, molecule_env  # noqa: F401  pylint: disable=unused-import

SCENARIO = "broken_smart_host"
FAILING_CONVERGE = """---
- name: Converge | Fail on purpose once the lab and the smart host run
  hosts: exchange
  gather_facts: false
  tasks:
    - name: Converge | Both processes create.yml recorded are running
      ansible.builtin.assert:
        that: "('/proc/' ~ lookup('ansible.builtin.file', item) | trim) is exists"
      loop:
        - "{{ lookup('ansible.builtin.env', 'EXCHANGE_LAB_READY') | dirname }}/pid"
        - "{{ lookup('ansible.builtin.env', 'SMART_HOST_READY') | dirname }}/pid"

    - name: Converge | Fail
      ansible.builtin.fail:
        msg: forced converge failure with the lab and the smart host running
"""


def env() -> dict[str, str]:
    return molecule_env(secrets.token_urlsafe(18), secrets.token_urlsafe(18))


def ready(ephemeral: str) -> bool:  # noqa: F811 - a path, not the fixture
    return all(os.path.exists(os.path.join(ephemeral, part, "ready.json")) for part in ("lab", "smarthost"))


def still_running(run) -> list[tuple[int, list[int]]]:
    return [(pgid, group_members(pgid)) for pgid in [*run.groups, run.molecule_pid] if group_members(pgid)]


@pytest.mark.timeout(400)
def test_a_failing_converge_stops_the_lab_and_the_smart_host(molecule, ephemeral, tmp_path):  # noqa: F811
    playbook = tmp_path / "converge.yml"
    playbook.write_text(FAILING_CONVERGE)
    base = tmp_path / "base.yml"
    base.write_text("provisioner:\n  playbooks:\n    converge: %s\n" % playbook)
    run = run_molecule([molecule, "--base-config", str(base), "test", "-s", SCENARIO], env(), ROOT, ephemeral,
                       timeout=360)
    assert run.returncode not in (None, 0), run.output[-6000:]
    assert "forced converge failure with the lab and the smart host running" in run.output, run.output[-6000:]
    assert len(run.groups) == 2, (run.groups, run.output[-6000:])  # the lab and the smart host were recorded
    assert "cleanup: Executed: Successful" in run.output, run.output[-6000:]
    # molecule's cleanup had stopped both before it exited: the finalizer found nothing left to stop
    assert run.left_running == [], (run.left_running, run.output[-6000:])
    assert still_running(run) == []


@pytest.mark.timeout(400)
def test_cleanup_after_create_stops_the_processes_and_keeps_their_logs(molecule, ephemeral):  # noqa: F811
    variables = env()
    created = run_molecule([molecule, "create", "-s", SCENARIO], variables, ROOT, ephemeral, timeout=180,
                           keep_running=True)
    try:
        assert created.returncode == 0, created.output[-6000:]
        assert len(created.groups) == 2 and all(group_members(pgid) for pgid in created.groups), created.groups
        cleaned = run_molecule([molecule, "cleanup", "-s", SCENARIO], variables, ROOT, ephemeral, timeout=120)
    finally:
        stop_groups(created.groups)
    assert cleaned.returncode == 0, cleaned.output[-6000:]
    assert sorted(cleaned.groups) == sorted(created.groups)  # the same pid files, still there
    assert cleaned.left_running == [], cleaned.output[-6000:]  # cleanup.yml stopped them, not the finalizer
    assert [pgid for pgid in created.groups if group_members(pgid)] == []
    assert os.path.getsize(os.path.join(ephemeral, "lab", "lab.log")) > 0  # the logs stay for diagnosis


@pytest.mark.timeout(400)
def test_a_stopped_molecule_run_leaves_nothing_running(molecule, ephemeral):  # noqa: F811
    run = run_molecule([molecule, "test", "-s", SCENARIO], env(), ROOT, ephemeral, timeout=300,
                       stop_when=lambda: ready(ephemeral))
    assert run.returncode is None, run.output[-6000:]  # stopped while running, as a time limit would
    assert len(run.groups) == 2, (run.groups, run.output[-6000:])
    assert sorted(run.left_running) == sorted(run.groups)  # they were running when molecule was stopped
    assert still_running(run) == []

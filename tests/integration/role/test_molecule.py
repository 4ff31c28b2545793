"""Run the molecule scenarios of extensions/molecule exactly as a user would: ``molecule test -s <name>``.

Each scenario starts its own Exchange lab and test smart host (create.yml) and stops them
(cleanup.yml, also when a step fails, and destroy.yml). This wrapper gives every run fresh ports, throwaway
passwords and a private ephemeral directory through the environment variables the scenarios' molecule.yml
read, so runs never collide or reuse secrets, and it stops what the scenario started when molecule itself is
stopped (its time limit, pytest-timeout, Ctrl-C): scenario_processes.run_molecule.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys

import pytest

from scenario_processes import group_members, private_ephemeral_directory, run_molecule
from send_connector_harness import collections_path

from send_connector_harness import ROOT  # noqa: E402  (the one bootstrap is tests/conftest.py)
BIN = os.path.dirname(sys.executable)
SCENARIOS = ["default", "basic_auth_tls", "broken_smart_host", "postfix"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def molecule() -> str:
    path = shutil.which("molecule", path=BIN) or shutil.which("molecule")
    if not path:
        pytest.fail("molecule is not installed: run `make install` (requirements-test.txt pins it)")
    return path


@pytest.fixture
def ephemeral():
    """A private ephemeral directory per run (molecule's default is shared by every run of the same checkout)."""
    path = private_ephemeral_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def molecule_env(lab_password: str, smart_host_password: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": BIN + os.pathsep + env.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": collections_path(),
            "MOLECULE_LAB_PORT": str(_free_port()),
            "MOLECULE_LAB_PASSWORD": lab_password,
            "MOLECULE_SMART_HOST_PASSWORD": smart_host_password,
            "ANSIBLE_FORCE_COLOR": "0",
            "NO_COLOR": "1",
            "PY_COLORS": "0",
        }
    )
    return env


# molecule's own limit stays below pytest-timeout's (pytest.ini), so a slow run ends here, with its output
@pytest.mark.timeout(660)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(molecule: str, scenario: str, ephemeral: str) -> None:
    lab_password = secrets.token_urlsafe(18)
    smart_host_password = secrets.token_urlsafe(18)
    env = molecule_env(lab_password, smart_host_password)
    run = run_molecule([molecule, "test", "-s", scenario], env, ROOT, ephemeral, timeout=600)
    output = run.output
    # nothing the scenario started is left, whatever happened (cleanup.yml, destroy.yml or run_molecule's finalizer)
    assert not [pgid for pgid in run.groups if group_members(pgid)], run.groups
    assert run.returncode == 0, f"molecule test -s {scenario} failed (rc {run.returncode}):\n{output[-12000:]}"
    for action in ("create", "converge", "verify", "cleanup", "destroy"):
        assert f"{action}: Executed: Successful" in output, f"{scenario}: {action} did not run successfully"
    if scenario != "broken_smart_host":
        assert "idempotence: Executed: Successful" in output
    # Every scenario talks HTTPS to the lab, as its documentation tells users to: no clear-text warning to ignore.
    assert "in clear text" not in output, f"{scenario}: a clear-text credential warning"
    assert "[WARNING]" not in output, [line for line in output.splitlines() if "[WARNING]" in line][:5]
    if scenario == "basic_auth_tls":
        # Issue 19 item 3: the idempotence run's report (the last one printed) says "no change" and lists no
        # credential change for the BasicAuthRequireTLS connector (update_password: on_create sends none).
        last = output.rsplit("Report | Show the summary]", 1)[1].split("TASK [", 1)[0]
        assert "): no change" in last and "authentication_credential" not in last, last[:3000]
    # The throwaway secrets the scenario used are never printed.
    assert lab_password not in output
    assert smart_host_password not in output

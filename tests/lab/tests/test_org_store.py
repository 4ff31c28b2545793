"""State: users.json, org.json persistence, crash safety (kill -9 mid-write), replication delay, threads."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from exchange_lab.config import FaultDef, LabConfig
from exchange_lab.org.testing import OrgHarness

LAB_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_users_created_once_private_and_reused(tmp_path):
    first = OrgHarness(str(tmp_path)).org
    info = first.ready_info()
    assert set(info) == {"username", "password", "readonly_username", "readonly_password"}
    assert info["username"] == "admin" and info["readonly_username"] == "viewer"
    assert info["password"] != info["readonly_password"] and len(info["password"]) >= 16
    path = tmp_path / "users.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = OrgHarness(str(tmp_path)).org
    assert again.ready_info() == info
    other = OrgHarness(str(tmp_path / "other")).org
    assert other.ready_info()["password"] != info["password"]


def test_authenticate_and_ntlm_users(tmp_path):
    org = OrgHarness(str(tmp_path)).org
    info = org.ready_info()
    assert org.authenticate("admin", info["password"]) == "admin"
    assert org.authenticate("CONTOSO\\Admin", info["password"]) == "admin"
    assert org.authenticate("admin@contoso.com", info["password"]) == "admin"
    assert org.authenticate("viewer", info["readonly_password"]) == "viewer"
    assert org.authenticate("admin", info["readonly_password"]) is None
    assert org.authenticate("FABRIKAM\\admin", info["password"]) is None
    assert org.authenticate("nobody", "x") is None
    assert sorted(org.ntlm_users()) == sorted([("CONTOSO", "admin", info["password"]), ("CONTOSO", "viewer", info["readonly_password"])])


def test_state_survives_a_new_organization(tmp_path):
    h = OrgHarness(str(tmp_path))
    assert h.run("New-SendConnector", Name="Keep", AddressSpaces=["contoso.com;3"], Port=2525).errors == []
    assert h.run("New-SendConnector", Name="Drop", AddressSpaces=["*"]).errors == []
    assert h.run("Remove-SendConnector", "Drop", Confirm=False).errors == []
    before = h.org.connectors()
    again = OrgHarness(str(tmp_path))
    assert again.org.connectors() == before
    assert [o.Name for o in again.run("Get-SendConnector").output] == ["Keep"]
    with open(tmp_path / "org.json", encoding="utf-8") as handle:
        assert [c["Name"] for c in json.load(handle)["connectors"]] == ["Keep"]


def test_two_organizations_on_one_state_dir_see_each_other(tmp_path):
    a, b = OrgHarness(str(tmp_path)), OrgHarness(str(tmp_path))
    assert a.run("New-SendConnector", Name="FromA", AddressSpaces=["*"]).errors == []
    assert b.run("New-SendConnector", Name="FromB", AddressSpaces=["contoso.com"]).errors == []
    dup = a.run("New-SendConnector", Name="FromB", AddressSpaces=["*"])
    assert "ADObjectAlreadyExistsException" in dup.errors[0].fully_qualified_error_id
    assert sorted(c["Name"] for c in a.org.connectors()) == ["FromA", "FromB"]


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from exchange_lab.org.testing import OrgHarness
h = OrgHarness(sys.argv[1])
i = 0
print("ready", flush=True)
while True:
    i += 1
    name = f"W{i % 7}"
    h.run("New-SendConnector", Name=name, AddressSpaces=["*"], Comment="x" * 5000)
    h.run("Set-SendConnector", name, Port=1000 + i % 60000)
    h.run("Remove-SendConnector", f"W{(i + 3) % 7}", Confirm=False)
"""


def test_kill_9_mid_write_never_corrupts(tmp_path):
    state = str(tmp_path)
    rng = random.Random(7)
    for _round in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, state, LAB_SRC], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with open(os.path.join(state, "org.json"), encoding="utf-8") as handle:
            data = json.load(handle)  # parses: never torn
        h = OrgHarness(state)  # loads, and clears temp files a killed writer left
        records = h.org.connectors()
        assert records == data["connectors"]
        assert all(r["Name"].startswith("W") and r["Comment"] == "x" * 5000 for r in records)
        assert len({r["Name"] for r in records}) == len(records)
        assert not [f for f in os.listdir(state) if ".tmp." in f]
        assert len(h.run("Get-SendConnector").output) == len(records)


def test_replication_delay_hides_a_write_from_get(tmp_path):
    config = LabConfig(faults=[FaultDef(kind="replication_delay", on_cmdlet=2, seconds=3600)])
    h = OrgHarness(str(tmp_path), config)
    assert h.run("New-SendConnector", Name="First", AddressSpaces=["*"]).errors == []  # cmdlet 1: visible
    assert h.run("New-SendConnector", Name="Late", AddressSpaces=["contoso.com"]).errors == []  # cmdlet 2: delayed
    assert [o.Name for o in h.run("Get-SendConnector").output] == ["First"]
    assert "ManagementObjectNotFoundException" in h.run("Get-SendConnector", "Late").errors[0].fully_qualified_error_id
    assert h.connector("Late") is not None  # written, just not replicated to the DC Get reads
    dup = h.run("New-SendConnector", Name="Late", AddressSpaces=["*"])  # the write itself happened
    assert "ADObjectAlreadyExistsException" in dup.errors[0].fully_qualified_error_id


def test_replication_delay_spares_the_dc_that_took_the_write(tmp_path):
    config = LabConfig(faults=[FaultDef(kind="replication_delay", on_cmdlet=1, seconds=3600),
                               FaultDef(kind="replication_delay", on_cmdlet=2, seconds=3600)])
    h = OrgHarness(str(tmp_path), config)
    assert h.run("New-SendConnector", Name="OnDC01", AddressSpaces=["*"]).errors == []  # the session's DC
    assert h.run("New-SendConnector", Name="OnDC02", AddressSpaces=["a.example"], DomainController="DC02.contoso.com").errors == []
    names = lambda *args, **kw: sorted(o.Name for o in h.run("Get-SendConnector", *args, **kw).output)  # noqa: E731
    assert names() == []  # an unnamed DC: one the writes have not reached
    assert names(DomainController="DC01.contoso.com") == ["OnDC01"]
    assert names(DomainController="dc01") == ["OnDC01"]
    assert names(DomainController="DC02.contoso.com") == ["OnDC02"]
    assert names(DomainController="DC03.contoso.com") == []
    [seen] = h.run("Get-SendConnector", "OnDC01", DomainController="DC01.contoso.com").output
    assert seen.OriginatingServer == "DC01.contoso.com"


def test_replication_delay_ends(tmp_path):
    config = LabConfig(faults=[FaultDef(kind="replication_delay", on_cmdlet=1, seconds=0.3)])
    h = OrgHarness(str(tmp_path), config)
    assert h.run("New-SendConnector", Name="Late", AddressSpaces=["*"]).errors == []
    deadline = time.monotonic() + 20
    while not h.run("Get-SendConnector", "Late").output:
        assert time.monotonic() < deadline, "the delayed write never became visible"
        time.sleep(0.05)
    assert h.run("Set-SendConnector", "Late", Port=26).errors == []


def test_reverted_undoes_a_write_before_the_next_cmdlet(tmp_path):
    config = LabConfig(faults=[FaultDef(kind="reverted", on_cmdlet=1), FaultDef(kind="reverted", on_cmdlet=3)])
    h = OrgHarness(str(tmp_path), config)
    [made] = h.run("New-SendConnector", Name="Gone", AddressSpaces=["*"]).output  # cmdlet 1: answered as usual
    assert made.Name == "Gone"
    assert h.run("Get-SendConnector").output == []  # cmdlet 2: another administrator removed it
    assert h.connector("Gone") is None
    assert h.run("New-SendConnector", Name="AlsoGone", AddressSpaces=["a.example"]).errors == []  # cmdlet 3: undone too
    assert h.connector("AlsoGone") is not None  # the undo waits for the next cmdlet
    assert h.run("Get-SendConnector", "AlsoGone").errors  # cmdlet 4: gone
    config = LabConfig(faults=[FaultDef(kind="reverted", on_cmdlet=2)])
    h = OrgHarness(str(tmp_path / "set"), config)
    assert h.run("New-SendConnector", Name="Changed", AddressSpaces=["*"]).errors == []  # cmdlet 1
    assert h.run("Set-SendConnector", "Changed", Port=2525).errors == []  # cmdlet 2: undone
    [seen] = h.run("Get-SendConnector", "Changed").output  # cmdlet 3
    assert seen.Port == 25


def test_concurrent_threads_lose_no_write(tmp_path):
    h = OrgHarness(str(tmp_path))
    problems: list[str] = []

    def worker(n: int) -> None:
        name = f"T{n}"
        for step in (
            h.run("New-SendConnector", Name=name, AddressSpaces=[f"d{n}.contoso.com"]),
            h.run("Set-SendConnector", name, Port=2000 + n),
        ):
            if step.failure or step.errors:
                problems.append(f"{name}: {step.failure or step.errors}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    records = {r["Name"]: r for r in OrgHarness(str(tmp_path)).org.connectors()}
    assert sorted(records) == sorted(f"T{n}" for n in range(16))
    assert all(records[f"T{n}"]["Port"] == 2000 + n for n in range(16))
    assert h.metrics.snapshot()["writes"] == 32


@pytest.mark.parametrize("bad", ["{", ""])
def test_corrupt_state_is_reported_not_overwritten(tmp_path, bad):
    (tmp_path / "org.json").write_text(bad)
    with pytest.raises(ValueError):
        OrgHarness(str(tmp_path))
    assert (tmp_path / "org.json").read_text() == bad

"""State over the wire: a lab restart keeps users and connectors; 20 concurrent clients lose nothing."""

from __future__ import annotations

import threading

from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell, PSInvocationState

from labfixture import LabProcess

SECRET = "Restart-Secret-7"


def run(pool, name, **params):
    ps = PowerShell(pool)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    return ps


def test_restart_keeps_users_and_connectors(tmp_path):
    state = str(tmp_path / "lab")
    first = LabProcess(state)
    first.start()
    try:
        with first.pool(encryption="never") as pool:
            pool.exchange_keys()
            created = run(pool, "New-SendConnector", Name="Survivor", AddressSpaces=["contoso.com;2"], DNSRoutingEnabled=False,
                          SmartHosts=["relay.contoso.com"], SmartHostAuthMechanism="BasicAuth", Port=2525,
                          AuthenticationCredential=PSCredential(username="relay", password=SECRET))
            assert created.streams.error == []
    finally:
        assert first.stop() == 0
    second = LabProcess(state)
    second.start()
    try:
        assert second.ready["password"] == first.ready["password"]
        assert second.ready["readonly_password"] == first.ready["readonly_password"]
        with second.pool(second.ready["readonly_username"], second.ready["readonly_password"], encryption="never") as pool:
            [kept] = run(pool, "Get-SendConnector", Identity="Survivor").output
        props = kept.adapted_properties
        assert props["Port"] == 2525 and props["SmartHostsString"] == "relay.contoso.com"
        assert props["AuthenticationCredential"].username == "relay"
        # the password went to the store for the mail transport, never to the log or a client
        assert SECRET not in second.log_tail(10_000) and SECRET not in first.log_tail(10_000)
    finally:
        second.stop()


def test_twenty_concurrent_clients(lab):
    problems: list[str] = []
    before = lab.counters().get("writes", 0)

    def client(n: int) -> None:
        name = f"Concurrent {n:02d}"
        try:
            with lab.pool(encryption="never") as pool:
                steps = [
                    run(pool, "New-SendConnector", Name=name, AddressSpaces=[f"d{n}.contoso.com"], SourceTransportServers=["EX01", "EX02"]),
                    run(pool, "Set-SendConnector", Identity=name, Port=3000 + n),
                    run(pool, "Get-SendConnector", Identity=name),
                    run(pool, "Remove-SendConnector", Identity=name, Confirm=False),
                ]
                for ps in steps:
                    if ps.state != PSInvocationState.COMPLETED or ps.streams.error:
                        problems.append(f"{name}: {ps.state} {[str(e) for e in ps.streams.error]}")
                got = steps[2].output
                if len(got) != 1 or got[0].adapted_properties["Port"] != 3000 + n:
                    problems.append(f"{name}: read back {got}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            problems.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    with lab.pool(encryption="never") as pool:
        left = [str(c) for c in run(pool, "Get-SendConnector").output]
    assert not [n for n in left if n.startswith("Concurrent")]
    assert lab.counters()["writes"] - before == 60  # New + Set + Remove for each of the 20 clients


def test_replication_delay_fault(lab_factory):
    lab = lab_factory(config={"faults": [{"on_cmdlet": 2, "kind": "replication_delay", "seconds": 3600}]})
    with lab.pool(encryption="never") as pool:
        assert run(pool, "New-SendConnector", Name="Seen", AddressSpaces=["*"]).streams.error == []  # cmdlet 1
        assert run(pool, "New-SendConnector", Name="Replicating", AddressSpaces=["contoso.com"]).streams.error == []  # cmdlet 2
        listed = [str(c) for c in run(pool, "Get-SendConnector").output]
        missing = run(pool, "Get-SendConnector", Identity="Replicating")
        again = run(pool, "New-SendConnector", Name="Replicating", AddressSpaces=["*"])
    assert "Seen" in listed and "Replicating" not in listed
    assert "ManagementObjectNotFoundException" in missing.streams.error[0].fq_error
    assert "ADObjectAlreadyExistsException" in again.streams.error[0].fq_error  # the write did happen

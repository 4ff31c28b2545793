"""Reliability knobs and life cycle: injected WSMan faults and dropped connections, slow pool
opening, idle pools, SIGTERM/SIGINT, and 20 concurrent clients.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import threading
import time

import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from test_transport_backend import start_lab


def open_pool(lab, **kwargs) -> RunspacePool:
    kwargs.setdefault("encryption", "never" if lab.ready["auth"] == "basic" else "auto")
    pool_kwargs = {k: kwargs.pop(k) for k in ("idle_timeout",) if k in kwargs}
    return RunspacePool(lab.wsman(**kwargs), configuration_name="Microsoft.Exchange", **pool_kwargs)


def echo(p, name="x") -> list:
    ps = PowerShell(p)
    ps.add_cmdlet("Get-LabEcho").add_parameter("Name", name)
    ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED
    return ps.output


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_injected_wsman_fault_and_drop(tmp_path):
    lab = start_lab(
        str(tmp_path), config={"faults": [{"on_request": 1, "kind": "wsman_fault"}, {"on_request": 2, "kind": "drop"}]}
    )
    try:
        with pytest.raises(WSManFaultError) as info:
            open_pool(lab).open()  # request 1: Create -> HTTP 500 WSManFault
        assert info.value.code == 2147500037
        assert "fault injected by the Exchange lab" in info.value.reason
        with pytest.raises(requests.exceptions.ConnectionError):
            open_pool(lab).open()  # request 2: Create -> connection closed without an answer
        with open_pool(lab) as p:  # later requests are served normally
            assert echo(p)[0] == "user=admin"
        counters = lab.counters()
        assert counters["wsman_requests"] >= 6
        assert counters["runspaces_opened"] == 1
        assert "dropping the connection (injected fault)" in lab.log_tail(200)
    finally:
        assert lab.stop() == 0


def test_a_receive_sent_again_after_a_read_timeout_gets_the_same_answer(tmp_path):
    # pypsrp sends a Receive whose HTTP read timed out again, unchanged, and counts on the same answer. The lab sends
    # the reply with the pipeline's output 4 s late; the client (read timeout 2 s) gives up and repeats the Receive.
    # The repeat must get that output, not the next fragments (or none): the output arrives whole, once.
    lab = start_lab(str(tmp_path), config={"faults": [{"on_command": 1, "kind": "receive_late", "seconds": 4}]})
    try:
        with open_pool(lab, operation_timeout=1, read_timeout=2, reconnection_backoff=0.1) as p:
            ps = PowerShell(p)
            ps.add_cmdlet("Get-LabEcho").add_parameter("Count", 2000)  # ~450 KB: several Receives
            ps.invoke()
            assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors
            items = [o for o in ps.output if str(o).startswith("item-")]
            assert items == ["item-%05d-" % i + "x" * 200 for i in range(2000)]
            assert echo(p)[0] == "user=admin"  # later pipelines read normally
        counters = lab.counters()
        assert counters.get("receives_repeated") == 1, counters
        assert "Receive: answering 4.0 s late (injected fault)" in lab.log_tail(200)
    finally:
        assert lab.stop() == 0


def test_slow_runspace_open(tmp_path):
    lab = start_lab(str(tmp_path), config={"latency": {"runspace_open": 1.5}})
    try:
        # A client whose OperationTimeout is shorter than the delay sees WinRM's timeout fault...
        with pytest.raises(WSManFaultError) as info:
            open_pool(lab, operation_timeout=1, read_timeout=5).open()
        assert info.value.code == 2150858793
        # ...one with the default OperationTimeout waits and gets an opened pool.
        with open_pool(lab) as p:
            assert echo(p)[0] == "user=admin"
    finally:
        lab.stop()


def test_idle_pool_is_closed_by_the_server(tmp_path):
    lab = start_lab(str(tmp_path))
    try:
        p = open_pool(lab, idle_timeout=1)
        p.open()
        assert echo(p)[0] == "user=admin"
        assert wait_for(lambda: lab.counters().get("runspaces_closed") == 1)
        assert p.is_alive() is False
    finally:
        lab.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_open_pool(tmp_path, sig):
    lab = start_lab(str(tmp_path))
    p = open_pool(lab)
    p.open()
    assert echo(p)[0] == "user=admin"
    assert lab.stop(sig) == 0
    with pytest.raises(OSError):
        socket.create_connection((lab.ready["host"], lab.ready["port"]), timeout=2).close()
    assert "stopped" in lab.log_tail(5)


def test_twenty_concurrent_clients(tmp_path):
    lab = start_lab(str(tmp_path), auth="ntlm")
    clients = 20

    def client(number: int) -> list:
        with open_pool(lab) as p:
            first = echo(p, f"client-{number}")
            ps = PowerShell(p)
            ps.add_cmdlet("Get-LabThing")
            ps.invoke()
            second = echo(p, f"again-{number}")
            return [first[2], ps.output[0], len(ps.streams.error), second[2]]

    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as executor:
            results = list(executor.map(client, range(clients)))
        for number, result in enumerate(results):
            assert result == [f"Name='client-{number}'", "thing-a", 1, f"Name='again-{number}'"]
        counters = lab.counters()
        assert counters["runspaces_opened"] == clients
        assert counters["runspaces_closed"] == clients
    finally:
        assert lab.stop() == 0


def test_sigterm_while_a_receive_is_held(tmp_path):
    lab = start_lab(str(tmp_path))
    p = open_pool(lab)
    p.open()
    ps = PowerShell(p)
    ps.add_cmdlet("Start-LabSleep").add_parameter("Seconds", 30)
    ps.begin_invoke()
    outcome: list[BaseException | None] = []

    def poll() -> None:
        try:
            ps.poll_invoke()  # the server holds this Receive: the cmdlet has no output yet
            ps.poll_invoke()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            outcome.append(exc)

    waiter = threading.Thread(target=poll)
    waiter.start()
    assert wait_for(lambda: "Receive" in lab.log_tail(3))
    assert lab.stop() == 0  # within LabProcess.stop's own 15 s limit, else it kills and returns -9
    waiter.join(30)
    assert outcome and outcome[0] is not None  # the client learns the pool is gone


def _run(p, name, **params):
    ps = PowerShell(p)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    return ps


@pytest.mark.parametrize("kind, raised", [("write_answer_drop", requests.exceptions.ConnectionError),
                                          ("write_answer_fault", WSManFaultError)])
def test_fault_on_the_answer_of_a_write_applies_the_write(tmp_path, kind, raised):
    """The 2nd write is made, then the reply carrying its result is lost; reads and other writes are untouched."""
    from labfixture import LabProcess

    lab = LabProcess(str(tmp_path), config={"faults": [{"on_write": 2, "kind": kind}]})
    lab.start()
    try:
        with open_pool(lab) as p:
            assert _run(p, "New-SendConnector", Name="First", AddressSpaces=["*"]).streams.error == []  # write 1
            assert len(_run(p, "Get-SendConnector").output) == 1  # reads are not writes
        p = open_pool(lab)
        p.open()
        with pytest.raises(raised):
            _run(p, "Set-SendConnector", Identity="First", Port=2525)  # write 2: applied, answer lost
        with open_pool(lab) as again:
            [conn] = _run(again, "Get-SendConnector", Identity="First").output
            assert conn.adapted_properties["Port"] == 2525
            assert _run(again, "Set-SendConnector", Identity="First", Port=26).streams.error == []  # write 3: normal
        assert lab.counters()["writes"] == 3
        assert "the answer of write 2 gets %s (injected fault)" % kind in lab.log_tail(200)
    finally:
        assert lab.stop() == 0

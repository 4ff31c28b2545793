"""keep_session: several module runs on one Exchange runspace (plugins/module_utils/_remoting/broker.py), over the lab.

The lab counts the runspaces opened and closed; the broker's files are in the lab's own session directory
(``labfixture.session_dir``, MAILFLOW_EXCHANGE_SESSION_DIR), and ``LabProcess.stop`` ends every broker there, also
when a test fails.
"""

from __future__ import annotations

import fcntl
import glob
import os
import stat
import time

import pytest

from send_connector_harness import LabProcess, delta, exchange_env, run_module

from labfixture import alive, broker_pids, end_brokers, session_dir


@pytest.fixture
def lab(tmp_path, monkeypatch):
    proc = LabProcess(str(tmp_path / "lab"), https=True, auth="basic")
    ready = proc.start()
    for name, value in exchange_env(ready).items():
        monkeypatch.setenv(name, value)
    try:
        yield proc
    finally:
        proc.stop()


def module(name, args, workdir):
    """The result of one module run (run_module's, without its output)."""
    return run_module(name, args, workdir)[0]


def brokers(proc):
    return sorted(glob.glob(os.path.join(session_dir(proc.ready), "*.sock")))


def pids(proc):
    return broker_pids(session_dir(proc.ready))


def wait_until(condition, timeout=60.0):
    """Poll for a condition (a process ending on its own); not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def connector(name, **extra):
    return dict({"name": name, "address_spaces": ["SMTP:%s.example;1" % name.lower().replace(" ", "-")],
                 "smart_hosts": ["relay.contoso.com"]}, **extra)


def test_module_runs_share_one_runspace_and_the_last_closes_it(lab, tmp_path):
    before = lab.counters()
    first = module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    assert first["connectors"] == [] and not first.get("failed"), first
    assert len(brokers(lab)) == 1 and len(pids(lab)) == 1
    directory = session_dir(lab.ready)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(brokers(lab)[0]).st_mode) & 0o077 == 0

    # a write with a smart host credential goes through the kept runspace too
    made, output = run_module("send_connector", dict(connector("Kept A"), keep_session=30,
                                                     smart_host_auth_mechanism="BasicAuthRequireTLS",
                                                     authentication_credential={"username": "relay",
                                                                                "password": "kept-secret-1"}),
                              str(tmp_path))
    assert made["changed"] is True and not made.get("failed"), made
    assert "kept-secret-1" not in output
    read = module("send_connector_info", {"name": "Kept A", "keep_session": 30}, str(tmp_path))
    [kept] = read["connectors"]
    assert kept["authentication_credential"] == {"username": "relay"} and kept["smart_hosts"] == ["relay.contoso.com"]
    [pid] = pids(lab)

    last = module("send_connector_info", {}, str(tmp_path))  # keep_session 0: uses it, then closes it
    assert [c["name"] for c in last["connectors"]] == ["Kept A"]
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1, moved
    assert wait_until(lambda: not alive(pid)) and brokers(lab) == [] and pids(lab) == []
    assert delta(before, lab.counters()).get("runspaces_closed") == 1
    for path in glob.glob(os.path.join(directory, "*")):
        with open(path, "rb") as handle:
            assert b"kept-secret-1" not in handle.read() and lab.ready["password"].encode() not in handle.read()


def test_errors_read_the_same_through_a_kept_runspace(lab, tmp_path):
    wanted = connector("Kept Err", max_message_size="3 GB")
    alone = module("send_connector", wanted, str(tmp_path))
    run_module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    shared = module("send_connector", dict(wanted, keep_session=30), str(tmp_path))
    assert alone["failed"] and shared["failed"] and alone["msg"] == shared["msg"], (alone["msg"], shared["msg"])
    assert len(brokers(lab)) == 1  # a refused command leaves the runspace usable


def test_idle_runspace_closes_after_keep_session_seconds(lab, tmp_path):
    before = lab.counters()
    run_module("send_connector_info", {"keep_session": 1}, str(tmp_path))
    [pid] = pids(lab)
    assert wait_until(lambda: not alive(pid)), "the broker outlived keep_session"
    assert brokers(lab) == []
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("runspaces_closed") == 1, moved


def test_another_password_or_user_never_uses_the_kept_runspace(lab, tmp_path, monkeypatch):
    run_module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    before = lab.counters()
    wrong, output = run_module("send_connector_info", {"keep_session": 30, "password": "not-the-password"},
                               str(tmp_path))
    assert wrong["failed"] and "not-the-password" not in output, wrong
    assert "401" in wrong["msg"] or "password" in wrong["msg"] or "rejected" in wrong["msg"], wrong["msg"]
    viewer = module("send_connector_info", {"keep_session": 0, "username": lab.ready["readonly_username"],
                                            "password": lab.ready["readonly_password"]}, str(tmp_path))
    assert not viewer.get("failed"), viewer
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1, moved  # the viewer's own; the wrong password opened none
    assert len(brokers(lab)) == 1  # the admin's runspace is still kept, unused by either
    same = module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    assert not same.get("failed") and delta(before, lab.counters()).get("runspaces_opened") == 1


def test_a_busy_runspace_is_not_waited_for(lab, tmp_path):
    run_module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    [sock] = brokers(lab)
    before = lab.counters()
    with open(sock[:-len(".sock")] + ".lock", "a") as lock:  # another module run holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        other = module("send_connector_info", {"keep_session": 30}, str(tmp_path))
    assert not other.get("failed"), other
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened") == 1 and moved.get("runspaces_closed") == 1, moved  # its own, closed
    assert brokers(lab) == [sock]


def test_a_directory_others_may_enter_is_not_used(tmp_path, monkeypatch):
    proc = LabProcess(str(tmp_path / "lab"), https=True, auth="basic")
    ready = proc.start()
    try:
        for name, value in exchange_env(ready).items():
            monkeypatch.setenv(name, value)
        shared = tmp_path / "open"
        shared.mkdir(mode=0o755)
        os.chmod(shared, 0o755)
        monkeypatch.setenv("MAILFLOW_EXCHANGE_SESSION_DIR", str(shared))
        before = proc.counters()
        result = module("send_connector_info", {"keep_session": 30}, str(tmp_path))
        assert not result.get("failed"), result
        assert os.listdir(shared) == []
        moved = delta(before, proc.counters())
        assert moved.get("runspaces_opened") == 1 and moved.get("runspaces_closed") == 1, moved
    finally:
        end_brokers(str(tmp_path / "open"))
        proc.stop()


def test_a_runspace_that_died_is_replaced_for_a_read(tmp_path, monkeypatch):
    """Exchange restarted between two tasks: the kept runspace is gone, the next task's first read opens its own."""
    state = str(tmp_path / "lab")
    proc = LabProcess(state, https=True, auth="basic")
    ready = proc.start()
    port = ready["port"]
    try:
        for name, value in exchange_env(ready).items():
            monkeypatch.setenv(name, value)
        run_module("send_connector", dict(connector("Kept Restart"), keep_session=30), str(tmp_path))
        [pid] = pids(proc)
        proc.proc.terminate()  # the lab alone, not its brokers (LabProcess.stop would end them first)
        proc.proc.wait(15)
        again = LabProcess(state, https=True, auth="basic", extra_args=["--port", str(port)])
        again.start()
        try:
            read = module("send_connector_info", {"keep_session": 30}, str(tmp_path))
            assert not read.get("failed"), read
            assert [c["name"] for c in read["connectors"]] == ["Kept Restart"]
            assert wait_until(lambda: not alive(pid)), "the broker of the dead runspace is still running"
            counters = again.counters()  # the new lab process's own, counted from its start
            assert counters.get("runspaces_opened") == 1, counters
            assert len(brokers(again)) == 1  # the new runspace is kept in its place
        finally:
            again.stop()
    finally:
        end_brokers(session_dir(ready))
        proc.stop()


def test_a_socket_path_longer_than_a_unix_address_is_bound_relative_to_its_directory(lab, tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("MAILFLOW_EXCHANGE_SESSION_DIR", str(deep))
    before = lab.counters()
    try:
        run_module("send_connector_info", {"keep_session": 30}, str(tmp_path))
        [sock] = glob.glob(str(deep / "*.sock"))
        assert len(os.fsencode(sock)) > 108
        second = module("send_connector_info", {}, str(tmp_path))
        assert not second.get("failed"), second
        moved = delta(before, lab.counters())
        assert moved.get("runspaces_opened") == 1, moved
        assert wait_until(lambda: not glob.glob(str(deep / "*.sock")))
    finally:
        end_brokers(str(deep))

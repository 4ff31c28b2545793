"""smtp_probe ``targets``: many smart hosts, each with its own connector settings, probed concurrently in one module run.

Real SMTP over loopback against the lab's test smart hosts (and, for concurrency, servers that greet only once
every one of them has a client, so a sequential probe cannot pass; no timings asserted).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from send_connector_harness import run_module  # noqa: E402  (the one bootstrap is tests/conftest.py)

from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402
from gated_smtp import gated_servers  # noqa: E402

PASSWORD = "T4rgets-Pass-Word"


@pytest.fixture
def probe(collections_path, tmp_path):
    def run(args: dict) -> tuple[dict, str]:
        return run_module("smtp_probe", args, str(tmp_path), timeout=120)

    return run


@pytest.fixture
def smarthosts(tmp_path):
    started: list[SmartHost] = []

    def make(name: str, **kwargs) -> SmartHost:
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / name), banner_name=name, cert_names=[name], **kwargs))
        started.append(host)
        host.start()
        return host

    yield make
    for host in started:
        host.stop()


def by_label(result: dict) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for finding in result["findings"]:
        out.setdefault(finding["label"], set()).add((finding["severity"], finding["code"]))
    return out


def test_each_target_is_judged_by_its_own_settings_in_one_run(smarthosts, probe, tmp_path):
    secure = smarthosts("secure.contoso.net", starttls=True, auth=["LOGIN"], auth_require_tls=True, users={"relay": PASSWORD})
    plain = smarthosts("plain.contoso.net", auth=["LOGIN"], users={"relay": PASSWORD})
    small = smarthosts("small.contoso.net", starttls=True, size=10 * 1024 * 1024)
    # One CA file for all three (each lab smart host makes its own CA).
    bundle = tmp_path / "cas.pem"
    bundle.write_text("".join(open(h.ready["ca_cert"], encoding="utf-8").read() for h in (secure, small)))
    credential = {"username": "relay", "password": PASSWORD}
    targets = [
        {"host": "secure.contoso.net", "label": "Secure connector", "port": secure.ready["port"], "connect_address": "127.0.0.1",
         "require_tls": True, "tls_auth_level": "domainvalidation", "tls_domain": "secure.contoso.net",
         "smart_host_auth_mechanism": "basicauthrequiretls", "authentication_credential": credential},
        {"host": "plain.contoso.net", "label": "Strict on plain", "port": plain.ready["port"], "connect_address": "127.0.0.1",
         "require_tls": True},
        {"host": "plain.contoso.net", "label": "Opportunistic on plain", "port": plain.ready["port"], "connect_address": "127.0.0.1"},
        {"host": "plain.contoso.net", "label": "BasicAuth in clear", "port": plain.ready["port"], "connect_address": "127.0.0.1",
         "smart_host_auth_mechanism": "BASICAUTH", "authentication_credential": credential},
        {"host": "small.contoso.net", "label": "Big messages", "port": small.ready["port"], "connect_address": "127.0.0.1"},
        {"host": "small.contoso.net", "label": "Small messages", "port": small.ready["port"], "connect_address": "127.0.0.1",
         "max_message_size": "10MB"},
    ]
    result, output = probe({"targets": targets, "ca_cert": str(bundle), "max_message_size": "35 MB", "helo_name": "ex01.contoso.com",
                            "timeout": 8, "fail_on": []})
    assert not result.get("failed"), result.get("msg")
    assert [(p["label"], p["host"], p["port"]) for p in result["probes"]] == [(t["label"], t["host"], t["port"]) for t in targets]
    assert all(f["label"] in {t["label"] for t in targets} for f in result["findings"])
    found = by_label(result)
    assert not any(item[0] == "error" for item in found.get("Secure connector", set())), found
    assert result["probes"][0]["auth"]["login"]["ok"] is True
    assert ("error", "STARTTLS_NOT_OFFERED") in found["Strict on plain"]
    assert ("info", "STARTTLS_NOT_OFFERED") in found["Opportunistic on plain"]
    assert ("error", "AUTH_CLEARTEXT") in found["BasicAuth in clear"] and ("warning", "AUTH_BEFORE_TLS") in found["BasicAuth in clear"]
    assert ("error", "SIZE_TOO_SMALL") in found["Big messages"]  # the top-level 35 MB
    assert "SIZE_TOO_SMALL" not in {item[1] for item in found.get("Small messages", set())}  # its own 10 MB
    # the credential went only where a target gave it, and only where the probe may send it
    assert [e["ok"] for e in secure.events() if e["event"] == "auth"] == [True]
    assert [e["ok"] for e in plain.events() if e["event"] == "auth"] == [True]  # BasicAuth without RequireTLS: in clear, as the connector would
    assert [e for e in small.events() if e["event"] == "auth"] == []
    assert PASSWORD not in output
    assert result["summary"]["error"] == sum(1 for f in result["findings"] if f["severity"] == "error")


def test_targets_are_probed_concurrently_in_one_module_run(probe):
    count = 12
    with gated_servers(count, wait=20) as ports:
        targets = [{"host": "127.0.0.1", "port": port, "label": f"connector {i}"} for i, port in enumerate(ports)]
        result, _output = probe({"targets": targets, "timeout": 25, "fail_on": [], "helo_name": "ex01.contoso.com"})
    assert [p["label"] for p in result["probes"]] == [f"connector {i}" for i in range(count)]
    assert [p["banner"]["code"] if p["banner"] else p["error"] for p in result["probes"]] == [220] * count


def test_the_pool_is_bounded():
    """Never more probes at once than max_parallel, and every target still gets its record.

    The servers hold the first connections without a banner, so each probe that has connected stays busy. While they
    are held (until two are in, then one more second), a pool of 2 cannot open a third connection; a pool with no bound
    opens all five. Only arrivals during that hold are counted: afterwards a worker that has read "221" may connect to
    its next target a moment before the server thread that answered it has finished, which says nothing of the bound.
    """
    import importlib  # pylint: disable=import-outside-toplevel

    engine = importlib.import_module("ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp")
    held = {"now": 0, "max": 0}
    arrived = threading.Condition()
    hold_over = threading.Event()
    listeners = []

    def referee() -> None:
        with arrived:
            arrived.wait_for(lambda: held["now"] >= 2, timeout=10)
        time.sleep(1.0)  # a pool without a bound would connect the others in this time
        hold_over.set()

    def server(listener: socket.socket) -> None:
        try:
            conn = listener.accept()[0]
        except OSError:  # the listener was closed: its target never connected
            return
        with arrived:
            if not hold_over.is_set():
                held["now"] += 1
                held["max"] = max(held["max"], held["now"])
                arrived.notify_all()
        hold_over.wait(15)
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 pool.test\r\n")
            for line in reader:
                quit_ = line.upper().startswith(b"QUIT")
                conn.sendall(b"221 bye\r\n" if quit_ else b"250 pool.test\r\n")
                if quit_:
                    break

    threads = [threading.Thread(target=referee, daemon=True)]
    try:
        for _index in range(5):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(2)
            listeners.append(listener)
            threads.append(threading.Thread(target=server, args=(listener,), daemon=True))
        for thread in threads:
            thread.start()
        settings = [engine.ProbeSettings(host="127.0.0.1", port=s.getsockname()[1], timeout=20, label=str(i)) for i, s in enumerate(listeners)]
        records = engine.probe_hosts(settings, max_parallel=2)
    finally:
        hold_over.set()
        for listener in listeners:
            listener.close()
        for thread in threads:
            thread.join(5)
    assert held["max"] == 2
    assert [r["label"] for r in records] == ["0", "1", "2", "3", "4"] and all(r["banner"]["code"] == 220 for r in records)


def test_every_problem_of_every_target_comes_back_together_before_any_connection(probe):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    targets = [
        {"host": "a.contoso.net", "port": port, "tls_auth_level": "certificatevalidation"},
        {"host": "b.contoso.net", "port": 70000},
        {"host": "c.contoso.net", "port": port, "smart_host_auth_mechanism": "basic"},
        {"host": "d.contoso.net", "port": port, "helo_name": "ex01\r\nRSET"},
        {"host": "not a host", "port": port},
        {"host": "e.contoso.net", "port": port, "max_message_size": "lots", "ignore_starttls": True, "require_tls": True},
        {"host": "f.contoso.net", "port": port, "connect_address": "relay"},
    ]
    try:
        result, _output = probe({"targets": targets, "timeout": 3})
        try:
            listener.accept()[0].close()
            connected = True
        except BlockingIOError:
            connected = False
    finally:
        listener.close()
    assert result["failed"] and "probes" not in result and connected is False
    msg = result["msg"]
    for fragment in (
        "targets[0].require_tls: tls_auth_level needs require_tls true",
        "targets[1].port: 70000 is not a TCP port (1-65535)",
        "targets[2].smart_host_auth_mechanism: 'basic' is not one of None, BasicAuth",
        "targets[3].helo_name: 'ex01\\r\\nRSET' contains a line break",
        "targets[4].host: 'not a host' is neither an IP address nor a",
        "targets[5].max_message_size: 'lots' is not a size",
        "targets[5].ignore_starttls: ignore_starttls must be false when require_tls is true",
        "targets[6].connect_address: 'relay' is not an IP address",
    ):
        assert fragment in msg, (fragment, msg)


def test_a_wrong_top_level_value_is_named_once_under_its_own_name(probe):
    targets = [{"host": "a.contoso.net", "label": "a"}, {"host": "b.contoso.net", "label": "b"}]
    result, _output = probe({"targets": targets, "smart_host_auth_mechanism": "Kerberos", "timeout": 3})
    assert result["failed"]
    assert result["msg"].count("smart_host_auth_mechanism: 'Kerberos' is not one of") == 1
    assert "targets[" not in result["msg"]


@pytest.mark.parametrize(
    "args, words",
    [
        ({"hosts": ["a.contoso.net"], "targets": [{"host": "b.contoso.net"}]}, "hosts and targets: give one of them, not both"),
        ({}, "hosts or targets: give one of them"),
        ({"targets": []}, "targets: give at least one target"),
        ({"targets": [{"host": "a.contoso.net"}], "connect_address": "127.0.0.1"}, "connect_address: give it per target"),
        ({"hosts": ["a.contoso.net"], "timeout": float("inf")}, "timeout: must be a finite number"),
        ({"hosts": ["a.contoso.net"], "timeout": 0}, "timeout: must be a number of seconds above 0"),
    ],
)
def test_hosts_and_targets_rules(probe, args, words):
    result, _output = probe(args)
    assert result["failed"] and words in result["msg"], result["msg"]


def test_a_credential_without_password_is_not_tested(smarthosts, probe):
    """The role passes the connector's user name only when it must not test AUTH (or has no password): no failure, no AUTH."""
    relay = smarthosts("relay.contoso.net", starttls=True, auth=["LOGIN"], users={"relay": PASSWORD})
    target = {"host": "relay.contoso.net", "label": "user only", "port": relay.ready["port"], "connect_address": "127.0.0.1",
              "smart_host_auth_mechanism": "BasicAuthRequireTLS", "authentication_credential": {"username": "relay"}}
    result, _output = probe({"targets": [target], "ca_cert": relay.ready["ca_cert"], "fail_on": [], "timeout": 5})
    assert not result.get("failed"), result.get("msg")
    assert result["probes"][0]["auth"]["login"] is None
    assert ("info", "AUTH_NOT_TESTED") in by_label(result)["user only"]
    assert [e for e in relay.events() if e["event"] == "auth"] == []


def test_send_test_message_goes_through_the_first_target_that_takes_it(smarthosts, probe):
    relay = smarthosts("relay.contoso.net", starttls=True)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down_port = closed.getsockname()[1]
    targets = [{"host": "127.0.0.1", "port": down_port, "label": "down"},
               {"host": "relay.contoso.net", "port": relay.ready["port"], "connect_address": "127.0.0.1", "label": "up", "require_tls": True}]
    result, _output = probe({"targets": targets, "ca_cert": relay.ready["ca_cert"], "fail_on": [], "timeout": 5,
                             "send_test_message": {"from": "chris@contoso.com", "to": ["pat@fabrikam.com"], "subject": "targets"}})
    assert result["changed"] is True and result["test_message"]["queued"] is True
    assert result["test_message"]["port"] == relay.ready["port"] and result["test_message"]["tls"] is True
    (message,) = relay.messages()
    assert message.message_id == result["message_id"] and message.tls

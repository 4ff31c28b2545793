"""smtp_probe names who answered when the port leads to another SMTP server (issue 19, item 9).

A test smart host that greets as another server (its banner name) stands where the connector's port
points; the probe of the intended smart host fails on what that server lacks, and the findings also show
the banner that gives it away. A server greeting under the probed name, or a probe that finds nothing
wrong, gets no such finding.
"""

from __future__ import annotations


import pytest

from send_connector_harness import run_module  # noqa: E402  (the one bootstrap is tests/conftest.py)

from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402

NAME = "relay.contoso.net"
PASSWORD = "Banner-Pr0be-Secret"


@pytest.fixture
def smart_host(tmp_path):
    started = []

    def start(**options) -> dict:
        host = SmartHost(SmartHostConfig(state_dir=str(tmp_path / ("sh%d" % len(started))), **options))
        started.append(host)
        return host.start()

    yield start
    for host in started:
        host.stop()


def probe(collections_path: str, tmp_path, ready: dict, **extra) -> dict:
    args = {"hosts": [NAME], "port": ready["port"], "connect_address": "127.0.0.1", "helo_name": "ex01.contoso.com",
            "timeout": 5, "fail_on": []}
    if ready.get("ca_cert"):
        args["ca_cert"] = ready["ca_cert"]
    args.update(extra)
    result, output = run_module("smtp_probe", args, str(tmp_path))
    assert PASSWORD not in output
    return result


def by_code(result: dict) -> dict:
    return {f["code"]: f for f in result["findings"]}


def test_a_port_of_another_server_shows_its_banner(smart_host, collections_path, tmp_path):
    # The connector's port leads to a plain MTA that greets as mx.other.example: no STARTTLS, no AUTH.
    ready = smart_host(banner_name="mx.other.example")
    result = probe(collections_path, tmp_path, ready, smart_host_auth_mechanism="BasicAuthRequireTLS",
                   authentication_credential={"username": "relay", "password": PASSWORD})
    found = by_code(result)
    assert any(f["severity"] == "error" for f in result["findings"]), result["findings"]
    banner = found.get("BANNER_OTHER_NAME")
    assert banner is not None, result["findings"]
    assert banner["severity"] == "info"
    assert banner["message"].startswith("%s port %d greets as mx.other.example: 220 " % (NAME, ready["port"])), banner
    assert "check the connector's port" in banner["hint"]


def test_the_smart_host_greeting_under_its_own_name_gets_no_banner_finding(smart_host, collections_path, tmp_path):
    ready = smart_host(banner_name=NAME)  # the same failure (no STARTTLS), but it is the smart host itself
    result = probe(collections_path, tmp_path, ready, smart_host_auth_mechanism="BasicAuthRequireTLS",
                   authentication_credential={"username": "relay", "password": PASSWORD})
    assert any(f["severity"] == "error" for f in result["findings"]), result["findings"]
    assert "BANNER_OTHER_NAME" not in by_code(result)


def test_another_name_without_a_problem_is_not_a_finding(smart_host, collections_path, tmp_path):
    ready = smart_host(banner_name="mx01.provider.example")  # a relay service greeting under its own host name
    result = probe(collections_path, tmp_path, ready)
    assert not any(f["severity"] == "error" for f in result["findings"]), result["findings"]
    assert "BANNER_OTHER_NAME" not in by_code(result)

"""send_connector_route against the lab (issue 16 s.4-5): the Exchange side of the route, read in one session.

The lab is configured with certificate stores, sites and roles (``servers[].certificates``), a MaxSendSize
(``transport_config``) and a server that runs the cmdlets other than the one connected to. Each finding the
module reports is provoked here, and the lab's counters prove the cost: at most 4 extra cmdlets per run
whatever the number of connectors, none of them a write.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from send_connector_harness import Ansible, LabProcess, delta

NOW = dt.datetime.now(dt.timezone.utc)
CA = "CN=Contoso Issuing CA, O=Contoso"
SUBJECT = "CN=mail.contoso.com"
CERT_NAME = "<I>%s<S>%s" % (CA, SUBJECT)


def cert(thumb, days_left=365, **kw):
    return dict({"thumbprint": thumb, "issuer": CA, "subject": SUBJECT, "services": ["IIS", "SMTP"],
                 "not_before": (NOW - dt.timedelta(days=30)).isoformat(),
                 "not_after": (NOW + dt.timedelta(days=days_left)).isoformat(), "has_private_key": True,
                 "status": "Valid"}, **kw)


CONFIG = {
    "cmdlet_server": "EX02",
    "transport_config": {"max_send_size": 26214400},
    "servers": [
        {"name": "EX01", "certificates": [cert("A1"), cert("A2", days_left=400)]},  # renewed: A2 is used
        {"name": "EX02", "certificates": [cert("B1", days_left=-2)]},                # expired
        {"name": "EX03", "site": "Branch-Site", "certificates": [cert("C1", days_left=20)]},
        {"name": "EX04", "certificates": [cert("D1", has_private_key=False, services=["IIS"])]},
        {"name": "EX05", "certificates": []},
        {"name": "CAS01", "roles": ["ClientAccess"], "certificates": []},
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("route-lab")), auth="basic", config=CONFIG)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ansible(lab, tmp_path_factory):
    return Ansible(lab, str(tmp_path_factory.mktemp("plays")))


def check(ansible, connectors=None, **options):
    args = dict(options)
    if connectors is not None:
        args["connectors"] = connectors
    task = "- name: route\n  mailflow.exchange.send_connector_route: %s\n  register: route\n  ignore_errors: true\n" % (
        yaml.safe_dump(args, default_flow_style=True, width=100000).strip() if args else "{}")
    return ansible.play(task).result("route")


def codes(res, server=None):
    return sorted((f["code"], f["server"]) for f in res["findings"] if server is None or f["server"] == server)


def test_certificate_findings_per_source_server(ansible):
    res = check(ansible, [{"name": "Route", "source_transport_servers": ["EX01", "EX02", "EX03", "EX04", "EX05"],
                           "tls_certificate_name": CERT_NAME}], fail_on=[])
    assert not res["failed"], res
    found = {(f["code"], f["server"]): f for f in res["findings"]}
    assert ("certificate_duplicate", "EX01") in found and "Exchange uses A2" in found[("certificate_duplicate", "EX01")]["message"]
    assert found[("certificate_expired", "EX02")]["severity"] == "error"
    assert found[("certificate_expiring", "EX03")]["severity"] == "warning"
    assert found[("certificate_no_private_key", "EX04")]["severity"] == "error"
    assert found[("certificate_not_smtp", "EX04")]["severity"] == "warning"
    missing = found[("certificate_missing", "EX05")]
    assert missing["severity"] == "error"
    assert "TLS negotiation failed with error UnknownCredentials" in missing["meets"]
    assert "421 4.4.1 Connection timed out" in missing["meets"]
    assert all(f["hint"] for f in res["findings"])
    servers = {s["name"]: s for s in res["connectors"][0]["servers"]}
    assert servers["EX01"]["certificate"]["thumbprint"] == "A2"
    assert res["findings"][0]["severity"] == "error"  # errors first


def test_source_server_findings(ansible):
    res = check(ansible, [
        {"name": "Missing", "source_transport_servers": ["EX09"]},
        {"name": "Not mailbox", "source_transport_servers": ["CAS01"]},
        {"name": "Scoped", "source_transport_servers": ["EX01", "EX03"], "is_scoped_connector": True},
        {"name": "Unscoped", "source_transport_servers": ["EX01", "EX03"]},
        {"name": "New, nobody named servers"},
    ], fail_on=[])
    by = {}
    for f in res["findings"]:
        by.setdefault(f["connector"], []).append(f["code"])
    assert by["Missing"] == ["source_server_missing"]
    assert by["Not mailbox"] == ["source_server_not_mailbox"]
    assert by["Scoped"] == ["source_server_other_site"]
    assert "Unscoped" not in by
    assert by["New, nobody named servers"] == ["source_servers_default"]


def test_sizes_and_front_end_proxy(ansible):
    res = check(ansible, [
        {"name": "Big", "max_message_size": "35MB", "smart_hosts": ["relay.contoso.net"], "source_transport_servers": ["EX01"]},
        {"name": "Fits", "max_message_size": "10MB", "smart_hosts": ["relay.contoso.net"], "source_transport_servers": ["EX01"]},
        {"name": "Proxied", "frontend_proxy_enabled": True, "source_transport_servers": ["EX03"]},
    ], smart_host_sizes={"relay.contoso.net": 20971520}, fail_on=[])
    by = {}
    for f in res["findings"]:
        by.setdefault(f["connector"], {})[f["code"]] = f
    assert set(by["Big"]) == {"max_size_above_org", "max_size_above_smart_host"}
    assert "20,971,520 / 1.33" in by["Big"]["max_size_above_smart_host"]["message"]
    assert "5.2.3" in by["Big"]["max_size_above_org"]["meets"]
    assert "Fits" not in by
    assert res["max_send_size"] == 26214400
    assert "EX03" in by["Proxied"]["frontend_proxy"]["message"] and "EX01" not in by["Proxied"]["frontend_proxy"]["message"]


def test_sizes_from_smtp_probe_probes(ansible):
    probes = [{"host": "relay.contoso.net", "ehlo": {"size": 52428800}, "ehlo_tls": {"size": 20971520}}]
    res = check(ansible, [{"name": "Big", "max_message_size": "20MB", "smart_hosts": ["relay.contoso.net"],
                           "source_transport_servers": ["EX01"]}], probes=probes, fail_on=[])
    assert [f["code"] for f in res["findings"]] == ["max_size_above_smart_host"]


def test_fail_on_error_fails_with_every_hint(ansible):
    res = check(ansible, [{"name": "Route", "source_transport_servers": ["EX05"], "tls_certificate_name": CERT_NAME}])
    assert res["failed"] and "certificate_missing" not in res["msg"]
    assert "EX05" in res["msg"] and "hint:" in res["msg"]


def test_cost_is_per_run_not_per_connector(ansible, lab):
    fifty = [{"name": "Bulk %02d" % i, "source_transport_servers": ["EX01"], "tls_certificate_name": CERT_NAME,
              "max_message_size": "10MB"} for i in range(50)]
    before = lab.counters()
    res = check(ansible, fifty, fail_on=[])
    moved = delta(before, lab.counters())
    assert not res["failed"], res
    assert len(res["connectors"]) == 50
    cmdlets = {k: v for k, v in moved.items() if k.startswith("cmdlet:")}
    assert cmdlets == {"cmdlet:Get-ExchangeServer": 1, "cmdlet:Get-TransportConfig": 1, "cmdlet:Get-TransportService": 1,
                       "cmdlet:Get-ExchangeCertificate": 1}, moved
    assert moved.get("runspaces_opened") == 1 and not moved.get("writes"), moved
    assert res["cmdlets"] == ["Get-ExchangeServer", "Get-TransportConfig", "Get-TransportService",
                              "Get-ExchangeCertificate -Server EX01"]


def test_without_connectors_reads_them_all(ansible, lab):
    made = ansible.play("- name: make\n  mailflow.exchange.send_connector:\n    name: Existing\n"
                        "    address_spaces: ['e.example']\n    dns_routing_enabled: true\n    source_transport_servers: [EX01]\n"
                        "    tls_certificate_name: '%s'\n" % CERT_NAME).result("make")
    assert made["changed"] and not made["failed"], made
    res = check(ansible, fail_on=[])
    assert res["cmdlets"][0] == "Get-SendConnector"
    [existing] = [c for c in res["connectors"] if c["name"] == "Existing"]
    assert existing["servers"][0]["certificate"]["thumbprint"] == "A2"
    assert ("certificate_duplicate", "EX01") in [(f["code"], f["server"]) for f in res["findings"] if f["connector"] == "Existing"]


@pytest.mark.parametrize("bad, words", [
    ({"connectors": [{"source_transport_servers": ["EX01"]}]}, "connectors[0].name: is required"),
    ({"connectors": [{"name": "x", "tls_certificate_name": "mail.contoso.com"}]}, "connectors[0].tls_certificate_name"),
    ({"connectors": [{"name": "x", "max_message_size": "lots"}]}, "connectors[0].max_message_size"),
    ({"smart_host_sizes": {"relay": "big"}}, "smart_host_sizes.relay"),
    ({"fail_on": ["fatal"]}, "fail_on"),
])
def test_bad_input_is_refused_before_any_call(ansible, lab, bad, words):
    before = lab.counters()
    task = "- name: route\n  mailflow.exchange.send_connector_route: %s\n  register: route\n  ignore_errors: true\n" % (
        yaml.safe_dump(bad, default_flow_style=True, width=100000).strip())
    res = ansible.play(task).result("route")
    assert res["failed"] and words in res["msg"], res
    assert not any(k.startswith(("cmdlet", "runspaces")) for k in delta(before, lab.counters()))

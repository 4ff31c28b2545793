"""The role's preflight checks the Exchange side of the route (issue 16 s.4) and stops before any write.

One lab with certificate stores, sites and roles (``servers[].certificates``) and a test smart host; each
case runs the main playbook for one connector whose source server or certificate has one problem, and the
lab's ``writes`` counter proves that nothing was changed. A good set-up passes and is applied. A TLS send
whose source server cannot present its certificate fails with Exchange's texts and the trace hint points
at the certificate.
"""

from __future__ import annotations

import datetime as dt

import pytest

from role_lab import APPLY, lab_with_smart_host
from role_lab import run_playbook

NOW = dt.datetime.now(dt.timezone.utc)
CA = "CN=Contoso Issuing CA, O=Contoso"
SUBJECT = "CN=ex.contoso.com"
CERT_NAME = "<I>%s<S>%s" % (CA, SUBJECT)


def cert(thumb, days_left=365, **kw):
    return dict({"thumbprint": thumb, "issuer": CA, "subject": SUBJECT, "services": ["SMTP"],
                 "not_before": (NOW - dt.timedelta(days=30)).isoformat(),
                 "not_after": (NOW + dt.timedelta(days=days_left)).isoformat(), "has_private_key": True,
                 "status": "Valid"}, **kw)


LAB = {
    "cmdlet_server": "EX02",
    "transport_config": {"max_send_size": 36700160},
    "servers": [
        {"name": "EX01", "certificates": [cert("A1")]},
        {"name": "EX02", "certificates": []},
        {"name": "EX03", "site": "Branch-Site", "certificates": [cert("C1")]},
        {"name": "EX04", "certificates": [cert("D1", days_left=-3)]},
        {"name": "EX05", "certificates": [cert("E1", has_private_key=False)]},
        {"name": "EX06", "certificates": [cert("F1", status="Revoked")]},
        {"name": "EX07", "certificates": [cert("0B1", days_left=10)]},
        {"name": "EX08", "certificates": [cert("0C1", services=["IIS"])]},
        {"name": "EX10", "certificates": [cert("0D1", days_left=100), cert("0D2", days_left=300)]},
        {"name": "CAS01", "roles": ["ClientAccess"], "certificates": []},
    ],
}
WARNINGS = ["error", "warning"]
# (label, source servers, extra connector settings, fail_on, expected code, server named)
CASES = [
    ("missing", ["EX02"], {}, None, "certificate_missing", "EX02"),
    ("expired", ["EX04"], {}, None, "certificate_expired", "EX04"),
    ("no-private-key", ["EX05"], {}, None, "certificate_no_private_key", "EX05"),
    ("revoked", ["EX06"], {}, None, "certificate_status", "EX06"),
    ("expiring", ["EX07"], {}, WARNINGS, "certificate_expiring", "EX07"),
    ("not-smtp", ["EX08"], {}, WARNINGS, "certificate_not_smtp", "EX08"),
    ("duplicate", ["EX10"], {}, WARNINGS, "certificate_duplicate", "EX10"),
    ("second-server", ["EX01", "EX02"], {}, None, "certificate_missing", "EX02"),
    ("server-missing", ["EX09"], {}, None, "source_server_missing", "EX09"),
    ("not-mailbox", ["CAS01"], {}, None, "source_server_not_mailbox", "CAS01"),
    ("other-site", ["EX01", "EX03"], {"is_scoped_connector": True}, None, "source_server_other_site", "EX03"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_with_smart_host(str(tmp_path_factory.mktemp("services")), starttls=True, lab_config=LAB) as running:
        yield running


def settings(sources, extra, name):
    return {"smart_host_connector_name": name, "smart_host_source_servers": sources,
            "smart_host_address_spaces": ["SMTP:%s.example;1" % name.lower().replace(" ", "-")],
            "smart_host_connector_settings": dict({"tls_certificate_name": CERT_NAME, "require_tls": True}, **extra)}


@pytest.mark.parametrize("label, sources, extra, fail_on, code, server", CASES, ids=[c[0] for c in CASES])
def test_preflight_stops_before_any_write(lab, tmp_path, label, sources, extra, fail_on, code, server):
    extra_vars = settings(sources, extra, "Route %s" % label)
    extra_vars["smart_host_routing_verify"] = False
    if fail_on:
        extra_vars["smart_host_routing_fail_on"] = fail_on
    before = lab["lab"].counters().get("writes", 0)
    run = run_playbook(lab, tmp_path, extra_vars)
    assert run.rc != 0, run.output[-4000:]
    stop = run.task("Preflight | Stop before any change when a smart host cannot work with its connector")
    assert stop["status"] == "failed"
    message = stop["result"]["msg"]
    assert "no connector was changed" in message
    assert "(%s)" % code in message and " on %s:" % server in message, message
    assert "hint:" in message and "otherwise:" in message
    assert lab["lab"].counters().get("writes", 0) == before
    assert not [r for r in run.records if r["task"].startswith("Apply")]


def test_a_good_set_up_passes_preflight_and_is_applied(lab, tmp_path):
    before = lab["lab"].counters()
    extra_vars = settings(["EX01"], {}, "Route good")
    extra_vars["smart_host_routing_verify"] = False
    run = run_playbook(lab, tmp_path, extra_vars)
    assert run.rc == 0, run.output[-6000:]
    route = run.task(APPLY)["result"]["preflight"]["route"]
    assert [f for f in route["findings"] if f["severity"] == "error"] == [], route["findings"]
    assert route["connectors"][0]["servers"][0]["certificate"]["thumbprint"] == "A1"
    after = lab["lab"].counters()
    assert after.get("writes", 0) == before.get("writes", 0) + 1
    # one extra read of each kind, whatever the number of connectors
    for cmdlet in ("Get-ExchangeServer", "Get-TransportConfig", "Get-TransportService", "Get-ExchangeCertificate"):
        assert after.get("cmdlet:" + cmdlet, 0) - before.get("cmdlet:" + cmdlet, 0) == 1, cmdlet


def test_named_source_servers_are_passed_and_nobody_naming_them_is_said(lab, tmp_path):
    named = settings(["EX03"], {}, "Route named")
    named["smart_host_connector_settings"] = {}
    named["smart_host_routing_verify"] = False
    run = run_playbook(lab, tmp_path, named)
    assert run.rc == 0, run.output[-6000:]
    assert "-SourceTransportServers EX03" in " ".join(run.report[0]["commands"])
    nobody = {"smart_host_connectors": [{"name": "Route nobody", "address_spaces": ["SMTP:nobody.example;1"],
                                         "dns_routing_enabled": False, "smart_hosts": ["smarthost.lab.test"],
                                         "port": lab["smart_host"].ready["port"]}],
              "smart_host_routing_verify": False}
    run = run_playbook(lab, tmp_path, nobody)
    assert run.rc == 0, run.output[-6000:]
    route = run.task(APPLY)["result"]["preflight"]["route"]
    assert "source_servers_default" in [f["code"] for f in route["findings"] if f["connector"] == "Route nobody"]
    assert "-SourceTransportServers" not in " ".join(run.report[0]["commands"])


def test_without_preflight_the_trace_hint_points_at_the_local_certificate(lab, tmp_path):
    # EX04 holds the certificate, expired: Exchange accepts the connector (the certificate exists) and every
    # TLS send from EX04 then fails with UnknownCredentials and a time-out in the queue.
    extra_vars = settings(["EX04"], {}, "Route expired")
    extra_vars.update(smart_host_routing_preflight=False, smart_host_routing_trace_timeout=30,
                      smart_host_routing_trace_poll_interval=1, smart_host_smart_hosts=["smarthost.lab.test"],
                      smart_host_routing_test_recipient="pat@fabrikam.example")
    extra_vars["smart_host_address_spaces"] = ["SMTP:fabrikam.example;1"]
    run = run_playbook(lab, tmp_path, extra_vars)
    assert run.rc != 0
    [summary] = run.report
    trace = summary["trace"]
    assert "421 4.4.1 Connection timed out" in (trace.get("last_error") or "") + str(trace.get("events")), trace
    assert "tls_certificate_name" in trace["hint"] and "UnknownCredentials" in trace["hint"], trace["hint"]

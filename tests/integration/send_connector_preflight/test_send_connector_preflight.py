"""send_connector_preflight against the lab and a test smart host: the plan, the probe and the route check in one run.

It must give what the three modules it stands for give (send_connectors in check mode, smtp_probe on the probe
targets of that plan, send_connector_route on the planned connectors with those probes), in one session, and write
nothing. The lab's counters prove the session and the writes; the module's results are compared with the three
modules' own results, run in the same play.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from role_lab import lab_with_smart_host
from send_connector_harness import Ansible, delta

NOW = dt.datetime.now(dt.timezone.utc)
CA = "CN=Contoso Issuing CA, O=Contoso"
SUBJECT = "CN=ex.contoso.com"
CERT_NAME = "<I>%s<S>%s" % (CA, SUBJECT)
SMART_HOST = "smarthost.lab.test"


def cert(thumb, days_left=365):
    return {"thumbprint": thumb, "issuer": CA, "subject": SUBJECT, "services": ["SMTP"], "has_private_key": True,
            "status": "Valid", "not_before": (NOW - dt.timedelta(days=30)).isoformat(),
            "not_after": (NOW + dt.timedelta(days=days_left)).isoformat()}


LAB = {"transport_config": {"max_send_size": 36700160},
       "servers": [{"name": "EX01", "certificates": [cert("A1")]}, {"name": "EX02", "certificates": [cert("B1", -3)]}]}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with lab_with_smart_host(str(tmp_path_factory.mktemp("preflight")), starttls=True, lab_config=LAB) as running:
        yield running


@pytest.fixture(scope="module")
def ansible(services, tmp_path_factory):
    return Ansible(services["lab"], str(tmp_path_factory.mktemp("plays")))


def items(services, **extra):
    port = services["smart_host"].ready["port"]
    base = {"smart_hosts": [SMART_HOST], "dns_routing_enabled": False, "usage": "Custom", "port": port,
            "source_transport_servers": ["EX01"], "smart_host_auth_mechanism": "None"}
    return [dict(base, name="Preflight A", address_spaces=["SMTP:a.preflight.example;1"], **extra),
            dict(base, name="Preflight B", address_spaces=["SMTP:b.preflight.example;1"], require_tls=True,
                 tls_certificate_name=CERT_NAME, source_transport_servers=["EX01", "EX02"])]


def probe_options(services):
    return {"ca_cert": services["smart_host"].ready.get("ca_cert"), "timeout": 10,
            "connect_addresses": {SMART_HOST: services["smart_host"].ready["host"]}, "helo_name": "ex01.contoso.com"}


def task(name, module, args, **more):
    entry = {"name": name, module: args, "register": name.replace(" ", "_"), "ignore_errors": True}
    entry.update(more)
    return entry


def play(ansible, tasks, vars_=None):
    return ansible.play(yaml.safe_dump(tasks, sort_keys=False), vars_=vars_)


def test_one_run_gives_what_the_three_modules_give_in_one_session_and_writes_nothing(services, ansible):
    lab = services["lab"]
    wanted = items(services)
    play(ansible, [task("create", "mailflow.exchange.send_connectors", {"connectors": [wanted[0]]})])  # A exists, B not
    wanted[0] = dict(wanted[0], max_message_size="20MB")  # a change the plan must show, not make
    probe = probe_options(services)
    before = lab.counters()
    run = play(ansible, [task("preflight", "mailflow.exchange.send_connector_preflight",
                              {"connectors": wanted, "probe": probe, "fail_on": []})])
    moved = delta(before, lab.counters())
    res = run.result("preflight")
    assert not res.get("failed"), res
    assert moved.get("runspaces_opened") == 1 and moved.get("writes", 0) == 0, moved
    assert moved.get("cmdlet:Get-SendConnector") == 1, moved

    # the same, module by module, in one play (the probe targets as the role's filter builds them)
    separate = play(ansible, [
        task("plan", "mailflow.exchange.send_connectors", {"connectors": wanted}, check_mode=True),
        task("probe", "mailflow.exchange.smtp_probe", {
            "targets": "{{ plan | mailflow.exchange.smart_host_routing_probe_targets(wanted, connect_addresses=addresses, "
                       "helo_name='ex01.contoso.com') }}", "ca_cert": probe["ca_cert"], "timeout": 10, "fail_on": []}),
        task("route", "mailflow.exchange.send_connector_route", {
            "connectors": "{{ plan.results | selectattr('state', 'equalto', 'present') | map(attribute='connector') | list }}",
            "probes": "{{ probe.probes }}", "fail_on": []}),
    ], vars_={"wanted": wanted, "addresses": probe["connect_addresses"]})
    plan, probed, route = separate.result("plan"), separate.result("probe"), separate.result("route")

    assert res["results"] == plan["results"] and res["commands"] == plan["commands"]
    assert [r["changed"] for r in res["results"]] == [True, True]  # what would change: B created, A's size
    assert any("Set-SendConnector" in c and "-MaxMessageSize" in c for c in res["commands"])
    assert any(c.startswith("New-SendConnector") for c in res["commands"])

    def probe_view(result):
        return ([(p["host"], p.get("label"), (p.get("ehlo_tls") or p.get("ehlo") or {}).get("size")) for p in result["probes"]],
                sorted((f["label"], f["code"], f["severity"]) for f in result["findings"]), result["summary"])

    assert probe_view(res["probe"]) == probe_view(probed)
    assert [p["label"] for p in res["probe"]["probes"]] == ["Preflight A", "Preflight B"]  # B requires TLS: its own target

    def route_view(result):
        return sorted((f["connector"], f["server"] or "", f["code"], f["severity"]) for f in result["findings"]), result["max_send_size"]

    assert route_view(res["route"]) == route_view(route)
    assert ("Preflight B", "EX02", "certificate_expired", "error") in route_view(res["route"])[0]
    assert res["route"]["cmdlets"] == route["cmdlets"]


def test_fail_on_fails_on_either_check_and_every_result_is_returned(services, ansible):
    run = play(ansible, [task("preflight", "mailflow.exchange.send_connector_preflight",
                              {"connectors": items(services), "probe": probe_options(services)})])
    res = run.result("preflight")
    assert res["failed"] and res["msg"].startswith("send_connector_preflight: "), res
    assert "Preflight B on EX02" in res["msg"] and "hint:" in res["msg"]
    assert res["results"] and res["probe"]["probes"] and res["route"]["findings"]


def test_probe_disabled_probes_nothing_and_route_knows_no_size(services, ansible):
    run = play(ansible, [task("preflight", "mailflow.exchange.send_connector_preflight",
                              {"connectors": items(services), "probe": {"enabled": False}, "fail_on": []})])
    res = run.result("preflight")
    assert not res.get("failed"), res
    assert "probe" not in res
    assert all(not c.get("smart_host_sizes") for c in res["route"]["connectors"]), res["route"]["connectors"]


@pytest.mark.parametrize("args, words", [
    ({"probe": {"timeout": 0}}, "probe.timeout: must be a number of seconds above 0 and at most 3600"),
    ({"probe": {"ca_cert": "/nonexistent/ca.pem"}}, "probe.ca_cert: /nonexistent/ca.pem does not exist"),
    ({"probe": {"helo_name": "bad name\r\nRSET"}}, "probe.helo_name:"),
    ({"probe": {"tiemout": 5}}, "tiemout"),
    # the probe's rule for connect_address (an IP address), before any session rather than after the plan
    ({"probe": {"connect_addresses": {SMART_HOST: "relay.example"}}},
     "probe.connect_addresses.%s: 'relay.example' is not an IP address" % SMART_HOST),
    ({"connectors": [{"name": "X", "address_spaces": ["a.example"], "port": "abc"}]}, "connectors[0].port"),
])
def test_bad_input_is_refused_before_any_connection(services, ansible, args, words):
    lab = services["lab"]
    base = {"connectors": [{"name": "X", "address_spaces": ["a.example"], "smart_hosts": [SMART_HOST],
                            "dns_routing_enabled": False}]}
    base.update(args)
    before = lab.counters()
    run = play(ansible, [task("preflight", "mailflow.exchange.send_connector_preflight", base)])
    res = run.result("preflight")
    assert res["failed"] and words in res["msg"], res["msg"]
    assert "Traceback" not in res["msg"]
    assert delta(before, lab.counters()).get("runspaces_opened", 0) == 0


def test_the_same_item_problem_in_the_same_words_as_send_connectors(services, ansible):
    bad = [{"name": "X", "address_spaces": ["a.example"], "port": 70000}]
    run = play(ansible, [task("preflight", "mailflow.exchange.send_connector_preflight", {"connectors": bad}),
                         task("items", "mailflow.exchange.send_connectors", {"connectors": bad})])
    assert run.result("preflight")["msg"] == run.result("items")["msg"].replace("send_connectors", "send_connector_preflight")


# --- send_connectors' preflight option: the same checks before the first write, on the same read -------------------

def renamed(wanted, suffix):
    return [dict(item, name=item["name"] + suffix,
                 address_spaces=[a.replace(".example", suffix.strip().lower() + ".example") for a in item["address_spaces"]])
            for item in wanted]


def test_send_connectors_checks_first_and_writes_on_its_one_read(services, ansible):
    """The checks are send_connector_preflight's (the same probe and route results for the same connectors), and the
    writes follow in the same run: one session, one read of the connectors, then the writes."""
    lab = services["lab"]
    first = items(services)[0]  # EX01 only: no error finding; two connectors, so one read of them all
    wanted = renamed([first, dict(first, name="Preflight C", address_spaces=["SMTP:c.preflight.example;1"])], " Gate1")
    probe = probe_options(services)
    alone = play(ansible, [task("alone", "mailflow.exchange.send_connector_preflight",
                                {"connectors": wanted, "probe": probe, "fail_on": ["error"]})]).result("alone")
    assert not alone.get("failed"), alone
    before = lab.counters()
    run = play(ansible, [task("apply", "mailflow.exchange.send_connectors",
                              {"connectors": wanted, "preflight": {"probe": probe, "fail_on": ["error"]}})])
    moved = delta(before, lab.counters())
    res = run.result("apply")
    assert not res.get("failed") and res["changed"], res
    assert moved.get("runspaces_opened") == 1 and moved.get("cmdlet:Get-SendConnector") == 1 and moved.get("writes") == 2, moved
    assert res["preflight"]["stopped"] is False
    assert [p["host"] for p in res["preflight"]["probe"]["probes"]] == [p["host"] for p in alone["probe"]["probes"]]
    assert sorted(f["code"] for f in res["preflight"]["probe"]["findings"]) == sorted(f["code"] for f in alone["probe"]["findings"])
    assert res["preflight"]["route"]["findings"] == alone["route"]["findings"]
    assert res["preflight"]["route"]["cmdlets"] == alone["route"]["cmdlets"]
    assert [r["written"] for r in res["results"]] == [True, True] and res["commands"][0].startswith("New-SendConnector")
    assert [r["connector"] for r in res["results"]] == [r["connector"] for r in alone["results"]]


def test_send_connectors_stops_before_any_write_on_a_finding_in_fail_on(services, ansible):
    lab = services["lab"]
    wanted = renamed(items(services), " Gate2")  # B's certificate is expired on EX02: an error
    before = lab.counters()
    run = play(ansible, [task("apply", "mailflow.exchange.send_connectors",
                              {"connectors": wanted, "preflight": {"probe": probe_options(services)}})])
    moved = delta(before, lab.counters())
    res = run.result("apply")
    assert res["failed"] and not res["changed"], res
    assert res["msg"].startswith("send_connectors: the preflight checks stopped the run before any write: "), res["msg"]
    assert "1 route finding(s) of severity error: Preflight B Gate2 on EX02: certificate B1" in res["msg"], res["msg"]
    assert moved.get("writes", 0) == 0 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert res["preflight"]["stopped"] is True and res["commands"] == []
    assert [(r["name"], r["changed"], r["written"]) for r in res["results"]] == [
        ("Preflight A Gate2", True, False), ("Preflight B Gate2", True, False)]
    assert any(f["code"] == "certificate_expired" for f in res["preflight"]["route"]["findings"])
    listed = play(ansible, [task("info", "mailflow.exchange.send_connector_info", {})]).result("info")
    assert not [c for c in listed["connectors"] if c["name"].endswith("Gate2")]


def test_send_connectors_preflight_in_check_mode_checks_and_writes_nothing(services, ansible):
    lab = services["lab"]
    wanted = renamed(items(services)[:1], " Gate3")
    before = lab.counters()
    run = play(ansible, [task("apply", "mailflow.exchange.send_connectors",
                              {"connectors": wanted, "preflight": {"probe": probe_options(services)}}, check_mode=True),
                         task("plan", "mailflow.exchange.send_connectors", {"connectors": wanted}, check_mode=True)])
    res, plan = run.result("apply"), run.result("plan")
    assert not res.get("failed") and res["changed"] and res["preflight"]["stopped"] is False, res
    assert delta(before, lab.counters()).get("writes", 0) == 0
    assert res["results"] == plan["results"] and res["commands"] == plan["commands"]
    assert res["preflight"]["probe"]["probes"]


def test_send_connectors_preflight_bad_input_before_any_connection(services, ansible):
    lab = services["lab"]
    before = lab.counters()
    run = play(ansible, [task("apply", "mailflow.exchange.send_connectors", {
        "connectors": [{"name": "X", "address_spaces": ["a.example"]}],
        "preflight": {"probe": {"timeout": 0, "connect_addresses": {SMART_HOST: "relay.example"}}, "fail_on": ["fatal"]}})])
    res = run.result("apply")
    assert res["failed"] and "Traceback" not in res["msg"], res
    assert "preflight.fail_on" in res["msg"] or "fail_on" in res["msg"], res["msg"]
    assert delta(before, lab.counters()).get("runspaces_opened", 0) == 0

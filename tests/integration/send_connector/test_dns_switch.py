"""Switching a smart-host connector to DNS routing (issue 16 s.3), through send_connectors against the lab.

Exchange clears SmartHosts, sets SmartHostAuthMechanism None and drops the stored credential; the plan
(check mode), the --diff and a warning say so before anything changes, and the lab (the oracle) ends in
the state the plan predicted.
"""

from __future__ import annotations

import yaml

from send_connector_harness import delta

SH = {"name": "Switch me", "address_spaces": ["switch.example"], "smart_hosts": ["relay.contoso.net"],
      "smart_host_auth_mechanism": "BasicAuth",
      "authentication_credential": {"username": "relay", "password": "Switch-Secret-1"}}


def run(ansible, connectors, *args):
    task = "- name: bulk\n  mailflow.exchange.send_connectors:\n    connectors: %s\n  register: bulk\n  ignore_errors: true\n" % (
        yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip())
    return ansible.play(task, args=args).result("bulk")


def test_switch_to_dns_is_planned_warned_and_matches_exchange(ansible, lab):
    made = run(ansible, [SH])
    assert made["changed"] and not made["failed"], made
    switch = [{"name": "Switch me", "dns_routing_enabled": True}]
    before = lab.counters()
    planned = run(ansible, switch, "--check", "--diff")
    assert planned["changed"] and not planned["failed"], planned
    assert not delta(before, lab.counters()).get("writes")
    [result] = planned["results"]
    after = result["diff"]["after"]
    assert after.get("smart_hosts") in ([], None) and after["smart_host_auth_mechanism"] == "None"
    assert "authentication_credential" not in after and result["diff"]["before"]["authentication_credential"]["username"] == "relay"
    warning = " ".join(planned.get("warnings") or [])
    assert "switching to DNS routing" in warning and "relay.contoso.net" in warning and "user relay" in warning
    assert "Switch-Secret-1" not in str(planned)
    done = run(ansible, switch)
    assert done["changed"] and not done["failed"], done
    assert done["results"][0]["commands"] == ["Set-SendConnector -Identity 'Switch me' -DNSRoutingEnabled $true"]
    # Exchange (the lab) did what the plan said, so a second run changes nothing
    again = run(ansible, switch)
    assert not again["changed"] and not again["failed"], again
    info = ansible.play("- name: info\n  mailflow.exchange.send_connector_info:\n    name: Switch me\n").result("info")
    [connector] = info["connectors"]
    assert connector["smart_hosts"] == [] and connector["smart_host_auth_mechanism"] == "None"
    assert connector["authentication_credential"] is None

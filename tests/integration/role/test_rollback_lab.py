"""smart_host_routing_rollback over the Exchange lab: the role points the connector at a smart host that refuses to
relay (5xx), with preflight off; the verification fails, every changed connector goes back to its snapshot in one
send_connectors run, the play says what was restored and why, the lab's state equals the snapshot, the credential
(whose password Exchange cannot show) is kept, and applying the restore again changes nothing."""

from __future__ import annotations

import os

import yaml

from role_lab import APPLY, lab_with_smart_host, run_playbook
from send_connector_harness import Ansible, delta

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import rollback as _rollback  # noqa: E402

PASSWORD = "rollback-lab-secret-5d1e"
SEED = "Smart host to Internet"
OLD = {"name": SEED, "usage": "Custom", "address_spaces": ["SMTP:*;1"], "smart_hosts": ["old.relay.example"], "port": 587,
       "smart_host_auth_mechanism": "BasicAuthRequireTLS", "require_tls": True, "comment": "before the change",
       "authentication_credential": {"username": "relay", "password": PASSWORD}, "source_transport_servers": ["EX01"]}


def read_all(ansible):
    res = ansible.play("- name: read\n  mailflow.exchange.send_connector_info:\n").result("read")
    assert not res["failed"], res
    return {c["name"]: c for c in res["connectors"]}


def test_a_refused_test_message_rolls_the_connector_back_to_its_snapshot(tmp_path):
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True, allow_clients=["192.0.2.1"]) as lab:
        os.makedirs(str(tmp_path / "plays"), exist_ok=True)
        ansible = Ansible(lab["lab"], str(tmp_path / "plays"))
        seed = ansible.play(yaml.safe_dump([{"name": "seed", "mailflow.exchange.send_connectors": {"connectors": [OLD]}}]))
        assert not seed.result("seed")["failed"]
        snapshot = read_all(ansible)

        before = lab["lab"].counters()
        run = run_playbook(lab, tmp_path, {"smart_host_routing_preflight": False, "smart_host_routing_rollback": True,
                                           "smart_host_routing_trace_timeout": 20})
        output = run.output
        assert run.rc != 0, output[-4000:]
        recorded = run.records
        apply = [r for r in recorded if r["task"].endswith(APPLY)][-1]
        assert apply["result"]["changed"] is True
        (restore,) = [r for r in recorded if r["task"].endswith("Rollback | Restore every changed connector to its snapshot (one run)")]
        assert restore["status"] == "ok" and restore["result"]["changed"] is True
        line = [x for x in output.splitlines() if "Rolled back because the verification failed: " in x]
        assert line and SEED in line[0] and "refused to relay" in line[0], (line, output[-3000:])
        assert "%s: settings restored to the snapshot; the credential was not changed and is kept" % SEED in output
        failed = [r for r in recorded if r["task"].endswith("Report | Fail when the verification found a problem")][-1]
        assert failed["status"] == "failed" and "Rolled back (smart_host_routing_rollback)" in failed["result"]["msg"]
        assert PASSWORD not in output
        moved = delta(before, lab["lab"].counters())
        assert moved.get("cmdlet:Set-SendConnector", 0) >= 2, moved  # the change and the one restore

        after = read_all(ansible)
        assert after == snapshot

        # the restore applied again changes nothing (every value is the snapshot's; the password is not sent)
        items = _rollback.plan(apply["result"])["items"]
        before = lab["lab"].counters()
        again = ansible.play(yaml.safe_dump([{"name": "again", "mailflow.exchange.send_connectors": {"connectors": items}}]))
        res = again.result("again")
        assert not res["failed"] and res["changed"] is False, res
        assert delta(before, lab["lab"].counters()).get("writes", 0) == 0

"""Rollback items (module_utils/_connectors/rollback.py) from a send_connectors result: created -> removed, changed -> its
snapshot, the password rule. The lab run: tests/integration/role/test_rollback_lab.py."""

from __future__ import annotations

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import rollback as _rollback

BEFORE = {"name": "R", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": False, "smart_hosts": ["old.example"],
          "port": 587, "smart_host_auth_mechanism": "BasicAuthRequireTLS", "authentication_credential": {"username": "relay"},
          "require_tls": True, "tls_domain": None, "source_transport_servers": ["EX01"]}


def result(**kw):
    base = {"name": "R", "state": "present", "changed": True, "existed": True, "before": dict(BEFORE),
            "connector": dict(BEFORE, smart_hosts=["new.example"]), "diff": {"before": {}, "after": {"smart_hosts": ["new.example"]}}}
    base.update(kw)
    return base


def test_a_changed_connector_gets_its_snapshot_and_keeps_its_credential():
    out = _rollback.plan({"results": [result(), result(name="Same", changed=False)]})
    (item,) = out["items"]
    assert item["smart_hosts"] == ["old.example"] and item["port"] == 587 and "tls_domain" not in item
    assert item["authentication_credential"] == {"username": "relay"} and item["update_password"] == "on_create"
    assert out["restored"] == ["R: settings restored to the snapshot; the credential was not changed and is kept"]
    assert out["not_restored"] == []
    assert _connectors.validate_items(out["items"])[1] == []


def test_a_password_the_run_sent_cannot_be_restored():
    sent = result(diff={"before": {}, "after": {"authentication_credential": {"username": "relay", "password": "(updated)"}}})
    out = _rollback.plan({"results": [sent]})
    assert "authentication_credential" not in out["items"][0]
    assert out["not_restored"][0].startswith("R: the old password could not be restored")
    assert out["restored"] == ["R: settings restored to the snapshot except its credential"]


def test_created_removed_and_repeated_connectors():
    out = _rollback.plan({"results": [
        result(name="New", existed=False, before={}),
        result(name="Gone", state="absent", connector={}),
        result(name="Plain gone", state="absent", connector={},
               before=dict(BEFORE, name="Plain gone", smart_host_auth_mechanism="None", authentication_credential=None)),
        result(), result(before=dict(BEFORE, port=25)),  # the same connector twice: the first snapshot counts
    ]})
    assert out["items"][0] == {"name": "New", "state": "absent"}
    assert [i["name"] for i in out["items"]] == ["New", "Plain gone", "R"]
    assert out["items"][2]["port"] == 587
    assert out["not_restored"][0].startswith("Gone: not created again")

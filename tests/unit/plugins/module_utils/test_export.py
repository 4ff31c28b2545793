"""The export (module_utils/_connectors/export.py): defaults and secrets left out, the items valid send_connectors input.
The round trip over the lab: tests/integration/role/test_export_lab.py."""

from __future__ import annotations

import yaml

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import export as _export
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan


def read(**settings):
    state = dict(_options.create_defaults("Custom"), name="C", address_spaces=["SMTP:*;1"], source_transport_servers=["EX01"],
                 guid="0292c782-9804-4d8b-ae0e-e1c7ab90852b", identity="C", distinguished_name="CN=C")
    state.update(settings)
    return state


def test_a_default_connector_keeps_only_what_says_what_it_is():
    out = _export.export([read()], dump=yaml.safe_dump)
    # dns_routing_enabled true is a new connector's default, but creating a DNS-routed connector needs it stated
    assert out["connectors"] == [{"name": "C", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": True,
                                  "source_transport_servers": ["EX01"]}]
    assert _plan.plan_present("C", out["connectors"][0], None).errors == []


def test_a_credential_keeps_its_user_and_never_a_password():
    out = _export.export([read(dns_routing_enabled=False, smart_hosts=["relay.contoso.net"], smart_host_auth_mechanism="BasicAuth",
                               authentication_credential={"username": "relay", "password": "never"})], dump=yaml.safe_dump)
    (item,) = out["connectors"]
    assert item["authentication_credential"] == {"username": "relay"} and item["update_password"] == "on_create"
    assert "never" not in out["text"] and "update_password: always" in out["text"]


def test_a_credential_without_user_name_is_a_note():
    out = _export.export([read(authentication_credential={"username": None})], dump=yaml.safe_dump)
    assert "authentication_credential" not in out["connectors"][0]
    assert out["notes"] and "# NOTE C:" in out["text"]


def test_the_items_are_valid_send_connectors_input():
    connectors = [read(name="A", port=587, max_message_size=20 * 1024 * 1024, error_policies=["DowngradeDnsFailures"]),
                  read(name="B", dns_routing_enabled=False, smart_hosts=["192.0.2.1"], enabled=False)]
    text = _export.export(connectors, "ex01", "c.yml", yaml.safe_dump)["text"]
    assert text.startswith("# Send connectors of ex01") and "-e @c.yml" in text
    items = yaml.safe_load(text)["smart_host_routing_connectors"]
    converted, errors = _connectors.validate_items(items)
    assert errors == [] and [i["name"] for i in converted] == ["A", "B"]
    assert items[0]["port"] == 587 and items[0]["dns_routing_enabled"] is True
    assert items[1]["dns_routing_enabled"] is False and items[1]["enabled"] is False

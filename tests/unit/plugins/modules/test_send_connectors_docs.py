"""send_connectors: its items take exactly send_connector's options (one table), documented from the same source."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.modules import send_connector, send_connector_preflight, send_connectors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def test_items_take_send_connectors_options_plus_fallback_to_dns():
    item = send_connectors.argument_spec()["connectors"]["options"]
    assert set(item) == set(send_connector.argument_spec()) | {"fallback_to_dns"}
    assert set(_options.BY_NAME) <= set(item)
    assert item["authentication_credential"]["options"]["password"]["no_log"] is True


def test_documented_suboptions_are_generated_and_match_the_spec():
    check = subprocess.run([sys.executable, os.path.join(ROOT, "hacking", "send_connectors_docs.py"), "--check"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    documented = yaml.safe_load(send_connectors.DOCUMENTATION)["options"]["connectors"]["suboptions"]
    spec = send_connectors.argument_spec()["connectors"]["options"]
    assert set(documented) == set(spec)
    for name, entry in spec.items():
        assert documented[name]["type"] == entry.get("type", "str"), name
        assert documented[name].get("choices") == entry.get("choices"), name
    text = yaml.safe_dump(documented)
    assert "O(update_password" not in text and "O(connectors[].update_password=always)" in text
    # send_connector_preflight takes the same items, documented from the same source
    assert yaml.safe_load(send_connector_preflight.DOCUMENTATION)["options"]["connectors"]["suboptions"] == documented
    assert send_connector_preflight.argument_spec()["connectors"]["options"] == spec


def test_validate_items_reports_every_item_with_its_path_and_never_a_secret():
    items = [
        {"name": "A", "port": "x", "address_spaces": ["a.example"]},
        {"name": "B", "smart_host_auth_mechanism": "nonsense", "smart_hosts": ["192.0.2.1"]},
        {"name": "C", "authentication_credential": {"username": "u", "password": ["s3cret"]}},
        {"name": "", "state": "gone"},
        {"name": "D", "fallback_to_dns": True},
    ]
    converted, errors = _connectors.validate_items(items, prefix="smart_host_routing_connectors")
    assert len(converted) == 5
    text = "\n".join(errors)
    assert "smart_host_routing_connectors[0].port: must be a whole number, not a string (connector 'A')" in errors
    assert any(e.startswith("smart_host_routing_connectors[1].smart_host_auth_mechanism: ") and e.endswith("(connector 'B')")
               for e in errors), text
    assert "smart_host_routing_connectors[2].authentication_credential.password: must be a string, not a list" \
           " (connector 'C')" in errors
    assert "smart_host_routing_connectors[3].state: must be one of present, absent" in errors
    assert any(e.startswith("smart_host_routing_connectors[3].name: ") for e in errors), text
    assert "smart_host_routing_connectors[4].fallback_to_dns: only applies when smart_hosts are changed (connector 'D')" in errors
    assert "s3cret" not in text


def test_valid_items_are_converted_like_ansible_would():
    converted, errors = _connectors.validate_items([{"name": "A", "port": "2525", "enabled": "yes", "address_spaces": ["*"]}])
    assert errors == []
    assert converted[0]["port"] == 2525 and converted[0]["enabled"] is True and converted[0]["state"] == "present"

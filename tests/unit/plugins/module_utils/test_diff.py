"""What --diff shows for a Send connector (module_utils/_connectors/diff.py): a create lists what the task set, no nulls,
sizes as the Exchange Management Shell writes them, never a password."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import diff as _diff
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import create_defaults


@pytest.mark.parametrize(
    "value, shown",
    [
        (36700160, "35 MB (36,700,160 bytes)"),
        (10485760, "10 MB (10,485,760 bytes)"),
        (1000000, "976.6 KB (1,000,000 bytes)"),
        (512, "512 B (512 bytes)"),
        (1 << 30, "1 GB (1,073,741,824 bytes)"),
        ("unlimited", "Unlimited"),
    ],
)
def test_sizes_read_as_the_shell_writes_them(value, shown):
    assert _values.show_size(value) == shown


def test_a_create_shows_what_the_task_set_and_no_null():
    task = {"address_spaces": ["*"], "smart_hosts": ["192.168.3.2"], "smart_host_auth_mechanism": "None", "port": 2525,
            "max_message_size": "35MB", "usage": "Custom"}
    plan = _plan.plan_present("Smart host to Internet", task, None)
    assert None in create_defaults("Custom").values()  # what used to appear as "comment: null" and co.
    diff = _diff.connector_diff(plan.before, plan.after, plan.changed_keys, creating=True)
    assert diff["before"] == {}
    assert diff["after"] == {
        "name": "Smart host to Internet",
        "address_spaces": ["SMTP:*;1"],
        "dns_routing_enabled": False,  # implied by smart_hosts, and what differs from a blank connector
        "smart_hosts": ["192.168.3.2"],
        "smart_host_auth_mechanism": "None",
        "port": 2525,
        "max_message_size": "35 MB (36,700,160 bytes)",
    }


def test_an_update_drops_unset_values_on_both_sides_and_hides_the_password():
    before = {"name": "c", "comment": None, "port": 25, "max_message_size": 20971520,
              "authentication_credential": {"username": "relay"}}
    after = dict(before, port=587, comment="relay", authentication_credential={"username": "relay"})
    diff = _diff.connector_diff(before, after, ["port", "comment", "authentication_credential"], creating=False)
    assert diff["before"] == {"name": "c", "port": 25, "max_message_size": "20 MB (20,971,520 bytes)",
                              "authentication_credential": {"username": "relay"}}
    assert diff["after"]["comment"] == "relay" and diff["after"]["port"] == 587
    assert diff["after"]["authentication_credential"] == {"username": "relay", "password": "(updated)"}
    assert None not in diff["before"].values() and None not in diff["after"].values()


@pytest.mark.parametrize("update_password, sent", [("on_create", False), ("always", True)])
def test_a_credential_given_but_not_sent_is_no_change(update_password, sent):
    """Issue 19 item 3: the same user again with update_password on_create sends no -AuthenticationCredential, so
    neither an unchanged run nor a real change of another setting may show 'password: (updated)'."""
    current = {"name": "c", "port": 25, "smart_host_auth_mechanism": "BasicAuthRequireTLS",
               "authentication_credential": {"username": "relay"}}
    task = {"port": 587, "authentication_credential": {"username": "relay", "password": "pw"}}
    plan = _plan.plan_present("c", task, current, update_password)
    assert ("authentication_credential" in plan.changed_keys) is sent
    diff = _diff.connector_diff(plan.before, plan.after, plan.changed_keys, creating=False, shown_keys=set(task) | set(plan.changed_keys))
    assert diff["after"]["port"] == 587
    assert (diff["after"]["authentication_credential"] == {"username": "relay", "password": "(updated)"}) is sent
    assert ("password" in diff["after"]["authentication_credential"]) is sent

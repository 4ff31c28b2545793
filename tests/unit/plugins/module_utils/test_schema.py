"""JSON Schema validation of tasks and after-states: every rule, every error at once, with paths."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils import _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._options import OPTIONS

SEED = {
    "name": "Smart host to Internet",
    "address_spaces": ["*"],
    "usage": "Custom",
    "dns_routing_enabled": False,
    "smart_hosts": ["192.168.3.2"],
    "smart_host_auth_mechanism": "None",
}


def errors(data, mode="task"):
    return _schema.validate(data, mode)


def test_seed_task_is_valid():
    assert errors(SEED) == []


def test_schema_covers_every_option():
    props = _schema.build_schema()["properties"]
    assert set(props) == {"name"} | {o.name for o in OPTIONS}


@pytest.mark.parametrize(
    "change, path, rule",
    [
        ({"address_spaces": ["*contoso.com"]}, "address_spaces[0]", "R3"),
        ({"address_spaces": ["contoso.com;101"]}, "address_spaces[0]", "R2"),
        ({"address_spaces": [{"domain": "a.com", "cost": 0}]}, "address_spaces[0]", "R2"),
        ({"address_spaces": []}, "address_spaces", "must not be empty"),
        ({"smart_hosts": ["bad host!"]}, "smart_hosts[0]", "neither an IP"),
        ({"smart_hosts": {"add": ["1.2.3.4"], "purge": True}}, "smart_hosts", "only add and remove"),
        ({"smart_hosts": {}}, "smart_hosts", "give add and/or remove"),
        ({"dns_routing_enabled": True}, "dns_routing_enabled", "R8"),
        ({"smart_host_auth_mechanism": "Kerberos"}, "smart_host_auth_mechanism", "not one of"),
        ({"port": 70000}, "port", "70000"),
        ({"max_message_size": "2GB"}, "max_message_size", "R17"),
        ({"max_message_size": "big"}, "max_message_size", "not a size"),
        ({"connection_inactivity_timeout": "2.00:00:00"}, "connection_inactivity_timeout", "R18"),
        ({"connection_inactivity_timeout": 0}, "connection_inactivity_timeout", "R18"),
        ({"smtp_max_messages_per_connection": 0}, "smtp_max_messages_per_connection", "minimum"),
        ({"tls_certificate_name": "CN=mail"}, "tls_certificate_name", "R15"),
        ({"tls_domain": "mail*.contoso.com"}, "tls_domain", "R12"),
        ({"usage": "Outbound"}, "usage", "not one of"),
        ({"error_policies": ["Sometimes"]}, "error_policies[0]", "not one of"),
        ({"require_tls": True, "ignore_starttls": True}, "ignore_starttls", "R13"),
        ({"tls_auth_level": "EncryptionOnly", "require_tls": False}, "require_tls", "R11"),
        ({"tls_auth_level": "domainvalidation", "require_tls": True}, "tls_domain", None),  # only in state mode
        ({"domain_secure_enabled": True}, "dns_routing_enabled", "R14"),
        ({"address_spaces": ["X400:o=a;p=b;2"], "dns_routing_enabled": True, "smart_hosts": []},
         "dns_routing_enabled", "R6"),
        ({"source_ip_address": "not-an-ip"}, "source_ip_address", "does not appear to be an IPv4 or IPv6"),
    ],
)
def test_each_rule_names_path_and_rule(change, path, rule):
    found = errors(dict(SEED, **change))
    if rule is None:
        assert not any(e.startswith(path + ":") for e in found), found
        return
    assert any(e.startswith(path + ":") and rule in e for e in found), found


def test_all_errors_are_reported_at_once():
    found = errors(dict(SEED, address_spaces=["*contoso.com", "ok.com", "x.com;0"], port=-1, dns_routing_enabled=True,
                        smart_hosts=["ok.example", "bad host!"]))
    paths = [e.split(":", 1)[0] for e in found]
    assert {"address_spaces[0]", "address_spaces[2]", "port", "dns_routing_enabled", "smart_hosts[1]"} <= set(paths)


def test_state_mode_requires_what_the_task_alone_cannot_know():
    state = {"name": "X", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": False, "smart_hosts": [],
             "tls_auth_level": "DomainValidation", "require_tls": True, "ignore_starttls": False, "tls_domain": None,
             "smart_host_auth_mechanism": "BasicAuth", "authentication_credential": None}
    found = errors(state, "state")
    assert any(e.startswith("smart_hosts:") and "R8" in e for e in found), found
    assert any(e.startswith("tls_domain:") and "R12" in e for e in found), found
    assert any(e.startswith("authentication_credential:") and "R10" in e for e in found), found
    # the same data as a task: the empty smart host list is wrong (explicit), the rest is not decidable
    task_found = errors(state, "task")
    assert any(e.startswith("smart_hosts:") for e in task_found)
    assert not any(e.startswith("tls_domain:") for e in task_found)


def test_state_mode_valid_connector():
    state = {"name": "X", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": False,
             "smart_hosts": ["192.168.3.2"], "smart_host_auth_mechanism": "None", "require_tls": False,
             "ignore_starttls": False, "tls_auth_level": None, "domain_secure_enabled": False,
             "max_message_size": 36700160, "connection_inactivity_timeout": "00:10:00"}
    assert errors(state, "state") == []


def test_rename_maps_paths_for_smart_host_module():
    found = _schema.validate({"smart_hosts": ["bad host!"]}, "task", rename={"smart_hosts": "hosts"})
    assert found and found[0].startswith("hosts[0]:")


def test_credential_without_password_is_valid_input():
    """Ansible fills in password: None when only the user name is given (send_connector_info's output)."""
    task = dict(SEED, smart_host_auth_mechanism="BasicAuth", authentication_credential={"username": "u", "password": None})
    assert errors(task) == []
    assert errors(dict(task, authentication_credential={"username": "", "password": None})) != []


def test_empty_source_transport_servers_is_refused_in_the_task_only():
    found = errors(dict(SEED, source_transport_servers=[]))
    assert found == ["source_transport_servers: a Send connector needs at least one source transport server "
                     "(EXCHANGE-CONTRACT 4.4)"]
    state = dict(SEED, address_spaces=["SMTP:*;1"], source_transport_servers=[])  # e.g. an Edge connector
    assert errors(state, "state") == []


def test_a_wildcard_in_the_name_is_refused():
    found = errors(dict(SEED, name="Smart host*"))
    assert len(found) == 1 and found[0].startswith("name: 'Smart host*' contains *") and "1.3" in found[0]


@pytest.mark.parametrize("spaces", [["*", "*;2"], {"add": ["contoso.com;3", "SMTP:Contoso.com;4"]}])
def test_the_same_address_space_with_two_costs_is_refused(spaces):
    found = errors(dict(SEED, address_spaces=spaces))
    assert len(found) == 1 and found[0].startswith("address_spaces: items 0 and 1 are the same address space")


def test_the_same_address_space_twice_in_two_spellings_is_fine():
    assert errors(dict(SEED, address_spaces=["*", "SMTP:*;1"])) == []


@pytest.mark.parametrize("change, message", [
    ({"smart_hosts": [["a"]]}, "smart_hosts[0]: must be of type string, got ['a']"),
    ({"max_message_size": True}, "max_message_size: must be of type string or integer, got True"),
    ({"connection_inactivity_timeout": 1.5}, "connection_inactivity_timeout: must be of type string or integer, got 1.5"),
    ({"source_transport_servers": "EX01"},
     "source_transport_servers: give a list (the whole list) or a mapping with add and/or remove lists"),
    ({"name": ""}, "name: must not be empty or blank"),
    ({"name": "  "}, "name: must not be empty or blank"),
])
def test_a_wrong_type_is_one_message(change, message):
    assert errors(dict(SEED, **change)) == [message]

"""JSON Schema validation of tasks and after-states: every rule, every error at once, with paths."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import OPTIONS

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
        ({"address_spaces": ["*contoso.com"]}, "address_spaces[0]", "a wildcard must be the whole first label"),
        ({"address_spaces": ["contoso.com;101"]}, "address_spaces[0]", "outside 1-100"),
        ({"address_spaces": [{"domain": "a.com", "cost": 0}]}, "address_spaces[0]", "outside 1-100"),
        ({"address_spaces": []}, "address_spaces", "must not be empty"),
        ({"smart_hosts": ["bad host!"]}, "smart_hosts[0]", "neither an IP"),
        ({"smart_hosts": {"add": ["1.2.3.4"], "purge": True}}, "smart_hosts", "only add and remove"),
        ({"smart_hosts": {}}, "smart_hosts", "give add and/or remove"),
        ({"dns_routing_enabled": True}, "dns_routing_enabled", "must be false when smart_hosts are set"),
        ({"smart_host_auth_mechanism": "Kerberos"}, "smart_host_auth_mechanism", "not one of"),
        ({"port": 70000}, "port", "must be from 0 to 65535"),
        ({"max_message_size": "2GB"}, "max_message_size", "outside 0-2147483647 bytes"),
        ({"max_message_size": "big"}, "max_message_size", "not a size"),
        ({"connection_inactivity_timeout": "2.00:00:00"}, "connection_inactivity_timeout", "from 00:00:01 to 1.00:00:00"),
        ({"connection_inactivity_timeout": 0}, "connection_inactivity_timeout", "from 00:00:01 to 1.00:00:00"),
        ({"smtp_max_messages_per_connection": 0}, "smtp_max_messages_per_connection", "must be from 1 to"),
        ({"tls_certificate_name": "CN=mail"}, "tls_certificate_name", "<I>issuer<S>subject"),
        ({"tls_certificate_name": "<I>Contoso CA<S>CN=mail"}, "tls_certificate_name", "attribute=value"),
        ({"tls_domain": "mail*.contoso.com"}, "tls_domain", "not a domain such as contoso.com or *.contoso.com"),
        ({"usage": "Outbound"}, "usage", "not one of"),
        ({"error_policies": ["Sometimes"]}, "error_policies[0]", "not one of"),
        ({"require_tls": True, "ignore_starttls": True}, "ignore_starttls", "must be false when require_tls is true"),
        ({"tls_auth_level": "EncryptionOnly", "require_tls": False}, "require_tls", "tls_auth_level needs require_tls true"),
        ({"tls_auth_level": "domainvalidation", "require_tls": True}, "tls_domain", None),  # only in state mode
        ({"domain_secure_enabled": True}, "dns_routing_enabled", "needs dns_routing_enabled true"),
        ({"domain_secure_enabled": True, "dns_routing_enabled": True, "smart_hosts": None}, "address_spaces",
         "cannot be used with a wildcard address space"),
        ({"address_spaces": ["X400:o=a;p=b;2"], "dns_routing_enabled": True, "smart_hosts": []},
         "dns_routing_enabled", "not SMTP needs smart hosts"),
        ({"address_spaces": ["X400:garbage;2"]}, "address_spaces[0]", "RFC 1685"),
        ({"address_spaces": ["--"]}, "address_spaces[0]", "valid only on Edge Transport connectors"),
        ({"address_spaces": ["*."]}, "address_spaces[0]", "not a valid SMTP address space"),
        ({"address_spaces": ["contoso.com\n"]}, "address_spaces[0]", "line feed"),
        ({"smart_hosts": ["256.1.1.1"]}, "smart_hosts[0]", "neither an IP"),
        ({"source_ip_address": "not-an-ip"}, "source_ip_address", "not an IPv4 address"),
        ({"source_ip_address": "::1"}, "source_ip_address", "IPv6 address; Exchange takes an IPv4"),
        ({"protocol_logging_level": ""}, "protocol_logging_level", "an empty value is not allowed"),
        ({"smart_host_auth_mechanism": "BasicAuth"}, "authentication_credential", "need authentication_credential"),
        ({"name": "a" * 65}, "name", "at most 64 characters"),
        ({"name": "a,b"}, "name", "must not contain ,"),
        ({"comment": "x\x00"}, "comment", "NUL"),
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
    assert any(e.startswith("smart_hosts:") and "needs at least one smart host" in e for e in found), found
    assert any(e.startswith("tls_domain:") and "needs tls_domain" in e for e in found), found
    assert any(e.startswith("authentication_credential:") and "need authentication_credential" in e for e in found), found
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
    assert found == ["source_transport_servers: a Send connector needs at least one source transport server"]
    state = dict(SEED, address_spaces=["SMTP:*;1"], source_transport_servers=[])  # e.g. an Edge connector
    assert errors(state, "state") == []


def test_a_wildcard_in_the_name_is_valid_input():
    """Names are matched exactly on the client (and written by GUID), so wildcard characters are harmless."""
    assert errors(dict(SEED, name="Smart host*[ab]?")) == []


def test_no_message_carries_an_internal_rule_number():
    import re
    found = errors({"name": "x", "smart_hosts": ["a.b"], "dns_routing_enabled": True, "require_tls": True,
                    "ignore_starttls": True, "tls_auth_level": "x", "domain_secure_enabled": True,
                    "smart_host_auth_mechanism": "BasicAuth", "address_spaces": ["X400:a=b;1"]})
    assert len(found) >= 5 and not any(re.search(r"\(R\d+\)|EXCHANGE-CONTRACT", e) for e in found), found


def test_prefix_goes_in_front_of_every_path():
    found = _schema.validate(dict(SEED, port=-1, smart_hosts=["bad host!"]), "task", prefix="connectors[3]")
    assert sorted(e.split(":", 1)[0] for e in found) == ["connectors[3].port", "connectors[3].smart_hosts[0]"]


def test_a_credential_given_as_a_string_is_never_echoed():
    found = errors(dict(SEED, smart_host_auth_mechanism="BasicAuth", authentication_credential="Sup3r-Secret"))
    assert found == ["authentication_credential: must be a mapping with username and password, not a string"]


@pytest.mark.parametrize("spaces", [["*", "*;2"], {"add": ["contoso.com;3", "SMTP:Contoso.com;4"]}])
def test_the_same_address_space_with_two_costs_is_refused(spaces):
    found = errors(dict(SEED, address_spaces=spaces))
    assert len(found) == 1 and found[0].startswith("address_spaces: items 0 and 1 are the same address space")


def test_the_same_address_space_twice_in_two_spellings_is_fine():
    assert errors(dict(SEED, address_spaces=["*", "SMTP:*;1"])) == []


@pytest.mark.parametrize("change, message", [
    ({"smart_hosts": [["a"]]}, "smart_hosts[0]: must be a string, not a list"),
    ({"max_message_size": True}, "max_message_size: must be a string or a whole number, not a boolean"),
    ({"connection_inactivity_timeout": 1.5},
     "connection_inactivity_timeout: must be a string or a whole number, not a number with a fraction"),
    ({"source_transport_servers": "EX01"},
     "source_transport_servers: give a list (the whole list) or a mapping with add and/or remove lists"),
    ({"name": ""}, "name: must not be empty or blank"),
    ({"name": "  "}, "name: must not be empty or blank"),
])
def test_a_wrong_type_is_one_message(change, message):
    assert errors(dict(SEED, **change)) == [message]

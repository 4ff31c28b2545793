"""Planning one New/Set/Remove call from (task, current state); rendering it as EMS lines."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import render as _render

NAME = "Smart host to Internet"
SEED = {"address_spaces": ["*"], "usage": "Custom", "dns_routing_enabled": False, "smart_hosts": ["192.168.3.2"],
        "smart_host_auth_mechanism": "None"}

# What Get-SendConnector returns for the seed connector (a record of the collection's reader, _wire).
EXCHANGE_SEED = {
    "Name": NAME, "AddressSpaces": ["SMTP:*;1"], "DNSRoutingEnabled": False, "SmartHosts": ["[192.168.3.2]"],
    "SmartHostsString": "[192.168.3.2]", "SmartHostAuthMechanism": "None", "AuthenticationCredential": None,
    "SourceTransportServers": ["EX01"], "IsScopedConnector": False, "Port": 25, "Fqdn": None, "RequireTLS": False,
    "IgnoreSTARTTLS": False, "TlsAuthLevel": None, "TlsDomain": None, "TlsCertificateName": None,
    "MaxMessageSize": "35 MB (36,700,160 bytes)", "ProtocolLoggingLevel": "None", "Enabled": True, "Comment": None,
    "ConnectionInactivityTimeOut": "00:10:00", "SmtpMaxMessagesPerConnection": 20, "ForceHELO": False,
    "DomainSecureEnabled": False, "ErrorPolicies": "Default", "UseExternalDNSServersEnabled": False,
    "SourceIPAddress": "0.0.0.0", "FrontendProxyEnabled": False, "CloudServicesMailEnabled": False,
    "ConnectorType": "Default", "Guid": "0f2c7a3e-1b2c-4d5e-8f90-123456789abc",
}


def current():
    return _options.from_exchange(EXCHANGE_SEED)


def test_from_exchange_normalises_every_setting():
    state = current()
    assert state["address_spaces"] == ["SMTP:*;1"]
    assert state["smart_hosts"] == ["192.168.3.2"]
    assert state["max_message_size"] == 36700160
    assert state["connection_inactivity_timeout"] == "00:10:00"
    assert state["error_policies"] == ["Default"]
    assert state["source_transport_servers"] == ["EX01"]
    assert "usage" not in state
    assert set(state) == {o.name for o in _options.SETTINGS if o.name != "usage"}


def test_create_renders_the_seed_command():
    plan = _plan.plan_present(NAME, SEED, None)
    assert plan.cmdlet == "New-SendConnector"
    assert _render.render(plan.cmdlet, plan.params) == (
        "New-SendConnector -Name 'Smart host to Internet' -AddressSpaces 'SMTP:*;1' -Usage Custom "
        "-DNSRoutingEnabled $false -SmartHosts '192.168.3.2' -SmartHostAuthMechanism None"
    )
    assert plan.before == {} and plan.after["smart_hosts"] == ["192.168.3.2"]


def test_same_settings_in_other_spellings_change_nothing():
    task = {"address_spaces": ["smtp:*;1"], "smart_hosts": ["[192.168.3.2]"], "smart_host_auth_mechanism": "none",
            "max_message_size": "35 MB", "connection_inactivity_timeout": 600, "error_policies": ["default"],
            "source_transport_servers": ["ex01.contoso.com"], "usage": "Custom"}
    plan = _plan.plan_present(NAME, task, current())
    assert not plan.changed, plan.params
    assert plan.warnings == []  # usage on an existing connector is ignored quietly (create-only, never shown)


def test_only_changed_settings_are_sent():
    plan = _plan.plan_present(NAME, {"port": 587, "comment": "relay", "enabled": True}, current())
    assert plan.cmdlet == "Set-SendConnector"
    assert plan.params == [("Identity", NAME), ("Port", 587), ("Comment", "relay")]
    assert plan.after["port"] == 587 and plan.before["port"] == 25


def test_add_remove_becomes_a_hashtable_with_only_real_changes():
    task = {"smart_hosts": {"add": ["192.168.3.2", "relay.contoso.net"], "remove": ["10.9.9.9"]}}
    plan = _plan.plan_present(NAME, task, current())
    assert plan.params == [("Identity", NAME), ("SmartHosts", {"Add": ["relay.contoso.net"]})]
    assert _render.render(plan.cmdlet, plan.params) == (
        "Set-SendConnector -Identity 'Smart host to Internet' -SmartHosts @{Add='relay.contoso.net'}")
    assert plan.after["smart_hosts"] == ["192.168.3.2", "relay.contoso.net"]


def test_address_spaces_add_sends_the_whole_list():
    plan = _plan.plan_present(NAME, {"address_spaces": {"add": ["fabrikam.com;2"]}}, current())
    assert plan.params[1] == ("AddressSpaces", ["SMTP:*;1", "SMTP:fabrikam.com;2"])


def test_switch_dns_to_smart_host_in_one_call():
    dns = dict(current(), dns_routing_enabled=True, smart_hosts=[])
    plan = _plan.plan_present(NAME, {"smart_hosts": {"add": ["192.168.3.2"]}}, dns)
    assert plan.params == [("Identity", NAME), ("DNSRoutingEnabled", False), ("SmartHosts", {"Add": ["192.168.3.2"]})]


def test_switch_back_to_dns_clears_the_smart_hosts():
    plan = _plan.plan_present(NAME, {"dns_routing_enabled": True, "smart_hosts": {"remove": ["192.168.3.2"]}}, current())
    assert plan.params == [("Identity", NAME), ("DNSRoutingEnabled", True), ("SmartHosts", None)]
    assert _render.render(plan.cmdlet, plan.params).endswith("-DNSRoutingEnabled $true -SmartHosts $null")


def test_credential_update_password_modes():
    cred = {"username": "relay", "password": "S3cret!"}
    with_cred = dict(current(), authentication_credential={"username": "relay"})
    on_create = _plan.plan_present(NAME, {"authentication_credential": cred}, with_cred, "on_create")
    assert not on_create.changed
    always = _plan.plan_present(NAME, {"authentication_credential": cred}, with_cred, "always")
    assert always.changed
    other_user = _plan.plan_present(NAME, {"authentication_credential": dict(cred, username="RELAY2")}, with_cred)
    assert other_user.changed
    line = _render.render(always.cmdlet, always.params)
    assert line == "Set-SendConnector -Identity 'Smart host to Internet' -AuthenticationCredential (Get-Credential)"
    assert "S3cret" not in line and "S3cret" not in repr(always.params) and "S3cret" not in str(always.after)


def test_clear_nullable_setting():
    have = dict(current(), fqdn="mail.contoso.com")
    plan = _plan.plan_present(NAME, {"fqdn": ""}, have)
    assert plan.params[1] == ("Fqdn", None)


def test_absent():
    assert not _plan.plan_absent(NAME, None).changed
    plan = _plan.plan_absent(NAME, current())
    assert _render.render(plan.cmdlet, plan.params) == "Remove-SendConnector -Identity 'Smart host to Internet' -Confirm:$false"


def test_render_quoting():
    assert _render.render_value("it's") == "'it''s'"
    assert _render.render_value(["a b", "c"]) == "'a b',c"
    assert _render.render_value([]) == "@()"
    assert _render.render_value({"Add": ["x"], "Remove": ["y", "z"]}) == "@{Add=x; Remove=y,z}"


def test_credential_without_password_only_compares_the_user_name():
    with_cred = dict(current(), authentication_credential={"username": "relay"})
    same = _plan.plan_present(NAME, {"authentication_credential": {"username": "RELAY"}}, with_cred, "always")
    assert not same.changed and not same.errors
    other = _plan.plan_present(NAME, {"authentication_credential": {"username": "relay2"}}, with_cred)
    assert not other.changed and other.errors and other.errors[0].startswith("authentication_credential.password:")


def test_create_predicts_exchange_defaults_and_checks_rules_against_them():
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema

    plan = _plan.plan_present("TLS", {"address_spaces": ["*"], "smart_hosts": ["relay.contoso.com"], "require_tls": True,
                                      "tls_auth_level": "CertificateValidation"}, None)
    after = _plan.state_for_validation(plan.after)
    # ignore_starttls was not given: Exchange creates the connector with False, so R11/R13 hold.
    assert after["ignore_starttls"] is False and after["port"] == 25 and after["max_message_size"] == 36700160
    assert _schema.validate(after, "state") == []
    # Only the given settings are sent; the defaults are predicted, not written.
    assert [name for name, _value in plan.params] == ["Name", "AddressSpaces", "DNSRoutingEnabled", "SmartHosts",
                                                      "RequireTLS", "TlsAuthLevel"]
    bad = _plan.plan_present("TLS", {"address_spaces": ["*"], "smart_hosts": ["relay.contoso.com"], "require_tls": True,
                                     "ignore_starttls": True}, None)
    assert any("ignore_starttls must be false when require_tls is true" in error
               for error in _schema.validate(_plan.state_for_validation(bad.after), "state"))


def test_internal_connector_is_predicted_unlimited():
    plan = _plan.plan_present("Internal", {"address_spaces": ["contoso.com"], "usage": "internal", "dns_routing_enabled": True},
                              None)
    assert plan.errors == []
    assert plan.after["max_message_size"] == _options.BY_NAME["max_message_size"].canonical("unlimited")


def test_removing_the_last_source_server_is_an_error():
    plan = _plan.plan_present(NAME, {"source_transport_servers": {"remove": ["ex01.contoso.com"]}}, current())
    assert plan.errors and plan.errors[0].startswith("source_transport_servers:") and "at least one" in plan.errors[0]
    kept = _plan.plan_present(NAME, {"source_transport_servers": {"add": ["EX02"], "remove": ["EX01"]}}, current())
    assert not kept.errors and kept.after["source_transport_servers"] == ["EX02"]


def test_create_predicts_every_setting_but_the_source_server():
    """Check mode shows the connector Exchange would create; only the source server (the server that runs
    New-SendConnector) cannot be known beforehand, and usage is never shown."""
    after = _plan.plan_present(NAME, SEED, None).after
    assert set(after) == {o.name for o in _options.SETTINGS} - {"usage", "source_transport_servers"} | {"name"}
    assert after["authentication_credential"] is None and after["source_ip_address"] == "0.0.0.0"


@pytest.mark.parametrize("change, spaces", [
    ({"add": ["*;5"]}, ["SMTP:*;5"]),  # a new cost replaces the entry (Exchange refuses '*' twice)
    ({"add": ["*;1"]}, None),  # already there: nothing to do
    ({"remove": ["SMTP:*;7"]}, []),  # removed whatever its cost
])
def test_address_space_is_one_entry_per_type_and_domain(change, spaces):
    plan = _plan.plan_present(NAME, {"address_spaces": change}, current())
    if spaces is None:
        assert not plan.changed
    else:
        assert plan.params[1:] == [("AddressSpaces", spaces or None)]


def test_not_as_planned_after_a_lost_answer():
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.manager import not_as_planned

    current = {"name": "Relay", "port": 25, "comment": None, "smart_hosts": ["192.168.3.2"], "dns_routing_enabled": False}
    plan = _plan.plan_present("Relay", {"port": 2525, "smart_hosts": ["[192.168.3.2]"]}, current)
    assert plan.changed_keys == ["port"]
    assert not_as_planned(plan, dict(current, port=2525)) == []
    assert not_as_planned(plan, current) == ["port reads 25, the task wants 2525"]
    assert not_as_planned(plan, None) is None
    gone = _plan.plan_absent("Relay", current)
    assert not_as_planned(gone, None) == [] and not_as_planned(gone, current) == ["it still exists"]


def test_a_new_connector_with_a_user_name_but_no_password_needs_a_password_on_create():
    task = dict(SEED, smart_host_auth_mechanism="BasicAuth", authentication_credential={"username": "relay", "password": None})
    plan = _plan.plan_present(NAME, task, None)
    assert plan.errors == ["authentication_credential.password: required: a new connector needs a password on create "
                           "(user relay)"]


@pytest.mark.parametrize("hosts", [None, [], {"remove": ["192.0.2.1"]}, {"add": []}])
def test_a_create_without_smart_hosts_needs_dns_routing_stated(hosts):
    """Issue 15: New-SendConnector routes by DNS by default; a create that names no smart host must say so."""
    task = {"address_spaces": ["*"], "smart_hosts": hosts}
    plan = _plan.plan_present("Direct", task, None)
    assert plan.errors == ["dns_routing_enabled: " + _plan.DNS_CHOICE], plan.errors
    assert "state dns_routing_enabled: true" in plan.errors[0] and "address space * is the whole Internet" in plan.errors[0]
    assert _plan.dns_choice_problem(task) == plan.errors[0]


def test_a_create_that_states_its_routing_passes():
    direct = _plan.plan_present("Direct", {"address_spaces": ["*"], "dns_routing_enabled": True}, None)
    assert direct.errors == [] and direct.after["dns_routing_enabled"] is True
    assert _render.render(direct.cmdlet, direct.params) == (
        "New-SendConnector -Name Direct -AddressSpaces 'SMTP:*;1' -DNSRoutingEnabled $true")
    relayed = _plan.plan_present("Relayed", {"address_spaces": ["*"], "smart_hosts": {"add": ["192.0.2.1"]}}, None)
    assert relayed.errors == [] and relayed.after["dns_routing_enabled"] is False  # smart hosts imply it (R8)


def test_a_change_to_an_existing_dns_connector_needs_no_choice():
    dns = dict(current(), dns_routing_enabled=True, smart_hosts=[], smart_host_auth_mechanism="None")
    plan = _plan.plan_present(NAME, {"address_spaces": ["contoso.com"], "port": 587}, dns)
    assert plan.errors == [] and plan.cmdlet == "Set-SendConnector"

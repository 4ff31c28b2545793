"""A smart-host item: its rules and its translation into a send_connectors item (module_utils/_connectors/smart_host.py;
used by the smart_host module and the role)."""

from __future__ import annotations

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import smart_host


def params(**overrides):
    base = {"connector": "Smart host to Internet", "hosts": ["192.168.3.2"], "state": "present", "exclusive": False,
            "fallback_to_dns": False, "smart_host_auth_mechanism": None, "authentication_credential": None,
            "update_password": "on_create"}
    base.update(overrides)
    return base


def test_present_adds_absent_removes_exclusive_sets():
    assert smart_host.hosts_task(params()) == {"add": ["192.168.3.2"]}
    assert smart_host.hosts_task(params(state="absent")) == {"remove": ["192.168.3.2"]}
    assert smart_host.hosts_task(params(exclusive=True)) == ["192.168.3.2"]


def test_valid_task():
    assert smart_host.validate(params(smart_host_auth_mechanism="basicauthrequiretls",
                                      authentication_credential={"username": "u", "password": "p"})) == []


def test_errors_use_this_modules_option_names():
    errors = smart_host.validate(params(hosts=["ok.example", "bad host!"], smart_host_auth_mechanism="Kerberos"))
    assert any(e.startswith("hosts[1]:") for e in errors), errors
    assert any(e.startswith("smart_host_auth_mechanism:") for e in errors), errors


def test_auth_mechanism_is_a_deprecated_alias():
    spec = smart_host.argument_spec()
    assert "auth_mechanism" not in spec
    option = spec["smart_host_auth_mechanism"]
    assert option["aliases"] == ["auth_mechanism"]
    assert option["deprecated_aliases"] == [{"name": "auth_mechanism", "version": "2.0.0", "collection_name": "mailflow.exchange"}]


def test_exclusive_only_with_present_and_hosts_not_empty():
    assert "exclusive: only applies to state present" in smart_host.validate(params(state="absent", exclusive=True))
    assert "hosts: must not be empty" in smart_host.validate(params(hosts=[]))
    assert smart_host.validate(params(hosts=[], exclusive=True, fallback_to_dns=True)) == []


def test_connector_name_is_checked_before_any_call():
    assert smart_host.validate(params(connector="  ")) == ["connector: must not be empty or blank"]
    found = smart_host.validate(params(connector="Smart;host"))
    assert len(found) == 1 and found[0].startswith("connector: must not contain ;")


def test_emptying_with_exclusive_points_to_fallback_to_dns():
    found = smart_host.validate(params(hosts=[], exclusive=True))
    assert found == ["hosts: must not be empty; to remove every smart host give exclusive: true with "
                     "fallback_to_dns: true (DNS routing)"]


def test_translate_gives_the_send_connectors_item_and_takes_the_old_mechanism_name():
    item = {"connector": "Relay", "hosts": ["relay3.contoso.net"], "auth_mechanism": "BasicAuth",
            "authentication_credential": {"username": "relay", "password": "pw"}}
    assert smart_host.translate(item) == {"name": "Relay", "smart_hosts": {"add": ["relay3.contoso.net"]},
                                          "smart_host_auth_mechanism": "BasicAuth",
                                          "authentication_credential": {"username": "relay", "password": "pw"}}
    assert smart_host.translate({"connector": "R", "hosts": ["a"], "state": "absent", "fallback_to_dns": True}) == {
        "name": "R", "smart_hosts": {"remove": ["a"]}, "fallback_to_dns": True}
    assert smart_host.translate({"connector": "R", "hosts": ["a", "b"], "exclusive": True}) == {"name": "R", "smart_hosts": ["a", "b"]}


def test_deprecation_notice_only_for_the_old_name_with_its_path():
    assert smart_host.deprecations({"connector": "R", "smart_host_auth_mechanism": "None"}) == []
    [notice] = smart_host.deprecations({"connector": "R", "auth_mechanism": "None"}, "smart_host_routing_smart_hosts[2]")
    assert notice["msg"].startswith("Alias 'smart_host_routing_smart_hosts[2].auth_mechanism' is deprecated")
    assert (notice["version"], notice["collection_name"]) == ("2.0.0", "mailflow.exchange")


def test_with_credential_fills_only_basic_auth_items_without_their_own():
    credential = {"username": "relay", "password": "pw"}
    seed = {"name": "c", "smart_host_auth_mechanism": "basicauthrequiretls"}
    assert smart_host.with_credential(seed, credential)["authentication_credential"] == credential
    assert "authentication_credential" not in seed  # the input is not modified
    own = dict(seed, authentication_credential={"username": "other"})
    assert smart_host.with_credential(own, credential) == own
    assert smart_host.with_credential(dict(seed, smart_host_auth_mechanism="None"), credential) == dict(seed, smart_host_auth_mechanism="None")
    assert smart_host.with_credential({"connector": "c", "auth_mechanism": "BasicAuth"}, credential)["authentication_credential"] == credential
    assert "authentication_credential" not in smart_host.with_credential(seed, {"username": "", "password": ""})
    assert smart_host.with_credential(5, credential) == 5  # kept, so that validation reports it at its index

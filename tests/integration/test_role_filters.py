"""Pure logic of the role's filters (plugins/filter/smart_host_routing.py): no lab needed."""

from __future__ import annotations

import sys

import pytest

from role_lab import collections_path

sys.path.insert(0, collections_path())

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.filter import smart_host_routing as f  # noqa: E402

SEED = {
    "name": "Smart host to Internet",
    "usage": "Custom",
    "address_spaces": ["*"],
    "dns_routing_enabled": False,
    "smart_hosts": ["[192.168.3.2]", "relay.contoso.net"],
    "smart_host_auth_mechanism": "BasicAuth",
    "is_scoped_connector": False,
    "source_transport_servers": ["EX01"],
    "port": 587,
}


def test_valid_input_has_no_errors():
    assert f.input_errors([dict(SEED, authentication_credential={"username": "relay", "password": "pw"})], []) == []


def test_every_error_is_listed_with_its_path_and_no_secret_is_echoed():
    errors = f.input_errors(
        [
            dict(SEED, smart_hosts=["bad host!"], smart_host=["x"], state="gone", authentication_credential={"username": "u", "password": 991199}),
            "not a mapping",
            {"address_spaces": ["*"]},
        ],
        [{"connector": "Smart host to Internet", "hosts": [], "smart_host_auth_mechanism": "BasicAuth"}],
    )
    text = "\n".join(errors)
    assert ("smart_host_routing_connectors[0].smart_hosts[0]: 'bad host!' is neither an IP address nor a valid host "
            "name such as relay.contoso.com") in errors
    assert "smart_host_routing_connectors[0].smart_host: is not an option (did you mean smart_hosts?)" in errors
    assert "smart_host_routing_connectors[0].state: must be one of present, absent, got 'gone'" in errors
    assert "smart_host_routing_connectors[1]: must be a dictionary of send_connector options" in errors
    assert "smart_host_routing_connectors[2].name: is required: the Send connector's name" in errors
    assert "smart_host_routing_smart_hosts[0].hosts: must be a non-empty list of IP addresses or FQDNs" in errors
    assert "smart_host_routing_smart_hosts[0].authentication_credential: BasicAuth and BasicAuthRequireTLS need authentication_credential" in errors
    assert "991199" not in text
    assert f.input_errors("nope") == ["smart_host_routing_connectors: must be a list of connectors, got str"]


def test_cross_field_rules_come_from_the_collection_schema():
    errors = f.input_errors([dict(SEED, require_tls=True, ignore_starttls=True)])
    assert any("ignore_starttls must be false when require_tls is true" in e for e in errors), errors
    assert not any("(R1" in e for e in errors), errors


def test_prepare_fills_the_smart_host_credential_only_where_needed():
    credential = {"username": "relay", "password": "pw"}
    own = dict(SEED, name="own", authentication_credential={"username": "other", "password": "x"})
    none = dict(SEED, name="none", smart_host_auth_mechanism="None")
    prepared = f.prepare_connectors([SEED, own, none, 5], credential)
    assert prepared[0]["authentication_credential"] == credential
    assert prepared[1]["authentication_credential"]["username"] == "other"
    assert "authentication_credential" not in prepared[2]
    assert prepared[3] == 5  # kept, so validation reports it at its index
    assert "authentication_credential" not in SEED  # the input is not modified
    assert "authentication_credential" not in f.prepare_connectors([SEED], {"username": "", "password": ""})[0]


def test_probe_targets_carry_no_secret_and_follow_the_list_modes():
    connectors = [
        dict(SEED, authentication_credential={"username": "relay", "password": "pw"}, require_tls=True, max_message_size=36700160),
        {"name": "partial", "smart_hosts": {"add": ["new.contoso.net"], "remove": ["old.contoso.net"]}, "fqdn": "mail.contoso.com"},
        {"name": "dns", "address_spaces": ["*"], "dns_routing_enabled": True},
        dict(SEED, name="gone", state="absent"),
    ]
    targets = f.probe_targets(connectors, {"relay.contoso.net": "127.0.0.9"}, helo_name="ex01.contoso.com")
    assert [(t["connector"], t["host"], t["port"], t["connect_address"]) for t in targets] == [
        ("Smart host to Internet", "192.168.3.2", 587, None),
        ("Smart host to Internet", "relay.contoso.net", 587, "127.0.0.9"),
        ("partial", "new.contoso.net", 25, None),
    ]
    assert targets[0]["settings"] == {
        "smart_host_auth_mechanism": "BasicAuth", "require_tls": True, "max_message_size": "36700160", "helo_name": "ex01.contoso.com",
    }
    assert targets[2]["settings"] == {"helo_name": "mail.contoso.com"}  # the connector's Fqdn is what Exchange says
    assert all(t["credential_from"] == "connector" for t in targets)
    assert "pw" not in repr(targets)


def test_smart_host_items_are_probed_with_the_existing_connector_settings():
    existing = [{"name": "Smart host to Internet", "port": 2525, "require_tls": True, "tls_auth_level": "DomainValidation",
                 "tls_domain": "contoso.net", "smart_host_auth_mechanism": "None", "source_transport_servers": ["EX02"]}]
    items = [
        {"connector": "smart host to internet", "hosts": ["relay3.contoso.net"], "smart_host_auth_mechanism": "BasicAuth"},
        {"connector": "Smart host to Internet", "hosts": ["relay1.contoso.net"], "state": "absent"},
    ]
    result = f.plan([], {"username": "relay", "password": "pw"}, {}, [], items, existing)
    [target] = result["probe_targets"]
    assert (target["host"], target["port"], target["credential_from"], target["index"]) == ("relay3.contoso.net", 2525, "smart_host", 0)
    assert target["settings"]["smart_host_auth_mechanism"] == "BasicAuth"  # the item's, not the connector's
    assert target["settings"]["tls_domain"] == "contoso.net"
    assert result["smart_hosts"][0]["authentication_credential"] == {"username": "relay", "password": "pw"}
    assert "authentication_credential" not in items[0]
    assert target["connector"] == "Smart host to Internet"  # Exchange's spelling, for the trace
    assert result["test_names"] == ["Smart host to Internet"]
    assert result["trace_servers"] == {"Smart host to Internet": ["EX02"]}


def test_blocking_findings_honour_fail_on_and_failed_probes():
    probe = {
        "results": [
            {"item": {"connector": "c", "host": "h1"}, "findings": [
                {"host": "h1", "severity": "error", "code": "STARTTLS_NOT_OFFERED", "message": "no STARTTLS", "hint": "enable it"},
                {"host": "h1", "severity": "warning", "code": "CERT_EXPIRES_SOON", "message": "soon", "hint": "renew"},
            ]},
            {"item": {"connector": "c", "host": "h2"}, "failed": True, "msg": "bad ca_cert"},
        ]
    }
    errors = f.blocking_findings(probe, ["error"])
    assert [e["code"] for e in errors] == ["STARTTLS_NOT_OFFERED", "probe_failed"]
    assert [e["code"] for e in f.blocking_findings(probe, ["error", "warning"])] == ["STARTTLS_NOT_OFFERED", "CERT_EXPIRES_SOON", "probe_failed"]
    text = f.format_findings(errors)
    assert "[ERROR] c -> h1: no STARTTLS (STARTTLS_NOT_OFFERED)\n    hint: enable it" in text
    assert f.blocking_findings({"skipped": True}, ["error"]) == []


def test_readback_compares_normalised_values_of_the_given_settings_only():
    wanted = dict(SEED, authentication_credential={"username": "relay", "password": "pw"}, source_transport_servers={"add": ["EX02"]})
    current = {
        "name": "smart host to internet",
        "address_spaces": ["SMTP:*;1"],
        "dns_routing_enabled": False,
        "smart_hosts": ["192.168.3.2", "RELAY.contoso.net"],
        "smart_host_auth_mechanism": "BasicAuth",
        "authentication_credential": {"username": "relay"},
        "is_scoped_connector": False,
        "source_transport_servers": ["EX01", "EX02"],
        "port": 587,
        "comment": "not managed",
    }
    assert f.readback_differences(wanted, [current]) == []
    drifted = dict(current, port=25, smart_hosts=["192.168.3.2"], source_transport_servers=["EX01"])
    differences = f.readback_differences(wanted, [drifted])
    assert "port: wanted 587, Exchange has 25" in differences
    assert any(d.startswith("smart_hosts: wanted") for d in differences)
    assert "source_transport_servers: EX02 not present" in differences
    assert f.readback_differences(wanted, []) == ["the connector was not found"]
    assert f.readback_differences(dict(wanted, state="absent"), [current]) == ["the connector still exists"]


def test_summary_and_report_never_contain_a_secret():
    connectors = [dict(SEED, authentication_credential={"username": "relay", "password": "s3cr3t-pw"})]
    command = "New-SendConnector -Name 'Smart host to Internet' -AuthenticationCredential (Get-Credential)"
    apply = {"results": [{"item": SEED["name"], "changed": True, "commands": [command],
                          "connector": {"name": SEED["name"], "authentication_credential": {"username": "relay", "password": "s3cr3t-pw"}},
                          "diff": {"before": {}, "after": {"port": 587, "authentication_credential": {"username": "relay", "password": "s3cr3t-pw"}}}}]}
    probes = {"results": [{"item": {"connector": SEED["name"], "host": "relay.contoso.net", "port": 587},
                           "probes": [{"tls": {"version": "TLSv1.3"}, "auth": {"mechanisms_after_tls": ["LOGIN"], "login": {"attempted": True, "ok": True}},
                                       "transcript": ["C: AUTH LOGIN", "C: ********"]}], "findings": []}]}
    tests = {"results": [{"item": SEED["name"], "message_id": "<m1@contoso.com>"}]}
    traces = {"results": [{"item": SEED["name"], "result": "sent", "events": [
        {"event_id": "SEND", "connector_id": SEED["name"], "server_hostname": "relay.contoso.net", "server_ip": "192.0.2.10"}]}]}
    readback = {"connectors": [{"name": SEED["name"], "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": False,
                                "smart_hosts": ["192.168.3.2", "relay.contoso.net"], "smart_host_auth_mechanism": "BasicAuth",
                                "authentication_credential": {"username": "relay"}, "is_scoped_connector": False,
                                "source_transport_servers": ["EX01"], "port": 587}]}
    summaries = f.summary(connectors, apply=apply, probes=probes, readback=readback, tests=tests, traces=traces, sessions={SEED["name"]: ["> EHLO ex01"]})
    [s] = summaries
    assert s["changed"] and s["read_back"] == "matches" and s["trace"]["result"] == "sent"
    assert s["test_message_id"] == "<m1@contoso.com>"
    assert s["probes"][0]["auth_login"] == "ok" and s["probes"][0]["auth_mechanisms"] == ["LOGIN"]
    lines = f.report_lines(summaries)
    assert lines[0] == "Send connector 'Smart host to Internet' (present): created"
    assert s["changes"] == []  # a creation is told by its command, not by thirty "None ->" lines
    assert any("AUTH LOGIN ok" in line for line in lines)
    assert "s3cr3t-pw" not in repr(summaries) and "s3cr3t-pw" not in "\n".join(lines)
    assert f.verification_failures(summaries, connectors) == []


def test_verification_failures_explain_a_failed_trace_and_a_foreign_smart_host():
    base = {"name": "c", "trace": {"result": "failed", "last_error": "451 4.4.397 Error communicating with target host", "events": []}}
    base["trace"]["hint"] = f.trace_hint(base["trace"])
    [failure] = f.verification_failures([base], [{"name": "c", "smart_hosts": ["relay.contoso.net"]}])
    assert "trace result failed" in failure and "unreachable from the transport server" in failure
    other = {"name": "c", "trace": {"result": "sent", "events": [{"event_id": "SEND", "server_hostname": "elsewhere.example", "server_ip": "192.0.2.99"}]}}
    [failure] = f.verification_failures([other], [{"name": "c", "smart_hosts": ["relay.contoso.net"]}])
    assert "not one of the connector's smart hosts" in failure
    assert f.verification_failures([{"name": "c", "test_message_id": None}], [])[0].startswith("c: the test message was not accepted")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("550 5.7.1 Unable to relay", "refused to relay"),
        ("535 5.7.3 Authentication unsuccessful", "refused the credentials"),
        ("454 4.7.5 certificate validation failed", "certificate failed"),
        ("552 5.3.4 Message size exceeds fixed maximum message size", "larger than the smart host accepts"),
        ("{LED=451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect}", "unreachable"),
    ],
)
def test_trace_hints_follow_the_failure_modes(text, expected):
    assert expected in f.trace_hint({"result": "failed", "last_error": text})


def test_missing_schema_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.endswith("module_utils") and args and args[2] and "_schema" in args[2]:
            raise ImportError("No module named _schema")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(AnsibleFilterError, match="JSON Schema .* cannot be loaded"):
        f.input_errors([SEED])


def test_an_update_lists_only_what_changed_and_never_the_password():
    apply = {"results": [{"item": "c", "changed": True, "commands": ["Set-SendConnector -Identity 'c' -Port 587 -AuthenticationCredential (Get-Credential)"],
                          "diff": {"before": {"port": 25, "comment": "x", "authentication_credential": {"username": "relay"}},
                                   "after": {"port": 587, "comment": "x", "authentication_credential": {"username": "relay", "password": "n3w-pw"}}}}]}
    [s] = f.summary([{"name": "c", "port": 587}], apply=apply, check_mode=True)
    assert s["changes"][0] == "authentication_credential: {'username': 'relay'} -> {'username': 'relay', 'password': '********'}"
    assert s["changes"][1] == "port: 25 -> 587"
    assert len(s["changes"]) == 2
    assert f.report_lines([s])[0] == "Send connector 'c' (present): would be changed"
    assert "n3w-pw" not in repr(s)


def test_probe_compares_size_with_the_max_message_size_the_connector_will_have():
    new = dict(SEED, name="new")
    kept = dict(SEED, name="kept")
    internal = dict(SEED, name="internal", usage="Internal")
    given = dict(SEED, name="given", max_message_size="10MB")
    existing = [{"name": "Kept", "max_message_size": 20971520}]
    targets = f.probe_targets([new, kept, internal, given], existing=existing)
    sizes = {t["connector"]: t["settings"].get("max_message_size") for t in targets}
    assert sizes == {"new": "35MB", "kept": "20971520", "internal": "unlimited", "given": "10MB"}
    # Not knowing the current connectors, only a given size is compared.
    unknown = {t["connector"]: t["settings"].get("max_message_size") for t in f.probe_targets([new, given])}
    assert unknown == {"new": None, "given": "10MB"}


def test_report_says_when_the_probe_found_nothing_to_worry_about():
    clean = {"name": "c", "state": "present", "probes": [{"host": "h", "port": 25, "findings": [{"severity": "info", "message": "i"}]}]}
    warned = {"name": "d", "state": "present", "probes": [{"host": "h", "port": 25, "findings": [{"severity": "warning", "message": "w"}]}]}
    lines = f.report_lines([clean, warned])
    assert lines.count("          no error or warning for this connector's settings") == 1
    assert "          [WARNING] w" in lines
    assert not any("[INFO]" in line for line in lines)  # info findings stay in the data


def test_a_wrong_port_is_reported_by_validation_not_by_a_python_error_in_the_plan():
    bad = dict(SEED, port="twenty", tls_domain="x.*.example")
    result = f.plan([bad], {"username": "relay", "password": "pw"})
    assert result["probe_targets"][0]["port"] == "twenty"  # kept for validation to name
    errors = f.input_errors(result["connectors"], result["smart_hosts"])
    assert any(e.startswith("smart_host_routing_connectors[0].port:") for e in errors), errors
    assert any(e.startswith("smart_host_routing_connectors[0].tls_domain:") for e in errors), errors  # and the others with it


def test_report_spells_out_the_connect_and_disconnect_of_the_smtp_session():
    s = {"name": "c", "state": "present", "smtp_session": ["* attempting to connect", "+", "< 220 relay ready", "> QUIT", "- Local"]}
    lines = f.report_lines([s])
    assert lines[-5:] == [
        "          * attempting to connect", "          + connected", "          < 220 relay ready", "          > QUIT",
        "          - disconnected (Local)",
    ]


def test_smart_host_items_still_take_the_deprecated_auth_mechanism():
    old = {"connector": "Smart host to Internet", "hosts": ["relay3.contoso.net"], "auth_mechanism": "BasicAuth"}
    [target] = f.plan([], {"username": "relay", "password": "pw"}, {}, [], [old], [])["probe_targets"]
    assert target["settings"]["smart_host_auth_mechanism"] == "BasicAuth"
    assert f.prepare_smart_hosts([old], {"username": "relay", "password": "pw"})[0]["authentication_credential"]["username"] == "relay"
    assert f.input_errors([], [dict(old, auth_mechanism="Kerberos")]) == [
        "smart_host_routing_smart_hosts[0].auth_mechanism: must be one of None, BasicAuth, BasicAuthRequireTLS, ExchangeServer, "
        "ExternalAuthoritative, got 'Kerberos'"
    ]
    both = f.input_errors([], [dict(old, smart_host_auth_mechanism="BasicAuth", authentication_credential={"username": "u"})])
    assert both == ["smart_host_routing_smart_hosts[0].auth_mechanism: is the old name of smart_host_auth_mechanism: give only "
                    "smart_host_auth_mechanism"]

"""Pure logic of the role's filters (plugins/filter/__internal/smart_host_routing.py): no lab needed."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.filter.__internal import smart_host_routing as f

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


def test_every_error_is_listed_with_its_path_and_connector_and_no_secret_is_echoed():
    errors = f.input_errors(
        [
            dict(SEED, smart_hosts=["bad host!"], smart_host=["x"], state="gone", authentication_credential={"username": "u", "password": 991199}),
            "not a mapping",
            {"address_spaces": ["*"]},
            dict(SEED, name="no credential"),
        ],
        [{"connector": "Smart host to Internet", "hosts": [], "auth_mechanism": "BasicAuth"}],
    )
    text = "\n".join(errors)
    label = " (connector 'Smart host to Internet')"
    assert any(e.startswith("smart_host_routing_connectors[0].smart_hosts[0]: 'bad host!' is neither an IP address nor a valid host")
               and e.endswith(label) for e in errors), text
    assert "smart_host_routing_connectors[0].smart_host: is not an option (did you mean smart_hosts?)" + label in errors, text
    assert "smart_host_routing_connectors[0].state: must be one of present, absent" + label in errors, text
    assert "smart_host_routing_connectors[1]: must be a mapping, not a string" in errors, text
    assert "smart_host_routing_connectors[2].name: is required" in errors, text
    # no credential of its own and none from the environment: the message says where the role takes it from
    assert any(e.startswith("smart_host_routing_connectors[3]: smart_host_auth_mechanism BasicAuth needs the smart host's user name")
               and "SMART_HOST_USERNAME and SMART_HOST_PASSWORD" in e and "'Exchange smart host (mailflow.exchange)'" in e
               and e.endswith("(connector 'no credential')") for e in errors), text
    assert any(e.startswith("smart_host_routing_smart_hosts[0].hosts: must not be empty") for e in errors), text
    assert any(e.startswith("smart_host_routing_smart_hosts[0].authentication_credential: ") and "BasicAuthRequireTLS need" in e
               for e in errors), text
    assert "991199" not in text
    assert f.input_errors("nope") == ["smart_host_routing_connectors: must be a list of connectors, not a string"]


def test_cross_field_rules_come_from_the_collection_schema():
    errors = f.input_errors([dict(SEED, require_tls=True, ignore_starttls=True, authentication_credential={"username": "u", "password": "p"})])
    assert any("ignore_starttls must be false when require_tls is true" in e for e in errors), errors


def test_enum_values_in_any_case_pass_as_in_the_modules():
    item = dict(SEED, smart_host_auth_mechanism="basicauthrequiretls", authentication_credential={"username": "u", "password": "p"})
    assert f.input_errors([item]) == []


def test_plan_turns_smart_host_items_into_send_connectors_items():
    items = [
        {"connector": "Smart host to Internet", "hosts": ["relay3.contoso.net"], "auth_mechanism": "BasicAuth"},
        {"connector": "Smart host to Internet", "hosts": ["relay1.contoso.net"], "state": "absent", "fallback_to_dns": True},
        {"connector": "Other", "hosts": ["a.example", "b.example"], "exclusive": True},
    ]
    result = f.plan([SEED], {"username": "relay", "password": "pw"}, items)
    batch = result["batch"]
    assert batch[0]["name"] == SEED["name"] and batch[0]["authentication_credential"] == {"username": "relay", "password": "pw"}
    assert batch[1] == {"name": "Smart host to Internet", "smart_hosts": {"add": ["relay3.contoso.net"]},
                        "smart_host_auth_mechanism": "BasicAuth", "authentication_credential": {"username": "relay", "password": "pw"}}
    assert batch[2] == {"name": "Smart host to Internet", "smart_hosts": {"remove": ["relay1.contoso.net"]}, "fallback_to_dns": True}
    assert batch[3] == {"name": "Other", "smart_hosts": ["a.example", "b.example"]}
    assert "authentication_credential" not in items[0]


def stages(connectors, smart_hosts=None, check_mode=False, tested=None, **registered):
    """The accumulator after the role's stages (in the role's order) with these registered results."""
    acc = f.facts({}, "plan", {"connectors": connectors, "smart_hosts": smart_hosts or []}, check_mode=check_mode)
    for stage in f.STAGES:
        if stage in registered:
            acc = f.facts(acc, stage, registered[stage], **({"tested": tested} if stage == "test_message" else {}))
    return acc


def planned(*connectors, states=None):
    return {"results": [{"name": c["name"], "state": (states or {}).get(c["name"], "present"), "changed": True, "connector": c}
                        for c in connectors]}


def test_probe_targets_come_from_the_connectors_as_they_will_be_one_per_distinct_smart_host():
    a = {"name": "A", "dns_routing_enabled": False, "smart_hosts": ["192.168.3.2", "relay.contoso.net"], "port": 587,
         "require_tls": True, "ignore_starttls": False, "smart_host_auth_mechanism": "BasicAuth", "max_message_size": 36700160}
    b = dict(a, name="B")  # the same smart hosts with the same settings: probed once, labelled with both
    c = {"name": "C", "dns_routing_enabled": False, "smart_hosts": ["new.contoso.net"], "port": 25, "fqdn": "mail.contoso.com",
         "smart_host_auth_mechanism": "None"}
    dns = {"name": "DNS", "dns_routing_enabled": True, "smart_hosts": []}
    items = [{"name": "A", "authentication_credential": {"username": "relay", "password": "pw"}}, {"name": "B"}, {"name": "C"}, {"name": "DNS"}]
    targets = f.probe_targets(planned(a, b, c, dns), items, {"relay.contoso.net": "127.0.0.9"}, helo_name="ex01.contoso.com")
    assert [(t["label"], t["host"], t["port"], t.get("connect_address")) for t in targets] == [
        ("A", "192.168.3.2", 587, None), ("A", "relay.contoso.net", 587, "127.0.0.9"),
        ("B", "192.168.3.2", 587, None), ("B", "relay.contoso.net", 587, "127.0.0.9"),  # B has no credential: other settings
        ("C", "new.contoso.net", 25, None),
    ]
    assert targets[0]["authentication_credential"] == {"username": "relay", "password": "pw"}
    assert targets[0]["max_message_size"] == 36700160 and targets[0]["helo_name"] == "ex01.contoso.com"
    assert targets[4]["helo_name"] == "mail.contoso.com"  # the connector's Fqdn is what Exchange says
    same = f.probe_targets(planned(a, b), [{"name": "A"}, {"name": "B"}])
    assert [(t["label"], t["host"]) for t in same] == [("A, B", "192.168.3.2"), ("A, B", "relay.contoso.net")]
    assert f.probe_targets(planned(a), items, login=False)[0]["authentication_credential"] == {"username": "relay"}


def test_preflight_problems_honour_fail_on_and_a_probe_that_could_not_run():
    probe = {"findings": [
        {"label": "A, B", "host": "h1", "severity": "error", "code": "STARTTLS_NOT_OFFERED", "message": "no STARTTLS", "hint": "enable it"},
        {"label": "A", "host": "h1", "severity": "warning", "code": "CERT_EXPIRES_SOON", "message": "soon", "hint": "renew"},
    ]}
    assert f.preflight_problems(probe, ["error"]) == ["[ERROR] A, B -> h1: no STARTTLS (STARTTLS_NOT_OFFERED)", "    hint: enable it"]
    assert len(f.preflight_problems(probe, ["error", "warning"])) == 4
    assert f.preflight_problems({"failed": True, "msg": "targets[0].port: bad"}) == ["[ERROR] the probe could not run: targets[0].port: bad"]
    assert f.preflight_problems({"skipped": True}, ["error"]) == []


def test_readback_differences_and_changes_show_values_as_yaml_writes_them():
    apply = {"results": [{"name": "c", "state": "present", "changed": True, "written": True, "diff": {
        "before": {"name": "c", "comment": None, "require_tls": False, "smart_hosts": ["a"]},
        "after": {"name": "c", "comment": "managed by ansible", "require_tls": True, "smart_hosts": ["a", "b"]}},
        "read_back": {"connector": {"name": "c"}, "differences": ["require_tls reads False, the task wants True"]}}]}
    [s] = f.summary(stages([{"name": "c"}], apply=apply, read_back=apply))
    assert s["changes"] == ["comment: null -> managed by ansible", "require_tls: false -> true", "smart_hosts: [a] -> [a, b]"]
    assert s["read_back"] == "differs"
    assert s["read_back_differences"] == ["require_tls reads False, the task wants True"]
    assert f.report_lines([s])[0] == "Send connector 'c' (present): changed"
    assert f.verification_failures([s]) == [
        "c: read back differs: require_tls reads False, the task wants True (hint: another writer changed it after the "
        "write, or Active Directory replication; run again to see what it holds now)"]


def test_summary_and_report_never_contain_a_secret():
    connectors = [dict(SEED, authentication_credential={"username": "relay", "password": "s3cr3t-pw"})]
    command = "New-SendConnector -Name 'Smart host to Internet' -AuthenticationCredential (Get-Credential)"
    connector = {"name": SEED["name"], "dns_routing_enabled": False, "smart_hosts": ["192.168.3.2", "relay.contoso.net"],
                 "authentication_credential": {"username": "relay"}}
    apply = {"results": [{"name": SEED["name"], "state": "present", "changed": True, "commands": [command], "connector": connector,
                          "diff": {"before": {}, "after": {"port": 587, "authentication_credential": {"username": "relay", "password": "(updated)"}}}}]}
    apply["results"][0].update(written=True, read_back={"connector": connector, "differences": []})
    probes = {"probes": [{"label": SEED["name"], "host": "relay.contoso.net", "port": 587, "tls": {"version": "TLSv1.3"},
                          "auth": {"mechanisms_after_tls": ["LOGIN"], "login": {"attempted": True, "ok": True}},
                          "transcript": ["C: AUTH LOGIN", "C: ********"]}], "findings": []}
    tests = {"message_id": "<m1@contoso.com>"}
    traces = {"traces": [{"connector": SEED["name"], "result": "sent", "events": [
        {"event_id": "SEND", "connector_id": SEED["name"], "server_hostname": "relay.contoso.net", "server_ip": "192.0.2.10"}]}]}
    summaries = f.summary(stages(connectors, preflight=probes, apply=apply, read_back=apply, test_message=tests, trace=traces,
                                 protocol_log={SEED["name"]: ["> EHLO ex01"]}, tested=[{"name": SEED["name"], "recipient": "x@y"}]))
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


def test_test_connectors_and_trace_messages():
    applied = planned({"name": "A", "dns_routing_enabled": False, "smart_hosts": ["h"]}, {"name": "D", "dns_routing_enabled": True},
                      {"name": "G", "dns_routing_enabled": False, "smart_hosts": ["h"]}, states={"G": "absent"})
    tested = f.test_connectors(applied, "pat@fabrikam.com", {"a": "x@a.example"})
    assert tested == [{"name": "A", "recipient": "x@a.example", "servers": []}]
    assert f.trace_messages(tested, "<m@x>", ["EX01"]) == [
        {"message_id": "<m@x>", "connector": "A", "recipients": ["x@a.example"], "servers": ["EX01"]}]
    with_sources = [dict(tested[0], servers=["EX02"])]
    assert f.trace_messages(with_sources, "<m@x>", []) == [
        {"message_id": "<m@x>", "connector": "A", "recipients": ["x@a.example"], "servers": ["EX02"]}]
    on = f.protocol_logging(planned({"name": "A", "protocol_logging_level": "None"}, {"name": "B", "protocol_logging_level": "None"}), tested)
    assert on == [{"name": "A", "protocol_logging_level": "Verbose"}]
    assert f.protocol_logging(planned({"name": "A"}), level="None", only_changed=True) == [{"name": "A", "protocol_logging_level": "None"}]


def test_verification_failures_word_message_trace_verdicts_and_decide_nothing():
    failed = {"name": "c", "trace": {"result": "failed", "verdict": "fail", "problem": "the message did not leave through connector 'c' (failed)",
                                     "hint": "The smart host is unreachable from the transport server: ...", "events": []}}
    [failure] = f.verification_failures([failed])
    assert failure == "c: the message did not leave through connector 'c' (failed) (hint: The smart host is unreachable from the transport server: ...)"
    # no verdict of failure: not a failure, whatever the filter might think of the events
    passed = {"name": "c", "trace": {"result": "sent", "verdict": "pass", "events": [{"event_id": "SEND", "server_hostname": "elsewhere"}]}}
    assert f.verification_failures([passed]) == []
    assert f.verification_failures([{"name": "c", "test_message_id": None}])[0].startswith("c: the test message was not accepted")


def test_report_says_when_the_probe_found_nothing_to_worry_about():
    clean = {"name": "c", "state": "present", "probes": [{"host": "h", "port": 25, "findings": [{"severity": "info", "message": "i"}]}]}
    warned = {"name": "d", "state": "present", "probes": [{"host": "h", "port": 25, "findings": [{"severity": "warning", "message": "w"}]}]}
    lines = f.report_lines([clean, warned])
    assert lines.count("          no error or warning for this connector's settings") == 1
    assert "          [WARNING] w" in lines
    assert not any("[INFO]" in line for line in lines)  # info findings stay in the data


def test_report_spells_out_the_connect_and_disconnect_of_the_smtp_session():
    s = {"name": "c", "state": "present", "smtp_session": ["* attempting to connect", "+", "< 220 relay ready", "> QUIT", "- Local"]}
    lines = f.report_lines([s])
    assert lines[-5:] == [
        "          * attempting to connect", "          + connected", "          < 220 relay ready", "          > QUIT",
        "          - disconnected (Local)",
    ]


def test_smart_host_items_still_take_the_deprecated_auth_mechanism():
    old = {"connector": "Smart host to Internet", "hosts": ["relay3.contoso.net"], "auth_mechanism": "BasicAuth"}
    [item] = f.plan([], {"username": "relay", "password": "pw"}, [old])["batch"]
    assert item["smart_host_auth_mechanism"] == "BasicAuth"
    assert item["authentication_credential"]["username"] == "relay"
    errors = f.input_errors([], [dict(old, auth_mechanism="Kerberos")])
    assert len(errors) == 1 and errors[0].startswith("smart_host_routing_smart_hosts[0].smart_host_auth_mechanism: "), errors
    both = f.input_errors([], [dict(old, smart_host_auth_mechanism="BasicAuth", authentication_credential={"username": "u"})])
    assert both == ["smart_host_routing_smart_hosts[0].auth_mechanism: is the old name of smart_host_auth_mechanism: give only "
                    "smart_host_auth_mechanism (connector 'Smart host to Internet')"]


def test_without_a_write_the_apply_read_is_the_read_back():
    apply = {"results": [{"name": "c", "state": "present", "changed": False, "written": False, "connector": {"name": "c"}}]}
    [s] = f.summary(stages([{"name": "c"}], apply=apply, read_back=apply))
    assert s["read_back"] == "matches"
    [s] = f.summary(stages([{"name": "c"}], check_mode=True, apply=apply))  # check mode: no verify stage
    assert "read_back" not in s
    written = {"results": [dict(apply["results"][0], changed=True, written=True)]}
    [s] = f.summary(stages([{"name": "c"}], apply=written, read_back=written))  # written, not read back: nothing said
    assert "read_back" not in s
    gone = {"results": [dict(written["results"][0], read_back={"connector": {}, "differences": ["it does not exist"]})]}
    [s] = f.summary(stages([{"name": "c"}], apply=gone, read_back=gone))
    assert s["read_back"] == "differs" and s["read_back_differences"] == ["it does not exist"]


def test_results_are_matched_to_connectors_by_name_not_position():
    connectors = [{"name": "Alpha"}, {"name": "Beta"}]
    smart_hosts = [{"connector": "alpha", "hosts": ["r2.example"]}]
    apply = {"results": [  # another order than the input, names in another case
        {"name": "BETA", "state": "present", "changed": False, "commands": [], "connector": {"name": "Beta", "port": 25}},
        {"name": "alpha", "state": "present", "changed": True, "commands": ["Set-SendConnector -Identity 'alpha' -Port 587"],
         "connector": {"name": "Alpha", "port": 587, "smart_hosts": ["r1.example"]},
         "diff": {"before": {"name": "Alpha", "port": 25}, "after": {"name": "Alpha", "port": 587}}},
        {"name": "alpha", "state": "present", "changed": True, "commands": ["Set-SendConnector -Identity 'alpha' -SmartHosts @{Add='r2.example'}"],
         "connector": {"name": "Alpha", "port": 587, "smart_hosts": ["r1.example", "r2.example"]}},
    ]}
    traces = {"traces": [{"connector": "beta", "result": "sent", "verdict": "pass", "events": []},
                         {"connector": "ALPHA", "result": "timeout", "verdict": "fail", "problem": "p", "hint": "h", "events": []}]}
    alpha, beta = f.summary(stages(connectors, smart_hosts, apply=apply, trace=traces))
    assert (alpha["name"], beta["name"]) == ("Alpha", "Beta")
    assert alpha["changed"] is True and alpha["changes"] == ["port: 25 -> 587"] and len(alpha["commands"]) == 2
    assert alpha["smart_host_changes"] == [{"hosts": ["r2.example"], "state": "present", "exclusive": False, "changed": True,
                                            "smart_hosts_after": ["r1.example", "r2.example"]}]
    assert beta["changed"] is False and beta["changes"] == [] and beta["trace"]["verdict"] == "pass"
    assert alpha["trace"]["result"] == "timeout" and f.verification_failures([alpha, beta]) == ["Alpha: p (hint: h)"]


def test_no_change_lists_no_change_even_when_the_diff_sides_differ():
    """Issue 19 item 3: 'no change' followed by a change line contradicted itself in summary, report and set_stats."""
    unchanged = {"name": "c", "state": "present", "changed": False, "commands": [], "connector": {"name": "c"},
                 "diff": {"before": {"authentication_credential": {"username": "relay"}},
                          "after": {"authentication_credential": {"username": "relay", "password": "(updated)"}}}}
    [s] = f.summary(stages([{"name": "c"}], apply={"results": [unchanged]}))
    assert s["changes"] == [] and f.report_lines([s]) == ["Send connector 'c' (present): no change"]
    assert "authentication_credential" not in f.report_markdown([s])


def test_the_report_is_one_text_and_names_the_connector_that_took_the_message():
    trace = {"connector": "c", "result": "other_connector", "verdict": "fail", "taken_by": "Partner relay", "events": [
        {"timestamp": "t", "event_id": "SEND", "connector_id": "Partner relay", "server_hostname": "p.example", "server_ip": "192.0.2.7"}],
        "problem": "the message left through connector 'Partner relay', not connector 'c'", "hint": "Send connector 'Partner relay' took it"}
    acc = stages([{"name": "c"}], trace={"traces": [trace]})
    text = f.report_text(acc)  # an accumulator or the summaries: the same text
    assert text == f.report_text(f.summary(acc)) == "\n".join(f.report_lines(f.summary(acc)))
    assert "  trace: other_connector (Send connector Partner relay took it)" in text.splitlines()
    assert "Trace result: **other_connector** (Send connector `Partner relay` took it)" in f.report_markdown(acc)


def test_a_new_stage_is_one_entry_in_stages_and_one_section():
    assert list(f.STAGES) == ["plan", "preflight", "apply", "read_back", "test_message", "trace", "protocol_log"]
    assert [name for name, _text, _markdown in f.SECTIONS] == ["changes", "probes", "read_back", "trace", "protocol_log"]
    with pytest.raises(f.AnsibleFilterError, match="unknown stage 'audit'"):
        f.facts({}, "audit", {})


def test_messages_do_not_repeat_a_long_name_in_full():
    name = "R" * 300
    written = {"name": name, "state": "present", "changed": True, "written": True,
               "read_back": {"differences": ["port reads 25, the task wants 587"]}}
    [s] = f.summary(stages([{"name": name}], read_back={"results": [written]}))
    [failure] = f.verification_failures([s])
    assert name not in failure and failure.startswith("R" * 79 + "\u2026: read back differs: port reads 25, the task wants 587")
    probe = {"findings": [{"label": name, "host": "h", "severity": "error", "code": "X", "message": "m"}]}
    assert name not in f.preflight_problems(probe)[0]


def test_input_errors_shorten_a_long_connector_name_in_their_label():
    name = "L" * 300
    errors = f.input_errors([dict(SEED, name=name, port="x", authentication_credential={"username": "u", "password": "p"})])
    assert errors and all(name not in e for e in errors), errors
    assert errors[0].startswith("smart_host_routing_connectors[0].port: ") and errors[0].endswith("\u2026')"), errors


def _full_results():
    """Registered results as the modules return them, with keys no stage reads (snapshots, invocation, extra event
    fields) next to the ones they do."""
    connector = {"name": "A", "port": 587, "smart_hosts": ["relay.contoso.net"], "authentication_credential": {"username": "u", "password": "pw"}}
    results = [
        {"name": "A", "state": "present", "changed": True, "written": True, "commands": ["Set-SendConnector -Identity 'A' -Port 587"],
         "diff": {"before": {"port": 25}, "after": {"port": 587}}, "connector": connector, "before": dict(connector, port=25),
         "read_back": {"differences": ["port reads 25, the task wants 587"]}},
        {"name": "b", "state": "present", "changed": False, "written": False, "commands": [], "connector": {"name": "B"},
         "before": {"name": "B"}},
        {"name": "C", "changed": True, "written": True, "commands": ["Set-SendConnector -Identity 'C' -SmartHosts ..."],
         "connector": {"name": "C", "smart_hosts": ["x.example"]}},
        "not a result",
    ]
    events = [{"timestamp": "2026-05-01T13:05:00Z", "event_id": "SEND", "source": "SMTP", "connector_id": "A",
               "server_hostname": "EX01", "server_ip": "10.0.0.1", "recipient_status": "250 2.6.0", "message_subject": "probe",
               "total_bytes": 1234}]
    return {
        "apply": {"changed": True, "results": results, "invocation": {"module_args": {"connectors": [connector]}}},
        "read_back": {"changed": True, "results": results},
        "test_message": {"message_id": "<m1@contoso.com>", "probes": [{"host": "ex01"}], "findings": []},
        "trace": {"result": "sent", "attempts": 2, "invocation": {"module_args": {"messages": []}},
                  "traces": [{"connector": "A", "result": "sent", "events": events + ["not an event"], "verdict": "pass",
                              "message_id": "<m1@contoso.com>", "servers": ["EX01"], "hint": None},
                             {"connector": "B", "result": "timeout", "events": [], "verdict": "fail", "problem": "did not leave",
                              "hint": "check the queue", "last_error": "451 4.4.0", "taken_by": "Other"},
                             None]},
        "protocol_log": {"A": ["> EHLO EX01", "< 250 OK"], "b": []},
    }


def test_each_stage_copies_only_what_it_reads_and_learns_the_same():
    """READS names every key a stage reads: each stage adds the same facts from the copy of what it reads as from a
    full copy of the registered result."""
    registered = _full_results()
    start = f.facts({}, "plan", {"connectors": [{"name": "A"}, {"name": "B", "state": "present"}, {"name": "C"}], "smart_hosts": []})
    for stage, result in registered.items():
        context = {"tested": [{"name": "A", "recipient": "postmaster@contoso.com"},
                              {"name": "B", "recipient": "x@b.example", "recipient_from": "address space"}]}
        expected = f._plain(start)
        f.STAGES[stage](expected, f._plain(result), **context)
        assert f.facts(start, stage, result, **context) == expected, stage
        assert expected != start, stage  # the data makes every stage add something
    assert f._read(registered["apply"], f.READS["apply"])["results"][0].keys() == {"name", "changed", "commands", "diff", "connector"}


def test_several_stages_in_one_call_are_the_stages_chained():
    registered = _full_results()
    tested = [{"name": "A", "recipient": "postmaster@contoso.com"}]
    start = f.facts({}, "plan", {"connectors": [{"name": "A"}, {"name": "B"}], "smart_hosts": []})
    chained = start
    for stage in ("read_back", "test_message", "trace", "protocol_log"):
        chained = f.facts(chained, stage, registered[stage], tested=tested)
    together = f.facts(start, ["read_back", "test_message", "trace", "protocol_log"],
                       [registered[s] for s in ("read_back", "test_message", "trace", "protocol_log")], tested=tested)
    assert together == chained and together != start
    assert start == f.facts({}, "plan", {"connectors": [{"name": "A"}, {"name": "B"}], "smart_hosts": []})  # input unchanged
    with pytest.raises(f.AnsibleFilterError, match="2 stages but 1 results"):
        f.facts({}, ["trace", "read_back"], [{}])
    with pytest.raises(f.AnsibleFilterError, match="unknown stage 'audit'"):
        f.facts({}, ["trace", "audit"], [{}, {}])


def test_trace_messages_without_a_message_id_leave_it_to_send_test_message():
    tested = [{"name": "A", "recipient": "x@a.example", "servers": ["EX02"]}, {"name": "B", "recipient": "y@b.example", "servers": []}]
    assert f.trace_messages(tested, servers=["EX01"]) == [
        {"connector": "A", "recipients": ["x@a.example"], "servers": ["EX01"]},
        {"connector": "B", "recipients": ["y@b.example"], "servers": ["EX01"]}]
    assert f.trace_messages(tested, "") == [
        {"connector": "A", "recipients": ["x@a.example"], "servers": ["EX02"]}, {"connector": "B", "recipients": ["y@b.example"]}]


def test_a_refused_test_message_is_reported_from_message_traces_failed_result():
    """message_trace with send_test_message: a refused message fails the task without message_id; the test_message stage
    still records that the connector's test message was not accepted (only skipped or not run records nothing)."""
    start = f.facts({}, "plan", {"connectors": [{"name": "A"}], "smart_hosts": []})
    tested = [{"name": "A", "recipient": "x@a.example"}]
    refused = {"failed": True, "changed": False, "msg": "The test message was not accepted: RCPT TO refused: 550 5.7.54",
               "test_message": {"queued": False, "error": "RCPT TO refused: 550 5.7.54"}}
    [summary] = f.summary(f.facts(start, ["test_message", "trace"], [refused, refused], tested=tested))
    assert "test_message_id" in summary and summary["test_message_id"] is None and "trace" not in summary
    assert f.verification_failures([summary])[0].startswith("A: the test message was not accepted by Exchange's SMTP endpoint")
    for not_run in ({}, {"skipped": True, "changed": False}):
        assert "test_message_id" not in f.summary(f.facts(start, "test_message", not_run, tested=tested))[0]


def test_input_errors_checks_the_same_input_once(monkeypatch):
    """The validate task renders its message twice (assert's that and fail_msg): the second render of the same input
    is the first one's answer, and any other input is checked again."""
    calls = []
    real = f._input_errors
    monkeypatch.setattr(f, "_input_errors", lambda c, s: calls.append(1) or real(c, s))
    base = dict(SEED, authentication_credential={"username": "relay", "password": "pw"})
    bad = [dict(base, port=70000)]
    first = f.input_errors(bad, [])
    assert first and f.input_errors([dict(base, port=70000)], []) == first and len(calls) == 1
    first.append("changed by the caller")
    assert "changed by the caller" not in f.input_errors(bad, [])  # a copy each time
    assert f.input_errors([dict(base, port=25)], []) == [] and len(calls) == 2
    assert f.input_errors([dict(base, port="70000")], []) and len(calls) == 3  # '70000' is not 70000: checked again

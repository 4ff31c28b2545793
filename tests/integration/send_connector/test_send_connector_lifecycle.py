"""send_connector, smart_host and send_connector_info against the Exchange lab over HTTP Basic.

One lab per module; the tests run in order and walk the life cycle of the seed's connector:
create, create again, change each kind of setting, check mode, diff, smart hosts, credentials,
absent, absent again. The lab's counters prove "one read, no write" where it matters.
"""

from __future__ import annotations

from send_connector_harness import SEED_NAME, delta

SEED_TASK = """
- name: seed
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces: ['*']
    usage: Custom
    dns_routing_enabled: false
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None
  register: seed
"""
SEED_COMMAND = (
    "New-SendConnector -Name 'Smart host to Internet' -AddressSpaces 'SMTP:*;1' -Usage Custom "
    "-DNSRoutingEnabled $false -SmartHosts '192.168.3.2' -SmartHostAuthMechanism None"
)


def info(ansible):
    run = ansible.play("""
    - name: info
      mailflow.exchange.send_connector_info:
        name: Smart host to Internet
    """)
    return run.result("info")["connectors"]


def test_invalid_task_reports_every_error_and_calls_nothing(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: bad
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        address_spaces: ['*contoso.com', 'contoso.com;0']
        dns_routing_enabled: true
        smart_hosts: ['192.168.3.2', 'bad host!']
        port: 70000
        tls_auth_level: DomainValidation
        require_tls: false
      ignore_errors: true
    """)
    res = run.result("bad")
    assert res["failed"]
    paths = {e.split(":", 1)[0] for e in res["errors"]}
    assert {"address_spaces[0]", "address_spaces[1]", "dns_routing_enabled", "smart_hosts[1]", "port",
            "require_tls"} <= paths, res["errors"]
    assert "a wildcard must be the whole first label" in res["msg"] and "must be false when smart_hosts are set" in res["msg"]
    assert "tls_auth_level needs require_tls true" in res["msg"] and "(R" not in res["msg"]
    assert "Traceback" not in run.stdout + run.stderr
    moved = delta(before, lab.counters())
    assert not any(k.startswith(("cmdlet", "runspaces")) for k in moved), moved


def test_create_the_seed_connector(ansible, lab):
    before = lab.counters()
    run = ansible.play(SEED_TASK)
    res = run.result("seed")
    assert res["changed"] is True
    assert res["commands"] == [SEED_COMMAND]
    conn = res["connector"]
    assert conn["name"] == SEED_NAME
    assert conn["address_spaces"] == ["SMTP:*;1"] and conn["smart_hosts"] == ["192.168.3.2"]
    assert conn["dns_routing_enabled"] is False and conn["smart_host_auth_mechanism"] == "None"
    moved = delta(before, lab.counters())
    # the read by name, and after the New every connector's name (Get-SendConnector | Select-Object -ExpandProperty
    # Name, one pipeline): a name the read did not find is checked for look-alikes of other connectors' names
    assert moved.get("cmdlet:Get-SendConnector") == 2 and moved.get("cmdlet:Select-Object") == 1, moved
    assert moved.get("cmdlet:New-SendConnector") == 1 and moved.get("cmdlets_run") == 4, moved
    assert moved.get("writes") == 1


def test_create_again_is_one_read_and_no_write(ansible, lab):
    before = lab.counters()
    run = ansible.play(SEED_TASK)
    res = run.result("seed")
    assert res["changed"] is False and res["commands"] == []
    # usage is create-only: ignored on a re-run, quietly (this lab is Basic over http, which does warn)
    assert not [w for w in res.get("warnings", []) if "usage" in w], res.get("warnings")
    moved = delta(before, lab.counters())
    assert moved.get("cmdlets_run") == 1 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert "writes" not in moved


CHANGES = [
    ("bool", {"enabled": False}, "-Enabled $false"),
    ("int", {"port": 587}, "-Port 587"),
    ("enum any case", {"protocol_logging_level": "verbose"}, "-ProtocolLoggingLevel Verbose"),
    ("size", {"max_message_size": "20MB"}, "-MaxMessageSize 20MB"),
    ("time span in seconds", {"connection_inactivity_timeout": 300}, "-ConnectionInactivityTimeOut '00:05:00'"),
    ("string", {"comment": "managed by Ansible"}, "-Comment 'managed by Ansible'"),
    ("fqdn", {"fqdn": "Mail.Contoso.com"}, "-Fqdn 'mail.contoso.com'"),
    ("flags", {"error_policies": ["DowngradeDnsFailures"]}, "-ErrorPolicies DowngradeDnsFailures"),
    ("servers", {"source_transport_servers": ["EX01", "ex02.contoso.com"]}, "-SourceTransportServers EX01,EX02"),
    ("address space add", {"address_spaces": {"add": ["fabrikam.com;2"]}},
     "-AddressSpaces 'SMTP:*;1','SMTP:fabrikam.com;2'"),
    ("address spaces other forms", {"address_spaces": ["smtp:*;1", {"domain": "Fabrikam.com", "cost": 2}]}, None),
    ("tls", {"require_tls": True, "tls_auth_level": "domainvalidation", "tls_domain": "relay.contoso.net"},
     "-RequireTLS $true -TlsAuthLevel DomainValidation -TlsDomain 'relay.contoso.net'"),
    ("certificate name", {"tls_certificate_name": "<I>CN=Contoso CA,O=Contoso<S>CN=mail.contoso.com"},
     "-TlsCertificateName '<I>CN=Contoso CA, O=Contoso<S>CN=mail.contoso.com'"),
    ("clear", {"fqdn": "", "comment": ""}, "-Fqdn $null -Comment $null"),
]


def test_change_each_kind_of_setting_then_no_change(ansible, lab):
    """One playbook: for each kind, a task that changes it and the same task again (no change)."""
    play = """
    - name: change, then the same again
      mailflow.exchange.send_connector: "{{ {'name': 'Smart host to Internet'} | combine(item) }}"
      loop: "{{ changes }}"
      register: runs
    """
    before = lab.counters()
    twice = [settings for _kind, settings, _fragment in CHANGES for _repeat in (1, 2)]
    run = ansible.play(play, vars_={"changes": twice})
    results = run.result("change, then the same again")["results"]
    assert len(results) == 2 * len(CHANGES)
    for (kind, _settings, fragment), first, again in zip(CHANGES, results[::2], results[1::2]):
        if fragment is None:  # the same value in another spelling: nothing to do
            assert first["changed"] is False and first["commands"] == [], kind
        else:
            assert first["changed"] is True, (kind, first)
            assert first["commands"] == ["Set-SendConnector -Identity 'Smart host to Internet' " + fragment], kind
        assert again["changed"] is False and again["commands"] == [], (kind, again)
    moved = delta(before, lab.counters())
    real_changes = sum(1 for c in CHANGES if c[2] is not None)
    assert moved.get("writes") == real_changes and moved.get("cmdlet:Set-SendConnector") == real_changes
    assert moved.get("cmdlet:Get-SendConnector") == 2 * len(CHANGES)


def test_check_mode_writes_nothing(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: port in check mode
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        port: 2525
      check_mode: true
    """)
    res = run.result("port in check mode")
    assert res["changed"] is True
    assert res["commands"] == ["Set-SendConnector -Identity 'Smart host to Internet' -Port 2525"]
    assert res["connector"]["port"] == 2525
    moved = delta(before, lab.counters())
    assert "writes" not in moved and "cmdlet:Set-SendConnector" not in moved
    assert info(ansible)[0]["port"] == 587


def test_diff_shows_normalised_before_and_after(ansible):
    run = ansible.play("""
    - name: diff
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        port: 25
        max_message_size: 36700160
      diff: true
    """)
    res = run.result("diff")
    assert res["diff"]["before"]["port"] == 587 and res["diff"]["after"]["port"] == 25
    # sizes as the Exchange Management Shell writes them (the connector result keeps the bytes)
    assert res["diff"]["before"]["max_message_size"] == "20 MB (20,971,520 bytes)"
    assert res["diff"]["after"]["max_message_size"] == "35 MB (36,700,160 bytes)"
    assert res["connector"]["max_message_size"] == 36700160
    assert None not in res["diff"]["before"].values() and None not in res["diff"]["after"].values()
    assert "+    \"port\": 25" in run.stdout or '"port": 25' in run.stdout


def test_info_round_trips_as_input(ansible, lab):
    connectors = info(ansible)
    assert len(connectors) == 1
    conn = connectors[0]
    assert conn["guid"] and conn["identity"] == SEED_NAME and conn["distinguished_name"].startswith("CN=")
    settings = {k: v for k, v in conn.items() if k not in ("guid", "identity", "distinguished_name")}
    before = lab.counters()
    run = ansible.play("""
    - name: round trip
      mailflow.exchange.send_connector: "{{ settings }}"
    """, vars_={"settings": settings})
    res = run.result("round trip")
    assert not res["failed"] and res["changed"] is False, res
    assert "writes" not in delta(before, lab.counters())


def test_smart_host_add_remove_exclusive(ansible, lab):
    run = ansible.play("""
    - name: add
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [Relay.Contoso.NET, '[192.168.3.2]']
    - name: add again
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [relay.contoso.net]
    - name: exclusive
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [10.0.0.9, 10.0.0.10]
        exclusive: true
    - name: remove one
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [10.0.0.10]
        state: absent
    - name: remove the last without fallback
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [10.0.0.9]
        state: absent
      ignore_errors: true
    """)
    add = run.result("add")
    assert add["changed"] and add["commands"] == [
        "Set-SendConnector -Identity 'Smart host to Internet' -SmartHosts @{Add='relay.contoso.net'}"]
    assert add["smart_hosts"] == ["192.168.3.2", "relay.contoso.net"]
    add_again = run.result("add again")
    assert not add_again["failed"] and add_again["changed"] is False, add_again
    excl = run.result("exclusive")
    assert excl["commands"] == ["Set-SendConnector -Identity 'Smart host to Internet' -SmartHosts '10.0.0.9','10.0.0.10'"]
    assert run.result("remove one")["commands"] == [
        "Set-SendConnector -Identity 'Smart host to Internet' -SmartHosts @{Remove='10.0.0.10'}"]
    refused = run.result("remove the last without fallback")
    assert refused["failed"] and "fallback_to_dns" in refused["msg"] and "(R" not in refused["msg"]
    assert info(ansible)[0]["smart_hosts"] == ["10.0.0.9"]


def test_smart_host_fallback_to_dns_and_back_in_one_call(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: fallback
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [10.0.0.9]
        state: absent
        fallback_to_dns: true
    - name: first smart host again
      mailflow.exchange.smart_host:
        connector: Smart host to Internet
        hosts: [192.168.3.2]
    """)
    fallback = run.result("fallback")
    assert fallback["commands"] == [
        "Set-SendConnector -Identity 'Smart host to Internet' -DNSRoutingEnabled $true -SmartHosts $null"]
    assert fallback["connector"]["dns_routing_enabled"] is True and fallback["smart_hosts"] == []
    back = run.result("first smart host again")
    assert back["commands"] == ["Set-SendConnector -Identity 'Smart host to Internet' -DNSRoutingEnabled $false "
                                "-SmartHosts @{Add='192.168.3.2'}"]
    moved = delta(before, lab.counters())
    assert moved.get("writes") == 2 and moved.get("cmdlet:Set-SendConnector") == 2
    now = info(ansible)[0]
    assert now["dns_routing_enabled"] is False and now["smart_hosts"] == ["192.168.3.2"]


def cred_task(name, mode, user="relay-user"):
    return """
- name: %s
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    smart_host_auth_mechanism: BasicAuth
    authentication_credential:
      username: %s
      password: "{{ relay_password }}"
    update_password: %s
""" % (name, user, mode)


def test_credential_update_password_both_ways(ansible, lab):
    run = ansible.play(
        cred_task("set", "on_create") + cred_task("again on_create", "on_create") + cred_task("again always", "always"),
        vars_={"relay_password": "Rotate-Me-4711"},
    )
    first, again, always = run.result("set"), run.result("again on_create"), run.result("again always")
    assert first["changed"] and first["commands"] == [
        "Set-SendConnector -Identity 'Smart host to Internet' -SmartHostAuthMechanism BasicAuth "
        "-AuthenticationCredential (Get-Credential)"]
    assert first["connector"]["authentication_credential"] == {"username": "relay-user"}
    assert not again["failed"] and again["changed"] is False, again
    # always sends the password again; the same one, so Exchange answers that nothing was modified: no change,
    # and no warning (rotating with the same playbook every night must stay quiet)
    assert always["changed"] is False and always["commands"] == [
        "Set-SendConnector -Identity 'Smart host to Internet' -AuthenticationCredential (Get-Credential)"]
    assert not [w for w in always.get("warnings", []) if "modified" in w], always
    assert "Rotate-Me-4711" not in run.stdout + run.stderr
    rotated = ansible.play(cred_task("rotate", "always"), vars_={"relay_password": "Rotate-Me-4712"}).result("rotate")
    assert rotated["changed"] is True and rotated["commands"] == always["commands"], rotated
    assert info(ansible)[0]["authentication_credential"] == {"username": "relay-user"}
    other = ansible.play(cred_task("same user", "on_create"), vars_={"relay_password": "x-Other-1"})
    same = other.result("same user")
    assert not same["failed"] and same["changed"] is False, same  # on_create keeps the old password
    renamed = ansible.play(cred_task("renamed", "on_create", "relay-user2"), vars_={"relay_password": "x-Other-1"})
    assert renamed.result("renamed")["changed"] is True
    # with a credential set, the info output (user name, no password) is still valid input, and changes nothing
    conn = info(ansible)[0]
    settings = {k: v for k, v in conn.items() if k not in ("guid", "identity", "distinguished_name")}
    assert settings["authentication_credential"] == {"username": "relay-user2"}
    round_trip = ansible.play("""
    - name: round trip
      mailflow.exchange.send_connector: "{{ settings }}"
    """, vars_={"settings": settings})
    res = round_trip.result("round trip")
    assert not res["failed"] and res["changed"] is False, res  # a failed task also reports changed: false


def test_password_never_appears_at_vvvv(ansible):
    secret = "Zz-Very-Secret-Password-9876"
    run = ansible.play("""
    - name: set credential
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        smart_host_auth_mechanism: BasicAuthRequireTLS
        require_tls: true
        smart_hosts: [relay.contoso.net]
        authentication_credential:
          username: relay-user
          password: "{{ relay_password }}"
        update_password: always
      diff: true
    """, args=["-vvvv", "--diff"], vars_={"relay_password": secret})
    res = run.result("set credential")
    assert res["changed"] is True
    assert "(Get-Credential)" in res["commands"][0]
    assert secret not in run.stdout and secret not in run.stderr
    assert secret not in str(run.records)
    # the Exchange password (from EXCHANGE_PASSWORD) does not show either
    assert ansible.lab.ready["password"] not in run.stdout + run.stderr
    assert "relay-user" in run.stdout and "ESTABLISH LOCAL CONNECTION" in run.stdout  # -vvvv printed details


def test_readonly_user_gets_a_clear_permission_error(ansible, lab):
    run = ansible.play("""
    - name: as viewer
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        port: 26
      ignore_errors: true
    """, user="readonly")
    res = run.result("as viewer")
    assert res["failed"]
    assert "Set-SendConnector failed: the account viewer may not run it" in res["msg"]
    assert res["commands"] == ["Set-SendConnector -Identity 'Smart host to Internet' -Port 26"]
    assert "Traceback" not in run.stdout


def test_absent_then_absent_again(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: absent
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        state: absent
      diff: true
    - name: absent again
      mailflow.exchange.send_connector:
        name: Smart host to Internet
        state: absent
    """)
    gone, again = run.result("absent"), run.result("absent again")
    assert gone["changed"] and gone["commands"] == [
        "Remove-SendConnector -Identity 'Smart host to Internet' -Confirm:$false"]
    assert gone["diff"]["before"]["name"] == SEED_NAME and gone["diff"]["after"] == {}
    assert again["changed"] is False and again["commands"] == []
    assert delta(before, lab.counters()).get("writes") == 1
    assert info(ansible) == []


def test_smart_host_on_missing_connector_is_a_clear_error(ansible):
    run = ansible.play("""
    - name: missing
      mailflow.exchange.smart_host:
        connector: Nope
        hosts: [192.168.3.2]
      ignore_errors: true
    """)
    res = run.result("missing")
    assert res["failed"] and "the Send connector 'Nope' does not exist" in res["msg"]


def test_create_without_address_spaces_is_refused_before_writing(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: no spaces
      mailflow.exchange.send_connector:
        name: Half a connector
        port: 25
      ignore_errors: true
    """)
    res = run.result("no spaces")
    assert res["failed"] and "address_spaces: required to create a Send connector" in res["msg"]
    assert "writes" not in delta(before, lab.counters())


def test_create_with_require_tls_relies_on_exchange_defaults(ansible, lab):
    """require_tls + tls_auth_level without ignore_starttls: Exchange's default (False) satisfies R11/R13."""
    run = ansible.play("""
    - name: tls connector
      mailflow.exchange.send_connector:
        name: TLS to relay
        address_spaces: ["tls.example.test"]
        smart_hosts: [relay.example.test]
        require_tls: true
        tls_auth_level: CertificateValidation
    - name: tls connector check mode
      mailflow.exchange.send_connector:
        name: TLS to relay 2
        address_spaces: ["tls2.example.test"]
        smart_hosts: [relay.example.test]
        require_tls: true
      check_mode: true
    - name: tls connector removed
      mailflow.exchange.send_connector:
        name: TLS to relay
        state: absent
    """)
    res = run.result("tls connector")
    assert res["changed"] is True and not res["failed"], res
    assert res["connector"]["ignore_starttls"] is False and res["connector"]["tls_auth_level"] == "CertificateValidation"
    check = run.result("tls connector check mode")
    assert check["changed"] is True and not check["failed"], check
    # check mode predicts what Exchange would create, defaults included
    assert check["connector"]["port"] == 25 and check["connector"]["ignore_starttls"] is False
    assert run.result("tls connector removed")["changed"] is True

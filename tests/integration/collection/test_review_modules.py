"""Reviewer's tests: defects found by exercising send_connector, smart_host and send_connector_info
through real ansible-playbook runs against the Exchange lab (HTTP Basic), as an administrator would.

Each test names the defect it guards against. The lab's counters prove "no remote call" for invalid
input and "one read, no write" for a run that must change nothing.
"""

from __future__ import annotations

import pytest

from send_connector_harness import delta

CONNECTOR = "Review relay"


def no_remote_call(moved: dict) -> bool:
    return not any(k.startswith(("cmdlet", "runspaces", "writes")) for k in moved)


def one_read_no_write(moved: dict) -> bool:
    return moved.get("cmdlets_run") == 1 and moved.get("cmdlet:Get-SendConnector") == 1 and "writes" not in moved


def test_create_review_connector_with_a_credential(ansible):
    run = ansible.play("""
    - name: create
      mailflow.exchange.send_connector:
        name: Review relay
        address_spaces: ['review.example']
        smart_hosts: [relay.review.example]
        smart_host_auth_mechanism: BasicAuth
        authentication_credential:
          username: relay-user
          password: "{{ relay_password }}"
    """, vars_={"relay_password": "Review-Pass-123"})
    res = run.result("create")
    assert res["changed"] is True and not res["failed"], res


def test_info_with_credential_round_trips_through_both_modules(ansible, lab):
    """Defect: send_connector_info returns the credential as {username} (Exchange cannot show the
    password); given back, Ansible fills in password: null and the schema refused the task."""
    info = ansible.play("""
    - name: info
      mailflow.exchange.send_connector_info:
        name: Review relay
    """).result("info")["connectors"][0]
    assert info["authentication_credential"] == {"username": "relay-user"}
    settings = {k: v for k, v in info.items() if k not in ("guid", "identity", "distinguished_name")}
    before = lab.counters()
    run = ansible.play("""
    - name: round trip
      mailflow.exchange.send_connector: "{{ settings }}"
    """, vars_={"settings": settings})
    res = run.result("round trip")
    assert not res["failed"] and res["changed"] is False, res
    assert one_read_no_write(delta(before, lab.counters()))

    before = lab.counters()
    run = ansible.play("""
    - name: smart host, same user, no password
      mailflow.exchange.smart_host:
        connector: Review relay
        hosts: [relay.review.example]
        smart_host_auth_mechanism: BasicAuth
        authentication_credential:
          username: relay-user
    """)
    res = run.result("smart host, same user, no password")
    assert not res["failed"] and res["changed"] is False, res
    assert one_read_no_write(delta(before, lab.counters()))


def test_credential_of_another_user_without_password_is_refused_before_writing(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: other user
      mailflow.exchange.smart_host:
        connector: Review relay
        hosts: [relay.review.example]
        authentication_credential:
          username: someone-else
      ignore_errors: true
    """)
    res = run.result("other user")
    assert res["failed"] and "authentication_credential.password: required" in res["msg"], res
    assert "writes" not in delta(before, lab.counters())


def test_a_new_connector_with_a_user_name_and_no_password_cannot_be_created(ansible, lab):
    """Issue 19 item 9: a connector that does not exist yet is not "changed", and no password is "kept"."""
    before = lab.counters()
    run = ansible.play("""
    - name: new without password
      mailflow.exchange.send_connector:
        name: Review new relay
        address_spaces: [new.review.example]
        smart_hosts: [relay.review.example]
        dns_routing_enabled: false
        source_transport_servers: [EX01]
        smart_host_auth_mechanism: BasicAuth
        authentication_credential:
          username: relay-user
      ignore_errors: true
    """)
    res = run.result("new without password")
    assert res["failed"] and res["msg"].startswith("the Send connector 'Review new relay' cannot be created"), res
    assert "a new connector needs a password on create (user relay-user)" in res["msg"], res["msg"]
    assert "cannot be changed" not in res["msg"] and "cannot be kept" not in res["msg"], res["msg"]
    assert "writes" not in delta(before, lab.counters())


@pytest.mark.parametrize("size", [-5, "-5"])
def test_negative_max_message_size_is_refused_before_any_call(ansible, lab, size):
    """Defect: -5 (an integer) was rounded up to 0 and sent as -MaxMessageSize 0B."""
    before = lab.counters()
    run = ansible.play("""
    - name: negative size
      mailflow.exchange.send_connector:
        name: Review relay
        max_message_size: "{{ size }}"
      ignore_errors: true
    """, vars_={"size": size})
    res = run.result("negative size")
    assert res["failed"], res
    assert any(e.startswith("max_message_size:") for e in res["errors"]), res
    assert no_remote_call(delta(before, lab.counters()))


def test_largest_max_message_size_is_accepted_and_idempotent(ansible, lab):
    """Defect: 2147483647 bytes (the documented maximum) rounded up to 2147483648 and was refused,
    although Exchange (and the lab) accept it and keep 2147483647."""
    task = """
    - name: largest size
      mailflow.exchange.send_connector:
        name: Review relay
        max_message_size: 2147483647
    """
    first = ansible.play(task).result("largest size")
    assert not first["failed"] and first["changed"] is True, first
    assert first["connector"]["max_message_size"] == 2147483647
    before = lab.counters()
    again = ansible.play(task).result("largest size")
    assert not again["failed"] and again["changed"] is False, again
    assert one_read_no_write(delta(before, lab.counters()))


def test_empty_source_transport_servers_is_refused_before_any_call(ansible, lab):
    """Defect: source_transport_servers: [] reached Exchange, which refused it (a connector needs a source server)."""
    before = lab.counters()
    run = ansible.play("""
    - name: no servers
      mailflow.exchange.send_connector:
        name: Review relay
        source_transport_servers: []
      ignore_errors: true
    """)
    res = run.result("no servers")
    assert res["failed"] and "source_transport_servers" in res["msg"], res
    assert no_remote_call(delta(before, lab.counters()))


def test_removing_the_last_source_server_is_refused_before_writing(ansible, lab):
    before = lab.counters()
    run = ansible.play("""
    - name: remove the only server
      mailflow.exchange.send_connector:
        name: Review relay
        source_transport_servers:
          remove: [ex01.contoso.com]
      ignore_errors: true
    """)
    res = run.result("remove the only server")
    assert res["failed"] and "source_transport_servers" in res["msg"] and "at least one" in res["msg"], res
    moved = delta(before, lab.counters())
    assert moved.get("cmdlets_run") == 1 and "writes" not in moved, moved


def test_check_mode_predicts_the_connector_the_real_create_returns(ansible):
    """Defect: check mode left out settings Exchange fills in (credential, source IP), so its
    connector differed from the real run's. Only the source server (the server that runs the
    cmdlet) cannot be known beforehand."""
    task = """
    - name: create
      mailflow.exchange.send_connector:
        name: Predicted
        address_spaces: ['predicted.example;3']
        smart_hosts: ['[10.1.1.1]']
        usage: internal
    """
    check = ansible.play(task, args=["--check"]).result("create")
    real = ansible.play(task).result("create")
    assert check["changed"] is True and real["changed"] is True
    assert check["commands"] == real["commands"]
    predicted = dict(check["connector"])
    created = {k: v for k, v in real["connector"].items() if k != "source_transport_servers"}
    assert predicted == created


def test_a_wildcard_name_never_touches_another_connector(ansible, lab):
    """Defect: Get-SendConnector -Identity 'Review*' also returns 'Review relay', and the module took
    that connector for 'Review*': state absent removed it, and a change went to it."""
    before = lab.counters()
    run = ansible.play("""
    - name: absent with a wildcard
      mailflow.exchange.send_connector:
        name: Review*
        state: absent
      ignore_errors: true
    - name: absent with an empty name
      mailflow.exchange.send_connector:
        name: ''
        state: absent
      ignore_errors: true
    - name: present with a wildcard
      mailflow.exchange.send_connector:
        name: Review*
        port: 2525
      ignore_errors: true
    - name: smart host with a wildcard
      mailflow.exchange.smart_host:
        connector: Review*
        hosts: [10.9.9.9]
      ignore_errors: true
    - name: still there
      mailflow.exchange.send_connector_info:
        name: Review relay
    """)
    # A name with wildcard characters is matched exactly (all connectors are read and compared here):
    # 'Review*' is not 'Review relay', so absent changes nothing and the others find no connector.
    gone = run.result("absent with a wildcard")
    assert not gone["failed"] and gone["changed"] is False, gone
    empty = run.result("absent with an empty name")
    assert empty["failed"] and empty["errors"] == ["name: must not be empty or blank"], empty
    present = run.result("present with a wildcard")
    assert present["failed"] and "address_spaces: required to create a Send connector" in present["msg"], present
    smart = run.result("smart host with a wildcard")
    assert smart["failed"] and "the Send connector 'Review*' does not exist" in smart["msg"], smart
    conn = run.result("still there")["connectors"]
    assert [c["name"] for c in conn] == [CONNECTOR] and conn[0]["port"] == 25 and conn[0]["smart_hosts"] == [
        "relay.review.example"]
    moved = delta(before, lab.counters())
    # 7 reads: the absent, present and smart_host tasks that find no connector ask the run's domain controller
    # once more before deciding (a first read may predate AD replication of a recent change)
    assert "writes" not in moved and moved.get("cmdlet:Get-SendConnector") == 7, moved


def test_an_address_space_with_a_new_cost_replaces_the_old_one(ansible, lab):
    """Defect: {add: ['review.example;5']} next to 'review.example;1' sent both, which Exchange refuses
    (an address space may appear once); ['*', '*;2'] passed validation and failed at Exchange."""
    before = lab.counters()
    run = ansible.play("""
    - name: two costs
      mailflow.exchange.send_connector:
        name: Review relay
        address_spaces: ['*', '*;2']
      ignore_errors: true
    """)
    res = run.result("two costs")
    assert res["failed"] and res["errors"][0].startswith("address_spaces: items 0 and 1 are the same address space")
    assert no_remote_call(delta(before, lab.counters()))

    task = """
    - name: new cost
      mailflow.exchange.send_connector:
        name: Review relay
        address_spaces:
          add: ['Review.example;5']
    """
    first = ansible.play(task).result("new cost")
    assert not first["failed"] and first["changed"] is True, first
    assert first["commands"] == ["Set-SendConnector -Identity 'Review relay' -AddressSpaces 'SMTP:review.example;5'"]
    before = lab.counters()
    again = ansible.play(task).result("new cost")
    assert not again["failed"] and again["changed"] is False, again
    assert one_read_no_write(delta(before, lab.counters()))


@pytest.mark.parametrize("env, text", [
    ({"EXCHANGE_PROTOCOL": "https"}, "did not answer with TLS; if it expects plain http, set protocol http"),
    ({"EXCHANGE_PROTOCOL": "https", "EXCHANGE_CA_CERT": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem does not exist"),
    ({"EXCHANGE_USERNAME": ""}, "basic authentication needs username: give it (or set EXCHANGE_USERNAME)"),
])
def test_connection_mistakes_are_named(ansible, lab, env, text):
    """Defect: https against a plain-http endpoint said 'TLS certificate validation failed ... give the CA',
    a missing ca_cert file said the same, and a missing user name gave pypsrp's own sentence."""
    run = ansible.play("""
    - name: info
      mailflow.exchange.send_connector_info:
      ignore_errors: true
    """, env=env)
    res = run.result("info")
    assert res["failed"] and text in res["msg"], res
    assert "TLS certificate validation" not in res["msg"] and "Traceback" not in run.stdout + run.stderr


def test_info_with_an_empty_name_is_refused_before_any_call(ansible, lab):
    """Defect: name: '' (say, an unset variable) listed every connector, because Get-SendConnector treats
    an empty identity like none (docs/exchange-rules.md section 1.3); a playbook that acts on 'the' connector found would act on all."""
    before = lab.counters()
    run = ansible.play("""
    - name: info
      mailflow.exchange.send_connector_info:
        name: "{{ unset | default('') }}"
      ignore_errors: true
    """)
    res = run.result("info")
    assert res["failed"] and res["errors"] == [
        "name: must not be empty or blank; leave name out to list every connector"], res
    assert no_remote_call(delta(before, lab.counters()))

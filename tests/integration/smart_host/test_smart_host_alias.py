"""smart_host's connector authentication is smart_host_auth_mechanism, like send_connector's and smtp_probe's;
the old name auth_mechanism still works for now, with a deprecation warning that says what to write."""

from __future__ import annotations

CREATE = """
- name: create
  mailflow.exchange.send_connector:
    name: Alias test
    address_spaces: [alias.example]
    smart_hosts: [relay.alias.example]
    smart_host_auth_mechanism: None
"""


def _smart_host(name: str, option: str, value: str) -> str:
    return """
- name: %s
  mailflow.exchange.smart_host:
    connector: Alias test
    hosts: [relay.alias.example]
    %s: %s
    authentication_credential: {username: relay-user, password: relay-pw}
""" % (name, option, value)


def test_new_name_quietly_and_old_name_with_a_deprecation(ansible):
    created = ansible.play(CREATE)
    assert not created.result("create")["failed"]
    new = ansible.play(_smart_host("new name", "smart_host_auth_mechanism", "BasicAuth"))
    result = new.result("new name")
    assert not result["failed"] and result["changed"] is True, result
    assert "DEPRECATION" not in new.stdout + new.stderr
    assert any("-SmartHostAuthMechanism BasicAuth" in c for c in result["commands"]), result["commands"]

    old = ansible.play(_smart_host("old name", "auth_mechanism", "basicauthrequiretls"))
    result = old.result("old name")
    assert not result["failed"] and result["changed"] is True, result
    assert any("-SmartHostAuthMechanism BasicAuthRequireTLS" in c for c in result["commands"]), result["commands"]
    output = " ".join((old.stdout + old.stderr).split())
    assert "[DEPRECATION WARNING]" in output and "auth_mechanism" in output, output[-3000:]
    assert "2.0.0" in output, output[-3000:]

"""The modules over each way of reaching Exchange: HTTPS with the lab's CA, NTLM; and each way it can fail.

Every failure must be one clear sentence in ``msg`` (no traceback), and nothing must be written.
"""

from __future__ import annotations

import re
import socket


from send_connector_harness import Ansible

LIFE = """
- name: create
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces: ['*']
    usage: Custom
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None
- name: create again
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces: ['SMTP:*;1']
    smart_hosts: ['[192.168.3.2]']
- name: credential
  mailflow.exchange.smart_host:
    connector: Smart host to Internet
    hosts: [relay.contoso.net]
    smart_host_auth_mechanism: BasicAuth
    authentication_credential: {username: relay-user, password: "{{ relay_password }}"}
- name: info
  mailflow.exchange.send_connector_info:
- name: absent
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    state: absent
"""


def walk_life_cycle(ansible, tasks=LIFE):
    run = ansible.play(tasks, vars_={"relay_password": "Pw-over-the-wire-1"})
    assert run.result("create")["changed"] is True, run.stdout[-2000:]
    again = run.result("create again")
    assert not again["failed"] and again["changed"] is False, again
    cred = run.result("credential")
    assert cred["changed"] is True and cred["connector"]["authentication_credential"] == {"username": "relay-user"}
    connectors = run.result("info")["connectors"]
    assert [c["name"] for c in connectors] == ["Smart host to Internet"]
    assert connectors[0]["smart_hosts"] == ["192.168.3.2", "relay.contoso.net"]
    assert run.result("absent")["changed"] is True
    assert "Pw-over-the-wire-1" not in run.stdout + run.stderr
    return run


def test_https_with_the_lab_ca(https_lab, tmp_path):
    ansible = Ansible(https_lab, str(tmp_path))
    run = walk_life_cycle(ansible)
    assert "clear text" not in run.stdout  # https: no warning about basic over http


def test_ntlm_with_message_encryption(ntlm_lab, tmp_path):
    walk_life_cycle(Ansible(ntlm_lab, str(tmp_path)))


def test_ntlm_with_message_encryption_on_a_kept_runspace(ntlm_lab, tmp_path):
    """keep_session over NTLM: the broker forked from the first task goes on with the pool's NTLM sealing (its
    sequence numbers) for the next four tasks; the last, with keep_session 0, closes it."""
    kept = re.sub(r"(  mailflow\.exchange\.\w+:\n)", "\\1    keep_session: 30\n", LIFE)
    last = "    keep_session: 30\n    name: Smart host to Internet\n    state: absent"
    assert kept.count(last) == 1
    before = ntlm_lab.counters()
    walk_life_cycle(Ansible(ntlm_lab, str(tmp_path)), kept.replace(last, last.replace(": 30", ": 0")))
    after = ntlm_lab.counters()
    assert after["runspaces_opened"] - before.get("runspaces_opened", 0) == 1  # one for the five tasks
    assert after["runspaces_closed"] - before.get("runspaces_closed", 0) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_connection_failure_is_one_clear_sentence(https_lab, tmp_path):
    ansible = Ansible(https_lab, str(tmp_path))
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        run = ansible.play("""
        - name: refused
          mailflow.exchange.send_connector_info: {server_port: "{{ closed_port }}"}
          ignore_errors: true
        - name: untrusted certificate
          mailflow.exchange.send_connector_info: {ca_cert: /etc/ssl/certs/ca-certificates.crt}
          ignore_errors: true
        - name: wrong password
          mailflow.exchange.send_connector_info: {password: not-the-password}
          ignore_errors: true
        - name: wrong path
          mailflow.exchange.send_connector_info: {path: wsman-nothing-here}
          ignore_errors: true
        - name: no answer
          mailflow.exchange.send_connector_info:
            server_port: "{{ silent_port }}"
            connection_timeout: 2
            operation_timeout: 1
          ignore_errors: true
        - name: no server
          mailflow.exchange.send_connector_info:
          environment: {EXCHANGE_SERVER: ""}
          ignore_errors: true
        """, vars_={"closed_port": _closed_port(), "silent_port": silent.getsockname()[1]})
    finally:
        silent.close()
    expected = {
        "refused": "connection refused",
        "untrusted certificate": "was not issued by the CA in ca_cert /etc/ssl/certs/ca-certificates.crt",
        "wrong password": "rejected the credentials of user admin with basic authentication (HTTP 401)",
        "wrong path": "was not found (HTTP 404)",
        "no answer": "did not answer",
        "no server": "server is required",
    }
    for task, text in expected.items():
        res = run.result(task)
        assert res["failed"], (task, res)
        assert text in res["msg"], (task, res["msg"])
        assert "\n" not in res["msg"] and "Traceback" not in res["msg"], res["msg"]
        assert "exception" not in res or "Traceback" not in res.get("msg", "")
    assert "Traceback" not in run.stdout


def test_module_defaults_group_and_domain_controller(https_lab, tmp_path):
    """Connection options set once for the action group win over a wrong environment; the DC is pinned."""
    ansible = Ansible(https_lab, str(tmp_path))
    ready = https_lab.ready
    run = ansible.play("""
    - name: with module_defaults
      module_defaults:
        group/mailflow.exchange.exchange:
          server_port: "{{ lab_port }}"
          domain_controller: DC01.contoso.com
      block:
        - name: create via group defaults
          mailflow.exchange.send_connector:
            name: Pinned
            address_spaces: [contoso.com]
            dns_routing_enabled: true
        - name: read via group defaults
          mailflow.exchange.send_connector_info:
            name: Pinned
        - name: remove via group defaults
          mailflow.exchange.send_connector:
            name: Pinned
            state: absent
    """, env={"EXCHANGE_PORT": "1"}, vars_={"lab_port": ready["port"]})
    created = run.result("create via group defaults")
    assert created["changed"] is True, created
    assert created["commands"] == [
        "New-SendConnector -Name Pinned -AddressSpaces 'SMTP:contoso.com;1' -DNSRoutingEnabled $true "
        "-DomainController 'DC01.contoso.com'"]
    assert run.result("read via group defaults")["connectors"][0]["address_spaces"] == ["SMTP:contoso.com;1"]
    assert run.result("remove via group defaults")["commands"] == [
        "Remove-SendConnector -Identity Pinned -Confirm:$false -DomainController 'DC01.contoso.com'"]

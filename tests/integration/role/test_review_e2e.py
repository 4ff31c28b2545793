"""The main playbook tried as a new user would, one failure mode of the role README's "Failure messages and their hints" at a time.

Each case starts a test smart host configured to cause the failure and the lab that routes to it,
runs ``ansible-playbook mailflow.exchange.smart_host -i playbooks/inventory/lab.yml`` and checks
what an administrator sees: the role stops in preflight with the finding's code and its hint on a
line of its own, nothing was written to Exchange, no Python traceback and no password in the output.
"""

from __future__ import annotations

import json
import secrets

import pytest
import yaml

from role_lab import lab_with_smart_host, run_playbook
from send_connector_harness import exchange_env

PREFLIGHT = "Preflight | Stop before any change when a smart host cannot work with its connector"
PASSWORD = "Rv2-" + secrets.token_urlsafe(12)
CREDENTIAL = {"SMART_HOST_USERNAME": "relay", "SMART_HOST_PASSWORD": PASSWORD}
LOGGING = {"protocol_logging_level": "Verbose"}

# name: (smart host options, extra vars, environment, expected code, words of the hint, words the message must not have)
CASES = {
    "unreachable": ({"starttls": True}, {"smart_host_port": 1}, {}, "TCP_CONNECT_FAILED", "firewalls", None),
    "unresolvable": ({"starttls": True}, {"smart_host_smart_hosts": ["nosuch.invalid"]}, {}, "DNS_NO_ADDRESS", "DNS", None),
    "unknown_ca": (
        {"starttls": True, "cert_unknown_ca": True},
        {"smart_host_connector_settings": dict(LOGGING, require_tls=True, tls_auth_level="CertificateValidation")},
        {}, "CERT_UNTRUSTED", "issuing CA", None,
    ),
    "implicit_tls": ({"implicit_tls": True}, {}, {}, "IMPLICIT_TLS", "STARTTLS", None),
    "no_starttls_basic_auth_require_tls": (
        {"starttls": False, "auth": ["LOGIN"], "users": {"relay": PASSWORD}},
        {"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, CREDENTIAL, "STARTTLS_NOT_OFFERED", "Enable STARTTLS", None,
    ),
    "tls_domain_mismatch": (
        {"starttls": True, "cert_names": ["other.lab.test"]},
        {"smart_host_connector_settings": dict(LOGGING, require_tls=True, tls_auth_level="DomainValidation", tls_domain="smarthost.lab.test")},
        {}, "CERT_TLS_DOMAIN_MISMATCH", "TlsDomain", None,
    ),
    "expired_certificate": (
        {"starttls": True, "cert_expired": True},
        {"smart_host_connector_settings": dict(LOGGING, require_tls=True, tls_auth_level="CertificateValidation")},
        {}, "CERT_EXPIRED", "Renew", "Install the issuing CA",  # the CA is trusted: only the date is wrong
    ),
    "wrong_password": (
        {"starttls": True, "auth": ["LOGIN"], "users": {"relay": "not-" + PASSWORD}},
        {"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, CREDENTIAL, "AUTH_FAILED", "user name and password", None,
    ),
    # The connector keeps New-SendConnector's default MaxMessageSize (35 MB): larger than SIZE.
    "size_below_default_max_message_size": ({"starttls": True, "size": 10000}, {}, {}, "SIZE_TOO_SMALL", "MaxMessageSize", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight_stops_with_the_hint_and_changes_nothing(case, tmp_path):
    smart_host, extra_vars, env, code, hint_words, absent = CASES[case]
    with lab_with_smart_host(str(tmp_path / "services"), **smart_host) as lab:
        run = run_playbook(lab, tmp_path, extra_vars, env=env)
        writes = lab["lab"].counters().get("writes", 0)
    assert run.rc != 0, run.output[-4000:]
    failed = run.task(PREFLIGHT)
    assert failed["status"] == "failed", run.output[-4000:]
    message = failed["result"]["msg"]
    assert "no connector was changed" in message
    assert "(%s)\n    hint: " % code in message, message  # the hint on its own line, not a literal \n
    assert "\\n" not in message, message
    hint = message.split("(%s)\n    hint: " % code, 1)[1].split("\n", 1)[0]
    assert hint_words in hint, message
    if absent:
        assert absent not in message, message
    assert writes == 0
    assert "Traceback" not in run.output
    assert PASSWORD not in run.output


def test_example_playbook_names_the_auth_plain_problem_and_traces_the_message(tmp_path):
    """Issue 4's "Done when": playbooks/examples/prove_mail_flow.yml against a PLAIN-only smart host."""
    import os
    import subprocess
    import sys

    from role_lab import LAB_INVENTORY, ROOT, collections_path

    with lab_with_smart_host(
        str(tmp_path / "services"), starttls=True, auth=["PLAIN"], users={"relay": PASSWORD}, allow_clients=["127.0.0.1"]
    ) as lab:
        ready = lab["lab"].ready
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": collections_path(),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                **exchange_env(ready),
                "EXCHANGE_LAB_READY": lab["lab_ready_file"], "SMART_HOST_READY": lab["smart_host_ready_file"],
            }
        )
        playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        # The main job's connector, as a user has it: BasicAuthRequireTLS with a credential, for every domain.
        main_connector = tmp_path / "main_connector.yml"
        main_connector.write_text(yaml.safe_dump([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [
                {"mailflow.exchange.send_connector": {
                    "name": "Smart host to Internet", "usage": "Custom", "address_spaces": ["SMTP:*;1"],
                    "dns_routing_enabled": False, "smart_hosts": ["smarthost.lab.test"], "source_transport_servers": ["EX01"],
                    "smart_host_auth_mechanism": "BasicAuthRequireTLS", "require_tls": True,
                    "authentication_credential": {"username": "relay", "password": PASSWORD}},
                 "no_log": True, "when": "not read_only | default(false) | bool"},
                {"mailflow.exchange.send_connector_info": {"name": "Smart host to Internet"}, "register": "info"},
                {"ansible.builtin.copy": {"content": "{{ info.connectors | to_json }}", "dest": str(tmp_path / "main.json"), "mode": "0600"}},
            ],
        }]), encoding="utf-8")

        def main_as_stored(read_only: bool) -> list:
            done = subprocess.run([playbook, str(main_connector), "-i", "localhost,", "-e", "read_only=%s" % read_only],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
            assert done.returncode == 0, done.stdout[-4000:]
            return json.loads((tmp_path / "main.json").read_text(encoding="utf-8"))

        before = main_as_stored(read_only=False)
        proc = subprocess.run(
            [playbook, os.path.join(ROOT, "playbooks", "examples", "prove_mail_flow.yml"), "-i", LAB_INVENTORY],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
        )
        received = lab["smart_host"].messages()
        after = main_as_stored(read_only=True)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    # The example used a connector of its own: the main job's is exactly as before (auth not downgraded).
    assert before[0]["smart_host_auth_mechanism"] == "BasicAuthRequireTLS"
    assert after == before
    assert "Smart host to Internet" not in out
    # The probe names the exact problem with its hint ...
    assert "ERROR | AUTH_LOGIN_NOT_OFFERED | smarthost.lab.test offers only AUTH PLAIN" in out, out
    assert "Enable the LOGIN mechanism on the smart host" in out
    # ... and the trace shows the test message leaving through the connector to the smart host.
    assert "SEND | Prove mail flow (example) | smarthost.lab.test | 250 " in out, out
    assert "left through Prove mail flow (example) to smarthost.lab.test" in out
    assert len(received) == 1 and received[0].message_id in out
    assert "Traceback" not in out and ready["password"] not in out


def test_second_run_of_the_main_playbook_is_quiet(tmp_path):
    """The main playbook always says usage: Custom; on an existing connector that is not a warning per run."""
    with lab_with_smart_host(str(tmp_path / "services"), starttls=True) as lab:
        first = run_playbook(lab, tmp_path, {})
        second = run_playbook(lab, tmp_path, {})
        unprobed = run_playbook(lab, tmp_path, {"smart_host_routing_preflight": False})
    assert first.rc == 0 and second.rc == 0 and unprobed.rc == 0, second.output[-4000:] + unprobed.output[-4000:]
    assert "usage cannot be changed" not in unprobed.output  # the role knows the connector exists without preflight too
    [created] = first.report
    assert created["changed"] is True and any("-Usage Custom" in c for c in created["commands"])
    [summary] = second.report
    assert summary["changed"] is False
    assert "usage cannot be changed" not in second.output
    assert "[WARNING]: usage" not in second.output


def test_lab_inventory_without_its_ready_files_says_what_to_export():
    import os
    import subprocess
    import sys

    from role_lab import LAB_INVENTORY, collections_path

    env = {k: v for k, v in os.environ.items() if k not in ("EXCHANGE_LAB_READY", "SMART_HOST_READY")}
    env.update({"ANSIBLE_COLLECTIONS_PATH": collections_path(), "ANSIBLE_NOCOLOR": "1"})
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "mailflow.exchange.smart_host", "-i", LAB_INVENTORY],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False,
    )
    assert proc.returncode != 0
    assert "SMART_HOST_READY is not set: export it as the path of the ready JSON of the test smart host" in proc.stdout, proc.stdout
    assert "Is a directory" not in proc.stdout

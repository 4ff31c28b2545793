"""The main playbook through ansible-runner, the engine AWX / Automation Controller runs jobs with.

A job's private data directory is laid out as AWX lays it out: the project with a playbook that
imports ``mailflow.exchange.smart_host``, the inventory, extra vars, and ``env/envvars`` holding
exactly what the two credential types of ``awx/credential_types`` inject (their injector
templates are rendered like AWX renders them). The job must succeed, publish the role's summary
with ``set_stats`` (AWX reads it from the stats event's ``artifact_data``), and no secret may
appear in any job event or in the job's stdout, even at ``-vvv``.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import secrets
import shutil
import subprocess
import sys

import yaml

from labfixture import end_brokers
from role_lab import LAB_INVENTORY, collections_path, exchange_inputs, lab_with_smart_host, load_credential_type, render_injectors

BIN = os.path.dirname(sys.executable)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _job_dir(tmp_path, lab: dict, smart_host_password: str) -> tuple[str, dict[str, str]]:
    pdd = str(tmp_path / "job")
    files = str(tmp_path / "credential-files")
    os.makedirs(files)
    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "EXCHANGE_LAB_READY": lab["lab_ready_file"],
        "SMART_HOST_READY": lab["smart_host_ready_file"],
    }
    injected = {}
    injected.update(render_injectors(load_credential_type("exchange_management"), exchange_inputs(lab["lab"]), files))
    injected.update(
        render_injectors(load_credential_type("exchange_smart_host"), {"username": "relay", "password": smart_host_password}, files)
    )
    envvars.update(injected)
    _write(os.path.join(pdd, "env", "envvars"), yaml.safe_dump(envvars))
    _write(
        os.path.join(pdd, "env", "extravars"),
        yaml.safe_dump(
            {
                "smart_host_auth_mechanism": "BasicAuthRequireTLS",
                "smart_host_connector_settings": {
                    "require_tls": True,
                    "ignore_starttls": False,
                    "tls_auth_level": "DomainValidation",
                    "tls_domain": "smarthost.lab.test",
                    "protocol_logging_level": "Verbose",
                },
            }
        ),
    )
    _write(os.path.join(pdd, "env", "cmdline"), "-vvv")
    _write(
        os.path.join(pdd, "project", "smart_host.yml"),
        "---\n- name: Route outbound mail through smart hosts\n  ansible.builtin.import_playbook: mailflow.exchange.smart_host\n",
    )
    os.makedirs(os.path.join(pdd, "inventory"))
    shutil.copy(LAB_INVENTORY, os.path.join(pdd, "inventory", "hosts.yml"))
    return pdd, injected


def test_main_playbook_through_ansible_runner(tmp_path):
    smart_host_password = secrets.token_urlsafe(18)
    with lab_with_smart_host(
        str(tmp_path / "services"),
        starttls=True,
        auth=["LOGIN"],
        auth_require_tls=True,
        users={"relay": smart_host_password},
        # a smart host slow to take the message (25 s): the trace waits, and its progress lines reach AWX's output
        data_delay=25,
        lab_config={"mail": {"connect_timeout": 90}},
    ) as lab:
        pdd, injected = _job_dir(tmp_path, lab, smart_host_password)
        # The credential types set every connection variable the modules read.
        for name in ("EXCHANGE_SERVER", "EXCHANGE_PORT", "EXCHANGE_PROTOCOL", "EXCHANGE_PATH", "EXCHANGE_AUTH",
                     "EXCHANGE_USERNAME", "EXCHANGE_PASSWORD", "EXCHANGE_VALIDATE_CERTS", "EXCHANGE_CA_CERT",
                     "SMART_HOST_USERNAME", "SMART_HOST_PASSWORD"):
            assert name in injected, name
        # the runspace the role keeps (keep_session) in this test's own directory, ended before the lab stops
        sessions = str(tmp_path / "sessions")
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), MAILFLOW_EXCHANGE_SESSION_DIR=sessions)
        runner = shutil.which("ansible-runner", path=BIN)
        assert runner, "ansible-runner is not installed (requirements-test.txt)"
        try:
            proc = subprocess.run(
                [runner, "run", pdd, "-p", "smart_host.yml", "--ident", "job1"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
            )
        finally:
            end_brokers(sessions)
        artifacts = os.path.join(pdd, "artifacts", "job1")
        with open(os.path.join(artifacts, "status"), encoding="utf-8") as handle:
            status = handle.read().strip()
        with open(os.path.join(artifacts, "stdout"), encoding="utf-8") as handle:
            stdout = handle.read()
        assert status == "successful" and proc.returncode == 0, stdout[-8000:]

        events = []
        event_texts = []
        for path in sorted(glob.glob(os.path.join(artifacts, "job_events", "*.json"))):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            event_texts.append((path, text))
            events.append(json.loads(text))
        assert events, "no job events were written"
        # The trace's progress lines (the message_trace action's display) are in the job's stdout and in its events,
        # which is what AWX shows while the job runs.
        waiting = "[exchange-lab] waiting for the message to leave through Smart host to Internet ("
        assert waiting in stdout, stdout[-8000:]
        assert any(waiting in str(e.get("stdout")) for e in events), [e.get("event") for e in events][-40:]

        # set_stats: AWX takes the artifacts of a job from the stats event.
        stats = [e for e in events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1
        summary = stats[0]["event_data"]["artifact_data"]["smart_host_routing"]
        assert [s["name"] for s in summary] == ["Smart host to Internet"]
        connector = summary[0]
        assert connector["changed"] is True
        assert connector["read_back"] == "matches"
        assert connector["trace"]["result"] == "sent"
        assert any(e["event_id"] == "SEND" and e["connector_id"] == "Smart host to Internet" for e in connector["trace"]["events"])
        assert connector["probes"][0]["auth_login"] == "ok"
        assert any("AUTH LOGIN" in line or "AUTH login" in line for line in connector["smtp_session"])

        # The injected credentials really were used: the smart host authenticated "relay" inside TLS.
        received = lab["smart_host"].wait_for_messages(1)
        assert received[0].auth_user == "relay" and received[0].tls

        # No secret anywhere in what AWX stores and shows for the job.
        secrets_used = {
            "Exchange password": injected["EXCHANGE_PASSWORD"],
            "smart host password": smart_host_password,
            # AUTH LOGIN sends it base64-encoded: the protocol log in the summary must not carry that either.
            "smart host password (base64)": base64.b64encode(smart_host_password.encode()).decode(),
        }
        for label, secret in secrets_used.items():
            assert secret not in stdout, "%s in the job's stdout" % label
            for path, text in event_texts:
                assert secret not in text, "%s in job event %s" % (label, os.path.basename(path))

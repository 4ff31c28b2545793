"""The export (playbook mailflow.exchange.export) over the Exchange lab: an organisation's connectors written as role
variables without defaults and without secrets, and that file, applied as written with the main job and the main
job's inventory, changes nothing and writes nothing."""

from __future__ import annotations

import os

import pytest
import yaml

from role_lab import APPLY, SMART_HOST_NAME, lab_with_smart_host, run_playbook
from send_connector_harness import Ansible, delta

PASSWORD = "export-lab-secret-91c2"


def connectors(port):
    return [
        {"name": "Smart host to Internet", "usage": "Custom", "address_spaces": ["SMTP:*;1"], "smart_hosts": [SMART_HOST_NAME],
         "port": port, "smart_host_auth_mechanism": "BasicAuthRequireTLS", "require_tls": True,
         "tls_auth_level": "CertificateValidation", "authentication_credential": {"username": "relay", "password": PASSWORD},
         "protocol_logging_level": "Verbose", "max_message_size": "20MB", "comment": "exported as code",
         "source_transport_servers": ["EX01"]},
        {"name": "Partner DNS", "address_spaces": ["partner.example;5"], "dns_routing_enabled": True, "require_tls": True,
         "error_policies": ["DowngradeDnsFailures"], "enabled": False, "connection_inactivity_timeout": "00:05:00",
         "source_transport_servers": ["EX01"]},
        {"name": "Scoped internal", "usage": "Internal", "address_spaces": ["scoped.example"], "dns_routing_enabled": True,
         "is_scoped_connector": True,
         "fqdn": "mail.contoso.com", "smtp_max_messages_per_connection": 50, "source_transport_servers": ["EX01"]},
    ]


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    with lab_with_smart_host(str(work / "services"), starttls=True, auth=["LOGIN"], users={"relay": PASSWORD}) as lab:
        port = lab["smart_host"].ready["port"]
        os.makedirs(str(work / "setup"), exist_ok=True)
        setup = Ansible(lab["lab"], str(work / "setup"))
        tasks = yaml.safe_dump([{"name": "seed", "mailflow.exchange.send_connectors": {"connectors": connectors(port)}}])
        res = setup.play(tasks).result("seed")
        assert not res["failed"], res
        yield dict(lab, work=work)


def playbook(org, name, *args):
    """The collection's playbook ``name`` against the lab, with no smart host credential from the environment."""
    return run_playbook(org, org["work"], {}, *args, playbook="mailflow.exchange.%s" % name,
                        env={"SMART_HOST_USERNAME": None, "SMART_HOST_PASSWORD": None})


def test_export_then_apply_as_written_changes_nothing(org):
    lab = org["lab"]
    path = org["work"] / "connectors.yml"
    before = lab.counters()
    run = playbook(org, "export", "-e", "export_file=%s" % path)
    assert run.rc == 0, run.output[-6000:]
    moved = delta(before, lab.counters())
    assert moved.get("writes", 0) == 0 and moved.get("runspaces_opened") == 1 and moved.get("cmdlet:Get-SendConnector") == 1, moved
    text = path.read_text()
    assert PASSWORD not in text and PASSWORD not in run.output
    assert "update_password: always" in text and "SMART_HOST_PASSWORD" in text  # the header says how to give one
    data = yaml.safe_load(text)
    items = {i["name"]: i for i in data["smart_host_routing_connectors"]}
    assert set(items) == {"Smart host to Internet", "Partner DNS", "Scoped internal"}
    relay = items["Smart host to Internet"]
    assert relay["authentication_credential"] == {"username": "relay"} and relay["update_password"] == "on_create"
    assert relay["smart_hosts"] == [SMART_HOST_NAME] and relay["dns_routing_enabled"] is False
    assert relay["max_message_size"] == 20 * 1024 * 1024 and relay["comment"] == "exported as code"
    partner = items["Partner DNS"]
    # defaults left out: 35 MB, port 25, no smart hosts, ...; DNS routing is kept (a create needs it stated)
    assert partner["dns_routing_enabled"] is True and items["Scoped internal"]["dns_routing_enabled"] is True
    for key in ("max_message_size", "port", "smart_hosts", "smart_host_auth_mechanism", "usage",
                "guid", "identity", "distinguished_name", "authentication_credential", "protocol_logging_level"):
        assert key not in partner, (key, partner)
    assert partner["enabled"] is False and partner["error_policies"] == ["DowngradeDnsFailures"]
    assert partner["connection_inactivity_timeout"] == "00:05:00" and partner["address_spaces"] == ["SMTP:partner.example;5"]
    scoped = items["Scoped internal"]
    assert scoped["max_message_size"] == "unlimited" and scoped["is_scoped_connector"] is True
    assert scoped["source_transport_servers"] == ["EX01"]

    before = lab.counters()
    run = playbook(org, "smart_host", "-e", "@%s" % path)
    assert run.rc == 0, run.output[-8000:]
    moved = delta(before, lab.counters())
    assert moved.get("writes", 0) == 0, moved
    (apply,) = [r for r in run.records if r["task"].endswith(APPLY)]
    assert apply["result"]["changed"] is False
    assert len(apply["result"]["results"]) == 3 and not any(r["changed"] for r in apply["result"]["results"])
    assert "changed=0" in run.output.split("PLAY RECAP")[-1], run.output[-2000:]

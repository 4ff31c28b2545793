"""send_connector_info clixml_path: Send connectors from a ``Get-SendConnector | Export-Clixml`` file, through
ansible-playbook, without a connection (no lab, and EXCHANGE_SERVER points nowhere).

The files are the public Exchange 2019 captures in tests/data/exchange (microsoft/CSS-Exchange, MIT)."""

from __future__ import annotations

import ast
import codecs
import json
import os
import subprocess
import sys

import pytest
import yaml

from send_connector_harness import ROOT, collections_path

DATA = os.path.join(ROOT, "tests", "data", "exchange")
FIRST = os.path.join(DATA, "GetSendConnector.xml")
SECOND = os.path.join(DATA, "GetSendConnectorConfiguredToRelayToM365.xml")


def documented(name: str):
    with open(os.path.join(ROOT, "plugins", "modules", "send_connector_info.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError(name)


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clixml")

    def run(tasks: list[dict]) -> dict:
        out = workdir / "results.json"
        registered = [t["register"] for t in tasks]
        collect = {"ansible.builtin.copy": {
            "dest": str(out), "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (r, r) for r in registered)}}
        playbook = workdir / "play.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                             "tasks": [dict(t, ignore_errors=True) for t in tasks] + [collect]}]))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_HOME=str(workdir / "home"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"),
                   # a connection would fail: nothing listens there
                   EXCHANGE_SERVER="127.0.0.1", EXCHANGE_PORT="9", EXCHANGE_AUTH="basic",
                   EXCHANGE_USERNAME="nobody", EXCHANGE_PASSWORD="unused")
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)],
                              capture_output=True, text=True, env=env, timeout=240, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert "Traceback" not in proc.stdout + proc.stderr
        return json.loads(out.read_text())

    return run


def info(register: str, **args) -> dict:
    return {"mailflow.exchange.send_connector_info": args, "register": register}


def test_both_captures_read_as_documented(play, tmp_path):
    utf16 = tmp_path / "utf16.xml"  # Windows PowerShell 5.1 writes Export-Clixml as UTF-16 LE with a BOM
    with open(SECOND, encoding="utf-8-sig") as handle:
        utf16.write_bytes(codecs.BOM_UTF16_LE + handle.read().encode("utf-16-le"))
    results = play([
        info("first", clixml_path=FIRST),
        info("second", clixml_path=SECOND),
        info("by_name", clixml_path=SECOND, name="  my company to OFFICE 365 "),
        info("by_guid", clixml_path=FIRST, name="0292C782-9804-4D8B-AE0E-E1C7AB90852B"),
        info("other_name", clixml_path=FIRST, name="My company to Office 365"),
        info("wildcard", clixml_path=FIRST, name="Mail*"),
        info("utf16", clixml_path=str(utf16)),
    ])
    sample = documented("RETURN")["connectors"]["sample"]
    first = results["first"]
    assert not first["failed"] and first["changed"] is False
    assert first["connectors"] == sample  # the RETURN sample is exactly what the module returns for this capture
    second = results["second"]["connectors"]
    assert [c["name"] for c in second] == ["My company to Office 365"]
    assert second[0]["smart_hosts"] == ["thistenantdoesntexists-com.mail.protection.outlook.com"]
    assert second[0]["fqdn"] == "mail.contoso.com" and second[0]["require_tls"] is True
    assert second[0]["tls_auth_level"] == "CertificateValidation" and second[0]["tls_certificate_name"] is None
    assert second[0]["max_message_size"] == 36700160 and second[0]["source_ip_address"] == "0.0.0.0"
    assert results["by_name"]["connectors"] == second
    assert results["by_guid"]["connectors"] == []  # by name only, as on a connection (a GUID is not a name)
    assert results["other_name"]["connectors"] == [] and not results["other_name"]["failed"]
    assert results["wildcard"]["connectors"] == []  # a name is matched exactly, as on a connection
    assert results["utf16"]["connectors"] == second


def test_documented_example_assertions_hold(play):
    tasks = documented("EXAMPLES")
    tasks = [t for t in tasks if "clixml_path" in t.get("mailflow.exchange.send_connector_info", {})
             or "ansible.builtin.assert" in t]
    assert len(tasks) == 2
    reader, check = tasks
    reader = dict(reader)
    reader["mailflow.exchange.send_connector_info"] = {"clixml_path": FIRST}
    results = play([reader, dict(check, register="checked")])
    assert not results["checked"]["failed"], results["checked"]


def test_bad_files_fail_with_a_sentence_naming_the_file(play, tmp_path):
    not_xml = tmp_path / "notes.txt"
    not_xml.write_text("Get-SendConnector output, as text\n")
    wrong_root = tmp_path / "message.xml"
    wrong_root.write_text('<Obj RefId="0"><TN RefId="0"><T>X</T></TN></Obj>')
    receive = tmp_path / "receive.xml"
    with open(FIRST, encoding="utf-8-sig") as handle:
        receive.write_text(handle.read().replace(
            "<T>Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig</T>",
            "<T>Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector</T>"))
    results = play([
        info("missing", clixml_path=str(tmp_path / "absent.xml")),
        info("not_xml", clixml_path=str(not_xml)),
        info("wrong_root", clixml_path=str(wrong_root)),
        info("receive", clixml_path=str(receive)),
    ])
    for key in results:
        assert results[key]["failed"] and "connectors" not in results[key], results[key]
    assert results["missing"]["msg"] == "clixml_path: cannot read %s: No such file or directory" % (tmp_path / "absent.xml")
    assert results["not_xml"]["msg"].startswith("clixml_path: %s is not an Export-Clixml file (not CLIXML: " % not_xml)
    assert "Get-SendConnector | Export-Clixml -Path FILE" in results["not_xml"]["msg"]
    assert "the root element is <Obj>, not <Objs>" in results["wrong_root"]["msg"]
    assert results["receive"]["msg"] == (
        "clixml_path: object 1 of %s is Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector, not a "
        "Send connector; export the output of Get-SendConnector" % receive)

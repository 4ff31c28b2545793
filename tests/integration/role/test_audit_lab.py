"""The audit (playbook mailflow.exchange.audit, role mode audit) over the Exchange lab: ten connectors, one per
rule class plus good ones; the three report files (the JUnit XML parsed here), nothing written to Exchange, one
runspace and one Get-SendConnector for the whole organisation, each smart host probed once, never with a password.

DomainValidation without TlsDomain on a smart-host connector is the one rule class not here: Exchange (and the lab)
refuse to store such a connector, so it can only come from an export; tests/unit/plugins/module_utils/test_audit.py
judges it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from role_lab import LAB_INVENTORY, SMART_HOST_NAME, lab_with_smart_host
from send_connector_harness import ROOT, Ansible, collections_path, delta, exchange_env

BIN = os.path.dirname(sys.executable)
PUBLIC = ["contoso-com.mail.protection.outlook.com", "smtp.sendgrid.net", "smtp.office365.com"]
SECRET = "audit-lab-secret-7f3a"


def connectors(port):
    own = {"smart_hosts": [SMART_HOST_NAME], "port": port, "source_transport_servers": ["EX01"]}
    basic = {"smart_host_auth_mechanism": "BasicAuthRequireTLS",
             "authentication_credential": {"username": "relay@contoso.com", "password": SECRET}}
    return [
        dict(own, name="Good relay", address_spaces=["good.example"], require_tls=True, tls_auth_level="CertificateValidation",
             max_message_size="10MB"),
        {"name": "Good DNS", "address_spaces": ["dns.example"], "dns_routing_enabled": True, "source_transport_servers": ["EX01"],
         "max_message_size": "10MB"},
        {"name": "M365 hybrid", "address_spaces": ["contoso.mail.onmicrosoft.com"], "smart_hosts": [PUBLIC[0]],
         "source_transport_servers": ["EX01"], "require_tls": True, "tls_auth_level": "EncryptionOnly"},
        {"name": "M365 wrong domain", "address_spaces": ["fabrikam.mail.onmicrosoft.com"], "smart_hosts": [PUBLIC[0]],
         "source_transport_servers": ["EX01"], "require_tls": True, "tls_auth_level": "DomainValidation",
         "tls_domain": "contoso.com", "cloud_services_mail_enabled": True, "fqdn": "relay.contoso.com",
         "tls_certificate_name": "<I>CN=Contoso CA<S>CN=mail.contoso.com"},
        dict(own, name="Basic in clear", address_spaces=["clear.example"], smart_host_auth_mechanism="BasicAuth",
             authentication_credential={"username": "relay", "password": SECRET}),
        {"name": "SendGrid unchecked", "address_spaces": ["sg.example"], "smart_hosts": [PUBLIC[1]], "port": 587,
         "source_transport_servers": ["EX01"], "require_tls": True, "tls_auth_level": "EncryptionOnly",
         "smart_host_auth_mechanism": "BasicAuthRequireTLS",
         "authentication_credential": {"username": "relay", "password": SECRET}},
        dict(own, name="SMTPS", address_spaces=["smtps.example"], port=465),
        dict(own, name="Switched off", address_spaces=["off.example"], enabled=False),
        {"name": "Nowhere", "address_spaces": ["nowhere.example"], "smart_hosts": ["nosuchhost.invalid"],
         "source_transport_servers": ["EX01"]},
        dict(basic, name="M365 submission", address_spaces=["sub.example"], smart_hosts=[PUBLIC[2]], port=587,
             source_transport_servers=["EX01"], require_tls=True, tls_auth_level="CertificateValidation"),
    ]


EXPECTED = {
    "Good relay": set(),
    "Good DNS": set(),
    "M365 hybrid": {"M365_CLOUD_SERVICES_MAIL", "M365_TLS_CERTIFICATE_NAME", "M365_TLS_AUTH_LEVEL"},
    "M365 wrong domain": {"M365_TLS_DOMAIN", "M365_FQDN_CERTIFICATE"},
    "Basic in clear": {"BASIC_AUTH_WITHOUT_TLS"},
    "SendGrid unchecked": {"ENCRYPTION_ONLY_PUBLIC", "PROVIDER"},
    "SMTPS": {"PORT_465"},
    "Switched off": {"DISABLED", "ROUTE"},  # ROUTE: 35 MB above the organisation's MaxSendSize (10 MB)
    "Nowhere": {"SMART_HOST_DNS"},
    "M365 submission": {"M365_SUBMISSION_BASIC_AUTH"},
}


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    work = tmp_path_factory.mktemp("audit")
    with lab_with_smart_host(str(work / "services"), aliases=PUBLIC, starttls=True) as lab:
        port = lab["smart_host"].ready["port"]
        setup = Ansible(lab["lab"], str(work / "setup"))
        os.makedirs(str(work / "setup"), exist_ok=True)
        tasks = yaml.safe_dump([{"name": "seed", "mailflow.exchange.send_connectors": {"connectors": connectors(port)}}])
        res = setup.play(tasks).result("seed")
        assert not res["failed"], res
        yield dict(lab, work=work)


def run_audit(org, *args, extra=None):
    lab = org["lab"]
    ready = lab.ready
    report_dir = org["work"] / ("report-%d" % len(os.listdir(org["work"])))
    smart = org["smart_host"].ready
    extra_vars = {"smart_host_routing_report_dir": str(report_dir),
                  "smart_host_routing_connect_addresses": {name: smart["host"] for name in [SMART_HOST_NAME, *PUBLIC]},
                  "smart_host_routing_ca_cert": smart.get("ca_cert") or "",
                  "smart_host_routing_probe_timeout": 5}
    extra_vars.update(extra or {})
    extra_file = org["work"] / ("extra-%d.yml" % len(os.listdir(org["work"])))
    extra_file.write_text(yaml.safe_dump(extra_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR="1",
               **exchange_env(ready),
               EXCHANGE_LAB_READY=org["lab_ready_file"], SMART_HOST_READY=org["smart_host_ready_file"])
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "mailflow.exchange.audit", "-i", LAB_INVENTORY,
                           "-e", "@%s" % extra_file, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)
    return proc, report_dir


def test_audit_of_ten_connectors_reports_every_rule_class_and_changes_nothing(org):
    lab = org["lab"]
    before = lab.counters()
    proc, report_dir = run_audit(org)
    assert proc.returncode == 0, proc.stdout[-6000:]
    moved = delta(before, lab.counters())
    assert moved.get("writes", 0) == 0, moved
    # one runspace at most: the run's own, or none when an earlier audit of this module's lab kept one (keep_session)
    assert moved.get("runspaces_opened", 0) <= 1, moved
    assert moved.get("cmdlet:Get-SendConnector") == 1, moved
    assert not any(k.startswith(("cmdlet:New-", "cmdlet:Set-", "cmdlet:Remove-")) for k in moved), moved

    names = sorted(os.listdir(report_dir))
    assert names == ["audit-exchange-lab.json", "audit-exchange-lab.md", "audit-exchange-lab.xml"], names
    report = json.loads((report_dir / "audit-exchange-lab.json").read_text())
    found = {c["name"]: {f["code"] for f in c["findings"]} for c in report["connectors"]}
    extra = {name for name in found if name not in EXPECTED}
    assert not extra, extra  # the lab's own seed connector, if any, is judged too
    for name, codes in EXPECTED.items():
        assert found[name] >= codes, (name, found[name])
        if not codes:
            assert found[name] == set(), (name, [f for c in report["connectors"] if c["name"] == name for f in c["findings"]])
    for connector in report["connectors"]:
        for finding in connector["findings"]:
            assert finding["reason"] and finding["fix"], finding
    # each distinct smart host (with its settings) probed once, all in one smtp_probe run
    assert report["totals"]["smart_hosts_probed"] == 9, report["totals"]
    assert report["totals"]["route_checked"] is True
    assert moved.get("cmdlet:Get-TransportConfig") == 1 and moved.get("cmdlet:Get-ExchangeServer") == 1, moved

    tree = ET.parse(str(report_dir / "audit-exchange-lab.xml"))
    suite = tree.getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == set(EXPECTED)
    errors = {c["name"]: [f for f in c["findings"] if f["severity"] == "error"] for c in report["connectors"]}
    for name, case in cases.items():
        failures = case.findall("failure")
        assert len(failures) == len(errors[name]), (name, [f.get("type") for f in failures])
        assert {f.get("type") for f in failures} == {f["code"] for f in errors[name]}
    assert int(suite.get("failures")) == sum(len(v) for v in errors.values()) > 0
    assert not cases["Good relay"].findall("failure") and not cases["Good DNS"].findall("failure")

    markdown = (report_dir / "audit-exchange-lab.md").read_text()
    assert markdown.startswith("# Send connector audit")
    assert "## M365 hybrid" in markdown and "Why: " in markdown and "Fix: " in markdown
    assert "Source: Exchange (" in markdown and "10 connector(s):" in markdown
    assert "Send connector(s):" in proc.stdout and "ERROR   Nowhere: SMART_HOST_DNS" in proc.stdout, proc.stdout[-4000:]
    everything = proc.stdout + markdown + json.dumps(report) + (report_dir / "audit-exchange-lab.xml").read_text()
    assert SECRET not in everything


def test_audit_of_an_export_clixml_file_makes_no_connection(org, tmp_path):
    """An administrator without remote PowerShell rights hands over Get-SendConnector | Export-Clixml: the audit
    judges it without connecting. The second file is the same capture with a smart host of another provider and
    DomainValidation without TlsDomain (Exchange refuses to store that, an export can still hold it)."""
    data = os.path.join(ROOT, "tests", "data", "exchange")
    capture = os.path.join(data, "GetSendConnectorConfiguredToRelayToM365.xml")
    raw = open(capture, "rb").read()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    changed = re.sub("(?i)thistenantdoesntexists-com\\.mail\\.protection\\.outlook\\.com", "relay.contoso.net", text).replace(
        "<ToString>CertificateValidation</ToString>\n        <I32>2</I32>", "<ToString>DomainValidation</ToString>\n        <I32>4</I32>")
    assert changed != text
    edited = tmp_path / "edited.xml"
    edited.write_text(changed, encoding="utf-8")
    lab = org["lab"]
    before = lab.counters()
    for path, codes in ((capture, {"M365_TLS_CERTIFICATE_NAME"}), (str(edited), {"DOMAIN_VALIDATION_WITHOUT_TLS_DOMAIN"})):
        proc, report_dir = run_audit(org, extra={"smart_host_routing_audit_clixml": path, "smart_host_routing_audit_probe": False})
        assert proc.returncode == 0, proc.stdout[-6000:]
        report = json.loads((report_dir / "audit-exchange-lab.json").read_text())
        assert report["source"] == "Export-Clixml file %s" % path
        (connector,) = report["connectors"]
        assert connector["name"] == "My company to Office 365"
        assert {f["code"] for f in connector["findings"]} == codes, connector["findings"]
        assert report["totals"]["route_checked"] is False
    moved = delta(before, lab.counters())
    assert not moved.get("runspaces_opened") and not moved.get("cmdlets_run"), moved


def test_audit_in_check_mode_without_probe_still_writes_the_report(org):
    lab = org["lab"]
    before = lab.counters()
    proc, report_dir = run_audit(org, "--check", extra={"smart_host_routing_audit_probe": False})
    assert proc.returncode == 0, proc.stdout[-6000:]
    moved = delta(before, lab.counters())
    assert moved.get("writes", 0) == 0 and moved.get("runspaces_opened", 0) <= 1, moved  # as in the test above
    report = json.loads((report_dir / "audit-exchange-lab.json").read_text())
    assert report["totals"]["smart_hosts_probed"] is None
    found = {c["name"]: {f["code"] for f in c["findings"]} for c in report["connectors"]}
    assert "SMART_HOST_DNS" not in found["Nowhere"] and found["SMTPS"] == {"PORT_465", "ROUTE"}


def test_the_audit_tag_still_runs_every_audit_task_and_the_apply_tags_none(org):
    """The audit tasks are included (one skipped task outside audit mode): --tags audit runs all of them, as it did when
    they were imported, and --tags apply,report (the apply mode's stages) runs none of them."""
    proc, report_dir = run_audit(org, "--tags", "audit", extra={"smart_host_routing_audit_probe": False})
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert sorted(os.listdir(report_dir)) == ["audit-exchange-lab.json", "audit-exchange-lab.md", "audit-exchange-lab.xml"]
    for task in ("Audit | Judge every connector", "Audit | Write the report (Markdown, JUnit XML, JSON)", "Audit | Summary",
                 "Audit | Publish the totals for AWX workflows"):
        assert "%s]" % task in proc.stdout, task
    proc, report_dir = run_audit(org, "--tags", "apply,report", extra={"smart_host_routing_audit_probe": False})
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "Audit |" not in proc.stdout and not report_dir.exists()


def test_bad_role_settings_stop_the_audit_before_it_reads_anything(org):
    """The audit checks the role's own settings first, as the apply mode's validate stage does: a bad probe timeout,
    HELO name or statistics key is named, with its rule, before any session, probe or report file."""
    lab = org["lab"]
    before = lab.counters()
    proc, report_dir = run_audit(org, extra={"smart_host_routing_probe_timeout": 0, "smart_host_routing_helo_name": "a b",
                                             "smart_host_routing_stats_key": "bad key!"})
    assert proc.returncode != 0, proc.stdout[-6000:]
    assert "smart_host_routing: 3 problem(s) in the role's settings; nothing was changed:" in proc.stdout, proc.stdout[-6000:]
    for variable in ("smart_host_routing_probe_timeout", "smart_host_routing_helo_name", "smart_host_routing_stats_key"):
        assert "  - %s: " % variable in proc.stdout, (variable, proc.stdout[-6000:])
    assert "Traceback" not in proc.stdout and not report_dir.exists()
    moved = delta(before, lab.counters())
    assert moved.get("runspaces_opened", 0) == 0 and moved.get("cmdlets_run", 0) == 0, moved

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

One SMTP probe run, as ``smtp_probe`` runs it and ``send_connector_preflight`` runs it after working out the
connectors: the options (``argument_spec``), their checks before any connection (``validate``), probing every
target and judging it against its connector's settings (``probe``). The optional test message is ``submit``'s.
"""

from __future__ import annotations

import concurrent.futures

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as checks
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import ProbeSettings, probe_hosts
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.findings import (
    SEVERITIES,
    Intent,
    evaluate,
)

# What a connector setting defaults to when the task does not give it (a smart host probed without settings).
SETTING_DEFAULTS = {"require_tls": False, "ignore_starttls": False, "smart_host_auth_mechanism": "None"}


def _settings(defaults: bool) -> dict:
    """The connector settings the probe judges: the option table's probe rows, each declared as its row declares it."""
    spec = {}
    for opt in _options.PROBED:
        spec[opt.name] = opt.argument_spec()
        if defaults and opt.name in SETTING_DEFAULTS:
            spec[opt.name]["default"] = SETTING_DEFAULTS[opt.name]
    return spec


def argument_spec() -> dict:
    # No 'choices' on the enums: Exchange binds them case-insensitively, and so does the collection's
    # option table (_options), which parses them here like everywhere else.
    return dict(
        hosts=dict(type="list", elements="str", aliases=["smart_hosts"]),
        targets=dict(
            type="list",
            elements="dict",
            options=dict(
                host=dict(type="str", required=True),
                label=dict(type="str"),
                port=dict(type="int"),
                connect_address=dict(type="str"),
                helo_name=dict(type="str"),
                **_settings(defaults=False),
            ),
        ),
        port=dict(type="int", default=25),
        connect_address=dict(type="str"),
        ca_cert=dict(type="path"),
        **_settings(defaults=True),
        timeout=dict(type="float", default=10),
        fail_on=dict(type="list", elements="str", choices=list(SEVERITIES), default=["error"]),
        helo_name=dict(type="str"),
        mail_from=dict(type="str"),
        rcpt_to=dict(type="list", elements="str", default=[]),
        send_test_message=dict(type="dict", options=checks.test_message_options("smtp_probe")),
    )


def command_value_problems(p: dict) -> list[str]:
    """Every value that goes into an SMTP command line or header, checked before any connection."""
    errors = []
    if p["mail_from"]:
        errors.extend(checks.address("mail_from", p["mail_from"]))
    for index, rcpt in enumerate(p["rcpt_to"] or []):
        errors.extend(checks.address(f"rcpt_to[{index}]", rcpt))
    if bool(p["mail_from"]) != bool(p["rcpt_to"]):
        errors.append("mail_from and rcpt_to: give both for the MAIL/RCPT test, or neither")
    if p["send_test_message"]:
        errors.extend(checks.test_message_problems("send_test_message", p["send_test_message"]))
    return errors


# Declared once: the checker words them before AnsibleModule runs, AnsibleModule enforces them too.
CONSTRAINTS = {"mutually_exclusive": [("hosts", "targets")], "required_one_of": [("hosts", "targets")]}


def validate(p: dict) -> tuple[list[checks.Target], list[str]]:
    """(targets, every problem of the task), before any connection. The declared CONSTRAINTS are checked
    with the argument types; a task that breaks one gets no further checks here."""
    errors = []
    if (p["targets"] is None) == (p["hosts"] is None):
        return [], []  # both or neither: CONSTRAINTS said so
    if p["targets"] is not None and not p["targets"]:
        errors.append("targets: give at least one target")
    if p["targets"] is not None and p["connect_address"]:
        errors.append("connect_address: give it per target in targets, not at the top level")
    targets: list[checks.Target] = []
    if not errors:
        targets, errors = checks.build_targets(p)
    if p["ca_cert"]:
        errors.extend(checks.ca_cert("ca_cert", p["ca_cert"]))
    errors.extend(checks.timeout("timeout", p["timeout"]))
    errors.extend(command_value_problems(p))
    return targets, errors


def settings_for(p: dict, target: checks.Target, fallback_helo: str) -> ProbeSettings:
    cred = target.credential or {}
    testable = bool(cred.get("username")) and cred.get("password") is not None
    return ProbeSettings(
        host=target.host,
        port=target.port,
        connect_address=target.connect_address,
        timeout=p["timeout"],
        helo_name=target.helo_name or fallback_helo,
        ca_cert=p["ca_cert"],
        tls_domain=target.tls_domain,
        username=cred.get("username") if testable else None,
        password=cred.get("password") if testable else None,
        auth_mechanism=target.auth_mechanism,
        require_tls=target.require_tls,
        mail_from=p["mail_from"],
        rcpt_to=list(p["rcpt_to"] or []),
        label=target.label,
    )


def intent_for(target: checks.Target) -> Intent:
    size = target.max_message_size
    return Intent(
        require_tls=target.require_tls,
        ignore_starttls=target.ignore_starttls,
        tls_auth_level=target.tls_auth_level,
        tls_domain=target.tls_domain,
        auth_mechanism=target.auth_mechanism,
        max_message_size=size if isinstance(size, int) else None,
        max_message_unlimited=size == "unlimited",
        credential_given=bool(target.credential and target.credential.get("password") is not None),
        connect_address_given=bool(target.connect_address),
        helo_name_given=bool(target.helo_name),
    )


def probe(p: dict, targets: list[checks.Target]) -> tuple[list[ProbeSettings], dict]:
    """Probe ``targets``, what ``validate(p)`` built from checked parameters ``p`` (it found no problem): (each
    target's settings, the result smtp_probe returns: ``probes``, ``findings`` each with its target's ``label``,
    ``summary``)."""
    fallback_helo = p["helo_name"] or checks.default_helo_name()
    all_settings = [settings_for(p, target, fallback_helo) for target in targets]
    probes = probe_hosts(all_settings)
    findings = []
    for target, found in zip(targets, probes):
        for finding in evaluate(found, intent_for(target)):
            finding["label"] = target.label
            findings.append(finding)
    summary = {severity: sum(1 for f in findings if f["severity"] == severity) for severity in SEVERITIES}
    return all_settings, {"changed": False, "probes": probes, "findings": findings, "summary": summary}


def where(finding: dict) -> str:
    return f"{finding['label']} ({finding['host']})" if finding.get("label") else finding["host"]


def failing(findings: list[dict], fail_on: list[str]) -> tuple[int, str]:
    """(how many findings have a severity in ``fail_on``, those findings listed for a failure message)."""
    found = [f for f in findings if f["severity"] in fail_on]
    return len(found), "; ".join(f"{where(f)}: {f['severity']} {f['code']}: {f['message']}" for f in found)


def start(p: dict, targets: list[checks.Target]) -> concurrent.futures.Future:
    """``probe(p, targets)`` in a thread of its own; the Future's result is probe's. A caller waits for the smart hosts
    while it reads from Exchange (send_connector_preflight)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-probe-run")
    try:
        return pool.submit(probe, p, targets)
    finally:
        pool.shutdown(wait=False)  # the submitted probe still runs to its end; the pool takes nothing more

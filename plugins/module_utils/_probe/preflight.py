# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The checks before a change of Send connectors, on the connectors as they will be (check-mode send_connectors
results): every distinct smart host probed as smtp_probe probes it (in a thread), and the Exchange side of every
route checked as send_connector_route checks it (in the caller's session, while the probe runs). Used by
send_connector_preflight (which then stops) and by send_connectors' ``preflight`` option (which writes only when
nothing in ``fail_on`` was found, from the same read).
"""

from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as _checks
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import route as _route
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import run as _probe
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import targets as _targets
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import ExchangeError, TransportError


def probe_argument_spec() -> dict:
    """The ``probe`` option: how the smart hosts are probed (smtp_probe's options that are not connector settings)."""
    return {"type": "dict", "default": {}, "options": {
        "enabled": {"type": "bool", "default": True},
        "ca_cert": {"type": "path"},
        "timeout": {"type": "float", "default": 10},
        "connect_addresses": {"type": "dict", "default": {}},
        "helo_name": {"type": "str"},
        "login": {"type": "bool", "default": True},
    }}


def fail_on_argument_spec() -> dict:
    return {"type": "list", "elements": "str", "choices": list(_probe.SEVERITIES), "default": ["error"]}


def probe_problems(probe: Any, prefix: str = "probe") -> list[str]:
    """The probe options' own rules (as smtp_probe words them), before any session."""
    probe = probe if isinstance(probe, dict) else {}
    problems = []
    if probe.get("ca_cert"):
        problems.extend(_checks.ca_cert(prefix + ".ca_cert", probe["ca_cert"]))
    if isinstance(probe.get("timeout"), (int, float)):
        problems.extend(_checks.timeout(prefix + ".timeout", probe["timeout"]))
    if probe.get("helo_name"):
        problems.extend(_checks.helo_name(prefix + ".helo_name", probe["helo_name"]))
    for host, address in (probe.get("connect_addresses") or {}).items():
        # the probe's own rule for a target's connect_address, before any session (not after the plan)
        problems.extend(_checks.connect_address_problems("%s.connect_addresses.%s" % (prefix, host), address))
    return problems


def probe_params(targets: list[dict[str, Any]], probe: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """smtp_probe's parameters for ``targets`` and the targets smtp_probe's checks built from them, through smtp_probe's
    own argument spec and checks."""
    raw = {"targets": targets, "ca_cert": probe.get("ca_cert"), "timeout": probe["timeout"],
           "helo_name": probe.get("helo_name"), "fail_on": []}
    checked = ArgumentSpecValidator(_probe.argument_spec(), **_probe.CONSTRAINTS).validate(raw)
    # (error_messages: the errors object itself is true even when it holds none)
    built, problems = ([], checked.error_messages) if checked.error_messages else _probe.validate(checked.validated_parameters)
    if problems:
        raise ExchangeError("the smart hosts of the connectors as they will be cannot be probed: %s" % "; ".join(problems))
    return checked.validated_parameters, built


def check(run: Callable[..., Any], results: list[dict[str, Any]], connectors: list[Any], probe: dict[str, Any],
          fail_on: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Probe the smart hosts of ``results`` (the connectors as they will be, for the items ``connectors``) and check
    their routes with ``run`` (the session's). Returns ({"probe": smtp_probe's result (when something was probed),
    "route": send_connector_route's}, what stops a change: one sentence per reason, empty when nothing does)."""
    out: dict[str, Any] = {}
    targets = _targets.probe_targets(results, connectors, probe["connect_addresses"], probe.get("helo_name"),
                                     probe["login"]) if probe["enabled"] else []
    running = None
    if targets:
        try:
            running = _probe.start(*probe_params(targets, probe))  # probes while Exchange answers the route's reads
        except ExchangeError as err:  # reported like a probe that could not run (smtp_probe's failure)
            out["probe"] = {"changed": False, "msg": err.message, "probes": [], "findings": []}
    present = [r["connector"] for r in results if r.get("state") == "present"]
    try:
        out["route"] = _route.check(run, present, lambda: running.result()[1]["probes"] if running else [])
    except TransportError:
        raise  # the session is gone: the run fails (and its pool is not kept)
    except ExchangeError as err:  # a read Exchange refused (e.g. RBAC): the plan and the probe still count
        out["route"] = {"failed": True, "msg": err.message}
    if running:
        out["probe"] = running.result()[1]
    messages = []
    if (out.get("probe") or {}).get("msg"):
        messages.append(out["probe"]["msg"])
    count, listed = _probe.failing((out.get("probe") or {}).get("findings", []), fail_on)
    if count:
        messages.append("%d smart host finding(s) of severity %s: %s" % (count, "/".join(fail_on), listed))
    if out["route"].get("failed"):
        messages.append("the Exchange side of the routes could not be checked: %s" % out["route"]["msg"])
    else:
        route_failing = _route.failing(out["route"]["findings"], fail_on)
        if route_failing:
            messages.append(route_failing)
    return out, messages

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the audit (``smart_host_routing_mode: audit``, playbook ``mailflow.exchange.audit``) and of the export
(playbook ``mailflow.exchange.export``).

Glue only: the rules and the report's forms live in ``plugins/module_utils/_connectors/audit.py``, the probe
targets are built by the role's own ``smart_host_routing_probe_targets``.
"""

from __future__ import annotations

import json
import typing as t

from ansible.errors import AnsibleFilterError


def _audit_utils() -> t.Any:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import audit as _audit
    except ImportError as exc:  # an incomplete collection: say so instead of judging nothing
        raise AnsibleFilterError("smart_host_routing audit: the collection's module_utils cannot be loaded: %s" % exc) from None
    return _audit


def _connectors(read: t.Any) -> list[dict[str, t.Any]]:
    if isinstance(read, dict) and isinstance(read.get("read"), list):  # send_connector_route read them itself
        return [c for c in read["read"] if isinstance(c, dict)]
    if isinstance(read, dict) and isinstance(read.get("connectors"), list):
        return [c for c in read["connectors"] if isinstance(c, dict)]
    if isinstance(read, list):
        return [c for c in read if isinstance(c, dict)]
    raise AnsibleFilterError("smart_host_routing audit: expected the registered result of send_connector_info (with "
                             "connectors), got %s" % type(read).__name__)


def audit_targets(read: t.Any, connect_addresses: t.Any = None, helo_name: t.Any = None) -> list[dict[str, t.Any]]:
    """smtp_probe ``targets``: each distinct smart host (with its connector's settings) once, without a password."""
    from ansible_collections.mailflow.exchange.plugins.filter.__internal.smart_host_routing import probe_targets

    results = [{"state": "present", "name": c.get("name"), "connector": c} for c in _connectors(read)]
    return probe_targets({"results": results}, [], connect_addresses, helo_name, False)


def audit(read: t.Any, probe: t.Any = None, source: str = "Exchange", route: t.Any = None) -> dict[str, t.Any]:
    """The audit report: ``report`` (the JSON form as data), ``json``, ``markdown``, ``junit`` and ``summary`` lines.

    ``read`` is a send_connector_info result, or a send_connector_route result that read the connectors itself
    (its ``read``; its findings are then the route's unless ``route`` is given)."""
    _audit = _audit_utils()
    if isinstance(read, dict) and isinstance(read.get("read"), list) and "connectors" in read and route is None:
        route = read
        read = read["read"]
    route_findings = None
    if isinstance(route, dict) and not route.get("skipped"):
        route_findings = [f for f in route.get("findings") or [] if isinstance(f, dict)]
    findings = []
    probed = None
    if isinstance(probe, dict) and not probe.get("skipped"):
        findings = [f for f in probe.get("findings") or [] if isinstance(f, dict)]
        probed = len(probe.get("probes") or [])
    report = _audit.audit(_connectors(read), findings, str(source), probed, route_findings)
    return {"report": report, "json": _audit.to_json(report), "markdown": _audit.to_markdown(report),
            "junit": _audit.to_junit(report), "summary": _audit.summary_lines(report)}


def export(read: t.Any, source: str = "the organisation", name: str = "FILE") -> str:
    """The organisation's connectors as a variables file of the role (text): defaults and secrets left out."""
    import yaml

    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import export as _export
    except ImportError as exc:
        raise AnsibleFilterError("smart_host_routing export: the collection's module_utils cannot be loaded: %s" % exc) from None
    plain = json.loads(json.dumps(_connectors(read), default=str))  # Ansible's tagged values are not YAML-safe types
    return _export.export(plain, str(source), str(name), yaml.safe_dump)["text"]


def rollback(applied: t.Any) -> dict[str, t.Any]:
    """The send_connectors items that restore every connector the apply run changed, and what cannot be restored."""
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import rollback as _rollback
    except ImportError as exc:
        raise AnsibleFilterError("smart_host_routing rollback: the collection's module_utils cannot be loaded: %s" % exc) from None
    return _rollback.plan(json.loads(json.dumps(applied, default=str)) if applied is not None else None)


class FilterModule:
    """The public filter of the export; the audit's and the rollback's are the role's (plugins/filter/__internal/audit.py)."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"smart_host_routing_export": export}

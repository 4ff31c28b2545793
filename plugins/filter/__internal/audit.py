# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's and the rollback's filters, internal to the smart_host_routing role (see __internal/smart_host_routing.py:
meta/runtime.yml redirects the role's smart_host_routing_* names here). Their code is in plugins/filter/audit.py, beside
the public smart_host_routing_export."""

from __future__ import annotations

import typing as t

from ansible_collections.mailflow.exchange.plugins.filter.audit import audit, audit_targets, rollback


class FilterModule:
    """Internal to the role, not a stable interface."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "internal_smart_host_routing_audit": audit,
            "internal_smart_host_routing_audit_targets": audit_targets,
            "internal_smart_host_routing_rollback": rollback,
        }

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The work shared by send_connector and smart_host: read the connector once, plan, validate the
state after the change, write at most once (not in check mode), and build the result
(changed, connector, diff, commands, warnings).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils import _diff, _options, _plan, _render, _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._session import CmdletError, ExchangeError
from ansible_collections.mailflow.exchange.plugins.module_utils._values import WILDCARDS


class ValidationFailed(ExchangeError):
    def __init__(self, errors: list[str], prefix: str) -> None:
        super().__init__("%s: %s" % (prefix, "; ".join(errors)))
        self.errors = errors


class ConnectorManager:
    def __init__(self, session: Any, domain_controller: Optional[str] = None, check_mode: bool = False) -> None:
        self.session = session
        self.domain_controller = domain_controller
        self.check_mode = check_mode
        self.commands: list[str] = []
        self.warnings: list[str] = []
        self.guids: dict[str, str] = {}  # wildcard-bearing names -> GUID, the identity their writes use

    def _dc(self, params: list) -> list:
        if self.domain_controller:
            return list(params) + [("DomainController", self.domain_controller)]
        return list(params)

    # ---- reads -------------------------------------------------------------------------
    def get_raw(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """Get-SendConnector [-Identity name]; a name that does not exist gives []."""
        params = [("Identity", name)] if name is not None else []
        try:
            return self.session.run("Get-SendConnector", self._dc(params))
        except CmdletError as err:
            if name is not None and err.not_found:
                return []
            raise

    def get(self, name: str) -> Optional[dict[str, Any]]:
        """The connector with exactly this name (any case) or GUID; None when there is none.

        Get-SendConnector matches ``-Identity`` as a wildcard, so ``Relay*`` also returns ``Relay 1``:
        only an exact match counts, or a task would change or remove another connector (contract 1.3).
        """
        # A name with wildcard characters ([ ] * ?) as -Identity would match other connectors, or not the one
        # with that very name: read them all and match exactly here (and write by GUID, see execute).
        wild = any(c in name for c in WILDCARDS)
        found = self.get_raw(None if wild else name)
        exact = [c for c in found if name.lower() in (str(c.get("Name", c.get("name", ""))).lower(),
                                                      str(c.get("Guid", c.get("guid", ""))).lower())]
        if len(exact) > 1:
            raise ExchangeError("Get-SendConnector -Identity '%s' matched %d connectors; use a unique name" % (name, len(exact)))
        if exact and wild:
            self.guids[name.lower()] = str(exact[0].get("Guid", exact[0].get("guid", "")))
        return _options.from_exchange(exact[0]) if exact else None

    # ---- writes ------------------------------------------------------------------------
    def execute(self, plan: _plan.Plan) -> list[dict[str, Any]]:
        if not plan.changed:
            return []
        params = self._dc(plan.params)
        if params and params[0][0] == "Identity" and str(params[0][1]).lower() in self.guids:
            params[0] = ("Identity", self.guids[str(params[0][1]).lower()])
        self.commands.append(_render.render(plan.cmdlet, params))
        if self.check_mode:
            return []
        seen = len(self.session.warnings)
        output = self.session.run(plan.cmdlet, params)
        if plan.cmdlet == "Set-SendConnector":
            # Exchange's own "The command completed successfully but no settings of 'X' have been modified."
            # (update_password: always with the same password): nothing changed, and that is no warning.
            unmodified = [w for w in self.session.warnings[seen:] if re.search(r"no settings of .* have been modified", w)]
            if unmodified:
                self.session.warnings[seen:] = [w for w in self.session.warnings[seen:] if w not in unmodified]
                plan.unmodified = True
        return output

    def check_state(self, plan: _plan.Plan, rename: Optional[dict[str, str]] = None) -> None:
        if not plan.changed or plan.cmdlet == "Remove-SendConnector":
            return
        errors = _schema.validate(_plan.state_for_validation(plan.after), "state", rename=rename)
        if errors:
            raise ValidationFailed(errors, "the Send connector '%s' would be invalid after this change" % plan.after.get("name"))

    def present(self, name: str, task: dict[str, Any], update_password: str, rename=None,
                current: Any = "read") -> tuple[_plan.Plan, dict[str, Any]]:
        if current == "read":
            current = self.get(name)
        plan = _plan.plan_present(name, task, current, update_password)
        if current is None and not task.get("address_spaces"):
            raise ValidationFailed(
                ["address_spaces: required to create a Send connector"],
                "the Send connector '%s' does not exist" % name,
            )
        self.warnings.extend(plan.warnings)
        if plan.errors:
            raise ValidationFailed(plan.errors, "the Send connector '%s' cannot be changed" % name)
        self.check_state(plan, rename)
        output = self.execute(plan)
        after = plan.after
        if output and plan.cmdlet == "New-SendConnector":
            after = dict(_options.from_exchange(output[0]), name=name)
            # usage is never read back; what was written is what we know
        return plan, after

    def absent(self, name: str) -> _plan.Plan:
        plan = _plan.plan_absent(name, self.get(name))
        self.execute(plan)
        return plan


def result(plan: _plan.Plan, after: dict[str, Any], manager: ConnectorManager, diff_mode: bool) -> dict[str, Any]:
    res: dict[str, Any] = {
        "changed": plan.changed,
        "connector": after,
        "commands": list(manager.commands),
    }
    if diff_mode:
        res["diff"] = _diff.connector_diff(plan.before, after, plan.changed_keys, plan.cmdlet == "New-SendConnector")
    return res

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The connection side of the connector life cycle (``_engine.apply`` is the life cycle itself): reads,
the one DC a run uses, the rendered commands, and a write whose answer is lost.

One domain controller per run. Exchange reads and writes Send connectors in Active Directory
through a domain controller, and a change reaches the others only after replication. So every call
of a run after the first goes to one DC: ``domain_controller`` when given (then the first read too),
otherwise the DC the session reports in its first answer (a connector's OriginatingServer, or the
DC a "couldn't be found on 'DC'" error names). In an organisation with no Send connector yet (a new one), the first
read names no DC: then the first New-SendConnector's answer (the connector it made, with the DC that took it) pins
the rest of the run, its read-back included. ``last_read_pinned`` tells the engine whether a read
named that DC; a write the DC refuses after a read that did not is decided again there (``_engine``).

A write whose answer is lost. When the connection fails after New-/Set-/Remove-SendConnector was
sent (HTTP 500, a dropped connection, a timeout), the write may have been applied or not. The
manager reconnects once, reads the connector back from the same DC and reports what is true: the
change as made (with a warning that its answer was lost), or a failure that says the exact state.
``execute`` does this for every plan, so a module applying many plans gets it per write.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import render as _render
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import CmdletError, ExchangeError, TransportError

# Exchange's "not found" names the DC that answered: "... couldn't be found on 'DC01.contoso.com'."
_NOT_FOUND_ON = re.compile(r"found on '([^']+)'")


class WriteAnswerLost(ExchangeError):
    """The connection failed after a write was sent and the state read back is not what was planned."""

    def __init__(self, message: str, connector: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.connector = connector


def _plan_name(plan: _plan.Plan) -> str:
    """The connector a plan writes: its -Name (New) or -Identity (Set, Remove)."""
    return str(plan.params[0][1]) if plan.params else ""


def not_as_planned(plan: _plan.Plan, read: Optional[dict[str, Any]]) -> Optional[list[str]]:
    """What the connector as read lacks of the plan: [] when the write shows, None when it is absent."""
    if plan.cmdlet == "Remove-SendConnector":
        return [] if read is None else ["it still exists"]
    if read is None:
        return None
    missing = []
    for key in plan.changed_keys:
        opt = _options.BY_NAME.get(key)
        wanted, have = plan.after.get(key), read.get(key)
        if opt is None or opt.same(wanted, have):
            continue
        missing.append("%s reads %r, the task wants %r" % (key, have, wanted))
    return missing


def refused_option(plan: _plan.Plan, message: str) -> Optional[str]:
    """The task option whose value an Exchange refusal quotes (``object 'EX99' couldn't be found``), or None.

    Exchange names the value, not the parameter; the value is looked up among the plan's parameters (not the
    connector's own -Identity or -Name, whose errors are about the connector).
    """
    if "'" not in (message or ""):
        return None
    for param, value in plan.params:
        if param in ("Identity", "Name", "DomainController"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, dict):  # an add/remove change of a multi-valued parameter
            values = [v for part in value.values() for v in (part if isinstance(part, (list, tuple)) else [part])]
        if any(isinstance(v, str) and v and ("'%s'" % v) in message for v in values):
            opt = next((o for o in _options.SETTINGS if o.param.lower() == param.lower()), None)
            return opt.name if opt is not None else param
    return None


class ConnectorManager:
    def __init__(self, session: Any, domain_controller: Optional[str] = None, check_mode: bool = False) -> None:
        self.session = session
        self.domain_controller = domain_controller  # given by the task: shown in the rendered commands
        self.dc = domain_controller  # the one DC of this run: given, or learned from the first answer
        self.check_mode = check_mode
        self.commands: list[str] = []
        self.warnings: list[str] = []
        # _identity.key of a name -Identity could misread (wildcards, GUID-shaped, non-ASCII) -> the GUID its writes use
        self.guids: dict[str, str] = {}
        self.read_back: Optional[dict[str, Any]] = None  # the connector read after a lost write answer
        self.last_read_pinned = bool(domain_controller)
        self.names_by_pipeline = True  # False once the session answered that it has no Select-Object (get_names)
        self.identities_by_pipeline = True  # False once Get-SendConnector bound no -Identity from pipeline input (GUIDs or names)

    def _dc(self, params: list) -> list:
        if self.dc:
            return list(params) + [("DomainController", self.dc)]
        return list(params)

    def _shown(self, params: list) -> list:
        """The parameters as rendered: a DC the run learned (not given) is left out of the line."""
        if self.domain_controller or not self.dc:
            return params
        return [(name, value) for name, value in params if name != "DomainController"]

    def _learn_dc(self, objects: list[dict[str, Any]], error: Optional[CmdletError] = None) -> None:
        if self.dc:
            return
        for obj in objects:
            server = obj.get("OriginatingServer") or obj.get("originatingserver")
            if isinstance(server, str) and server.strip():
                self.dc = server.strip()
                return
        if error is not None:
            found = _NOT_FOUND_ON.search(error.error_message or "")
            if found and found.group(1).strip():
                self.dc = found.group(1).strip()

    # ---- reads -------------------------------------------------------------------------
    def get_raw(self, name: Optional[str] = None) -> list[dict[str, Any]]:
        """Get-SendConnector [-Identity name]; a name that does not exist gives [].

        The first answer tells which DC the session uses; later calls of the run name it.
        """
        params = [("Identity", name)] if name is not None else []
        pinned = bool(self.dc)
        try:
            found = self.session.run("Get-SendConnector", self._dc(params))
        except CmdletError as err:
            if name is not None and err.not_found:
                self._learn_dc([], err)
                self.last_read_pinned = pinned
                return []
            raise
        self._learn_dc(found)
        self.last_read_pinned = pinned
        return found

    def get_names(self) -> list[str]:
        """Every connector's name: ``Get-SendConnector | Select-Object -ExpandProperty Name``, one pipeline whose
        answer is a few bytes per connector instead of a whole connector object each.

        Exchange's restricted session is reported (unverified) to offer Select-Object; where it answers that the
        command is not recognized, every connector is read in full instead (``get_raw``), and the run keeps that
        answer for its later names reads.
        """
        if self.names_by_pipeline:
            try:
                found = self.session.run_pipeline([("Get-SendConnector", self._dc([])),
                                                   ("Select-Object", [("ExpandProperty", "Name")])])
                return [str(record.get("value", "")) for record in found if record.get("value") not in (None, "")]
            except CmdletError as err:
                if not err.not_recognized:
                    raise
                self.names_by_pipeline = False  # no Select-Object in this session (or no Get-SendConnector: get_raw says)
        return [_identity.connector_name(c) for c in self.get_raw(None)]

    def get_by_guids(self, guids: list[str]) -> dict[str, Optional[dict[str, Any]]]:
        """Each GUID's connector (raw, like ``get_raw``'s; None when the DC does not show it), read with ONE
        Get-SendConnector however many GUIDs: they are its pipeline input, bound to -Identity one by one.

        Microsoft's page for Get-SendConnector (MicrosoftDocs/office-docs-powershell,
        exchange/exchange-ps/ExchangePowerShell/Get-SendConnector.md) lists -Identity with "Accept pipeline input:
        True". A GUID the DC does not show (removed, or a write replication has not brought there) is a
        non-terminating "couldn't be found" error for that object while the others are output, so objects are
        matched to GUIDs by their Guid and a GUID without one is absent. Where Exchange binds no parameter to the
        input (a parameter binding error, InputObjectNotBound), every GUID is read by itself (``get_raw``, one call
        each), and the run keeps that answer for its later reads.
        """
        wanted = list(dict.fromkeys(guids))
        if not wanted:
            return {}
        found = self._by_pipeline(wanted)
        if found is not None:
            by_guid = {str(_options.identity_from_exchange(obj).get("guid") or "").lower(): obj for obj in found}
            return {guid: by_guid.get(guid.lower()) for guid in wanted}
        return {guid: next(iter(self.get_raw(guid)), None) for guid in wanted}

    def get_by_names(self, names: list[str]) -> list[dict[str, Any]]:
        """The connectors named ``names`` (raw, like ``get_raw``'s), read with ONE Get-SendConnector: the names are its
        pipeline input, bound to -Identity one by one, so each is looked up as ``get_raw(name)`` looks it up (the
        caller keeps names that -Identity could misread, ``_identity.needs_read_all``, out). A name Exchange does not
        find is left out. Where Exchange binds no parameter to the input, each name is read by itself."""
        wanted = list(dict.fromkeys(names))
        pinned = bool(self.dc)
        found = self._by_pipeline(wanted)
        if found is None:
            return [obj for name in wanted for obj in self.get_raw(name)]
        self.last_read_pinned = pinned
        return found

    def _by_pipeline(self, identities: list[str]) -> Optional[list[dict[str, Any]]]:
        """ONE Get-SendConnector with ``identities`` (GUIDs or names) as its pipeline input: the objects found, or None
        where this session binds no parameter to the input (then and for the rest of the run).

        Microsoft's page for Get-SendConnector (MicrosoftDocs/office-docs-powershell,
        exchange/exchange-ps/ExchangePowerShell/Get-SendConnector.md) lists -Identity with "Accept pipeline input:
        True". An identity the DC does not show is a non-terminating "couldn't be found" error for that object while the
        others are output; where Exchange binds no parameter to the input (a parameter binding error,
        InputObjectNotBound) the caller reads each identity by itself.
        """
        if not self.identities_by_pipeline:
            return None
        errors: list[CmdletError] = []
        try:
            found = self.session.run_pipeline([("Get-SendConnector", self._dc([]))], input=identities, errors=errors)
        except CmdletError as err:
            if not err.input_not_bound:
                raise
            found, errors = [], [err]
        other = [err for err in errors if not err.not_found and not err.input_not_bound]
        if other:
            raise other[0]
        if [err for err in errors if err.input_not_bound]:
            self.identities_by_pipeline = False  # this session takes no pipeline input
            return None
        self._learn_dc(found, next(iter(errors), None))
        return found

    # ---- writes ------------------------------------------------------------------------
    def execute(self, plan: _plan.Plan) -> list[dict[str, Any]]:
        """Run the plan's one cmdlet (not in check mode); recover when its answer is lost.

        Returns the cmdlet's output; after a recovered write, the connector as read back (raw, like
        Get-SendConnector's) for New and Set, [] for Remove, and ``read_back`` holds it canonical.
        Raises CmdletError when Exchange refused the write, WriteAnswerLost when the answer was lost
        and the state read back is not the planned one (the message says what it is).
        """
        self.read_back = None
        if not plan.changed:
            return []
        params = self._dc(plan.params)
        if params and params[0][0] == "Identity" and _identity.key(params[0][1]) in self.guids:
            params[0] = ("Identity", self.guids[_identity.key(params[0][1])])
        self.commands.append(_render.render(plan.cmdlet, self._shown(params)))
        if self.check_mode:
            return []
        seen = len(self.session.warnings)
        try:
            output = self.session.run(plan.cmdlet, params)
        except TransportError as err:
            return self._recover(plan, err)
        except CmdletError as err:
            option = refused_option(plan, err.error_message)
            if option:  # name the option the refused value came from (issue 15): Exchange names only the value
                err.message = "%s: %s" % (option, err.message)
            raise
        if plan.cmdlet == "New-SendConnector":
            self._learn_dc(output)  # an empty organisation's first read named no DC: the DC that took the write
        if plan.cmdlet == "Set-SendConnector":
            # Exchange's own "The command completed successfully but no settings of 'X' have been modified."
            # (update_password: always with the same password): nothing changed, and that is no warning.
            unmodified = [w for w in self.session.warnings[seen:] if re.search(r"no settings of .* have been modified", w)]
            if unmodified:
                self.session.warnings[seen:] = [w for w in self.session.warnings[seen:] if w not in unmodified]
                plan.unmodified = True
        return output

    def _recover(self, plan: _plan.Plan, lost: ExchangeError) -> list[dict[str, Any]]:
        """Reconnect once, read the connector back from the run's DC and report what is true."""
        name = _plan_name(plan)
        where = " on %s" % self.dc if self.dc else ""
        what = "%s was sent, but its answer was lost (%s)" % (plan.cmdlet, lost.message.rstrip("."))
        try:
            self.session.reconnect()
            wild = _identity.needs_read_all(name) or _identity.key(name) in self.guids
            raw = _identity.find(self.get_raw(None if wild else name), name)
        except ExchangeError as again:
            raise WriteAnswerLost(
                "%s; reconnecting to read the Send connector '%s' back failed too (%s): whether the change was made is "
                "unknown, run the task again to see" % (what, name, again.message.rstrip(".")))
        if len(raw) > 1:
            raise WriteAnswerLost("%s; after reconnecting, '%s' matches %d connectors" % (what, name, len(raw)))
        read = dict(_options.from_exchange(raw[0]), name=name) if raw else None
        missing = not_as_planned(plan, read)
        if missing == []:
            self.read_back = read
            self.warnings.append(
                "%s; after reconnecting, the Send connector '%s' was read back%s and shows the change, so it is "
                "reported as made" % (what, name, where))
            return raw if plan.cmdlet != "Remove-SendConnector" else []
        if missing is None:
            state = "does not exist"
        else:
            state = "exists and %s" % "; ".join(missing)
        raise WriteAnswerLost(
            "%s; after reconnecting, the Send connector '%s' read back%s %s: the change was not applied (run the task "
            "again to apply it)" % (what, name, where, state), connector=read)

    def stale_read_warning(self, name: str, how: str) -> None:
        """The warning of a task decided on the pinned DC because the first read was stale (AD replication)."""
        self.warnings.append(
            "the first Get-SendConnector %s '%s' (Active Directory replication: it was answered by a domain controller "
            "the last change has not reached yet); the task was decided on what %s, the DC this run writes to, holds"
            % (how, name, self.dc))

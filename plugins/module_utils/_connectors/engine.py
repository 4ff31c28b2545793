# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

THE life cycle of Send connectors: ``apply(manager, items)``. Every module that changes a connector
goes through it: ``send_connector`` is ``apply([item])``, ``smart_host`` translates its options into
one item and applies it, ``send_connectors`` (and the role through it) applies its list.

1. Read: one ``Get-SendConnector`` (by name for one item without wildcard characters, else all of them),
   matched client-side by exact name or GUID. The first answer names the domain controller the run
   then pins every later call to (``_manager.ConnectorManager``).
2. Plan every item against what was read (an item naming a connector an earlier item changed sees the
   state that item leaves) and check the connector as it would be after the change against the rules
   (``_schema`` in ``state`` mode). A connector the read did not show, where "does not exist" would fail
   the item, is asked for once more on the pinned DC (AD replication: the first read may come from a DC a
   recent change has not reached).
3. Every problem of every item is raised together (``ItemsFailed``) before the first write.
4. One write per item that differs (none in check mode). A write that the pinned DC refuses because the
   first read was stale ("already exists" on New, "couldn't be found" on Remove) is decided again on what
   that DC holds; a write whose answer is lost is read back (``ConnectorManager.execute``).
5. With ``read_back``: after the writes, every connector written is read again by its GUID (from the first read,
   or from New-SendConnector's output), in the same session and on the same DC, and compared with the plan
   (``_manager.not_as_planned``, as after a lost answer): ``results[].read_back`` and a warning per difference.
   The GUIDs are the pipeline input of ONE Get-SendConnector (``ConnectorManager.get_by_guids``), so a run makes
   one full read and one read-back call however many connectors it wrote, never a second read of every
   connector (one read per GUID only where Exchange binds no pipeline input).
6. Look-alikes. A name the read did not find (a connector to create, nothing to remove, smart_host's missing
   connector) may look like another connector's name (``_identity.lookalikes``: Cyrillic, fullwidth, the Kelvin
   sign, NFD vs NFC). When step 1 read every connector, the warning naming both comes from that read. When it
   read by name, every connector's NAME is read once more (``ConnectorManager.get_names``: ``Get-SendConnector |
   Select-Object -ExpandProperty Name``, one pipeline), after the writes, or before a refusal; a run whose names
   all exist makes no such read. A New that Exchange refuses with "already exists" although no connector has
   exactly that name (Active Directory takes ``Relay \u212aelay`` as taken by ``Relay Kelay``) fails with a
   sentence naming the look-alike (``NameTaken``), never as another connector's change.

Problems are ``(path, message)`` pairs; ``render`` turns them into the one sentence a user reads.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import diff as _diff
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.session import CmdletError, ExchangeError


class Item:
    """One connector and what is wanted of it.

    ``path`` is where the item sits in the user's input (``connectors[3]``; empty for a module's own
    options), ``rename`` maps option names to the names the user wrote (smart_host says ``hosts``).
    ``create``: whether a missing connector may be created (smart_host only changes an existing one).
    ``fallback_option``: whether the user's options include ``fallback_to_dns`` (smart_host, send_connectors items);
    send_connector has only ``dns_routing_enabled`` to say "route by DNS", so its refusals name that.
    """

    def __init__(self, name: str, settings: Optional[dict[str, Any]] = None, state: str = "present",
                 update_password: str = "on_create", fallback_to_dns: bool = False, path: str = "",
                 rename: Optional[dict[str, str]] = None, create: bool = True, profile: Optional[str] = None,
                 fallback_option: bool = True) -> None:
        self.name = str(name).strip()  # Exchange stores names without leading/trailing blanks
        self.settings = {k: val for k, val in (settings or {}).items() if val is not None}
        self.state = state or "present"
        self.update_password = update_password or "on_create"
        self.fallback_to_dns = bool(fallback_to_dns)
        self.path = path
        self.rename = dict(rename or {})
        self.create = create
        self.profile = profile  # smart_host_profile: a provider preset's values under the item's own (_presets)
        self.fallback_option = fallback_option

    @classmethod
    def from_params(cls, params: dict[str, Any], path: str = "", **kwargs: Any) -> "Item":
        """An item from send_connector's options (or one converted send_connectors item)."""
        return cls(params["name"], {opt.name: params.get(opt.name) for opt in _options.SETTINGS},
                   state=params.get("state") or "present", update_password=params.get("update_password") or "on_create",
                   fallback_to_dns=bool(params.get("fallback_to_dns")), path=path,
                   profile=params.get(_presets.OPTION), fallback_option="fallback_to_dns" in params, **kwargs)

    # ---- problems ------------------------------------------------------------------------
    def field(self, field: str) -> str:
        """The user's path of one of this item's fields (``connectors[3].port``, ``hosts``)."""
        head, sep, rest = field.partition(".")
        bracket = head.find("[")
        if bracket > 0:
            head, rest, sep = head[:bracket], head[bracket:] + sep + rest, ""
        head = self.rename.get(head, head)
        local = head + sep + rest
        if not self.path:
            return local
        return self.path + ("" if local.startswith("[") else ".") + local if local else self.path

    def words(self, message: str) -> str:
        for old, new in self.rename.items():
            message = message.replace(old, new)
        return message

    def problem(self, field: str, message: str) -> tuple[str, str]:
        return (self.field(field) if field else self.path, self.words(message))

    @property
    def label(self) -> str:
        return " (connector %r)" % self.name if self.path and self.name else ""


def render(problems: list[tuple[str, str]], label: str = "") -> list[str]:
    """``path: message`` (or the message alone, for the whole task), once per problem, in order."""
    out: list[str] = []
    for path, message in problems:
        line = ("%s: %s" % (path, message) if path else message) + label
        if line not in out:
            out.append(line)
    return out


class ItemsFailed(ExchangeError):
    """Problems found after the read, before any write: nothing was changed."""

    def __init__(self, errors: list[str], head: str) -> None:
        super().__init__("%s: %s" % (head, "; ".join(errors)))
        self.errors = errors


class NameTaken(ExchangeError):
    """New-SendConnector refused a name as taken, and the connector that takes it has another name for Exchange."""


def _already_exists(err: CmdletError) -> bool:
    return err.mentions("alreadyexists", "already exists", message=True)


class _Planned:
    def __init__(self, item: Item, plan: _plan.Plan, creating: bool, stale: bool,
                 resolved: Optional[_presets.Resolved] = None) -> None:
        self.item = item
        self.plan = plan
        self.creating = creating
        self.stale = stale  # decided on a read that named no DC: a refusal may mean replication delay
        self.resolved = resolved  # the item's provider preset, if it names one


class Engine:
    """One run of ``apply``; ``manager`` is a ``_manager.ConnectorManager`` (session, DC, commands)."""

    def __init__(self, manager: Any, named: bool = False) -> None:
        self.manager = manager
        self.named = named  # read only the items' connectors, by name (send_connectors' read: named)
        self.found: list[dict[str, Any]] = []
        self.stale = False
        self.confirmed: set[str] = set()  # names the pinned DC showed after the first read did not
        self.state: dict[str, Optional[dict[str, Any]]] = {}  # _identity.key of a name -> canonical state
        self.existed: dict[str, bool] = {}  # _identity.key of a name -> whether its first plan found the connector
        self.guid: dict[str, str] = {}  # _identity.key of a name -> the GUID of the connector a read showed
        self.written: list[tuple[Item, _plan.Plan, Optional[str], dict[str, Any]]] = []  # what read_back checks
        self.read_all = False  # the first read returned every connector (not Get-SendConnector -Identity name)
        self.unmatched: list[Item] = []  # items the by-name read did not find: their look-alikes are told later
        self.names: Optional[list[str]] = None  # every connector's name, once read (other_names)

    # ---- read --------------------------------------------------------------------------
    def _get(self, items: list[Item]) -> tuple[list[dict[str, Any]], bool]:
        """(the connectors of ``items``, whether that was a read of every connector): one connector by its name, or
        (``named``) several by their names in one call, unless a name could be misread by -Identity; else all."""
        names = list(dict.fromkeys(i.name for i in items if _identity.key(i.name)))
        if any(_identity.needs_read_all(name) for name in names) or not names:
            return self.manager.get_raw(None), True
        if len({_identity.key(name) for name in names}) == 1:
            return self.manager.get_raw(names[0]), False
        if self.named:
            return self.manager.get_by_names(names), False
        return self.manager.get_raw(None), True

    def read(self, items: list[Item]) -> None:
        self.found, self.read_all = self._get(items)
        self.stale = not self.manager.last_read_pinned
        if not (self.stale and self.manager.dc):
            return
        # A connector the first read did not show, where "does not exist" would fail the item or make it a
        # no-op (remove, change only): that read named no DC and may predate AD replication. Ask the pinned DC
        # once for all of them.
        missing = [i for i in items if not _identity.find(self.found, i.name) and (
            i.state == "absent" or not i.create or not i.settings.get("address_spaces"))]
        if not missing:
            return
        again, _all = self._get(missing)
        for item in missing:
            shown = _identity.find(again, item.name)
            if shown and _identity.key(item.name) not in self.confirmed:
                self.found.extend(shown)
                self.confirmed.add(_identity.key(item.name))
                self.manager.stale_read_warning(item.name, "did not show")

    def _remember(self, name: str, raw: dict[str, Any], canon: dict[str, Any]) -> None:
        guid = _options.identity_from_exchange(raw).get("guid")
        if guid:
            self.guid[_identity.key(name)] = guid
        if _identity.needs_read_all(name) and guid:
            self.manager.guids[_identity.key(name)] = guid  # -Identity could address another connector: write by GUID
        self.state.setdefault(_identity.key(name), canon)

    def current(self, item: Item, problems: list[tuple[str, str]]) -> tuple[Optional[dict[str, Any]], bool]:
        """(canonical state of the item's connector or None, whether a later item or a first read decided it)."""
        key = _identity.key(item.name)
        if key in self.state:
            return self.state[key], False
        exact = _identity.find(self.found, item.name)
        if len(exact) > 1:
            problems.append(item.problem("name", "%r matches %d connectors; use a unique name" % (item.name, len(exact))))
            return None, False
        if not exact:
            # a name that only looks like an existing connector's never addresses it: say so
            if self.read_all:
                self._warn_lookalikes(item, self.other_names())  # the first read's names, no call
            elif item not in self.unmatched:
                self.unmatched.append(item)  # read by name: the other names are read once, after the writes
            return None, self.stale
        canon = _options.from_exchange(exact[0])
        self._remember(item.name, exact[0], canon)
        return canon, self.stale and key not in self.confirmed

    def _warn_lookalikes(self, item: Item, names: list[str]) -> None:
        for other in _identity.lookalikes(item.name, names):
            where = " (%s%s: %s)" % (item.path, item.label, "nothing to remove" if item.state == "absent"
                                     else "a new connector is created") if item.path else ""
            warning = _identity.lookalike_warning(item.name, other, where)
            if warning not in self.manager.warnings:
                self.manager.warnings.append(warning)

    def other_names(self) -> list[str]:
        """Every connector's name: from the first read when it read them all, else read once (names only)."""
        if self.names is None:
            self.names = ([_identity.connector_name(c) for c in self.found] if self.read_all
                          else self.manager.get_names())
        return self.names

    def tell_lookalikes(self) -> None:
        """Warn about look-alikes of the names the by-name read did not find (an ASCII name such as 'Relay' beside
        an existing Cyrillic 'R\u0435lay'): one names read, only when such a name was planned, after the writes (or
        before a refusal), so the run's reads and writes before it are the ones they always were. A names read
        that fails is told in a warning: the run's own result, or its own error, is what the user needs."""
        items, self.unmatched = self.unmatched, []
        if not items:
            return
        try:
            names = self.other_names()
        except ExchangeError as err:
            self.manager.warnings.append(
                "the names of the other Send connectors could not be read to look for look-alikes of %s (%s)"
                % (", ".join(_identity.shown(i.name) for i in items), err.message.rstrip(".")))
            return
        for item in items:
            self._warn_lookalikes(item, names)

    def name_taken(self, item: Item, err: CmdletError) -> ExchangeError:
        """The error for a New refused with "already exists" where no connector has exactly the item's name: the
        look-alike that takes the name, named (``NameTaken``), or Exchange's own error when none is found."""
        try:
            others = _identity.lookalikes(item.name, self.other_names())
            if not others and self.read_all and self.stale:  # the first read may predate the look-alike (replication)
                others = _identity.lookalikes(item.name, self.manager.get_names())
        except ExchangeError:
            return err
        if not others:
            return err
        self.unmatched = [i for i in self.unmatched if i is not item]
        self._warn_lookalikes(item, others)
        taken_by = " and ".join(_identity.shown(o) for o in others)
        return NameTaken(
            "%s: Exchange refused to create the Send connector %s because it counts the name as taken: the existing "
            "connector %s looks like it, and Active Directory's check of unique names compares names more loosely "
            "than Exchange's lookup by name (e.g. it takes the KELVIN SIGN as K); the connector was not created and %s "
            "is unchanged: choose a name that is no look-alike of another connector's, or manage %s by its own name "
            "(Exchange said: %s)" % (
                item.field("name"), _identity.shown(item.name), taken_by, taken_by, _identity.shown(others[0]),
                err.error_message.rstrip(".")))

    def confirm_absent(self, item: Item) -> Optional[dict[str, Any]]:
        """After a stale read that did not show the connector: the pinned DC's answer (None: it does not exist)."""
        if not self.manager.dc:
            return None
        raw = _identity.find(self.manager.get_raw(None if _identity.needs_read_all(item.name) else item.name), item.name)
        if len(raw) != 1:
            return None
        canon = _options.from_exchange(raw[0])
        self._remember(item.name, raw[0], canon)
        self.state[_identity.key(item.name)] = canon
        self.unmatched = [i for i in self.unmatched if not _identity.same(i.name, item.name)]  # it exists after all
        self.manager.stale_read_warning(item.name, "did not show")
        return canon

    # ---- plan --------------------------------------------------------------------------
    def plan(self, item: Item, problems: list[tuple[str, str]]) -> Optional[_Planned]:
        current, stale = self.current(item, problems)
        self.existed.setdefault(_identity.key(item.name), current is not None)
        if item.state == "absent":
            self.state[_identity.key(item.name)] = None
            return _Planned(item, _plan.plan_absent(item.name, current), False, stale)
        resolved = _presets.resolve(item.profile, item.settings, current)
        if resolved.errors:  # refused on the connector as it is (e.g. its user name)
            problems.extend(item.problem(*_split(e)) for e in resolved.errors)
            return None
        self.manager.warnings.extend("%s%s; %s%s" % (item.path + ": " if item.path else "", f["message"], f["hint"], item.label)
                                     for f in resolved.findings)
        task = dict(resolved.task)
        if current is None and not item.create:
            problems.append(item.problem("", "the Send connector '%s' does not exist; create it with "
                                             "mailflow.exchange.send_connector first" % item.name))
            return None
        if current is None and not task.get("address_spaces"):
            problems.append(item.problem("address_spaces", "required to create a Send connector; '%s' does not exist"
                                         % item.name))
            return None
        plan = _plan.plan_present(item.name, task, current, item.update_password)
        if self._leaves_no_route(task, current, plan):
            if not item.fallback_to_dns:
                problems.append(item.problem(
                    "smart_hosts", "this would remove the last smart host of '%s', leaving it without a route; set "
                    "%s to switch it to DNS routing in the same call" % (
                        item.name, "fallback_to_dns: true" if item.fallback_option else "dns_routing_enabled: true")))
                return None
            task["dns_routing_enabled"] = True
            if task.get("smart_host_auth_mechanism") is None and current.get("smart_host_auth_mechanism") not in (None, "None"):
                task["smart_host_auth_mechanism"] = "None"  # authentication applies to smart hosts only (docs/exchange-rules.md R9)
            plan = _plan.plan_present(item.name, task, current, item.update_password)
        self.manager.warnings.extend(plan.warnings)
        problems.extend(item.problem(*_split(e)) for e in plan.errors)
        if plan.changed and not plan.errors:
            for error in _schema.validate(_plan.state_for_validation(plan.after), "state"):
                path, message = _split(error)
                problems.append(item.problem(path, "%s (as the connector would be after this change)" % message))
        self.state[_identity.key(item.name)] = dict(plan.after)
        return _Planned(item, plan, current is None, stale, resolved if resolved.preset is not None else None)

    @staticmethod
    def _leaves_no_route(task: dict[str, Any], current: Optional[dict[str, Any]], plan: _plan.Plan) -> bool:
        """The change removes the last smart host of a connector that routes through them, and says nothing of DNS."""
        return bool(current and current.get("smart_hosts") and "smart_hosts" in task and not plan.after.get("smart_hosts")
                    and task.get("dns_routing_enabled") is None)

    # ---- write -------------------------------------------------------------------------
    def write(self, planned: _Planned) -> dict[str, Any]:
        """Run one plan; a refusal caused by a stale first read is decided again on the pinned DC."""
        item, plan = planned.item, planned.plan
        manager = self.manager
        start = len(manager.commands)
        try:
            output = manager.execute(plan)
        except CmdletError as err:
            taken = plan.cmdlet == "New-SendConnector" and _already_exists(err)
            refused_stale = taken or (plan.cmdlet == "Remove-SendConnector" and err.not_found)
            if not (planned.stale and manager.dc and refused_stale):
                if taken:  # read on the DC that refused: no connector has exactly this name
                    raise self.name_taken(item, err)
                raise
            current = self.confirm_absent(item) if plan.cmdlet == "New-SendConnector" else None
            if plan.cmdlet == "New-SendConnector" and current is None:
                raise self.name_taken(item, err)  # the DC that refused shows no connector of exactly this name
            if plan.cmdlet == "Remove-SendConnector":
                if _identity.find(manager.get_raw(None if _identity.needs_read_all(item.name) else item.name), item.name):
                    raise
                manager.stale_read_warning(item.name, "still showed")
            del manager.commands[start:]
            problems: list[tuple[str, str]] = []
            again = self.plan(item, problems) if item.state == "present" else _Planned(
                item, _plan.plan_absent(item.name, None), False, False)
            if problems or again is None:
                raise ItemsFailed(render(problems, item.label), "the Send connector '%s' cannot be changed" % item.name)
            again.stale = False
            return self.write(again)
        after: dict[str, Any] = {} if item.state == "absent" else dict(plan.after)
        if manager.read_back is not None:
            after = manager.read_back  # the answer was lost: the connector as read back is what is true
        elif output and plan.cmdlet == "New-SendConnector":
            after = dict(_options.from_exchange(output[0]), name=item.name)  # usage is never read back
        diff = _diff.connector_diff(plan.before, after, plan.changed_keys, plan.cmdlet == "New-SendConnector")
        result = {
            "name": item.name,
            "state": item.state,
            "changed": plan.changed,
            "existed": bool(plan.before),
            "before": dict(plan.before),  # the snapshot a rollback restores (canonical, no password)
            "commands": manager.commands[start:],
            "connector": after,
            "diff": diff,
        }
        if planned.resolved is not None:
            result["profile"] = planned.resolved.summary()
            diff["after"] = _connectors.preset_diff(diff["after"], planned.resolved, plan.changed_keys)
        if plan.changed and not manager.check_mode:
            guid = self.guid.get(_identity.key(item.name))
            if plan.cmdlet == "New-SendConnector":
                guid = _options.identity_from_exchange(output[0]).get("guid") if output else None
            self.written.append((item, plan, guid, result))
        return result

    # ---- read back ---------------------------------------------------------------------
    def read_back(self) -> None:
        """Read every connector this run wrote, by its GUID (all in one call), and say per item whether Exchange
        holds the plan.

        ``results[].read_back`` is ``{"connector": <as read, normalised; {} when absent>, "differences": [...]}``;
        each difference names the option ("port reads 25, the task wants 2525"), and an item with one gets a warning.
        """
        manager = self.manager
        try:  # the connectors whose GUID is known: one Get-SendConnector for all of them (get_by_guids)
            by_guid: dict[str, Optional[dict[str, Any]]] = manager.get_by_guids(
                [guid for _item, _plan, guid, _result in self.written if guid])
            failed: Optional[ExchangeError] = None
        except ExchangeError as err:
            by_guid, failed = {}, err
        for item, plan, guid, result in self.written:
            name = item.name
            try:
                if failed is not None and guid:
                    raise failed
                if guid:
                    raw = [by_guid[guid]] if by_guid.get(guid) is not None else []
                else:  # no GUID known (a New whose output was empty): by name, or all when -Identity could misread it
                    raw = _identity.find(manager.get_raw(None if _identity.needs_read_all(name) else name), name)
            except ExchangeError as err:
                result["read_back"] = {"connector": {}, "differences": [
                    "it could not be read back (%s)" % (getattr(err, "message", None) or err)]}
                manager.warnings.append("%sthe Send connector '%s' was written, but reading it back failed: %s%s" % (
                    item.path + ": " if item.path else "", name, getattr(err, "message", None) or err, item.label))
                continue
            read = dict(_options.from_exchange(raw[0]), name=name) if len(raw) == 1 else None
            missing = _manager.not_as_planned(plan, read)
            differences = ["it does not exist"] if missing is None else missing
            result["read_back"] = {"connector": read or {}, "differences": differences}
            if differences:
                # read from the DC that took the write: someone else changed it since; from any DC: replication too
                why = ("another writer changed it after this write; run the task again to see what it holds now"
                       if manager.dc else
                       "Active Directory replication or another writer; pin domain_controller and run the task again")
                where = " on %s" % manager.dc if manager.dc else ""
                manager.warnings.append(
                    "%sthe Send connector '%s' read back%s after the write does not hold what was written: %s (%s)%s"
                    % (item.path + ": " if item.path else "", name, where, "; ".join(differences), why, item.label))


def _split(error: str) -> tuple[str, str]:
    """``field: message`` (as the schema and the planner word a problem) -> (field, message)."""
    path, sep, message = error.partition(": ")
    if not sep:
        return "", error
    return ("" if path == "(task)" else path), message


def _as_planned(engine: Engine, plans: list[_Planned]) -> list[dict[str, Any]]:
    """The results check mode gives for ``plans`` (each connector as it will be, the commands that would run), with
    nothing sent and the manager's commands as they were."""
    manager = engine.manager
    start, check_mode = len(manager.commands), manager.check_mode
    manager.check_mode = True
    try:
        results = [engine.write(planned) for planned in plans]
    finally:
        manager.check_mode = check_mode
        if not check_mode:
            del manager.commands[start:]
    for result in results:
        result["written"] = False
    return results


def apply(manager: Any, items: list[Item], head: str = "", read_back: bool = False,
          gate: Optional[Callable[[list[dict[str, Any]]], bool]] = None, named: bool = False) -> list[dict[str, Any]]:
    """Bring every item to its wanted state: one read, every problem before the first write, one write per
    item that differs. Returns one result per item (name, state, changed, existed, commands, connector, diff).
    With ``read_back``, every item written also gets ``read_back`` (``Engine.read_back``: one read for all writes).
    ``gate`` is called after every problem check and before the first write, with the results check mode gives (the
    connectors as they will be, from the same read the writes are planned on); when it returns False nothing is
    written and those results are returned. ``named``: several items are read by their names in one call (the items'
    connectors only) instead of reading every connector.

    Raises ItemsFailed with every problem (nothing written), or the write's own error with ``results``
    (the items done before it) and the names of those items in its message.
    """
    if not items:
        return []
    engine = Engine(manager, named)
    engine.read(items)
    problems: list[str] = []
    plans: list[_Planned] = []
    for item in items:
        found: list[tuple[str, str]] = []
        planned = engine.plan(item, found)
        problems.extend(render(found, item.label))
        if planned is not None:
            plans.append(planned)
    if problems:
        if not head:
            # a connector that does not exist yet cannot be "changed": say created (issue 19 item 9)
            exists = engine.existed.get(_identity.key(items[0].name), True)
            head = ("the Send connector '%s' cannot be %s" % (items[0].name, "changed" if exists else "created")
                    if len(items) == 1 and not items[0].path
                    else "%d problem(s) found after reading the connectors; nothing was changed" % len(problems))
        engine.tell_lookalikes()  # e.g. smart_host on a connector that does not exist, beside a look-alike
        raise ItemsFailed(problems, head)
    if gate is not None:
        planned_results = _as_planned(engine, plans)
        if not gate(planned_results) or manager.check_mode:
            engine.tell_lookalikes()
            return planned_results
    results: list[dict[str, Any]] = []
    try:
        for planned in plans:
            results.append(engine.write(planned))
            results[-1]["written"] = bool(results[-1]["changed"] and not manager.check_mode)
    except Exception as err:  # a write failed: say which items were written and which were not
        done = [r["name"] for r in results if r.get("written")]
        reason = getattr(err, "message", None) or str(err) or type(err).__name__
        for index, planned in enumerate(plans[len(results):]):
            rest = {"name": planned.item.name, "state": planned.item.state, "changed": False, "written": False}
            if index == 0:
                rest["error"] = reason  # the write Exchange refused (or whose answer was lost)
            results.append(rest)
        if isinstance(err, (CmdletError, ItemsFailed, NameTaken)):
            engine.tell_lookalikes()  # Exchange answered: the session is fine for one more read
        if not items[0].path:
            raise  # a module's own options (send_connector, smart_host): its one write failed, nothing to list
        err.results = results
        err.changed = bool(done)  # changed is true when anything was written: a re-run finishes the rest
        if hasattr(err, "message"):
            err.message = "%s (written before the failure: %s; not written: %s)" % (
                err.message, ", ".join(done) if done else "nothing",
                ", ".join(r["name"] for r in results if not r.get("written")) or "nothing")
        raise
    if read_back:
        engine.read_back()
    engine.tell_lookalikes()
    return results


def module_result(result: dict[str, Any], manager: Any, diff_mode: bool) -> dict[str, Any]:
    """The result of a module that applies one item (send_connector, smart_host)."""
    out: dict[str, Any] = {"changed": result["changed"], "connector": result["connector"], "commands": list(manager.commands)}
    if "profile" in result:
        out["profile"] = result["profile"]
    if diff_mode:
        out["diff"] = result["diff"]
    return out

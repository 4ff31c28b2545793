# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Many Send connectors in one run (``send_connectors``, and the role ``smart_host_routing`` through it):

* ``item_argument_spec``: what one item of ``connectors`` takes, i.e. exactly send_connector's options
  (derived from the option table) plus ``fallback_to_dns``, the smart_host semantics per item.
* ``validate_items``: every problem of every item, each ``<prefix>[i].<field>: <rule in words>``, checked
  with that argument spec (types and choices, Ansible's own converters) and the JSON Schema, before any
  remote call; a secret value is never echoed.
* ``apply``: one ``Get-SendConnector`` of all connectors (matched client-side by exact name or GUID),
  every item planned and its resulting state checked before the first write, then one write per item
  that differs (none in check mode).
"""

from __future__ import annotations

import difflib
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils import _diff, _identity, _options, _plan, _presets, _schema, _values

try:
    from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS
except ImportError:  # pragma: no cover - very old ansible-core
    DEFAULT_TYPE_VALIDATORS = {}

# The keys of a send_connector task besides the option table (shared with send_connector's argument spec).
COMMON_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "update_password": {"type": "str", "choices": ["always", "on_create"], "default": "on_create", "no_log": False},
    # a provider preset (_presets): its values under the task's own, its refusals and findings
    _presets.OPTION: _presets.spec(),
}
# What send_connectors adds per item: smart_host's "remove the last smart host, route by DNS again".
EXTRA_SPEC: dict[str, Any] = {
    "fallback_to_dns": {"type": "bool", "default": False},
}


def item_argument_spec() -> dict[str, Any]:
    """The argument spec of one item of send_connectors' ``connectors``."""
    spec = {key: dict(val) for key, val in COMMON_SPEC.items()}
    spec.update(_options.argument_spec())
    spec.update({key: dict(val) for key, val in EXTRA_SPEC.items()})
    return spec


# ---- validation --------------------------------------------------------------------------------
_TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false", "list": "a list", "dict": "a mapping",
               "float": "a number", "path": "a path"}


def _kind_of(value: Any) -> str:
    for kind, types in (("a string", str), ("true or false", bool), ("a number", (int, float)), ("a list", (list, tuple))):
        if isinstance(value, types):
            return kind
    return "null" if value is None else type(value).__name__


def _show(value: Any, secret: bool) -> str:
    return "(the value is not shown)" if secret else _values.shown(value, 60)


def _convert(kind: str, value: Any) -> Any:
    """Ansible's own conversion for ``type: kind`` (raises TypeError/ValueError when it does not convert)."""
    if kind == "str" and not isinstance(value, str):
        # Ansible would turn 42 into '42' with a warning; the JSON Schema refuses it for every connector setting
        raise TypeError("not a string")
    if kind in ("int", "float", "bool", "list", "dict"):
        # the collection's conversion (as Ansible's, without its traps: inf, nan, 1e400000 as int)
        try:
            return _schema._convert(kind, value)
        except _schema._Bad as err:
            raise TypeError(str(err)) from None
    converter = DEFAULT_TYPE_VALIDATORS.get(kind)
    return converter(value) if converter else value


def check_spec(data: Any, spec: dict[str, Any], path: str = "", secret: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Check one mapping against an Ansible argument spec; return (converted values, errors with paths).

    Unknown keys (with a suggestion), missing required keys, types (Ansible's converters), choices and
    list elements, recursively for ``options``. A value under a ``no_log`` key is never shown.
    """
    errors: list[str] = []
    where = (path + ".") if path else ""
    if not isinstance(data, dict):
        return {}, ["%s: must be a mapping of options, got %s" % (path or "(item)", _kind_of(data))]
    out: dict[str, Any] = {}
    aliases = {alias: key for key, entry in spec.items() for alias in entry.get("aliases") or []}
    for alias, key in aliases.items():
        if alias in data and key in data:
            errors.append("%s%s: is the old name of %s: give only %s" % (where, alias, key, key))
    data = {aliases.get(key, key): val for key, val in data.items()}
    for key in data:
        if key not in spec:
            close = difflib.get_close_matches(str(key), list(spec) + list(aliases), n=1)
            errors.append("%s%s: is not an option%s" % (where, key, " (did you mean %s?)" % close[0] if close else ""))
    for key, entry in spec.items():
        # a mapping that holds a secret (a credential) is never shown whole either
        hidden = secret or bool(entry.get("no_log")) or any(
            sub.get("no_log") for sub in (entry.get("options") or {}).values())
        value = data.get(key)
        if value is None:
            if entry.get("required"):
                errors.append("%s%s: is required" % (where, key))
            out[key] = entry.get("default")
            continue
        kind = entry.get("type", "str")
        try:
            value = _convert(kind, value)
        except (TypeError, ValueError):
            errors.append("%s%s: must be %s, got %s" % (where, key, _TYPE_WORDS.get(kind, kind), _show(value, hidden)))
            continue
        if kind == "list" and entry.get("elements"):
            converted = []
            for index, element in enumerate(value):
                try:
                    converted.append(_convert(entry["elements"], element))
                except (TypeError, ValueError):
                    words = _TYPE_WORDS.get(entry["elements"], entry["elements"])
                    errors.append("%s%s[%d]: must be %s, got %s" % (where, key, index, words, _show(element, hidden)))
            value = converted
        if entry.get("choices") and value not in entry["choices"]:
            errors.append("%s%s: must be one of %s, got %s" % (where, key, ", ".join(entry["choices"]), _show(value, hidden)))
            continue
        if kind == "dict" and entry.get("options"):
            value, sub_errors = check_spec(value, entry["options"], where + key, hidden)
            errors.extend(sub_errors)
        out[key] = value
    return out, errors


def settings_of(item: dict[str, Any]) -> dict[str, Any]:
    """The connector settings an item gives (option table keys, not None)."""
    return {opt.name: item[opt.name] for opt in _options.OPTIONS if item.get(opt.name) is not None}


def with_preset(item: dict[str, Any], current: Optional[dict[str, Any]] = None) -> _presets.Resolved:
    """The item's settings with its smart_host_profile's values under them, and the preset's refusals and findings."""
    return _presets.resolve(item.get(_presets.OPTION), settings_of(item), current)


def preset_diff(shown: dict[str, Any], resolved: _presets.Resolved, changed_keys: Any) -> dict[str, Any]:
    """The after side of a diff with ``smart_host_profile``: the preset's name and the changed values it gave."""
    if resolved.preset is None:
        return shown
    given = [key for key in resolved.from_preset if key in set(changed_keys)]
    if not given:
        return shown
    return dict(shown, smart_host_profile={"name": resolved.preset.name, "values": sorted(given)})


def _label(item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return " (connector %r)" % name if isinstance(name, str) and name.strip() else ""


def validate_item(item: Any, path: str) -> tuple[dict[str, Any], list[str]]:
    """(converted item, errors) of one item; errors begin with ``path`` and end with the connector's name."""
    params, errors = check_spec(item, item_argument_spec(), path)
    if not isinstance(item, dict):
        return params, errors
    bad = {e.split(":", 1)[0][len(path) + 1:].split(".")[0].split("[")[0] for e in errors}
    resolved = with_preset(params) if _presets.OPTION not in bad and params.get("state") != "absent" else None
    settings = {k: val for k, val in (resolved.task if resolved else settings_of(params)).items() if k not in bad}
    if params.get("name") is not None and "name" not in bad:
        settings["name"] = params["name"]
    if params.get("state") == "absent":
        settings = {"name": settings["name"]} if "name" in settings else {}  # a removed connector's settings do not matter
    for error in _schema.validate(settings, "task"):
        field, _sep, message = error.partition(": ")
        field = "" if field == "(task)" else field
        if field and field.split(".")[0].split("[")[0] in bad:
            continue  # already reported by the argument spec check
        errors.append("%s%s: %s" % (path, ("." + field) if field and not field.startswith("[") else field, message))
    if params.get("fallback_to_dns") and params.get("smart_hosts") is None:
        errors.append("%s.fallback_to_dns: only applies when smart_hosts are changed" % path)
    if resolved is not None:
        errors.extend("%s.%s" % (path, e) for e in resolved.errors)
    label = _label(item)
    return params, [e + label for e in errors]


def validate_items(items: Any, prefix: str = "connectors") -> tuple[list[dict[str, Any]], list[str]]:
    """All items checked; (converted items, every error of every item). Nothing is sent anywhere."""
    if not isinstance(items, (list, tuple)):
        return [], ["%s: must be a list of connectors, got %s" % (prefix, _kind_of(items))]
    converted: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, item in enumerate(items):
        params, found = validate_item(item, "%s[%d]" % (prefix, index))
        converted.append(params)
        errors.extend(found)
    # A list is a set of connectors: two items naming one connector (as Exchange compares names) would be applied
    # one after the other (absent then present re-creates it with a new GUID), so they are refused before any call.
    errors.extend(_identity.duplicates(
        ("%s[%d]" % (prefix, index), item.get("name")) for index, item in enumerate(items) if isinstance(item, dict)))
    return converted, errors


# ---- apply -------------------------------------------------------------------------------------
class ItemFailed(Exception):
    """Problems found after the read, before any write (one message for all items)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def match(connectors: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The connectors named ``name`` (compared as Exchange compares names; never by GUID: _identity)."""
    return _identity.find(connectors, name)


def _fallback(item: dict[str, Any], task: dict[str, Any], current: Optional[dict[str, Any]], plan: _plan.Plan) -> Optional[dict[str, Any]]:
    """fallback_to_dns: the task that also switches to DNS routing when the change leaves no smart host."""
    if not item.get("fallback_to_dns") or current is None or not current.get("smart_hosts"):
        return None
    if plan.after.get("smart_hosts") or task.get("dns_routing_enabled") is not None:
        return None
    task = dict(task, dns_routing_enabled=True)
    if task.get("smart_host_auth_mechanism") is None and current.get("smart_host_auth_mechanism") not in (None, "None"):
        task["smart_host_auth_mechanism"] = "None"  # authentication only applies to smart hosts (R9)
    return task


def _shown(plan: _plan.Plan, task: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The after side of the diff: for a create only what the item gave (not every predicted default)."""
    given = set(task) | set(plan.changed_keys)  # what the item gave and what it implies (dns_routing_enabled)
    # a credential the item gives but the command does not send (same user, update_password: on_create) is
    # not a change: no "password: (updated)" (issue 19 item 3)
    return _diff.connector_diff(plan.before, plan.after, plan.changed_keys, creating, shown_keys=given)["after"]


def apply(manager: Any, items: list[dict[str, Any]], prefix: str = "connectors") -> dict[str, Any]:
    """Bring every item to its wanted state with one read and one write per item that differs.

    ``manager`` is a ``_manager.ConnectorManager``. Items are applied in order; an item naming a
    connector an earlier item changed sees the state that item leaves.
    """
    found = manager.get_raw(None)
    state: dict[str, Optional[dict[str, Any]]] = {}  # _identity.key of a name -> canonical current state
    plans: list[tuple[int, dict[str, Any], _plan.Plan, dict[str, Any], bool]] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        name = str(item["name"]).strip()  # as Exchange stores it
        path = "%s[%d]" % (prefix, index)
        key = _identity.key(name)
        if key in state:
            current = state[key]
        else:
            exact = match(found, name)
            if len(exact) > 1:
                problems.append("%s.name: %r matches %d connectors; use a unique name%s" % (path, name, len(exact), _label(item)))
                continue
            current = _options.from_exchange(exact[0]) if exact else None
            if exact:
                ident = _options.identity_from_exchange(exact[0])
                if _identity.needs_read_all(name) and ident.get("guid"):
                    manager.guids[key] = ident["guid"]  # -Identity could address another connector: write by GUID
            else:
                others = [_identity.connector_name(c) for c in found]
                for other in _identity.lookalikes(name, others):
                    manager.warnings.append(_identity.lookalike_warning(
                        name, other, " (%s%s: %s)" % (path, _label(item), "nothing to remove" if item.get("state") == "absent"
                                                      else "a new connector is created")))
        creating = current is None
        if item.get("state") == "absent":
            plan = _plan.plan_absent(name, current)
            plans.append((index, item, plan, {}, False))
            state[key] = None
            continue
        resolved = with_preset(item, current)
        task = resolved.task
        if resolved.errors:  # refused on the connector as it is (e.g. its user name)
            problems.extend("%s.%s%s" % (path, e, _label(item)) for e in resolved.errors)
            continue
        manager.warnings.extend("%s: %s; %s%s" % (path, f["message"], f["hint"], _label(item)) for f in resolved.findings)
        if not creating and "usage" in task:
            # Exchange sets Usage only at creation and never shows it: for an existing connector it is not compared,
            # silently (a desired-state list names it for every connector; a warning on every run teaches nothing)
            task.pop("usage")
        if creating and not task.get("address_spaces"):
            problems.append("%s.address_spaces: required to create a Send connector; '%s' does not exist%s"
                            % (path, name, _label(item)))
            continue
        plan = _plan.plan_present(name, task, current, item.get("update_password") or "on_create")
        retask = _fallback(item, task, current, plan)
        if retask is not None:
            task = retask
            plan = _plan.plan_present(name, task, current, item.get("update_password") or "on_create")
        manager.warnings.extend(plan.warnings)
        problems.extend("%s.%s%s" % (path, e, _label(item)) for e in plan.errors)
        if plan.changed and not plan.errors:
            errors = _schema.validate(_plan.state_for_validation(plan.after), "state")
            problems.extend("%s (after the change).%s%s" % (path, e, _label(item)) for e in errors)
        state[key] = dict(plan.after)
        plans.append((index, dict(item, _resolved=resolved), plan, task, creating))
    if problems:
        raise ItemFailed(problems)

    results: list[dict[str, Any]] = [{} for _item in items]
    all_commands: list[str] = []
    current_index = None
    try:
        for index, item, plan, task, creating in plans:
            current_index = index
            before_count = len(manager.commands)
            output = manager.execute(plan)
            commands = manager.commands[before_count:]
            all_commands.extend(commands)
            after: dict[str, Any] = dict(plan.after)
            if output and plan.cmdlet == "New-SendConnector":
                after = dict(_options.from_exchange(output[0]), name=item["name"])
            resolved = item.get("_resolved")
            results[index] = {
                "name": item["name"],
                "state": item.get("state") or "present",
                "changed": plan.changed,
                "written": plan.changed and not manager.check_mode,
                "existed": bool(plan.before),
                "before": dict(plan.before),  # the snapshot a rollback restores (canonical, no password)
                "commands": commands,
                "connector": after,
                "diff": {"before": _diff.side(plan.before),
                         "after": {} if item.get("state") == "absent" else
                         preset_diff(_shown(plan, task, creating), resolved, plan.changed_keys) if resolved else
                         _shown(plan, task, creating)},
            }
            if resolved is not None and resolved.preset is not None:
                results[index]["profile"] = resolved.summary()
    except Exception as err:  # a write failed: say which items were written and which were not (issue 15)
        done = [r["name"] for r in results if r.get("written")]
        reason = getattr(err, "message", None) or str(err) or type(err).__name__
        for index, item in enumerate(items):
            if results[index]:
                continue
            results[index] = {"name": item["name"], "state": item.get("state") or "present", "changed": False,
                              "written": False}
            if index == current_index:
                results[index]["error"] = reason  # the write Exchange refused (or whose answer was lost)
        err.results = results
        err.changed = bool(done)  # changed is true when anything was written: a re-run finishes the rest
        if hasattr(err, "message"):
            err.message = "%s (written before the failure: %s; not written: %s)" % (
                err.message, ", ".join(done) if done else "nothing",
                ", ".join(r["name"] for r in results if not r.get("written")) or "nothing")
        raise
    return {"changed": any(r.get("changed") for r in results), "results": results, "commands": all_commands}

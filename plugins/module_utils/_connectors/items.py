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

The items are then applied by ``_engine.apply``, the one connector life cycle.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema

# The keys of a send_connector task besides the option table (shared with send_connector's argument spec).
COMMON_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "update_password": {"type": "str", "choices": ["always", "on_create"], "default": "on_create", "no_log": False},
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
def check_spec(data: Any, spec: dict[str, Any], path: str = "") -> tuple[dict[str, Any], list[str]]:
    """Check one mapping against an Ansible argument spec; (converted values, errors with paths).

    The modules' own input check (``_schema.check_input``): the same input gets the same words from a
    module's options, an item of send_connectors and a role variable. A value is never shown.
    """
    return _schema.check_input(spec, data, path or "(item)", ranges={})


def settings_of(item: dict[str, Any]) -> dict[str, Any]:
    """The connector settings an item gives (the table's settings, not None)."""
    return {opt.name: item[opt.name] for opt in _options.SETTINGS if item.get(opt.name) is not None}


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


def validate_item(item: Any, path: str, spec: Optional[dict[str, Any]] = None) -> tuple[dict[str, Any], list[str]]:
    """(converted item, errors) of one item; errors begin with ``path`` and end with the connector's name."""
    params, errors = check_spec(item, spec if spec is not None else item_argument_spec(), path)
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
    return params, errors


def validate_items(items: Any, prefix: str = "connectors") -> tuple[list[dict[str, Any]], list[str]]:
    """All items checked; (converted items, every error of every item). Nothing is sent anywhere."""
    if not isinstance(items, (list, tuple)):
        return [], ["%s: must be a list of connectors, not %s" % (prefix, _schema.type_name(items))]
    converted: list[dict[str, Any]] = []
    errors: list[str] = []
    spec = item_argument_spec()  # built once for the list, not once per item
    for index, item in enumerate(items):
        params, found = validate_item(item, "%s[%d]" % (prefix, index), spec)
        converted.append(params)
        errors.extend(found)
    errors = labelled(errors, items, prefix)
    # A list is a set of connectors: two items naming one connector (as Exchange compares names) would be applied
    # one after the other (absent then present re-creates it with a new GUID), so they are refused before any call.
    errors.extend(_identity.duplicates(
        ("%s[%d]" % (prefix, index), item.get("name")) for index, item in enumerate(items) if isinstance(item, dict)))
    return converted, errors


def labelled(problems: list[str], items: Any, prefix: str = "connectors") -> list[str]:
    """Each problem of an item ``<prefix>[i]...`` ends with the name of that item's connector, once."""
    out = []
    for problem in problems:
        found = re.match(r"%s\[(\d+)\]" % re.escape(prefix), problem)
        index = int(found.group(1)) if found else -1
        label = _label(items[index]) if isinstance(items, (list, tuple)) and 0 <= index < len(items) else ""
        out.append(problem if not label or problem.endswith(label) else problem + label)
    return out

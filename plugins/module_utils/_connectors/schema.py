# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

JSON Schema of a Send connector, derived from the option table, with the cross-field rules of
docs/exchange-rules.md section 2. Two flavours come from one definition:

* ``task``: what a task asks for. Runs before any remote call; a rule fires only on the
  settings the task gives (a setting not given is not managed).
* ``state``: the connector as it would be after the change (current state merged with the
  task). Runs after the single read and before any write, so a combination the task alone
  could not reveal (e.g. ``dns_routing_enabled: false`` on a connector without smart hosts) is
  refused before Exchange sees it.

Every violation is reported, each with its path and the rule in words, e.g.
``address_spaces[1]: '*contoso.com' is not a valid SMTP address space: ...``. The rule ids (R6...) name
the rules of docs/exchange-rules.md section 2 in this file only; they never appear in a message.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
import traceback
from typing import Any, Iterator, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as v
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import BY_NAME, OPTIONS
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import implied

# jsonschema (with referencing, attrs and rpds) is imported by the first validation, not with this module: most
# module runs and role filters that import this module never validate a connector (message_trace,
# send_connector_route, a test message, the role's plan), and importing it cost each of them 30-70 ms.
JSONSCHEMA_IMPORT_ERROR = None
try:
    _FOUND = importlib.util.find_spec("jsonschema") is not None
except (ImportError, ValueError):  # pragma: no cover - a broken installation
    _FOUND = False
if not _FOUND:
    try:
        import jsonschema  # noqa: F401  # pylint: disable=unused-import
    except ImportError:  # pragma: no cover - reported through missing_required_lib
        JSONSCHEMA_IMPORT_ERROR = traceback.format_exc()

HAS_JSONSCHEMA = JSONSCHEMA_IMPORT_ERROR is None

MSG = "x-message"
HAS_HOSTS = {"anyOf": [{"type": "array", "minItems": 1}, {"type": "object", "required": ["add"]}]}
NON_SMTP_SPACE = {
    "anyOf": [
        {"type": "string", "pattern": "^(?![Ss][Mm][Tt][Pp]:)[A-Za-z0-9][A-Za-z0-9-]*:"},
        {"type": "object", "required": ["type"], "properties": {"type": {"not": {"pattern": "^(?i:smtp)$"}}}},
    ]
}


# An address space that is a wildcard: "*", "*.contoso.com", "SMTP:*;1" or {domain: "*..."} (R14).
WILDCARD_SPACE = {
    "anyOf": [
        {"type": "string", "pattern": "^[ \\t]*(?:[Ss][Mm][Tt][Pp]:)?[ \\t]*\\*"},
        {"type": "object", "required": ["domain"], "properties": {"domain": {"type": "string", "pattern": "^[ \\t]*\\*"}}},
    ]
}


def _rule(rule_id: str, when: dict[str, Any], then: dict[str, Any], needs: tuple = (), message: str = "",
          task_needs: bool = False) -> dict:
    """One cross-field rule (``rule_id`` names it in docs/exchange-rules.md section 2; it is not shown).

    when: {setting: subschema} that must all be given and match for the rule to apply.
    then: {setting: subschema} each must match when that setting is given (task) or always (state).
    needs: settings that must be given and not empty (checked in ``state``; in ``task`` only when
           the setting is given, i.e. it must not be given empty - or always when ``task_needs``).
    """
    return {"id": rule_id, "when": when, "then": then, "needs": needs, "message": message, "task_needs": task_needs}


RULES = [
    _rule("R6", {"address_spaces": {"type": "array", "contains": NON_SMTP_SPACE}},
          {"dns_routing_enabled": {"const": False}}, needs=("smart_hosts",),
          message="an address space that is not SMTP needs smart hosts and dns_routing_enabled false"),
    _rule("R8", {"smart_hosts": HAS_HOSTS}, {"dns_routing_enabled": {"const": False}},
          message="smart hosts replace DNS routing: dns_routing_enabled must be false when smart_hosts are set"),
    _rule("R8", {"dns_routing_enabled": {"const": False}}, {}, needs=("smart_hosts",),
          message="dns_routing_enabled false needs at least one smart host in smart_hosts"),
    _rule("R9", {"smart_host_auth_mechanism": {"type": "string", "not": {"pattern": "^(?i:none)$"}}},
          {"dns_routing_enabled": {"const": False}},
          message="smart_host_auth_mechanism applies to smart hosts only: dns_routing_enabled must be false"),
    # R10: decidable from the task alone - a task that sets BasicAuth names the credential (its user name at
    # least: the password may be left out when the connector already has that user's credential).
    _rule("R10", {"smart_host_auth_mechanism": {"type": "string", "pattern": "^[ \\t]*(?i:basicauth(requiretls)?)[ \\t]*$"}},
          {}, needs=("authentication_credential",), task_needs=True,
          message="smart_host_auth_mechanism BasicAuth and BasicAuthRequireTLS need authentication_credential "
                  "(the user name at least; the password may be left out when the connector already has that "
                  "user's credential)"),
    _rule("R11", {"tls_auth_level": {"type": "string", "minLength": 1}},
          {"require_tls": {"const": True}, "ignore_starttls": {"const": False}},
          message="tls_auth_level needs require_tls true and ignore_starttls false"),
    _rule("R12", {"tls_auth_level": {"type": "string", "pattern": "^(?i:domainvalidation)$"},
                  "dns_routing_enabled": {"const": False}},
          {}, needs=("tls_domain",),
          message="DomainValidation on a smart-host connector needs tls_domain"),
    # R12 (Exchange refuses it: "The TLSDomain parameter can only be set if the TLSAuthLevel parameter is set
    # to DomainValidation.")
    _rule("R12", {"tls_domain": {"type": "string", "pattern": "\\S"}},
          {"tls_auth_level": {"type": "string", "pattern": "^[ \\t]*(?i:domainvalidation)[ \\t]*$"}},
          message="tls_domain can be set only when tls_auth_level is DomainValidation"),
    _rule("R13", {"require_tls": {"const": True}}, {"ignore_starttls": {"const": False}},
          message="ignore_starttls must be false when require_tls is true"),
    _rule("R14", {"domain_secure_enabled": {"const": True}},
          {"dns_routing_enabled": {"const": True}, "ignore_starttls": {"const": False}},
          message="domain_secure_enabled needs dns_routing_enabled true and ignore_starttls false"),
    # R14: "Domains used for it can't be wildcards" (Set-SendConnector DomainSecureEnabled).
    _rule("R14", {"domain_secure_enabled": {"const": True}},
          {"address_spaces": {"not": {"anyOf": [
              {"type": "array", "contains": WILDCARD_SPACE},
              {"type": "object", "required": ["add"], "properties": {"add": {"type": "array", "contains": WILDCARD_SPACE}}},
          ]}}},
          message="domain_secure_enabled (domain security) cannot be used with a wildcard address space such as * "
                  "or *.contoso.com; list the partner domains themselves"),
]


def build_schema(mode: str = "task") -> dict[str, Any]:
    """The JSON Schema for ``task`` or ``state`` (see the module docstring)."""
    properties: dict[str, Any] = {"name": {"type": "string", "x-name": True}}
    for opt in OPTIONS:
        schema = opt.schema()
        whole = schema["anyOf"][0] if "anyOf" in schema else schema
        task_only = whole.pop("x-task", None)
        if task_only and mode == "task":
            # e.g. a source server (docs/exchange-rules.md 4.4): only a task is held to it (an Edge connector has
            # none, and the planner refuses a change that removes the last one)
            whole.update(task_only)
        properties[opt.name] = schema
    all_of = []
    for rule in RULES:
        when = {"required": list(rule["when"]), "properties": rule["when"]}
        then_props = {}
        for key, sub in rule["then"].items():
            then_props[key] = dict(sub, **{MSG: rule["message"]})
        for key in rule["needs"]:
            then_props.setdefault(key, {})
            empty = {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}
            then_props[key] = dict(then_props[key], **{"not": empty, MSG: rule["message"]})
        then: dict[str, Any] = {"properties": then_props}
        if mode == "state" and (rule["then"] or rule["needs"]):
            then["required"] = list(rule["needs"]) + list(rule["then"])
            then[MSG] = rule["message"]
        elif mode == "task" and rule["task_needs"]:
            then["required"] = list(rule["needs"])
            then[MSG] = rule["message"]
        all_of.append({"if": when, "then": then})
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mailflow.exchange Send connector (%s)" % mode,
        "type": "object",
        "properties": properties,
        "allOf": all_of,
    }
    if mode == "state":
        schema["required"] = ["address_spaces"]
    return schema


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _wrong_type(validator, instance, schema) -> bool:
    """True when the schema's own "type" already refuses the value (one message is enough)."""
    types = schema.get("type")
    if types is None:
        return False
    return not any(validator.is_type(instance, t) for t in ([types] if isinstance(types, str) else types))


def _judged(validator, instance, schema, opt, parse, rule) -> Iterator[Any]:
    """A value (or one list entry) by its kind: the raw-value rule, the parser, then the rule on the parsed value."""
    if _wrong_type(validator, instance, schema):
        return
    refused = opt.refuse(instance)
    if refused:
        yield _error(refused)
        return
    try:
        canon = parse(instance)
    except (ValueError, TypeError) as err:
        yield _error(str(err))
        return
    problem = rule(canon)
    if problem:
        yield _error(problem)


def _x_value(validator, name, instance, schema) -> Iterator[Any]:
    opt = BY_NAME[name]
    yield from _judged(validator, instance, schema, opt, opt.canonical, opt.check)


def _x_item(validator, name, instance, schema) -> Iterator[Any]:
    opt = BY_NAME[name]
    yield from _judged(validator, instance, schema, opt, opt.item, opt.item_problem)


def _x_text(validator, _value, instance, schema) -> Iterator[Any]:
    if v.has_control(instance):
        yield _error(v.CONTROL_RULE)


def _x_name(validator, _value, instance, schema) -> Iterator[Any]:
    problem = v.check_name(instance)
    if problem:
        yield _error(problem)


def _x_list(validator, name, instance, schema) -> Iterator[Any]:
    if not isinstance(instance, (list, dict)):
        yield _error("give a list (the whole list) or a mapping with add and/or remove lists")
        return
    for problem in BY_NAME[name].list_problems(instance if isinstance(instance, list) else instance.get("add")):
        yield _error(problem)


def _error(message: str) -> Any:
    from jsonschema.exceptions import ValidationError

    return ValidationError(message)


def _validator_class():
    from jsonschema import validators as _validators

    base = _validators.Draft202012Validator
    return _validators.extend(base, {"x-value": _x_value, "x-item": _x_item, "x-list": _x_list, "x-name": _x_name,
                                     "x-text": _x_text})


_VALIDATORS: dict[str, Any] = {}


def _validator(mode: str) -> Any:
    """One validator per mode and process: building the class is half the cost of a validation, and
    send_connectors validates every item of a list (50 connectors: 50 validations)."""
    if mode not in _VALIDATORS:
        _VALIDATORS[mode] = _validator_class()(build_schema(mode))
    return _VALIDATORS[mode]


def _path(parts) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        else:
            text += ("." if text else "") + str(part)
    return text


def _leaves(error) -> Iterator[Any]:
    """The most specific errors: for anyOf (list or add/remove) pick the branch that fits the shape."""
    if error.validator == "anyOf" and error.context:
        if "x-list" in error.schema and not isinstance(error.instance, (list, dict)):
            return  # x-list says what shapes are accepted; the branches would repeat it
        is_mapping = isinstance(error.instance, dict)
        wanted = [e for e in error.context if (e.relative_schema_path[0] == 1) == is_mapping]
        for sub in wanted or error.context:
            yield from _leaves(sub)
        return
    yield error


_TYPE_WORDS = {
    "integer": "a whole number", "string": "a string", "boolean": "a boolean (true or false)",
    "array": "a list", "object": "a mapping", "null": "null", "number": "a number",
}


def type_name(value: Any) -> str:
    """What a value is, in words (never the value itself: it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number with a fraction" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a %s" % type(value).__name__


def _message(error) -> str:
    custom = error.schema.get(MSG) if isinstance(error.schema, dict) else None
    if custom:
        return custom
    if error.validator == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected if t != "null")
        if error.schema.get("x-secret") and "object" in expected:
            words = "a mapping with username and password"
        return "must be %s, not %s" % (words, type_name(error.instance))
    if error.validator == "additionalProperties":
        extra = sorted(str(k) for k in error.instance if k not in (error.schema.get("properties") or {}))
        allowed = " and ".join(sorted(error.schema.get("properties") or {}))
        return "unknown key(s) %s; only %s are allowed" % (", ".join(v.shown(k, 30) for k in extra), allowed)
    if error.validator == "minProperties":
        return "give add and/or remove"
    if error.validator == "minimum":
        high = error.schema.get("maximum")
        return ("must be from %s to %s" % (error.validator_value, high)) if high is not None else (
            "must be at least %s" % error.validator_value)
    if error.validator == "maximum":
        low = error.schema.get("minimum")
        return ("must be from %s to %s" % (low, error.validator_value)) if low is not None else (
            "must be at most %s" % error.validator_value)
    if error.validator in ("minLength", "pattern"):
        return "must not be empty or blank"
    if error.validator == "minItems" and error.validator_value == 1 and error.schema.get("x-empty"):
        return error.schema["x-empty"]
    if error.validator == "minItems" and error.validator_value == 1:
        return "must not be empty"
    if error.validator == "required":
        return "is required"
    return error.message


def validate(data: dict[str, Any], mode: str = "task", rename: dict[str, str] | None = None,
             prefix: str = "") -> list[str]:
    """All violations as ``path: message`` strings (empty when valid). None values count as not given.

    In ``task`` mode the task is read with what it implies (smart hosts given -> DNS routing off),
    as the modules apply it. ``prefix`` goes in front of every path (``connectors[3]`` gives
    ``connectors[3].port``); a problem of the whole item is reported under the prefix itself.
    """
    if mode == "task":
        data = implied(data)
    instance = {k: val for k, val in data.items() if val is not None}
    validator = _validator(mode)
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            parts = list(leaf.absolute_path)
            if leaf.validator == "required" and isinstance(leaf.instance, dict):
                missing = [k for k in leaf.validator_value if k not in leaf.instance]
                parts = parts + missing[:1]
            if rename and parts and parts[0] in rename:
                parts[0] = rename[parts[0]]
            path = _path(parts)
            if prefix:
                path = prefix + ("" if not path or path.startswith("[") else ".") + path if path else prefix
            item = (path or "(task)", _message(leaf))
            if rename:
                text = item[1]
                for old, new in rename.items():
                    text = text.replace(old, new)
                item = (item[0], text)
            if item not in found:
                found.append(item)
    if mode == "task":  # the rules a task is held to beyond Exchange's own (_values.task_value_problem)
        for key in ("tls_domain", "fqdn"):
            problem = v.task_value_problem(key, instance.get(key))
            path = (prefix + "." + key) if prefix else key
            if problem and not any(p == path for p, _m in found):
                found.append((path, problem))
    found.sort()
    return ["%s: %s" % item for item in found]


# --------------------------------------------------------------------------------------------
# Module input, before AnsibleModule: every option's type and the rules decidable from the input,
# all problems at once, never a value that may be a secret, never an exception.
# --------------------------------------------------------------------------------------------
_BOOL_TRUE = ("1", "on", "yes", "y", "true", "t")
_BOOL_FALSE = ("0", "off", "no", "n", "false", "f")
_INT_TEXT = re.compile(r"[ \t]*[+-]?[0-9]{1,30}(?:\.0*)?[ \t]*", re.ASCII)
_FLOAT_TEXT = re.compile(r"[ \t]*[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?[ \t]*",
                         re.ASCII)

# Ranges of connection and module options (name -> (low, high)); the connector settings carry theirs in
# the option table. A TCP port is 1-65535 (RFC 793; 0 is not a port a client can connect to).
INPUT_RANGES: dict[str, tuple[float, float]] = {
    "server_port": (1, 65535),
    "connection_timeout": (1, 86400),
    "operation_timeout": (1, 86400),
}
# Connection options that name a host: an IP address or a host name (no NUL/CR/LF, no spaces).
HOST_OPTIONS = ("server", "domain_controller")


class _Bad(Exception):
    pass


def _convert(kind: str, value: Any) -> Any:
    """Ansible's conversion of one value to ``kind`` (str/int/float/bool/list/dict/path/raw), without its
    traps (a huge exponent, infinity); raises _Bad with what the value must be."""
    if kind in ("raw", "jsonarg", "json"):
        return value
    if kind in ("str", "path"):
        if isinstance(value, (dict, list, tuple)):
            raise _Bad("a string")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Bad("a string")
        return value if isinstance(value, str) else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOL_TRUE + _BOOL_FALSE:
            return value.strip().lower() in _BOOL_TRUE
        raise _Bad("a boolean (true or false)")
    if kind == "int":
        if isinstance(value, bool):
            raise _Bad("a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        if isinstance(value, str) and _INT_TEXT.fullmatch(value):
            return int(value.strip().split(".")[0])
        raise _Bad("a whole number")
    if kind == "float":
        if isinstance(value, bool):
            raise _Bad("a finite number")
        if isinstance(value, (int, float)):
            number = float(value) if abs(value) < 1e300 else float("inf")
        elif isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
            number = float(value)
        else:
            raise _Bad("a finite number")
        if not math.isfinite(number):
            raise _Bad("a finite number")
        return number
    if kind == "list":
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return value.split(",")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [str(value)]
        raise _Bad("a list")
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise _Bad("a mapping")
    return value


def _join(prefix: str, name: Any) -> str:
    if isinstance(name, int):
        return "%s[%d]" % (prefix, name)
    return "%s.%s" % (prefix, name) if prefix else str(name)


def constraint_problems(given: Any, prefix: str = "", mutually_exclusive: Any = (), required_one_of: Any = (),
                        required_together: Any = ()) -> list[str]:
    """Problems of the constraints an argument spec declares (AnsibleModule's keywords of the same names),
    worded as the checker words everything else; ``given`` is the set of options given (not None)."""
    problems = []
    for group in mutually_exclusive or ():
        found = [name for name in group if name in given]
        if len(found) > 1:
            problems.append("%s: give one of them, not both" % " and ".join(_join(prefix, n) for n in found))
    for group in required_one_of or ():
        if not any(name in given for name in group):
            problems.append("%s: give one of them" % " or ".join(_join(prefix, n) for n in group))
    for group in required_together or ():
        found = [name for name in group if name in given]
        if found and len(found) < len(group):
            problems.append("%s: give them together" % " and ".join(_join(prefix, n) for n in group))
    return problems


def check_input(spec: dict[str, Any], raw: Any, prefix: str = "",
                ranges: Optional[dict[str, tuple[float, float]]] = None,
                control: bool = True, constraints: Optional[dict[str, Any]] = None,
                own_words: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """(converted parameters, problems) for module input ``raw`` against an Ansible argument spec.

    Every option is converted as Ansible would (defaults filled in); an option that cannot be converted
    is reported (path and rule, never its value) and left out (None) of the converted parameters, so
    that the module's own checks can still run on the rest and report their problems in the same message.
    ``control``: refuse NUL/CR/LF in strings here (False: the module's own checks word that rule).
    ``own_words``: top-level options whose whole value the module's own checks judge, NUL/CR/LF included (a test
    message: its body has lines, its addresses and subject get the SMTP words smtp_probe gives them).
    """
    ranges = INPUT_RANGES if ranges is None else ranges
    problems: list[str] = []
    converted: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return converted, ["%s: must be a mapping, not %s" % (prefix or "(task)", type_name(raw))]
    names = {}
    for name, entry in spec.items():
        names[name] = name
        for alias in entry.get("aliases") or ():
            names[alias] = name
    given = {names[k] for k in raw if k in names and raw[k] is not None}
    problems.extend(constraint_problems(given, prefix, **(constraints or {})))
    unknown = sorted(str(k) for k in raw if k not in names and not str(k).startswith("_ansible_"))
    for key in unknown:
        close = difflib.get_close_matches(key, list(names), n=1)
        problems.append("%s: is not an option%s" % (_join(prefix, v.shown(key, 50).strip("'")),
                                                    " (did you mean %s?)" % close[0] if close else ""))
    for name, entry in spec.items():
        path = _join(prefix, name)
        given = [k for k in raw if names.get(k) == name and raw[k] is not None]
        old = [k for k in given if k != name]
        if len(given) > 1 and old and name in given:
            problems.append("%s: is the old name of %s: give only %s" % (_join(prefix, old[0]), name, name))
        elif len(given) > 1:
            problems.append("%s: given more than once (as %s)" % (path, " and ".join(given)))
        value = raw[given[0]] if given else None
        if value is None:
            value = entry.get("default")
            if value is None and entry.get("required") and not entry.get("fallback"):
                problems.append("%s: is required" % path)
            converted[name] = value
            continue
        kind = entry.get("type", "str")
        checked = control and name not in own_words
        try:
            value = _convert(kind if isinstance(kind, str) else "raw", value)
        except _Bad as err:
            problems.append("%s: must be %s, not %s" % (path, err, type_name(value)))
            converted[name] = entry.get("default")  # checked as if left out
            continue
        bad = False
        if checked and kind in ("str", "path") and v.has_control(value):
            problems.append("%s: %s" % (path, v.CONTROL_RULE))
            bad = True
        elif kind == "list" and entry.get("elements"):
            # A bad element is reported at its index and kept as given (the module's own checks skip a path
            # already reported), so the other elements keep their indexes and are still checked.
            items = []
            for index, item in enumerate(value):
                if entry.get("options") and entry["elements"] == "dict":
                    sub, found = check_input(entry["options"], item, _join(path, index), ranges={}, control=checked)
                    problems.extend(found)
                    items.append(sub)
                    continue
                try:
                    item = _convert(entry["elements"], item)
                except _Bad as err:
                    problems.append("%s: must be %s, not %s" % (_join(path, index), err, type_name(item)))
                    items.append(item)
                    continue
                if checked and v.has_control(item):
                    problems.append("%s: %s" % (_join(path, index), v.CONTROL_RULE))
                elif entry.get("choices") and item not in entry["choices"]:
                    problems.append("%s: must be one of %s" % (_join(path, index),
                                                               ", ".join(str(c) for c in entry["choices"])))
                items.append(item)
            value = items
        elif kind == "dict" and entry.get("options"):
            # a credential is always held to it (AUTH PLAIN separates its fields with NUL; never echoed here)
            value, _found = check_input(entry["options"], value, path, ranges={},
                                        control=checked or name == "authentication_credential")
            problems.extend(_found)
        choices = entry.get("choices")
        if not bad and choices and kind != "list" and value not in choices:
            problems.append("%s: must be one of %s" % (path, ", ".join(str(c) for c in choices)))
            bad = True
        if not bad and name in ranges and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = ranges[name]
            if not low <= value <= high:
                problems.append("%s: must be from %s to %s" % (path, low, high))
                bad = True
        if not bad and name in HOST_OPTIONS and isinstance(value, str) and value.strip():
            host = value.strip()
            bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            if not (v.is_ip(bare) or v.is_fqdn(host)):
                problems.append("%s: %s is neither an IP address nor a valid host name" % (path, v.shown(host)))
                bad = True
        converted[name] = entry.get("default") if bad else value  # a bad option is checked as if left out
    return converted, problems

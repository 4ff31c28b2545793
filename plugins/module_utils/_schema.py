# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

JSON Schema of a Send connector, derived from the option table, with the cross-field rules of
EXCHANGE-CONTRACT.md section 2. Two flavours come from one definition:

* ``task``: what a task asks for. Runs before any remote call; a rule fires only on the
  settings the task gives (a setting not given is not managed).
* ``state``: the connector as it would be after the change (current state merged with the
  task). Runs after the single read and before any write, so a combination the task alone
  could not reveal (e.g. ``dns_routing_enabled: false`` on a connector without smart hosts) is
  refused before Exchange sees it.

Every violation is reported, each with its path, e.g. ``address_spaces[1]: ... (R3)``.
"""

from __future__ import annotations

import traceback
from typing import Any, Iterator

from ansible_collections.mailflow.exchange.plugins.module_utils import _values as v
from ansible_collections.mailflow.exchange.plugins.module_utils._options import BY_NAME, OPTIONS
from ansible_collections.mailflow.exchange.plugins.module_utils._plan import implied

JSONSCHEMA_IMPORT_ERROR = None
try:
    import jsonschema
    from jsonschema import validators as _validators
    from jsonschema.exceptions import ValidationError
except ImportError:  # pragma: no cover - reported through missing_required_lib
    JSONSCHEMA_IMPORT_ERROR = traceback.format_exc()

HAS_JSONSCHEMA = JSONSCHEMA_IMPORT_ERROR is None

MSG = "x-message"
SOURCE_SERVER_NEEDED = "a Send connector needs at least one source transport server (EXCHANGE-CONTRACT 4.4)"
NON_EMPTY_LIST = {"not": {"type": "array", "maxItems": 0}}
HAS_HOSTS = {"anyOf": [{"type": "array", "minItems": 1}, {"type": "object", "required": ["add"]}]}
NON_SMTP_SPACE = {
    "anyOf": [
        {"type": "string", "pattern": "^(?![Ss][Mm][Tt][Pp]:)[A-Za-z0-9][A-Za-z0-9-]*:"},
        {"type": "object", "required": ["type"], "properties": {"type": {"not": {"pattern": "^(?i:smtp)$"}}}},
    ]
}


def _rule(rule_id: str, when: dict[str, Any], then: dict[str, Any], needs: tuple = (), message: str = "") -> dict:
    """One cross-field rule.

    when: {setting: subschema} that must all be given and match for the rule to apply.
    then: {setting: subschema} each must match when that setting is given (task) or always (state).
    needs: settings that must be given and not empty (checked in ``state``; in ``task`` only when
           the setting is given, i.e. it must not be given empty).
    """
    return {"id": rule_id, "when": when, "then": then, "needs": needs, "message": "%s (%s)" % (message, rule_id)}


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
    _rule("R10", {"smart_host_auth_mechanism": {"type": "string", "pattern": "^(?i:basicauth(requiretls)?)$"}},
          {}, needs=("authentication_credential",),
          message="BasicAuth and BasicAuthRequireTLS need authentication_credential"),
    _rule("R11", {"tls_auth_level": {"type": "string", "minLength": 1}},
          {"require_tls": {"const": True}, "ignore_starttls": {"const": False}},
          message="tls_auth_level needs require_tls true and ignore_starttls false"),
    _rule("R12", {"tls_auth_level": {"type": "string", "pattern": "^(?i:domainvalidation)$"},
                  "dns_routing_enabled": {"const": False}},
          {}, needs=("tls_domain",),
          message="DomainValidation on a smart-host connector needs tls_domain"),
    _rule("R13", {"require_tls": {"const": True}}, {"ignore_starttls": {"const": False}},
          message="ignore_starttls must be false when require_tls is true"),
    _rule("R14", {"domain_secure_enabled": {"const": True}},
          {"dns_routing_enabled": {"const": True}, "ignore_starttls": {"const": False}},
          message="domain_secure_enabled needs dns_routing_enabled true and ignore_starttls false"),
]


def _option_schema(name: str) -> dict[str, Any]:
    opt = BY_NAME[name]
    if opt.kind == "bool":
        return {"type": "boolean"}
    if opt.kind == "int":
        schema: dict[str, Any] = {"type": "integer"}
        if opt.minimum is not None:
            schema["minimum"] = opt.minimum
        if opt.maximum is not None:
            schema["maximum"] = opt.maximum
        return schema
    if opt.kind == "credential":
        return {
            "type": "object",
            # password may be null: Ansible fills in a missing suboption, and send_connector_info's output (which
            # cannot carry the password) must be valid input; the planner demands it when it must be sent.
            "properties": {"username": {"type": "string", "minLength": 1}, "password": {"type": ["string", "null"]}},
            "required": ["username"],
        }
    if opt.kind in ("spaces", "hosts", "servers"):
        item = {"x-item": name}
        if opt.kind != "spaces":
            item = {"type": "string", "x-item": name}
        whole = {"type": "array", "items": item}
        if opt.kind == "spaces":
            whole["minItems"] = 1
        if not opt.partial:
            return whole
        part = {
            "type": "object",
            "properties": {"add": {"type": "array", "items": item}, "remove": {"type": "array", "items": item}},
            "additionalProperties": False,
            "minProperties": 1,
        }
        return {"x-list": name, "anyOf": [whole, part]}
    if opt.kind == "flags":
        return {"type": "array", "items": {"type": "string", "x-value": name}}
    if opt.kind in ("size", "timespan"):
        return {"type": ["string", "integer"], "x-value": name}
    schema = {"type": "string", "x-value": name}
    if opt.nullable:
        schema["type"] = ["string", "null"]
    return schema


def build_schema(mode: str = "task") -> dict[str, Any]:
    """The JSON Schema for ``task`` or ``state`` (see the module docstring)."""
    properties: dict[str, Any] = {"name": {"type": "string", "minLength": 1, "pattern": r"\S", "x-name": True}}
    properties.update({opt.name: _option_schema(opt.name) for opt in OPTIONS})
    if mode == "task":
        # A Send connector needs a source server (contract 4.4). Only the task is held to it: an Edge
        # connector has none, and the planner refuses a change that removes the last one.
        servers = properties["source_transport_servers"]["anyOf"][0]
        servers.update({"minItems": 1, "x-empty": SOURCE_SERVER_NEEDED})
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
def _range_error(name: str, canon: Any) -> str:
    if name == "max_message_size" and isinstance(canon, int) and not 0 <= canon <= v.MAX_MESSAGE_BYTES:
        return "%d bytes is outside 0-%d bytes (R17)" % (canon, v.MAX_MESSAGE_BYTES)
    if name == "connection_inactivity_timeout":
        seconds = v.parse_timespan(canon)
        if seconds is not None and not 1 <= seconds <= 86400:
            return "%s is outside 00:00:01-1.00:00:00 (R18)" % canon
    if name == "tls_domain" and canon and not v.is_fqdn(canon.replace("*.", "", 1) if canon.startswith("*.") else canon):
        return "'%s' is not a domain such as contoso.com or *.contoso.com (R12)" % canon
    if name == "fqdn" and canon and not v.is_fqdn(canon):
        return "'%s' is not a fully qualified domain name" % canon
    return ""


def _wrong_type(validator, instance, schema) -> bool:
    """True when the schema's own "type" already refuses the value (one message is enough)."""
    types = schema.get("type")
    if types is None:
        return False
    return not any(validator.is_type(instance, t) for t in ([types] if isinstance(types, str) else types))


def _x_value(validator, name, instance, schema) -> Iterator[Any]:
    opt = BY_NAME[name]
    if _wrong_type(validator, instance, schema):
        return
    try:
        canon = opt.canonical(instance)
    except (ValueError, TypeError) as err:
        yield ValidationError(str(err))
        return
    problem = _range_error(name, canon)
    if problem:
        yield ValidationError(problem)


def _x_item(validator, name, instance, schema) -> Iterator[Any]:
    opt = BY_NAME[name]
    if _wrong_type(validator, instance, schema):
        return
    if opt.kind == "spaces" and not isinstance(instance, (str, dict)):
        yield ValidationError("an address space is a string such as contoso.com;2 or a {domain, type, cost} mapping")
        return
    try:
        opt.item(instance)
    except (ValueError, TypeError) as err:
        yield ValidationError(str(err))


def _x_name(validator, _value, instance, schema) -> Iterator[Any]:
    if isinstance(instance, str) and "*" in instance:
        yield ValidationError("'%s' contains *, which Exchange reads as a wildcard that matches other connectors; "
                              "give the exact name (contract 1.3)" % instance)


def _x_list(validator, name, instance, schema) -> Iterator[Any]:
    if not isinstance(instance, (list, dict)):
        yield ValidationError("give a list (the whole list) or a mapping with add and/or remove lists")
        return
    if name == "address_spaces":
        yield from _repeated_spaces(instance if isinstance(instance, list) else instance.get("add"))


def _repeated_spaces(items: Any) -> Iterator[Any]:
    """The same address space (type and space) twice, e.g. with two costs: Exchange refuses the list."""
    if not isinstance(items, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            ident = v.address_space_id(v.canonical_address_space(item))
        except (ValueError, TypeError):
            continue  # reported by the item's own check
        if ident in seen and v.canonical_address_space(items[seen[ident]]) != v.canonical_address_space(item):
            yield ValidationError("items %d and %d are the same address space with two costs; each address space "
                                  "(type and domain) may appear once" % (seen[ident], index))
        seen.setdefault(ident, index)


def _validator_class():
    base = jsonschema.Draft202012Validator
    return _validators.extend(base, {"x-value": _x_value, "x-item": _x_item, "x-list": _x_list, "x-name": _x_name})


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


def _message(error) -> str:
    custom = error.schema.get(MSG) if isinstance(error.schema, dict) else None
    if custom:
        return custom
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return "must be of type %s, got %r" % (expected, error.instance)
    if error.validator == "additionalProperties":
        return "only add and remove are allowed: %s" % error.message
    if error.validator == "minProperties":
        return "give add and/or remove"
    if error.validator in ("minLength", "pattern") and error.schema.get("x-name"):
        return "must not be empty or blank"
    if error.validator == "minItems" and error.validator_value == 1 and error.schema.get("x-empty"):
        return error.schema["x-empty"]
    if error.validator == "minItems" and error.validator_value == 1:
        return "must not be empty"
    return error.message


def validate(data: dict[str, Any], mode: str = "task", rename: dict[str, str] | None = None) -> list[str]:
    """All violations as ``path: message`` strings (empty when valid). None values count as not given.

    In ``task`` mode the task is read with what it implies (smart hosts given -> DNS routing off),
    as the modules apply it.
    """
    if mode == "task":
        data = implied(data)
    instance = {k: val for k, val in data.items() if val is not None}
    validator = _validator_class()(build_schema(mode))
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            parts = list(leaf.absolute_path)
            if leaf.validator == "required" and isinstance(leaf.instance, dict):
                missing = [k for k in leaf.validator_value if k not in leaf.instance]
                parts = parts + missing[:1]
            if rename and parts and parts[0] in rename:
                parts[0] = rename[parts[0]]
            item = (_path(parts) or "(task)", _message(leaf))
            if rename:
                text = item[1]
                for old, new in rename.items():
                    text = text.replace(old, new)
                item = (item[0], text)
            if item not in found:
                found.append(item)
    found.sort()
    return ["%s: %s" % item for item in found]

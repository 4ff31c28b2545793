# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

One smart-host item (the options of ``smart_host``: connector, hosts, state, exclusive, ...) and how it
becomes a ``send_connectors`` item. The ``smart_host`` module and the role ``smart_host_routing`` both
use this, so the translation, the deprecated ``auth_mechanism`` name and the BasicAuth credential rule
exist once:

* ``argument_spec`` and ``validate``: what an item takes and every problem of it.
* ``hosts_task``: the ``smart_hosts`` value (``{add: ...}``, ``{remove: ...}`` or the exact list).
* ``translate``: the item as a send_connectors item, with the deprecation notices of old option names.
* ``with_credential``: a BasicAuth item (either kind) without a credential of its own gets the given one.
"""

from __future__ import annotations

from typing import Any

# The option table, the presets and the schema are imported by the functions that use them: the role's plan filter
# runs with_credential for every connector in each of six role tasks (each in its own forked worker) and needs
# none of them unless the role is given smart host items.

# Our option names -> send_connector's, so the same schema and planner serve both modules.
RENAME = {"smart_hosts": "hosts"}
BASIC_AUTH = ("basicauth", "basicauthrequiretls")  # lower case: the mechanisms that send a credential
# The older name of smart_host_auth_mechanism, kept as a deprecated alias until 2.0.0.
OLD_MECHANISM = "auth_mechanism"
DEPRECATION = {"name": OLD_MECHANISM, "version": "2.0.0", "collection_name": "mailflow.exchange"}


def argument_spec() -> dict[str, Any]:
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets

    return {
        "connector": {"type": "str", "required": True},
        "hosts": {"type": "list", "elements": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "exclusive": {"type": "bool", "default": False},
        "fallback_to_dns": {"type": "bool", "default": False},
        "smart_host_auth_mechanism": {
            "type": "str",
            "aliases": [OLD_MECHANISM],
            # the old name sat beside auth (the endpoint's authentication); send_connector and smtp_probe say this
            "deprecated_aliases": [dict(DEPRECATION)],
        },
        "update_password": {"type": "str", "choices": ["always", "on_create"], "default": "on_create", "no_log": False},
        # rows of the option table, as send_connector takes them (the preset: for state present)
        **{name: _options.BY_NAME[name].argument_spec() for name in ("authentication_credential", _presets.OPTION)},
    }


def hosts_task(params: dict[str, Any]) -> Any:
    """The smart_hosts value for send_connector's planner."""
    hosts = list(params.get("hosts") or [])
    if str(params.get("state") or "present") == "absent":
        return {"remove": hosts}
    if params.get("exclusive"):
        return hosts
    return {"add": hosts}


def validate(params: dict[str, Any]) -> list[str]:
    """Every problem of one item whose types the argument spec already checked, each ``field: rule``."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema

    errors = []
    if params.get("exclusive") and params.get("state") == "absent":
        errors.append("exclusive: only applies to state present")
    errors.extend("connector:" + e[len("name:"):] for e in _schema.validate({"name": params["connector"]}, "task"))
    if params.get("hosts") is not None and not params["hosts"] and not (params.get("exclusive") and params.get("fallback_to_dns")):
        errors.append("hosts: must not be empty" + (
            "; to remove every smart host give exclusive: true with fallback_to_dns: true (DNS routing)"
            if params.get("exclusive") else ""))
    task = {"smart_hosts": list(params.get("hosts") or []) or None,  # a plain list: errors read hosts[1], not hosts.add[1]
            "smart_host_auth_mechanism": mechanism(params),
            "authentication_credential": params.get("authentication_credential")}
    errors.extend(_schema.validate(task, "task", rename=RENAME))
    if params.get(_presets.OPTION) and str(params.get("state") or "present") == "present":
        given = {k: val for k, val in task.items() if val is not None}
        errors.extend(_presets.resolve(params[_presets.OPTION], given).errors)
    return sorted(set(errors))


def mechanism(item: dict[str, Any]) -> Any:
    """smart_host_auth_mechanism, or its deprecated older name."""
    value = item.get("smart_host_auth_mechanism")
    return item.get(OLD_MECHANISM) if value is None else value


def deprecations(item: Any, path: str = "") -> list[dict[str, str]]:
    """The deprecation notices of ``item`` (old option names), worded as ansible-core words a deprecated alias."""
    if not isinstance(item, dict) or OLD_MECHANISM not in item:
        return []
    where = "%s." % path if path else ""
    return [{"msg": "Alias '%s%s' is deprecated. See the module docs for more information" % (where, OLD_MECHANISM),
             "version": DEPRECATION["version"], "collection_name": DEPRECATION["collection_name"]}]


def with_credential(item: Any, credential: Any, key: str = "smart_host_auth_mechanism") -> Any:
    """``item`` with ``credential`` as its authentication_credential when it authenticates with BasicAuth or
    BasicAuthRequireTLS, has none of its own, and ``credential`` has a user name. Anything else is returned
    unchanged (a wrong item is kept as it is, so that validation reports it at its index)."""
    cred = credential if isinstance(credential, dict) else {}
    if not isinstance(item, dict):
        return item
    value = item.get(key) if key != "smart_host_auth_mechanism" else mechanism(item)
    if str(value or "").lower() in BASIC_AUTH and not item.get("authentication_credential") and cred.get("username"):
        item = dict(item, authentication_credential={"username": cred.get("username"), "password": cred.get("password") or ""})
    return item


def translate(item: dict[str, Any]) -> dict[str, Any]:
    """One smart_host item (its options, aliases allowed) as a send_connectors item."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets

    out: dict[str, Any] = {"name": item.get("connector"), "smart_hosts": hosts_task(item)}
    for key, value in (("fallback_to_dns", item.get("fallback_to_dns")), ("smart_host_auth_mechanism", mechanism(item)),
                       ("authentication_credential", item.get("authentication_credential")),
                       ("update_password", item.get("update_password")),
                       (_presets.OPTION, item.get(_presets.OPTION) if str(item.get("state") or "present") != "absent" else None)):
        if value is not None:
            out[key] = value
    return out

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

An organisation's Send connectors (as ``send_connector_info`` returns them) as a variables file of the role
``smart_host_routing`` (``smart_host_routing_connectors: ...``), so that what exists becomes code:

* the settings a new connector would get anyway (``_options.create_defaults``) are left out: not given means not
  managed, so applying the file changes nothing they hold; ``dns_routing_enabled: true`` stays (a create needs it);
* the secrets are left out: the user name of a credential stays, the password (which Exchange cannot show) is
  never there and ``update_password: on_create`` keeps the one the connector has; the file says how to supply one;
* what Exchange cannot show (``usage``) and the read-only identity keys are left out.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options

# Kept even when equal to a default: they say what the connector is.
ALWAYS = ("address_spaces", "source_transport_servers")

HEADER = """\
# Send connectors of {source}, exported by mailflow.exchange.export: variables of the role
# mailflow.exchange.smart_host_routing. Apply them with the main job (nothing changes while the organisation
# still has these settings):
#
#   ansible-playbook mailflow.exchange.smart_host -i inventory.yml -e @{name}
#
# Left out: the settings a new connector gets anyway (not given = not managed), Usage (Exchange cannot show it)
# and every password. Exchange cannot show a password: a connector with a user name keeps the password it has
# (update_password: on_create). To set one, add authentication_credential.password to that connector (from a
# vault) with update_password: always, or leave the credential out and give smart_host_routing_smart_host_credential
# (the environment variables SMART_HOST_USERNAME and SMART_HOST_PASSWORD, as the AWX credential type injects them).
"""


def connector_item(connector: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One role item (the send_connector options that differ from a new connector's) and notes for the file."""
    item: dict[str, Any] = {"name": connector.get("name")}
    notes: list[str] = []
    for opt in _options.SETTINGS:
        if opt.scope == _options.CREATE or opt.name not in connector:
            continue
        value = connector.get(opt.name)
        if opt.kind.secret:
            if isinstance(value, dict) and value.get("username"):
                item[opt.name] = {"username": value["username"]}
                item["update_password"] = "on_create"
            elif value:
                notes.append("%s: Exchange shows a credential without its user name; give authentication_credential"
                             % connector.get("name"))
            continue
        # DNS routing is a new connector's default, but creating a DNS-routed connector needs it stated: kept
        if opt.name not in ALWAYS and not (opt.name == "dns_routing_enabled" and value is True):
            if value is None or value == [] or (opt.name in defaults and opt.same(value, defaults[opt.name])):
                continue
        elif value in (None, []):
            continue
        item[opt.name] = value
    return item, notes


def export(connectors: list[dict[str, Any]], source: str = "the organisation", name: str = "FILE",
           dump: Any = None) -> dict[str, Any]:
    """``{"text": the variables file, "connectors": the items, "notes": [...]}``; ``dump`` writes YAML (yaml.safe_dump)."""
    defaults = _options.create_defaults("Custom")
    items: list[dict[str, Any]] = []
    notes: list[str] = []
    for connector in connectors:
        if not isinstance(connector, dict) or not connector.get("name"):
            continue
        item, found = connector_item(connector, defaults)
        items.append(item)
        notes.extend(found)
    text = HEADER.format(source=source, name=name)
    if notes:
        text += "#\n" + "".join("# NOTE %s\n" % n for n in notes)
    if dump is not None:
        body = dump({"smart_host_routing_connectors": items}, sort_keys=False, default_flow_style=False,
                    allow_unicode=True, width=120)
        text += "---\n" + body
    return {"text": text, "connectors": items, "notes": notes}

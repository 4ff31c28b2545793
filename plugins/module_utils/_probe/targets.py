# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

What to probe before a change: every distinct smart host of the connectors as they will be (a check-mode
send_connectors result), with the connector settings smtp_probe judges it against. send_connector_preflight
and the role's filter both build the targets here.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.smart_host import BASIC_AUTH


def _key(name: Any) -> str:
    return str(name or "").strip().lower()


def _probe_settings() -> list[str]:
    """The connector settings smtp_probe judges a smart host against: the option table's probe rows (the credential,
    which goes with a target only for BasicAuth, aside)."""
    return [opt.name for opt in _options.PROBED if not opt.kind.secret]


def probe_targets(
    results: list[dict[str, Any]],
    items: list[Any],
    connect_addresses: Any = None,
    helo_name: Any = None,
    login: bool = True,
) -> list[dict[str, Any]]:
    """smtp_probe ``targets``: every distinct smart host with the settings its connector will have.

    ``results`` are the check-mode send_connectors results for ``items``: each connector as it will be, so
    nothing is guessed here. A smart host used by several connectors with the same settings is probed once;
    ``label`` names the connectors (comma separated). The credential (for the AUTH LOGIN test, with ``login``)
    is the item's own.
    """
    addresses = {str(k).lower(): val for k, val in (connect_addresses or {}).items()} if isinstance(connect_addresses, dict) else {}
    targets: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    credentials: dict[str, Any] = {}  # connector name -> the first credential an item gives it
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("authentication_credential"), dict):
            credentials.setdefault(_key(item.get("name")), item["authentication_credential"])
    probed = _probe_settings()
    for result in results:
        if not isinstance(result, dict):
            continue
        connector = result.get("connector") or {}
        if result.get("state") != "present" or connector.get("dns_routing_enabled") is not False:
            continue
        settings = {key: connector.get(key) for key in probed if connector.get(key) not in (None, "")}
        helo = connector.get("fqdn") or helo_name
        if helo:
            settings["helo_name"] = str(helo)
        credential = credentials.get(_key(result.get("name") or connector.get("name")))
        if credential and credential.get("username") and str(connector.get("smart_host_auth_mechanism") or "").lower() in BASIC_AUTH:
            # the user name always (the probe checks the connector's settings); the password only for the AUTH LOGIN test
            settings["authentication_credential"] = {"username": credential.get("username")}
            if login and credential.get("password"):
                settings["authentication_credential"]["password"] = credential["password"]
        for host in connector.get("smart_hosts") or []:
            target = dict(settings, host=str(host), port=connector.get("port") or 25)
            if addresses.get(str(host).lower()):
                target["connect_address"] = addresses[str(host).lower()]
            key = repr(sorted(target.items()))
            name = str(result.get("name") or connector.get("name"))
            if key in by_key:
                if name not in by_key[key]["label"].split(", "):
                    by_key[key]["label"] += ", " + name
                continue
            target["label"] = name
            by_key[key] = target
            targets.append(target)
    return targets

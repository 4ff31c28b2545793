# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Rollback (``smart_host_routing_rollback``): from the ``send_connectors`` result of the apply stage, whose
``results[].before`` is the snapshot of every connector it changed, the items of ONE ``send_connectors`` run that
puts each changed connector back, and what can and cannot be restored:

* a connector the run created is removed;
* a connector the run changed gets every setting of its snapshot back (``usage`` was never shown; the name is
  the identity). Exchange cannot show a password: when the run did not send one, the credential is left out of the
  item and the connector keeps the one it has, which is the old one; when the run sent a password (a new credential
  or ``update_password: always``), the old password is gone and the report says so;
* a connector the run removed is created again from its snapshot, unless it had a credential (its password cannot
  be restored): then the report says so and it stays removed.

Applying the items a second time changes nothing (every value is the snapshot's).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options


def _settings(before: dict[str, Any]) -> dict[str, Any]:
    return {opt.name: before[opt.name] for opt in _options.SETTINGS
            if opt.scope != _options.CREATE and not opt.kind.secret and before.get(opt.name) not in (None, [])}


def _password_sent(result: dict[str, Any]) -> bool:
    after = ((result.get("diff") or {}).get("after") or {}).get("authentication_credential")
    return isinstance(after, dict) and after.get("password") == "(updated)"


def plan(applied: Any) -> dict[str, Any]:
    """``{"items": [...], "restored": [lines], "not_restored": [lines]}`` from a registered send_connectors result."""
    results = applied.get("results") if isinstance(applied, dict) else None
    items: list[dict[str, Any]] = []
    restored: list[str] = []
    not_restored: list[str] = []
    seen: set[str] = set()
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict) or not result.get("changed"):
            continue
        name = str(result.get("name") or "").strip()
        if not name or name.lower() in seen:
            continue  # a connector changed by several items: its first snapshot is the state before the run
        seen.add(name.lower())
        before = result.get("before") if isinstance(result.get("before"), dict) else {}
        if not result.get("existed") or not before:
            items.append({"name": name, "state": "absent"})
            restored.append("%s: removed (this run created it)" % name)
            continue
        settings = _settings(before)
        cred = before.get("authentication_credential")
        had_user = isinstance(cred, dict) and bool(cred.get("username"))
        if result.get("state") == "absent":
            if had_user or (isinstance(cred, dict) and cred):
                not_restored.append("%s: not created again: its credential's password cannot be read back from Exchange "
                                    "(create it again with its password)" % name)
                continue
            items.append(dict(settings, name=name, state="present"))
            restored.append("%s: created again from its snapshot (this run removed it; Usage cannot be restored)" % name)
            continue
        item = dict(settings, name=name, state="present")
        after = result.get("connector") if isinstance(result.get("connector"), dict) else {}
        after_cred = after.get("authentication_credential")
        after_user = after_cred.get("username") if isinstance(after_cred, dict) else None
        line = "%s: settings restored to the snapshot" % name
        if _password_sent(result) or (had_user and str(after_user or "").lower() != str(cred.get("username")).lower()):
            not_restored.append(
                "%s: the old password could not be restored (Exchange cannot show it, and this run sent a new one%s); "
                "set it again with authentication_credential and update_password: always"
                % (name, " for user %s" % after_user if after_user else ""))
            line += " except its credential"
        elif had_user:
            # the user name only: its password is not sent (update_password on_create), the connector keeps its own
            item["authentication_credential"] = {"username": cred["username"]}
            item["update_password"] = "on_create"
            line += "; the credential was not changed and is kept"
        if not had_user and after_user:
            item["smart_host_auth_mechanism"] = before.get("smart_host_auth_mechanism") or "None"
        items.append(item)
        restored.append(line)
    return {"items": items, "restored": restored, "not_restored": not_restored}

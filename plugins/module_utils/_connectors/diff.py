# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

What ``--diff`` shows for a Send connector. A diff is for a person reading a change:

* a create lists the connector's name and what the task set (or implies, e.g. ``dns_routing_enabled``), not
  the thirty defaults Exchange will fill in;
* unset values (None) are left out on both sides, instead of ``null`` lines;
* values read the way the Exchange Management Shell writes them where that differs from the number the
  module returns (each option's kind says how: a size is ``35 MB (36,700,160 bytes)``); time spans
  (``00:10:00``), enums and booleans are already in their shell/YAML form.

A password never appears: a credential that was sent shows ``password: (updated)``.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import BY_NAME


def side(state: Any, keys: Optional[Iterable[str]] = None) -> dict[str, Any]:
    """One side of the diff: ``state`` without unset values (and, given ``keys``, only those and the name)."""
    if not isinstance(state, dict):
        return {}
    wanted = None if keys is None else set(keys) | {"name"}
    shown = {}
    for key, value in state.items():
        if value is None or (wanted is not None and key not in wanted):
            continue
        opt = BY_NAME.get(key)
        shown[key] = opt.show(value) if opt is not None else value
    return shown


def connector_diff(before: Any, after: Any, changed_keys: Iterable[str], creating: bool,
                   shown_keys: Optional[Iterable[str]] = None) -> dict[str, Any]:
    """``{"before": ..., "after": ...}`` for a Send connector change (see the module docstring).

    ``changed_keys`` are the settings the command sends: the credential shows ``password: (updated)`` only when
    it is one of them. ``shown_keys`` (default ``changed_keys``) are what a create shows besides the name.
    """
    changed = list(changed_keys)
    shown_after = side(after, (changed if shown_keys is None else list(shown_keys)) if creating else None)
    if "authentication_credential" in changed and shown_after.get("authentication_credential"):
        # the password itself is never shown; say that it was sent
        shown_after["authentication_credential"] = dict(shown_after["authentication_credential"], password="(updated)")
    return {"before": side(before), "after": shown_after}

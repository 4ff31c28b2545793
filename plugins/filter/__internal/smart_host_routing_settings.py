# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""smart_host_routing_settings_errors: the role's own settings checked by module_utils._role_settings.

Internal to the smart_host_routing role (documented as such). The rules live in module_utils; this file
only hands the variables over.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError


def settings_errors(settings: t.Any) -> list[str]:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils import _role_settings
    except ImportError as exc:  # an incomplete collection: say so instead of checking nothing
        raise AnsibleFilterError("smart_host_routing: plugins/module_utils/_role_settings.py cannot be loaded: %s" % exc) from None
    if not isinstance(settings, dict):
        raise AnsibleFilterError("smart_host_routing_settings_errors: give a mapping of the role's variables")
    return _role_settings.settings_errors(dict(settings))


class FilterModule:
    """The role's settings check (internal to the role, not a stable interface; see __internal/smart_host_routing.py)."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"internal_smart_host_routing_settings_errors": settings_errors}  # meta/runtime.yml redirects the role's name here

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mailflow.exchange.send_connectors: check every item on the controller first.

Ansible's own argument check stops at the first bad value of the first bad item and does not say
which item it was. This checks all items (argument spec and JSON Schema, the same code the module
and the role use) and fails with every problem, each with its path (``connectors[3].port``), before
the module starts, i.e. before any remote call. Valid input goes to the module unchanged.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.mailflow.exchange.plugins.module_utils import _connectors


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset()  # the module checks its own arguments

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        connectors = self._task.args.get("connectors")
        if connectors is not None:
            _items, errors = _connectors.validate_items(connectors)
            if errors:
                result.update(failed=True, changed=False, errors=errors,
                              msg="invalid connectors (%d problem(s), nothing was sent): %s" % (len(errors), "; ".join(errors)))
                return result
        result.update(self._execute_module(module_name="mailflow.exchange.send_connectors", module_args=self._task.args,
                                           task_vars=task_vars))
        return result

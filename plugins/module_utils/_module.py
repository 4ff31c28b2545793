# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Glue every module of the collection shares: the connection argument spec merged into the
module's own, missing libraries reported with ``missing_required_lib``, and one place where
exceptions become ``fail_json`` with a clear message (never a traceback).
"""

from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailflow.exchange.plugins.module_utils import _manager, _schema, _session


def exchange_module(argument_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
    spec = dict(_session.CONNECTION_ARGSPEC)
    spec.update(argument_spec)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if not _session.HAS_PYPSRP:
        module.fail_json(msg=missing_required_lib("pypsrp"), exception=_session.PYPSRP_IMPORT_ERROR)
    if not _schema.HAS_JSONSCHEMA:
        module.fail_json(msg=missing_required_lib("jsonschema"), exception=_schema.JSONSCHEMA_IMPORT_ERROR)
    return module


def run_with_session(module: AnsibleModule, work: Callable[[Any], dict[str, Any]]) -> None:
    """Open one session, hand it to ``work``, exit with its result or fail with one clear message."""
    warnings: list[str] = []
    try:
        settings = _session.connection_settings(module.params)
        session = _session.ExchangeSession(settings)
        try:
            session.open()
            result = work(session)
        finally:
            warnings.extend(session.warnings)
            session.close()
    except Exception as err:  # every failure becomes one sentence; the details go to -vvv only
        for warning in warnings:
            module.warn(warning)
        fail = {"msg": getattr(err, "message", None) or str(err) or type(err).__name__}
        errors = getattr(err, "errors", None)
        if errors:
            fail["errors"] = errors
        commands = getattr(err, "commands", None)
        if commands:
            fail["commands"] = commands
        if not isinstance(err, _session.ExchangeError):
            fail["msg"] = "unexpected error: %s: %s" % (type(err).__name__, fail["msg"])
        module.fail_json(**fail)
        return
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


def run_with_manager(module: AnsibleModule, work: Callable[[Any], dict[str, Any]]) -> None:
    """``run_with_session`` for the Send connector modules: ``work`` gets a ConnectorManager.

    The Exchange Management Shell commands already run (or planned) go with a failure, and the
    manager's warnings (e.g. usage cannot be changed) are shown on success.
    """

    def with_manager(session: Any) -> dict[str, Any]:
        manager = _manager.ConnectorManager(session, module.params.get("domain_controller"), module.check_mode)
        try:
            res = work(manager)
        except Exception as err:
            err.commands = manager.commands
            raise
        for warning in manager.warnings:
            module.warn(warning)
        return res

    run_with_session(module, with_manager)

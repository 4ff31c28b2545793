# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Glue every module of the collection that connects to Exchange shares: the connection argument spec merged into
the module's own (its whole input checked by ``_module_input``), missing libraries reported with
``missing_required_lib``, and one place where exceptions become ``fail_json`` with a clear message (never a traceback).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailflow.exchange.plugins.module_utils._module_input import CONSTRAINTS, _refuse, check_input
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import broker as _broker
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session


def exchange_module(argument_spec: dict[str, Any], validate: Optional[Callable[[dict[str, Any]], list[str]]] = None,
                    label: Optional[Callable[[list[str], dict[str, Any]], list[str]]] = None, own_words: tuple[str, ...] = (),
                    **kwargs: Any) -> AnsibleModule:
    """The AnsibleModule of a collection module, after its whole input was checked.

    ``validate(params)`` returns the module's own problems (paths and rules in words); they come back
    in one message together with every option whose type is wrong, before any remote call. ``label(problems,
    raw)`` may add context to each (send_connectors: the connector an item problem is about). ``own_words``: options
    whose values ``validate`` judges whole, NUL/CR/LF included (see ``_schema.check_input``).
    """
    spec = dict(_session.CONNECTION_ARGSPEC)
    spec.update(argument_spec)
    if _schema.HAS_JSONSCHEMA:
        problems = check_input(spec, validate, label=label, constraints={k: kwargs[k] for k in CONSTRAINTS if k in kwargs},
                               own_words=own_words)
        if problems:
            _refuse(spec, problems)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if not _session.HAS_PYPSRP:
        module.fail_json(msg=missing_required_lib("pypsrp"), exception=_session.PYPSRP_IMPORT_ERROR)
    if not _schema.HAS_JSONSCHEMA:
        module.fail_json(msg=missing_required_lib("jsonschema"), exception=_schema.JSONSCHEMA_IMPORT_ERROR)
    return module


def run_with_session(module: AnsibleModule, work: Callable[[Any], dict[str, Any]], always: Optional[dict[str, Any]] = None) -> None:
    """Open one session, hand it to ``work``, exit with its result or fail with one clear message. ``always`` is
    merged over either (message_trace: the test message it sent before the session, and ``changed``)."""
    warnings: list[str] = []
    try:
        settings = _session.connection_settings(module.params)
        session = _open_session(settings)
        failed: Optional[BaseException] = None
        try:
            result = work(session)
        except BaseException as err:
            failed = err
            raise
        finally:
            warnings.extend(session.warnings)
            _end_session(session, settings["keep_session"], failed)
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
        connector = getattr(err, "connector", None)
        if connector:  # the state read back after a write whose answer was lost
            fail["connector"] = connector
        results = getattr(err, "results", None)
        if isinstance(results, list) and results:  # send_connectors: which items were written before the failure
            fail["results"] = results
        if getattr(err, "changed", False) is True:  # something was written before the failure
            fail["changed"] = True
        if not isinstance(err, _session.ExchangeError):
            fail["msg"] = "unexpected error: %s: %s" % (type(err).__name__, fail["msg"])
        module.fail_json(**dict(fail, **(always or {})))
        return
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**dict(result, **(always or {})))


def _open_session(settings: dict[str, Any]) -> Any:
    """The pool a broker kept for these settings (keep_session), or a pool of this module run's own."""
    try:
        return _broker.connect(settings)
    except _broker.BrokerUnavailable:
        pass
    session = _session.ExchangeSession(settings)
    try:
        session.open()
    except BaseException:
        session.close()
        raise
    return session


def _end_session(session: Any, keep: int, failed: Optional[BaseException]) -> None:
    """Keep the pool for the next module run (keep_session) or close it; a pool whose transport failed is closed."""
    if isinstance(failed, _session.TransportError):
        keep = 0
    if isinstance(session, _broker.SharedSession):
        own = session.own_pool()
        if own is None:
            session.close(keep)
            return
        session = own  # the broker's pool had died and this run opened its own: that one may be kept
    if not _broker.hand_over(session, keep):
        session.close()


def run_with_manager(module: AnsibleModule, work: Callable[[Any], dict[str, Any]], check_mode: Optional[bool] = None) -> None:
    """``run_with_session`` for the Send connector modules: ``work`` gets a ConnectorManager.

    The Exchange Management Shell commands already run (or planned) go with a failure, and the
    manager's warnings (e.g. usage cannot be changed, a name that looks like another connector's) are shown
    with the result, failed or not. ``check_mode`` True: the manager writes nothing whatever the task's check mode
    (send_connector_preflight).
    """

    def with_manager(session: Any) -> dict[str, Any]:
        manager = _manager.ConnectorManager(session, module.params.get("domain_controller"),
                                            module.check_mode if check_mode is None else check_mode)
        try:
            res = work(manager)
        except Exception as err:
            err.commands = manager.commands
            raise
        finally:
            for warning in manager.warnings:
                module.warn(warning)
        return res

    run_with_session(module, with_manager)

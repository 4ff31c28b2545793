# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of ``message_trace``: a progress line while ``wait_for: send`` waits.

A module prints nothing until it returns, and a trace may wait minutes (the role's default is 120 s). With
``wait_for: send`` and a ``timeout`` longer than one slice (``SLICE`` seconds), the module runs once per slice
with that slice as its timeout; between slices this plugin prints one line per host, for example
``[exchange] waiting for the message to leave through Smart host to Internet (20 s of 120 s)``, with the queue's
LastError when Exchange already has one. Only the messages still pending are traced again; a message that was
sent, failed or was taken by another connector is final at once (the module stops early as before). The result is
the one a single call with the whole timeout returns: one trace per message in the given order, the combined
``result`` (``_trace.common.overall_result``) and, with ``fail_on_timeout``, the same failure message.

With ``send_test_message`` the first slice submits the test message; the later slices trace its Message-ID
(``message_id``, or that of every ``messages`` item) without sending again, and the result carries the first
slice's ``test_message``, ``message_id`` and ``changed``.

Everything else (``wait_for: none``, a short timeout, ``async``) is one plain module call.
"""

from __future__ import annotations

import math
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

# _trace.common, not _trace.tracer: this runs on the controller, which needs no Exchange session (tracer imports
# pypsrp, requests and spnego: 0.2-0.3 s of every trace task's worker)
from ansible_collections.mailflow.exchange.plugins.module_utils._trace.common import (
    TimeError,
    overall_result,
    not_sent_message,
    parse_time,
    wire_time,
)
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import short_name

display = Display()

MODULE = "mailflow.exchange.message_trace"
# Seconds between progress lines (at least: one slice also waits for its last search).
SLICE = 10
# Connector names a progress line lists before it only counts the rest.
NAMED = 3


def _number(value, kind, default):
    try:
        return kind(default if value is None else value)
    except (TypeError, ValueError):
        return None


def _connectors(pending):
    names = []
    for item in pending:
        name = short_name(item.get("connector"), 60) if item.get("connector") else "a Send connector"
        if name not in names:
            names.append(name)
    if len(names) <= NAMED:
        return ", ".join(names)
    return "%d connectors (%s, ...)" % (len(names), ", ".join(names[:NAMED]))


def _last_error(traces):
    return next((short_name(t["last_error"], 120) for t in traces if t.get("last_error")), None)


class ActionModule(ActionBase):
    """Runs message_trace in slices with a progress line between them (see the module docstring)."""

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        timeout = _number(args.get("timeout"), int, 300)
        poll = _number(args.get("poll_interval"), float, 5)
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        if args.get("wait_for") != "send" or wrap_async or timeout is None or poll is None or timeout <= SLICE or poll <= 0:
            # one call: the module checks its own input and waits (or not) as documented
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async))
            return result
        result.update(self._sliced(args, timeout, poll, task_vars or {}))
        return result

    def _sliced(self, args, timeout, poll, task_vars):
        host = task_vars.get("inventory_hostname", "")
        call = dict(args, fail_on_timeout=False)
        # A relative start/end ('-15m', 'now') is fixed once: a later slice must search the same window.
        now = None
        for option in ("start", "end"):
            if args.get(option):
                try:
                    now = now or parse_time("now", "now")
                    call[option] = wire_time(parse_time(option, args[option], now))
                except TimeError:
                    pass  # the module names the option and the rule
        messages = args.get("messages")
        pending = list(range(len(messages))) if isinstance(messages, list) else None
        sent = {}  # send_test_message: what the first slice's submission returned
        final = {}
        attempts = 0
        warnings = []
        slice_seconds = max(SLICE, int(math.ceil(poll)))
        started = time.monotonic()
        deadline = started + timeout
        while True:
            this = max(0, min(slice_seconds, int(math.ceil(deadline - time.monotonic()))))
            if pending is not None:
                call["messages"] = [messages[i] for i in pending]
            out = self._execute_module(module_name=MODULE, module_args=dict(call, timeout=this), task_vars=task_vars)
            out.update(sent)
            if out.get("failed") or "result" not in out:
                return out  # bad input, a refused test message, check mode, no connection, an Exchange error: as the module said it
            if call.get("send_test_message") and out.get("message_id"):
                # sent once: the later slices trace the message that was sent
                sent = {key: out[key] for key in ("changed", "message_id", "test_message")}
                call.pop("send_test_message")
                if pending is None:
                    call["message_id"] = out["message_id"]
                else:
                    messages = [dict(item, message_id=out["message_id"]) for item in messages]
            attempts += int(out.get("attempts") or 0)
            warnings.extend(w for w in out.get("warnings") or [] if w not in warnings)
            if pending is None:
                done = out["result"] != "timeout"
                waiting = [] if done else [{"connector": args.get("connector"), "last_error": out.get("last_error")}]
            else:
                for index, trace in zip(pending, out["traces"]):
                    final[index] = trace
                pending = [i for i, trace in zip(pending, out["traces"]) if trace["result"] == "timeout"]
                waiting = [dict(messages[i], last_error=final[i].get("last_error")) for i in pending]
            elapsed = time.monotonic() - started
            if not waiting or time.monotonic() >= deadline - 0.5:
                break
            line = "[%s] waiting for the message to leave through %s (%d s of %d s)" % (host, _connectors(waiting), round(elapsed), timeout)
            error = _last_error(waiting)
            display.display(line + ("; the queue says: %s" % error if error else ""))
        if pending is not None:
            traces = [final[i] for i in range(len(messages))]
            out = dict(out, traces=traces, result=overall_result(traces))
        out["attempts"] = attempts
        if warnings:
            out["warnings"] = warnings
        fail_on_timeout = boolean(args.get("fail_on_timeout", True), strict=False)
        invocation = out.get("invocation", {}).get("module_args")
        if isinstance(invocation, dict):
            # what the task asked for, not the last slice's arguments
            invocation.update(timeout=timeout, fail_on_timeout=fail_on_timeout)
            invocation.update((option, args[option]) for option in ("messages", "start", "end", "send_test_message") if option in args)
            if "message_id" in invocation:
                invocation["message_id"] = args.get("message_id")
        if fail_on_timeout and out["result"] != "sent":
            out["failed"] = True
            out["msg"] = not_sent_message(out, call)  # call: with the test message's Message-ID once it was sent
        return out

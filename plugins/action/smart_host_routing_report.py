# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report stage of the role ``mailflow.exchange.smart_host_routing`` in one controller-side task.

Internal to the role: not a stable interface. From the role's accumulator it makes the summary (the filter
``smart_host_routing_summary``'s own code), sets it as the fact ``smart_host_routing_report`` (as
``ansible.builtin.set_fact`` does), writes the Markdown report (``smart_host_routing_report_markdown``'s code) to
the controller file named by ``smart_host_routing_report_file`` and returns the summary as ``ansible_stats`` (as
``ansible.builtin.set_stats`` with ``per_host: false`` and ``aggregate: true`` does; the strategy takes
``ansible_stats`` from any action's result). Three tasks were one module transfer (the copy module's stat and copy
runs) and two more task starts; this is one task start and no module.

The file is written atomically (a temporary file in the same directory, mode 0600, renamed over the target), in check
mode too, and never counts as a change. A file that cannot be written does not fail this task: the result says why
(``report_file_error``) and the role fails on it after printing the summary, as it did when the copy task failed
after the summary was shown; then nothing is published, as before.
"""

from __future__ import annotations

import datetime
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:  # ansible-core 2.19+
    from ansible.utils.vars import validate_variable_name
except ImportError:  # older: set_stats checked the key with isidentifier
    from ansible.utils.vars import isidentifier

    def validate_variable_name(name):
        if not isidentifier(name):
            raise ValueError("%r is not a valid variable name" % (name,))

from ansible_collections.mailflow.exchange.plugins.filter.__internal.smart_host_routing import report_markdown, summary

try:  # ansible-core 2.21+: an action registers variables at set_fact's layer itself
    from ansible.plugins.action import VariableLayer
except ImportError:  # older: only set_fact's own name gets set_fact's layer; the role sets the fact from `report`
    VariableLayer = None

FACT = "smart_host_routing_report"
FILE_VAR = "smart_host_routing_report_file"

ARGUMENT_SPEC = {
    "facts": {"type": "dict", "required": True},
    "path": {"type": "str", "default": ""},
    "stats_key": {"type": "str", "required": True},
    "host": {"type": "str", "default": ""},
}


def write_report(path: str, text: str) -> None:
    """``text`` as the file ``path`` (mode 0600), replaced in one rename: a reader never sees half a report."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def write_error(path: str, text: str) -> str | None:
    """None when the report is written, else a sentence naming the role variable, the file and the reason."""
    target = os.path.expanduser(os.path.expandvars(path))
    if os.path.isdir(target):
        reason = "it is a directory"
    elif not os.path.isdir(os.path.dirname(target) or "."):
        reason = "its directory %s does not exist" % (os.path.dirname(target) or ".")
    else:
        try:
            write_report(target, text)
            return None
        except OSError as exc:
            reason = exc.strerror or str(exc)
    return "%s: cannot write the report to %s on the controller: %s" % (FILE_VAR, path, reason)


class ActionModule(ActionBase):
    """Summarise, write the Markdown report and publish the summary (see the module docstring)."""

    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        _valid, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        stats_key = args["stats_key"]
        try:
            validate_variable_name(stats_key)
        except Exception as exc:  # the role's own check refuses such a key before anything runs
            raise AnsibleActionFail("smart_host_routing_stats_key: %s" % exc) from None

        report = summary(args["facts"])
        path = args["path"] or ""
        result.update(changed=False, report_file=path)
        if path:
            generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            error = write_error(path, report_markdown(report, host=args["host"], generated=generated))
            if error:
                result["report_file_error"] = error

        if VariableLayer is not None:
            facts = {FACT: report}
            self.register_host_variables({}, VariableLayer.CACHEABLE_FACT)  # not a cached host fact, as set_fact
            self.register_host_variables(facts, VariableLayer.EPHEMERAL_FACT)
            result["ansible_facts"] = facts
        else:
            result["report"] = report
        if "report_file_error" not in result:
            result["ansible_stats"] = {"data": {stats_key: report}, "per_host": False, "aggregate": True}
        return result

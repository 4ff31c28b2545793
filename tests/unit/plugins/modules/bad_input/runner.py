"""Batch runner: run collection modules through their real ``main()`` for many argument sets.

Each case is handed to the module exactly as Ansible hands module arguments over (the JSON
``{"ANSIBLE_MODULE_ARGS": ...}`` document, here through ansible-core's ``patch_module_args``), its
``exit_json``/``fail_json`` output is captured, and a traceback or a hang (SIGALRM after the
per-case limit) is recorded instead of stopping the batch. One Python process runs a whole batch,
so a thousand cases do not cost a thousand interpreter starts.

stdin: JSON lines ``{"id": ..., "module": "send_connector", "args": {...}}``
stdout: JSON lines ``{"id": ..., "output": "<module stdout>", "traceback": "...", "seconds": 0.01}``
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import signal
import sys
import time
import traceback

# seconds per case; the lab-backed suites, whose valid cases really talk to a lab, give more (BAD_INPUT_CASE_LIMIT)
LIMIT = int(os.environ.get("BAD_INPUT_CASE_LIMIT") or 5)


class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang("no answer within %d s" % LIMIT)


@contextlib.contextmanager
def _patch_module_args_before_219(args: dict):
    """ansible-core 2.17/2.18 have no ansible.module_utils.testing: the arguments go where AnsibleModule reads them."""
    from ansible.module_utils import basic

    saved = basic._ANSIBLE_ARGS
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved


def run_case(case: dict) -> dict:
    from ansible.module_utils.common import warnings as ansible_warnings

    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19 (make test-matrix)
        patch_module_args = _patch_module_args_before_219

    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
    module = importlib.import_module("ansible_collections.mailflow.exchange.plugins.modules." + case["module"])
    out, err = io.StringIO(), io.StringIO()
    problem = ""
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT)
    try:
        with patch_module_args(case["args"]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module.main()
    except SystemExit:
        pass
    except Hang:
        problem = "hang"
    except BaseException:  # noqa: BLE001 - what a user would see as a traceback
        problem = traceback.format_exc()
    finally:
        signal.alarm(0)
    return {"id": case["id"], "output": out.getvalue(), "stderr": err.getvalue()[-2000:], "traceback": problem,
            "seconds": round(time.monotonic() - started, 3)}


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run_case(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()

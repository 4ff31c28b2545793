"""message_trace declares its constraints once (CONSTRAINTS): the checker words them like every other module's,
together with the other problems of the task, through the module's real ``main()`` (bad_input/runner.py, the
connection pointing at a closed port, so nothing is sent)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "bad_input", "runner.py")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_messages_with_message_id_or_connector_is_refused_in_the_checker_words(collections_path):
    connection = {"server": "127.0.0.1", "server_port": _closed_port(), "auth": "basic", "username": "u", "password": "p"}
    args = dict(connection, messages=[{"message_id": "<a@b.example>"}], message_id="<c@d.example>", connector="Relay",
                timeout=-1)
    env = {k: val for k, val in os.environ.items() if not k.startswith("EXCHANGE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (collections_path, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        out, _err = proc.communicate(json.dumps({"id": "x", "module": "message_trace", "args": args}) + "\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [record] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    result = json.loads(record["output"].strip().splitlines()[-1])
    assert result["failed"] and not record.get("traceback"), record
    assert sorted(result["errors"]) == [
        "messages and connector: give one of them, not both",
        "messages and message_id: give one of them, not both",
        "timeout: must be from 0 to 604800",
    ], result["errors"]

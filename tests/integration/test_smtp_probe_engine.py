"""The probe engine itself (no AnsibleModule, so no no_log masking to hide mistakes) against a smart host."""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402

try:
    importlib.import_module("ansible_collections.mailflow.exchange")
except ImportError:  # a plain checkout: the same git-ignored link tests/unit/conftest.py and `make` use
    _link = os.path.join(ROOT, "collections", "ansible_collections", "mailflow", "exchange")
    if not os.path.exists(_link):
        os.makedirs(os.path.dirname(_link), exist_ok=True)
        os.symlink(ROOT, _link)
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    for _name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[_name]

from ansible_collections.mailflow.exchange.plugins.module_utils._smtp_probe import ProbeSettings, probe_host  # noqa: E402

SECRET = "EnginePassw0rd!"


@pytest.mark.parametrize("right_password", [SECRET, "something-else"])
def test_transcript_and_record_never_carry_the_credential(tmp_path, right_password):
    config = SmartHostConfig(state_dir=str(tmp_path), starttls=True, auth=["LOGIN"], users={"relay": right_password})
    with SmartHost(config) as host:
        record = probe_host(ProbeSettings(host="127.0.0.1", port=host.ready["port"], ca_cert=host.ready["ca_cert"],
                                          username="relay", password=SECRET, timeout=5, helo_name="ex01.contoso.com"))
    text = json.dumps(record)
    assert record["auth"]["login"]["attempted"] is True
    assert record["auth"]["login"]["ok"] is (right_password == SECRET)
    assert SECRET not in text
    assert base64.b64encode(SECRET.encode()).decode() not in text
    assert base64.b64encode(b"relay").decode() not in text
    assert "C: ******** (password)" in record["transcript"]


def test_probe_never_raises_on_a_silent_port(tmp_path):
    import socket

    with socket.socket() as listener:  # accepts TCP but never speaks SMTP or TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        record = probe_host(ProbeSettings(host="127.0.0.1", port=listener.getsockname()[1], timeout=2))
    assert record["tcp"]["ok"] is True and record["banner"] is None
    assert "no SMTP banner and no TLS handshake" in record["error"] or "timeout" in record["error"]

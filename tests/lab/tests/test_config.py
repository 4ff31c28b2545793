"""The lab configuration rejects typos with a sentence naming the key (a silent typo hides a test's intent)."""

from __future__ import annotations

import pytest

from exchange_lab.config import LabConfig


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"latancy": {"cmdlet": 1}}, "unknown key(s) latancy"),
        ({"latency": {"cmdlets": 1}}, "latency.cmdlets"),
        ({"faults": [{"kind": "explode", "on_request": 1}]}, "faults[0].kind 'explode'"),
        ({"faults": [{"kind": "drop"}]}, "faults[0] of kind drop needs on_request"),
        ({"faults": [{"kind": "replication_delay", "on_request": 2}]}, "needs on_cmdlet"),
        ({"faults": [{"kind": "write_answer_drop", "on_request": 2}]}, "needs on_write"),
        ({"faults": [{"kind": "command_drop", "on_write": 2}]}, "needs on_command"),
        ({"faults": [{"kind": "drop", "on_requests": 2}]}, "faults[0].on_requests"),
        ({"servers": [{"name": "EX09", "sight": "A"}]}, "servers[0].sight"),
        ([1, 2], "must hold a mapping"),
    ],
)
def test_typos_are_errors_that_name_the_key(data, message):
    with pytest.raises(ValueError) as err:
        LabConfig.from_dict(data)
    assert message in str(err.value)


def test_a_full_configuration_is_read():
    cfg = LabConfig.from_dict(
        {
            "organization": "Fabrikam",
            "servers": [{"name": "EX05", "site": "Paris"}],
            "local_server": "EX05",
            "latency": {"runspace_open": 0.5, "cmdlet": 0.25},
            "faults": [{"kind": "drop", "on_request": 3}, {"kind": "replication_delay", "on_cmdlet": 2, "seconds": 1.5}],
            "hosts": {"Relay.Example.Test": "127.0.0.2"},
            "mail": {"retry_interval": 1},
        }
    )
    assert (cfg.organization, cfg.local_server, cfg.server("ex05.fabrikam.test").site) == ("Fabrikam", "EX05", "Paris")
    assert (cfg.runspace_open_delay, cfg.cmdlet_delay) == (0.5, 0.25)
    assert [(f.kind, f.on_request, f.on_cmdlet) for f in cfg.faults] == [("drop", 3, None), ("replication_delay", None, 2)]
    assert cfg.hosts == {"relay.example.test": "127.0.0.2"}
    assert cfg.extra == {"mail": {"retry_interval": 1}}


def test_serve_refuses_a_config_typo(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from labfixture import LAB_SRC

    cfg = tmp_path / "lab.json"
    cfg.write_text(json.dumps({"latancy": {"cmdlet": 1}}))
    proc = subprocess.run(
        [sys.executable, "-m", "exchange_lab", "serve", "--state", str(tmp_path / "s"), "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": LAB_SRC},
    )
    assert proc.returncode == 2
    assert "unknown key(s) latancy" in proc.stderr
    assert "Traceback" not in proc.stderr

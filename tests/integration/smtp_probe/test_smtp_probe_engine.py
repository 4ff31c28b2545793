"""The probe engine itself (no AnsibleModule, so no no_log masking to hide mistakes) against a smart host."""

from __future__ import annotations

import base64
import json

import pytest


from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402
from gated_smtp import gated_servers  # noqa: E402


from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import ProbeSettings, probe_host  # noqa: E402

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


def test_hosts_are_probed_at_the_same_time_and_stay_in_order():
    """Three servers that greet only when all three have a client: only concurrent probes get banners."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import probe_hosts  # pylint: disable=import-outside-toplevel

    with gated_servers(3, wait=10) as ports:
        settings = [ProbeSettings(host="127.0.0.1", port=port, timeout=8) for port in ports]
        records = probe_hosts(settings)
    assert [r["port"] for r in records] == [s.port for s in settings]
    assert [r["banner"]["code"] if r["banner"] else r["error"] for r in records] == [220, 220, 220]
    assert all(r["error"] is None for r in records)


def test_a_hanging_resolver_does_not_cost_a_probe_that_has_connect_address(tmp_path, monkeypatch):
    """With connect_address the name is only reported on: the session goes on while the lookup hangs."""
    import socket  # pylint: disable=import-outside-toplevel
    import threading  # pylint: disable=import-outside-toplevel

    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host, *args, **kwargs):
        if host == "hangs.contoso.net":
            release.wait(30)
            raise socket.gaierror(-2, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with SmartHost(SmartHostConfig(state_dir=str(tmp_path))) as host:
            record = probe_host(ProbeSettings(host="hangs.contoso.net", port=host.ready["port"], connect_address="127.0.0.1", timeout=2))
            alone = probe_host(ProbeSettings(host="hangs.contoso.net", port=host.ready["port"], timeout=1))
    finally:
        release.set()
    assert record["banner"]["code"] == 220 and record["ehlo"]["code"] == 250 and record["error"] is None
    assert "name resolution did not answer" in record["dns"]["error"]
    # without connect_address the lookup is the way in: it gives up within the timeout and says so
    assert alone["tcp"] is None and "name resolution did not answer" in alone["dns"]["error"]
    assert "no A or AAAA record" in alone["error"]

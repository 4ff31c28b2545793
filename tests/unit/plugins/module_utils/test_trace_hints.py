"""Which hint a trace gets for a queue's LastError (issue 9 item 5: 4.4.397 is not always 'unreachable').

The LastError texts are the lab's, which follow the shapes Exchange writes (the role README's "Failure messages and their hints"); the
Postfix tests (tests/integration/smtp_probe/test_postfix_smart_host.py) produce each of them over the wire.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._trace import tracer as f

PRIMARY = '451 4.4.0 Primary target IP address responded with: "{}." Attempted failover to alternate host, but that did not succeed.'


@pytest.mark.parametrize(
    "last_error, words, not_words",
    [
        ("451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect -> SocketError: Socket error code 10061",
         "unreachable from the transport server", "stopped answering"),
        # connected (and authenticated), then the smart host stalled
        ("451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection timed out", "stopped answering", "unreachable"),
        ("451 4.4.397 Error communicating with target host. -> 421 4.4.2 Connection dropped due to ConnectionResetError",
         "closed the connection", "unreachable"),
        (PRIMARY.format("451 4.7.1 <postmaster@x.example>: Recipient address rejected: Service temporarily unavailable"),
         "deferred the message", "unreachable"),
        (PRIMARY.format("454 4.7.5 Certificate validation failure: NotTimeValid"), "certificate", "deferred"),
        (PRIMARY.format("535 5.7.8 Error: authentication failed: authentication failure"), "credentials", "deferred"),
        ("451 4.4.397 Error communicating with target host", "unreachable", None),  # no detail: both are possible
        ("550 5.7.1 Unable to relay", "refused to relay", None),
        ("535 5.7.3 Authentication unsuccessful", "refused the credentials", None),
        ("454 4.7.5 certificate validation failed", "certificate failed", None),
        ("552 5.3.4 Message size exceeds fixed maximum message size", "larger than the smart host accepts", None),
    ],
)
def test_trace_hint(last_error, words, not_words):
    hint = f.trace_hint({"result": "deferred", "last_error": "[{LRT=1/1/2026 1:00:00 AM};{LED=%s};{FQDN=h};{IP=127.0.0.1}]" % last_error})
    assert words in hint, hint
    if not_words:
        assert not_words not in hint, hint


def test_a_time_out_on_a_connector_with_a_certificate_points_at_the_local_certificate():
    trace = {"result": "deferred", "last_error": "451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection timed out"}
    name = "<I>CN=Contoso CA<S>CN=mail.contoso.com"
    hint = f.trace_hint(trace, name)
    assert name in hint and "UnknownCredentials" in hint and "send_connector_route" in hint
    assert "stopped answering" in f.trace_hint(trace)  # without a certificate it is still the smart host's stall
    assert "UnknownCredentials" in f.trace_hint({"result": "deferred", "last_error": "TLS negotiation failed with error UnknownCredentials"})

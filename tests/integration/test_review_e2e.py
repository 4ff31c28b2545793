"""Review R2: the main playbook tried as a new user would, one failure mode of ANCHORS B.2 at a time.

Each case starts a test smart host configured to cause the failure and the lab that routes to it,
runs ``ansible-playbook mailflow.exchange.smart_host -i playbooks/inventory/lab.yml`` and checks
what an administrator sees: the role stops in preflight with the finding's code and its hint on a
line of its own, nothing was written to Exchange, no Python traceback and no password in the output.
"""

from __future__ import annotations

import secrets

import pytest

from role_lab import lab_with_smart_host
from test_role import run_playbook

PREFLIGHT = "Preflight | Stop before any change when a smart host cannot work with its connector"
PASSWORD = "Rv2-" + secrets.token_urlsafe(12)
CREDENTIAL = {"SMART_HOST_USERNAME": "relay", "SMART_HOST_PASSWORD": PASSWORD}
LOGGING = {"protocol_logging_level": "Verbose"}

# name: (smart host options, extra vars, environment, expected code, words of the hint, words the message must not have)
CASES = {
    "unreachable": ({"starttls": True}, {"smart_host_port": 1}, {}, "TCP_CONNECT_FAILED", "firewalls", None),
    "implicit_tls": ({"implicit_tls": True}, {}, {}, "IMPLICIT_TLS", "STARTTLS", None),
    "no_starttls_basic_auth_require_tls": (
        {"starttls": False, "auth": ["LOGIN"], "users": {"relay": PASSWORD}},
        {"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, CREDENTIAL, "STARTTLS_NOT_OFFERED", "Enable STARTTLS", None,
    ),
    "tls_domain_mismatch": (
        {"starttls": True, "cert_names": ["other.lab.test"]},
        {"smart_host_connector_settings": dict(LOGGING, require_tls=True, tls_auth_level="DomainValidation", tls_domain="smarthost.lab.test")},
        {}, "CERT_TLS_DOMAIN_MISMATCH", "TlsDomain", None,
    ),
    "expired_certificate": (
        {"starttls": True, "cert_expired": True},
        {"smart_host_connector_settings": dict(LOGGING, require_tls=True, tls_auth_level="CertificateValidation")},
        {}, "CERT_EXPIRED", "Renew", "Install the issuing CA",  # the CA is trusted: only the date is wrong
    ),
    "wrong_password": (
        {"starttls": True, "auth": ["LOGIN"], "users": {"relay": "not-" + PASSWORD}},
        {"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, CREDENTIAL, "AUTH_FAILED", "user name and password", None,
    ),
    # The connector keeps New-SendConnector's default MaxMessageSize (35 MB): larger than SIZE.
    "size_below_default_max_message_size": ({"starttls": True, "size": 10000}, {}, {}, "SIZE_TOO_SMALL", "MaxMessageSize", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight_stops_with_the_hint_and_changes_nothing(case, tmp_path):
    smart_host, extra_vars, env, code, hint_words, absent = CASES[case]
    with lab_with_smart_host(str(tmp_path / "services"), **smart_host) as lab:
        run = run_playbook(lab, tmp_path, extra_vars, env=env)
        writes = lab["lab"].counters().get("writes", 0)
    assert run.rc != 0, run.output[-4000:]
    failed = run.task(PREFLIGHT)
    assert failed["status"] == "failed", run.output[-4000:]
    message = failed["result"]["msg"]
    assert "no connector was changed" in message
    assert "(%s)\n    hint: " % code in message, message  # the hint on its own line, not a literal \n
    assert "\\n" not in message, message
    hint = message.split("(%s)\n    hint: " % code, 1)[1].split("\n", 1)[0]
    assert hint_words in hint, message
    if absent:
        assert absent not in message, message
    assert writes == 0
    assert "Traceback" not in run.output
    assert PASSWORD not in run.output

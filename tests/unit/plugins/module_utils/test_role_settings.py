"""_role_settings: the smart_host_routing role's own variables, one bad value per class (issue 15)."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils import _role_settings

P = "smart_host_routing_"
GOOD = {P + "trace_timeout": 120, P + "trace_poll_interval": 5, P + "smtp_port": 25, P + "probe_timeout": 10,
        P + "test_sender": "", P + "test_recipient": "", P + "test_recipients": {}, P + "test_subject": "test",
        P + "stats_key": "smart_host_routing", P + "report_file": "/tmp/r.md", P + "smtp_server": "",
        P + "helo_name": "", P + "verify": True, P + "trace_servers": []}


def test_the_defaults_pass():
    assert _role_settings.settings_errors(GOOD) == []


@pytest.mark.parametrize("key, value", [("trace_timeout", "120"), ("smtp_port", "25"), ("verify", "no"),
                                        ("trace_poll_interval", "0.5"), ("test_sender", "a@contoso.com"),
                                        ("test_recipients", {"Relay": "b@fabrikam.com"}), ("report_file", ""),
                                        # null is "not set" for the optional paths (a TLS-less smart host's ready file)
                                        ("ca_cert", None), ("smtp_server", None), ("protocol_log_dir", None)])
def test_what_extra_vars_give_passes(key, value):
    assert _role_settings.settings_errors(dict(GOOD, **{P + key: value})) == []


@pytest.mark.parametrize("key, value, words", [
    ("trace_timeout", -5, "must be from 1 to 86400, got -5"), ("trace_timeout", [1], "must be a whole number"),
    ("trace_timeout", 1.5, "must be a whole number"), ("trace_timeout", "1e400", "must be a whole number"),
    ("trace_timeout", True, "must be a whole number"), ("trace_poll_interval", 0, "from 0.1 to 3600"),
    ("trace_poll_interval", float("nan"), "from 0.1 to 3600"), ("smtp_port", 70000, "from 1 to 65535"),
    ("smtp_port", "x" * 100000, "must be a whole number"),
    ("test_sender", "not an address", "is not an e-mail address"), ("test_sender", ["a@b.c"], "must be a string"),
    ("test_recipient", "a@b.example\r\nRCPT TO:<x@y>", "line break"),
    ("test_recipients", {"Relay": "a@b.example\nBcc: c@d"}, "line break"),
    ("test_recipients", ["a@b.example"], "must be a mapping"), ("test_recipients", {"Relay": ""}, "empty string"),
    ("stats_key", "", "must not be empty"), ("stats_key", "1abc", "must be a variable name"),
    ("stats_key", 5, "must be a string"), ("report_file", ["x"], "must be a string, got a list"),
    ("report_file", "/tmp/", "not a directory"), ("report_file", "a\x00b", "NUL"),
    ("test_subject", {"a": 1}, "must be a string, got a mapping"), ("verify", "maybe", "must be true or false"),
    ("trace_servers", "EX01", "must be a list"), ("trace_servers", [""], "must not be empty"),
    ("helo_name", "not a name!", "is not a host name"), ("ca_cert", ["a.pem"], "must be a string, got a list"),
])
def test_one_bad_value_per_class_names_the_variable(key, value, words):
    errors = _role_settings.settings_errors(dict(GOOD, **{P + key: value}))
    assert len(errors) >= 1 and all(e.startswith(P + key) for e in errors), errors
    assert any(words.lower() in e.lower() for e in errors), errors
    assert not any("object has no attribute" in e or "Traceback" in e for e in errors)


@pytest.mark.parametrize("spaces, expected", [
    (["SMTP:partner.example;1", "*.partner.example"], ("postmaster@partner.example", "partner.example")),
    (["*.wide.example", {"domain": "Fabrikam.COM", "cost": 2}], ("postmaster@fabrikam.com", "fabrikam.com")),
    (["X400:o=MySite;p=MyOrg;a=adatum;c=us;1", "contoso.com."], ("postmaster@contoso.com", "contoso.com")),
    (["*"], ("", "")),
    (["*.only-subdomains.example", "not a space;;"], ("", "")),
    (None, ("", "")),
])
def test_postmaster_recipient_takes_the_first_single_domain(spaces, expected):
    assert _role_settings.postmaster_recipient(spaces) == expected

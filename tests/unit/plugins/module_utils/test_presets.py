"""The provider presets (smart_host_profile): what each sets, what each refuses, what each finds.

Pure logic of plugins/module_utils/_connectors/presets.py; the modules' use of it over the lab is in
tests/integration/role/test_presets_lab.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets

SES_USER = "AKIAIOSFODNN7EXAMPLE"
SES_SMTP_PASSWORD = "BPu7sHcQeA3rS3xwN9K3Z2mJtF0hQ8kCnv1Ux5yLdT4B"  # 44 characters, the SMTP password's shape
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # 40 characters, a secret access key's shape


def cred(user, password="pw-123"):
    return {"authentication_credential": {"username": user, "password": password}}


EXPECTED = {
    "m365_mx": {"port": 25, "require_tls": True, "ignore_starttls": False, "smart_host_auth_mechanism": "None",
                "tls_auth_level": "DomainValidation", "tls_domain": "mail.protection.outlook.com",
                "cloud_services_mail_enabled": True},
    "m365_submission": {"port": 587, "require_tls": True, "ignore_starttls": False,
                        "smart_host_auth_mechanism": "BasicAuthRequireTLS", "tls_auth_level": "CertificateValidation"},
    "amazon_ses": {"port": 587, "require_tls": True, "ignore_starttls": False,
                   "smart_host_auth_mechanism": "BasicAuthRequireTLS", "tls_auth_level": "CertificateValidation"},
    "sendgrid": {"port": 587, "require_tls": True, "ignore_starttls": False,
                 "smart_host_auth_mechanism": "BasicAuthRequireTLS", "tls_auth_level": "CertificateValidation",
                 "smtp_max_messages_per_connection": 5000},
    "mailgun": {"port": 587, "require_tls": True, "ignore_starttls": False,
                "smart_host_auth_mechanism": "BasicAuthRequireTLS", "tls_auth_level": "CertificateValidation"},
    "google_relay": {"port": 587, "require_tls": True, "ignore_starttls": False, "tls_auth_level": "CertificateValidation"},
    "generic": {"require_tls": True, "ignore_starttls": False, "tls_auth_level": "CertificateValidation"},
}

GOOD = {
    "m365_mx": {"smart_hosts": ["contoso-com.mail.protection.outlook.com"], "fqdn": "mail.contoso.com",
                "tls_certificate_name": "<I>CN=CA<S>CN=mail.contoso.com"},
    "m365_submission": dict(cred("relay@contoso.com"), smart_hosts=["smtp.office365.com"]),
    "amazon_ses": dict(cred(SES_USER, SES_SMTP_PASSWORD), smart_hosts=["email-smtp.eu-west-1.amazonaws.com"]),
    "sendgrid": dict(cred("apikey", "SG.abc.def"), smart_hosts=["smtp.sendgrid.net"]),
    "mailgun": dict(cred("postmaster@mg.contoso.com"), smart_hosts=["smtp.eu.mailgun.org"]),
    "google_relay": {"smart_hosts": ["smtp-relay.gmail.com"], "fqdn": "mail.contoso.com"},
    "generic": dict(cred("relay"), smart_hosts=["relay.contoso.net"], port=587),
}


def test_every_preset_is_tested():
    assert set(EXPECTED) == set(_presets.NAMES) == set(GOOD)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_values_a_preset_sets_and_that_a_good_task_passes(name):
    resolved = _presets.resolve(name, GOOD[name])
    for key, value in EXPECTED[name].items():
        assert resolved.task[key] == value, key
    assert sorted(resolved.from_preset) == sorted(EXPECTED[name])
    assert resolved.errors == []
    codes = [f["code"] for f in resolved.findings]
    assert "profile_host" not in codes
    if name != "m365_submission":
        assert resolved.findings == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_explicit_options_win_over_the_preset(name):
    task = dict(GOOD[name], port=25, smtp_max_messages_per_connection=7)
    resolved = _presets.resolve(name, task)
    assert resolved.task["port"] == 25 and resolved.task["smtp_max_messages_per_connection"] == 7
    assert "port" not in resolved.from_preset and "smtp_max_messages_per_connection" not in resolved.from_preset


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("port", [465, 2465])
def test_every_preset_refuses_implicit_tls(name, port):
    errors = _presets.resolve(name, dict(GOOD[name], port=port)).errors
    assert errors and errors[0].startswith("port: %d is implicit TLS" % port), errors
    assert errors[0].endswith("(smart_host_profile %s)" % name)


REFUSED = [
    ("sendgrid", cred("relay@contoso.com"), "authentication_credential.username: SendGrid's SMTP user name is literally apikey"),
    ("sendgrid", {"port": 2587}, "port: Twilio SendGrid SMTP relay does not accept 2587"),
    ("sendgrid", {"smart_host_auth_mechanism": "None"}, "smart_host_auth_mechanism: SendGrid needs SMTP AUTH"),
    ("amazon_ses", cred(SES_USER, AWS_SECRET), "authentication_credential.password: has the shape of an AWS secret access key"),
    ("amazon_ses", cred("ASIAIOSFODNN7EXAMPLE", SES_SMTP_PASSWORD), "authentication_credential.username: ASIA... is a temporary"),
    ("amazon_ses", {"smart_host_auth_mechanism": "BasicAuth"}, "smart_host_auth_mechanism: BasicAuth may send the password"),
    ("mailgun", cred("postmaster"), "authentication_credential.username: Mailgun's SMTP login is a full address"),
    ("mailgun", cred("postmaster@mg.contoso.com", "key-" + "0123456789abcdef" * 2),
     "authentication_credential.password: has the shape of a Mailgun API key"),
    ("m365_mx", {"smart_host_auth_mechanism": "BasicAuthRequireTLS"}, "smart_host_auth_mechanism: the Microsoft 365 MX endpoint takes no SMTP AUTH"),
    ("m365_mx", {"require_tls": False}, "require_tls: must be true for the Microsoft 365 MX endpoint"),
    ("m365_mx", {"tls_auth_level": "EncryptionOnly"}, "tls_auth_level: EncryptionOnly does not check"),
    ("m365_mx", {"port": 587}, "port: Microsoft 365 MX endpoint does not accept 587"),
    ("m365_submission", cred("relay"), "authentication_credential.username: Microsoft 365 client submission logs in as a mailbox"),
    ("google_relay", {"smart_host_auth_mechanism": "BasicAuth"}, "smart_host_auth_mechanism: Google's SMTP relay allows SMTP AUTH only over TLS"),
    ("generic", {"smart_host_auth_mechanism": "BasicAuth"}, "smart_host_auth_mechanism: BasicAuth may send the password before TLS"),
    ("generic", {"ignore_starttls": True}, "ignore_starttls: must be false"),
]


@pytest.mark.parametrize("name,change,start", REFUSED, ids=["%s-%d" % (r[0], i) for i, r in enumerate(REFUSED)])
def test_what_a_preset_refuses(name, change, start):
    errors = _presets.resolve(name, dict(GOOD[name], **change)).errors
    assert any(e.startswith(start) for e in errors), errors
    assert all("pw-123" not in e and AWS_SECRET not in e for e in errors)  # a secret is never echoed


def test_refusals_see_the_connector_as_it_is():
    current = {"authentication_credential": {"username": "someone@contoso.com"}, "smart_host_auth_mechanism": "BasicAuthRequireTLS"}
    errors = _presets.resolve("sendgrid", {"smart_hosts": ["smtp.sendgrid.net"]}, current).errors
    assert any(e.startswith("authentication_credential.username: SendGrid") for e in errors), errors


def test_m365_submission_with_basic_auth_gives_the_retirement_finding():
    resolved = _presets.resolve("m365_submission", dict(GOOD["m365_submission"], smart_host_auth_mechanism="BasicAuthRequireTLS"))
    assert resolved.errors == []
    (finding,) = [f for f in resolved.findings if f["code"] == "m365_basic_auth_retirement"]
    assert finding["severity"] == "warning"
    assert "550 5.7.30 Basic authentication is not supported for Client Submission" in finding["message"]
    assert "m365_mx" in finding["hint"] and "certificate-based inbound connector" in finding["hint"]


def test_warnings_of_m365_mx_google_and_foreign_hosts():
    codes = [f["code"] for f in _presets.resolve("m365_mx", {"smart_hosts": ["relay.contoso.net"]}).findings]
    assert codes == ["profile_host", "m365_certificate", "m365_fqdn"]
    codes = [f["code"] for f in _presets.resolve("google_relay", {"smart_hosts": ["smtp-relay.gmail.com"]}).findings]
    assert codes == ["google_helo"]


def test_unknown_preset_and_no_preset():
    assert _presets.resolve("postmark", {}).errors[0].startswith("smart_host_profile: must be one of m365_mx,")
    assert _presets.resolve(None, {"port": 25}).task == {"port": 25}


def test_every_preset_cites_a_source():
    for preset in _presets.PRESETS.values():
        assert preset.source and preset.title


def test_send_connectors_items_check_the_preset_before_any_call():
    items = [dict(GOOD["sendgrid"], name="Relay", address_spaces=["*"], smart_host_profile="sendgrid",
                  authentication_credential={"username": "sendgrid-user", "password": "SG.secret"}),
             dict(GOOD["amazon_ses"], name="SES", address_spaces=["*"], smart_host_profile="amazon_ses", port=465),
             {"name": "X", "address_spaces": ["*"], "smart_host_profile": "nope"}]
    converted, errors = _connectors.validate_items(items)
    assert any(e.startswith("connectors[0].authentication_credential.username: SendGrid's") and e.endswith("(connector 'Relay')")
               for e in errors), errors
    assert any(e.startswith("connectors[1].port: 465 is implicit TLS") for e in errors), errors
    assert any(e.startswith("connectors[2].smart_host_profile: must be one of") for e in errors), errors
    assert not any("SG.secret" in e for e in errors)


def test_preset_diff_names_the_changed_values_it_gave():
    resolved = _presets.resolve("sendgrid", GOOD["sendgrid"])
    shown = _connectors.preset_diff({"name": "R", "port": 587}, resolved, ["port", "smart_hosts"])
    assert shown["smart_host_profile"] == {"name": "sendgrid", "values": ["port"]}
    assert "smart_host_profile" not in _connectors.preset_diff({"name": "R"}, resolved, ["smart_hosts"])

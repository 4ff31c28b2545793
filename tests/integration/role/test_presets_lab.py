"""smart_host_profile over the Exchange lab: send_connector, send_connectors and smart_host apply a preset's values
(explicit options win), refuse what the provider cannot take before any write, and warn about Basic authentication
for Microsoft 365 client submission."""

from __future__ import annotations

import yaml

from send_connector_harness import delta


def play(ansible, module, args, *extra):
    tasks = [{"name": "t", module: args, "register": "out", "ignore_errors": True}]
    return ansible.play(yaml.safe_dump(tasks, sort_keys=False), args=extra).result("t")


def test_sendgrid_preset_creates_the_connector_with_its_values_and_shows_them_in_the_diff(ansible, lab):
    args = {"name": "SendGrid relay", "address_spaces": ["*"], "smart_hosts": ["smtp.sendgrid.net"],
            "smart_host_profile": "sendgrid", "port": 2525, "source_transport_servers": ["EX01"],
            "authentication_credential": {"username": "apikey", "password": "SG.lab-secret-123"}}
    res = play(ansible, "mailflow.exchange.send_connector", args, "--diff")
    assert not res["failed"], res
    connector = res["connector"]
    assert connector["port"] == 2525  # explicit wins
    assert connector["require_tls"] is True and connector["tls_auth_level"] == "CertificateValidation"
    assert connector["smart_host_auth_mechanism"] == "BasicAuthRequireTLS"
    assert connector["smtp_max_messages_per_connection"] == 5000
    assert res["profile"]["name"] == "sendgrid" and "port" not in res["profile"]["set"]
    assert res["profile"]["set"]["smtp_max_messages_per_connection"] == 5000
    assert set(res["diff"]["after"]["smart_host_profile"]["values"]) >= {"require_tls", "smtp_max_messages_per_connection"}
    assert "SG.lab-secret-123" not in repr(res)
    before = lab.counters()
    again = play(ansible, "mailflow.exchange.send_connector", args, "--diff")
    assert not again["failed"] and not again["changed"], again
    assert "smart_host_profile" not in again["diff"]["after"]
    assert delta(before, lab.counters()).get("writes", 0) == 0


def test_sendgrid_preset_refuses_another_user_before_any_write(ansible, lab):
    before = lab.counters()
    args = {"name": "SendGrid relay", "smart_host_profile": "sendgrid",
            "authentication_credential": {"username": "relay@contoso.com", "password": "SG.other-secret"}}
    res = play(ansible, "mailflow.exchange.send_connector", args)
    assert res["failed"]
    assert "SendGrid's SMTP user name is literally apikey" in res["msg"], res["msg"]
    assert "SG.other-secret" not in repr(res)
    assert delta(before, lab.counters()).get("writes", 0) == 0


def test_send_connectors_items_and_the_retirement_warning(ansible, lab):
    items = [{"name": "M365 submission", "address_spaces": ["partner.example"], "smart_hosts": ["smtp.office365.com"],
              "smart_host_profile": "m365_submission", "source_transport_servers": ["EX01"],
              "authentication_credential": {"username": "relay@contoso.com", "password": "m365-lab-secret"}},
             {"name": "SES", "address_spaces": ["ses.example"], "smart_hosts": ["email-smtp.eu-west-1.amazonaws.com"],
              "smart_host_profile": "amazon_ses", "source_transport_servers": ["EX01"],
              "authentication_credential": {"username": "AKIAIOSFODNN7EXAMPLE",
                                            "password": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}]
    before = lab.counters()
    res = play(ansible, "mailflow.exchange.send_connectors", {"connectors": items})
    assert res["failed"]
    assert any(e.startswith("connectors[1].authentication_credential.password: has the shape of an AWS secret access key")
               for e in res["errors"]), res["errors"]
    assert delta(before, lab.counters()).get("writes", 0) == 0
    res = play(ansible, "mailflow.exchange.send_connectors", {"connectors": items[:1]})
    assert not res["failed"], res
    result = res["results"][0]
    assert result["connector"]["port"] == 587 and result["connector"]["smart_host_auth_mechanism"] == "BasicAuthRequireTLS"
    assert any("550 5.7.30" in w and "m365_mx" in w for w in res.get("warnings", [])), res.get("warnings")
    assert result["profile"]["findings"][0]["code"] == "m365_basic_auth_retirement"


def test_smart_host_with_a_preset(ansible, lab):
    play(ansible, "mailflow.exchange.send_connector",
         {"name": "To M365", "address_spaces": ["contoso.mail.onmicrosoft.com"], "smart_hosts": ["192.0.2.40"],
          "source_transport_servers": ["EX01"]})
    res = play(ansible, "mailflow.exchange.smart_host",
               {"connector": "To M365", "hosts": ["contoso-com.mail.protection.outlook.com"], "exclusive": True,
                "smart_host_profile": "m365_mx"})
    assert not res["failed"], res
    connector = res["connector"]
    assert connector["tls_domain"] == "mail.protection.outlook.com" and connector["cloud_services_mail_enabled"] is True
    assert connector["require_tls"] is True and connector["port"] == 25
    assert any("tls_certificate_name is not set" in w for w in res.get("warnings", [])), res.get("warnings")

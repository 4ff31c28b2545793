"""Values a task almost certainly does not mean are refused, in every entry point's checker (issue 15)."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values

CASES = [
    ({"tls_domain": "*", "tls_auth_level": "DomainValidation", "smart_hosts": ["relay.contoso.com"]}, "tls_domain",
     "matches every certificate"),
    ({"tls_domain": " * "}, "tls_domain", "matches every certificate"),
    ({"fqdn": "."}, "fqdn", "is not a fully qualified domain name"),
    ({"fqdn": ".."}, "fqdn", "is not a fully qualified domain name"),
    ({"smart_hosts": ["fe80::1%eth0"]}, "smart_hosts[0]", "IPv6 zone id"),
    ({"smart_hosts": ["[fe80::1%25]"]}, "smart_hosts[0]", "IPv6 zone id"),
    ({"smart_hosts": {"add": ["fe80::1%3"]}}, "smart_hosts.add[0]", "IPv6 zone id"),
    ({"address_spaces": ["http://contoso.com"]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": ["https://contoso.com;2"]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": [{"domain": "//contoso.com", "type": "ftp"}]}, "address_spaces[0]", "looks like a URL"),
    # a URL scheme as the type, with or without "//" (Exchange would store type "http"; R5)
    ({"address_spaces": ["http:contoso.com"]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": ["HTTPS:contoso.com;2"]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": ["mailto:postmaster@contoso.com"]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": [{"domain": "contoso.com", "type": "LDAP"}]}, "address_spaces[0]", "looks like a URL"),
    ({"address_spaces": {"add": ["file:share;3"]}}, "address_spaces.add[0]", "looks like a URL"),
]


@pytest.mark.parametrize("settings, path, words", CASES)
def test_refused_by_the_task_checker(settings, path, words):
    errors = _schema.validate(dict(settings, name="Relay"), "task")
    assert any(e.startswith(path + ":") and words in e for e in errors), errors


@pytest.mark.parametrize("settings, path, words", CASES)
def test_refused_in_a_send_connectors_item_with_its_path(settings, path, words):
    item = dict(settings, name="Relay", address_spaces=settings.get("address_spaces", ["contoso.com"]))
    errors = _connectors.validate_items([item])[1]
    assert any(e.startswith("connectors[0]." + path + ":") and words in e for e in errors), errors


@pytest.mark.parametrize("settings", [{"tls_domain": "*.contoso.com"}, {"tls_domain": ""}, {"fqdn": ""},
                                      {"fqdn": "mail.contoso.com."}, {"smart_hosts": ["fe80::1"]},
                                      {"address_spaces": ["X400:o=MySite;p=MyOrg;a=adatum;c=us;1"]},
                                      {"address_spaces": ["SMTP:contoso.com;1"]},
                                      # a documented custom type: any text after a type of letters, digits and '-'
                                      {"address_spaces": ["NOTES:Domain/Org;2"]}, {"address_spaces": ["FAX-1:*"]},
                                      {"address_spaces": [{"domain": "gw.example", "type": "httpgw"}]}])
def test_what_is_meant_still_passes(settings):
    errors = [e for e in _schema.validate(dict(settings, name="Relay"), "task")
              if e.split(":")[0].split(".")[0].split("[")[0] in settings]
    assert errors == []


def test_smart_host_module_check():
    # the option checker every module and the role use (the hosts kind's item rule)
    problem = _values.input_problem("hosts", _values.canonical_smart_host("fe80::1%eth0"))
    assert problem and "IPv6 zone id" in problem


def test_a_type_is_letters_digits_and_hyphen():
    errors = _schema.validate({"name": "Relay", "address_spaces": [{"domain": "x", "type": "my type"}]}, "task")
    assert any(e.startswith("address_spaces[0]:") and "letters, digits and '-'" in e for e in errors), errors


def test_every_url_scheme_listed_is_refused_in_any_case():
    for scheme in sorted(_values.URL_SCHEMES):
        for spelled in (scheme, scheme.upper()):
            problem = _values.input_problem("spaces", _values.canonical_address_space("%s:contoso.com;1" % spelled))
            assert problem and "looks like a URL" in problem, spelled


def test_the_refused_url_schemes_are_documented_where_users_read_them():
    import os

    import yaml

    from ansible_collections.mailflow.exchange.plugins.modules import send_connector

    docs = " ".join(yaml.safe_load(send_connector.DOCUMENTATION)["options"]["address_spaces"]["description"])
    assert all("C(%s)" % scheme in docs for scheme in _values.URL_SCHEMES), docs
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    with open(os.path.join(root, "docs", "exchange-rules.md"), encoding="utf-8") as handle:
        r5 = handle.read().split("**R5**", 1)[1].split("**R6**", 1)[0]
    assert all("`%s`" % scheme in r5 for scheme in _values.URL_SCHEMES), r5

"""The checks of values the SMTP probe puts on the wire (pure logic; the wire is in tests/integration/smtp_probe/test_smtp_probe_security.py)."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as checks


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nMAIL FROM:<x@y.example>", "a\x00b", "trailing\n"])
@pytest.mark.parametrize("check", [checks.helo_name, checks.address, checks.header_text])
def test_cr_lf_nul_are_refused_with_the_path(check, value):
    (problem,) = check("opt.path[2]", value)
    assert problem.startswith("opt.path[2]: ") and "single line" in problem
    assert ("NUL" in problem) == ("\x00" in value) and ("line break" in problem) == ("\r" in value or "\n" in value)


@pytest.mark.parametrize(
    "value, ok",
    [
        ("mail.contoso.com", True), ("localhost", True), ("[192.0.2.1]", True), ("[IPv6:2001:db8::1]", True), ("bücher.example", True),
        ("192.0.2.1", False), ("[2001:db8::1]", False), ("[IPv6:192.0.2.1]", False), ("a b", False), ("-bad.example", False),
        ("a..b", False), ("x" * 64 + ".example", False), ("", False), ("exa_mple.com", False),
    ],
)
def test_helo_name_grammar(value, ok):
    assert (checks.helo_name("helo_name", value) == []) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("chris@contoso.com", True), ("chris.o'neil+tag@contoso.com", True), ('"odd name"@contoso.com', True), ("pat@[192.0.2.1]", True),
        ("jörg@bücher.example", True), ("a@b", True),
        ("chris", False), ("@contoso.com", False), ("chris@", False), ("a b@contoso.com", False), ("<a@contoso.com>", False),
        ("a@b.example> SIZE=1", False), ("a..b@contoso.com", False), (".a@contoso.com", False), ("a@contoso..com", False),
        ("x" * 65 + "@contoso.com", False), ("a@" + "b" * 250 + ".com", False), ('"unterminated@contoso.com', False),
    ],
)
def test_address_grammar(value, ok):
    assert (checks.address("mail_from", value) == []) is ok, checks.address("mail_from", value)


def test_header_address_takes_a_display_name():
    assert checks.header_address("from", "Chris <chris@contoso.com>") == ([], "chris@contoso.com")
    assert checks.header_address("from", '"Pat, Q" <pat@fabrikam.com>') == ([], "pat@fabrikam.com")
    assert checks.header_address("from", "pat@fabrikam.com") == ([], "pat@fabrikam.com")
    problems, addr = checks.header_address("from", "Chris <chris@contoso.com> extra")
    assert addr is None and problems[0].startswith("from: ")


def test_smart_host_uses_the_shared_parser():
    assert checks.smart_host("hosts[0]", "[192.0.2.1]") == ([], "192.0.2.1")
    assert checks.smart_host("hosts[0]", "Relay.Contoso.net") == ([], "Relay.Contoso.net")
    assert checks.smart_host("hosts[1]", "relay.contoso.net:587")[0] == [
        "hosts[1]: 'relay.contoso.net:587' carries a port; Send connectors have one port for all smart hosts, give it as port"]
    # where the port goes instead: a target's own, the test message's server's
    assert checks.smart_host("targets[0].host", "relay.contoso.net:587", "targets[0].port")[0] == [
        "targets[0].host: 'relay.contoso.net:587' carries a port; give it as targets[0].port"]
    assert checks.smart_host("send_test_message.host", "ex01:25", "send_test_message.port")[0] == [
        "send_test_message.host: 'ex01:25' carries a port; give it as send_test_message.port"]
    assert checks.smart_host("hosts[2]", "relay.contoso.net\n")[0][0].startswith("hosts[2]: ")
    assert checks.smart_host("hosts[3]", "not a host")[0][0].startswith("hosts[3]: ")


def _params(**overrides):
    base = {
        "hosts": None, "targets": None, "port": 25, "connect_address": None, "helo_name": None, "authentication_credential": None,
        "require_tls": False, "ignore_starttls": False, "tls_auth_level": None, "tls_domain": None,
        "smart_host_auth_mechanism": "None", "max_message_size": None,
    }
    base.update(overrides)
    return base


def test_targets_fall_back_to_the_top_level_and_enums_take_exchange_spelling():
    targets, errors = checks.build_targets(_params(
        targets=[{"host": "a.contoso.net", "label": "A", "smart_host_auth_mechanism": "basicauthrequiretls", "max_message_size": "10mb",
                  "require_tls": True, "tls_auth_level": "domainvalidation", "tls_domain": "Contoso.NET"},
                 {"host": "[192.0.2.7]", "port": 587, "require_tls": True, "tls_auth_level": "CERTIFICATEVALIDATION"}],
        max_message_size="35 MB", helo_name="ex01.contoso.com"))
    assert errors == []
    first, second = targets
    assert (first.label, first.host, first.port, first.auth_mechanism, first.max_message_size) == ("A", "a.contoso.net", 25, "BasicAuthRequireTLS", 10485760)
    assert (second.host, second.port, second.tls_auth_level, second.max_message_size) == ("192.0.2.7", 587, "CertificateValidation", 36700160)
    assert first.helo_name == second.helo_name == "ex01.contoso.com"
    # TlsDomain belongs to DomainValidation only (Set-SendConnector refuses it otherwise): the first target's, not the second's
    assert (first.tls_auth_level, first.tls_domain, second.tls_domain) == ("DomainValidation", "contoso.net", None)


def test_problems_carry_the_path_of_the_value_that_caused_them():
    _targets, errors = checks.build_targets(_params(
        targets=[{"host": "a.contoso.net", "tls_auth_level": "DomainValidation", "require_tls": True},
                 {"host": "b.contoso.net"}, {"host": "c.contoso.net"}],
        max_message_size="huge"))
    assert "targets[0].tls_domain: required when tls_auth_level is DomainValidation (the name the certificate must carry)" in errors
    # a bad top-level value used by all three targets is named once, under its own name
    (size_error,) = [e for e in errors if "huge" in e]
    assert size_error.startswith("max_message_size: 'huge' is not a size")


def test_hosts_share_the_top_level_settings():
    targets, errors = checks.build_targets(_params(hosts=["a.contoso.net", " ", "[2001:db8::1]"], require_tls=True))
    assert errors == [] and [(t.path, t.host, t.require_tls) for t in targets] == [("hosts[0]", "a.contoso.net", True), ("hosts[2]", "2001:db8::1", True)]
    _targets, errors = checks.build_targets(_params(hosts=["a.contoso.net", "b.contoso.net"], connect_address="192.0.2.1"))
    assert errors == ["connect_address: only allowed with exactly one entry in hosts (use targets for one address per smart host)"]


def test_a_ca_cert_path_with_a_line_break_is_shown_quoted():
    assert checks.ca_cert("ca_cert", "/nonexistent/ca\n.pem") == ["ca_cert: '/nonexistent/ca\\n.pem' does not exist"]
    assert checks.ca_cert("ca_cert", "/nonexistent/ca.pem") == ["ca_cert: /nonexistent/ca.pem does not exist"]
    assert checks.ca_cert("ca_cert", "/nonexistent/ca\x00.pem") == ["ca_cert: '/nonexistent/ca\\x00.pem' does not exist"]

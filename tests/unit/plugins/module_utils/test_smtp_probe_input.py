"""The checks of values the SMTP probe puts on the wire (pure logic; the wire is in tests/integration/test_smtp_probe_security.py)."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils import _smtp_probe_input as checks


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
    assert "carries a port" in checks.smart_host("hosts[1]", "relay.contoso.net:587")[0][0]
    assert checks.smart_host("hosts[2]", "relay.contoso.net\n")[0][0].startswith("hosts[2]: ")
    assert checks.smart_host("hosts[3]", "not a host")[0][0].startswith("hosts[3]: ")

"""smtp_probe input (issue 15): every line/paragraph separator and C0/C1 control refused, limits before regexes."""

from __future__ import annotations

import email.errors

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._probe import smtp as _smtp_probe
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as _input

SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
CONTROLS = ["\x01", "\x07", "\x1b", "\x1f", "\x7f", "\x80", "\x9f"]


@pytest.mark.parametrize("char", SEPARATORS + CONTROLS)
@pytest.mark.parametrize("check", ["address", "header_address", "header_text", "helo_name"])
def test_refused_with_the_code_point(check, char):
    value = {"address": "a%sb@contoso.com", "header_address": "Chris <a%sb@contoso.com>",
             "header_text": "Sub%sject", "helo_name": "mail%s.contoso.com"}[check] % char
    found = getattr(_input, check)("x", value)
    problems = found[0] if isinstance(found, tuple) else found
    assert problems and ("U+%04X" % ord(char)) in problems[0], problems


def test_a_tab_in_a_subject_is_fine():
    assert _input.header_text("subject", "a\tb") == []


@pytest.mark.parametrize("value", ["a" + " " * 100000 + "b", "a" + " " * 100000 + "<b", '"' + "x" * 100000])
def test_a_long_header_address_is_refused_by_length_first(value):
    problems, addr = _input.header_address("send_test_message.from", value)
    assert addr is None and "longer than 998 characters" in problems[0]


def test_the_message_is_built_with_a_strict_policy():
    msg = _smtp_probe.build_message("a@contoso.com", ["b@fabrikam.com"], "Test", "body", "mail.contoso.com")
    assert msg.policy.raise_on_defect is True
    with pytest.raises((ValueError, email.errors.HeaderDefect)):
        msg["X-Test"] = "a\nb"

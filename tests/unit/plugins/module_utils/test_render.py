"""The Exchange Management Shell lines in ``commands`` read back, with PowerShell's quoting rules, as
exactly the values sent, and stay one command whatever the text (issue 11: typographic quotes).

``pwsh_tokens`` is an independent reader written from the PowerShell language specification; the
first tests show it catches the break-out the old ASCII-only quoting allowed, so the later
round-trip tests can fail.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import render as _render
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import Credential

from pwsh_tokens import CREDENTIAL, SINGLE_QUOTE_CHARS, NotOneCommand, parse_command, read_verbatim

QUOTES = ["'", "\u2018", "\u2019", "\u201a", "\u201b"]
ISSUE_PAYLOAD = "x\u2019; Remove-SendConnector * -Confirm:$false; \u2019"
# characters that mean something to PowerShell somewhere, plus line breaks and other quote sets
SPECIALS = QUOTES + ['"', "\u201c", "\u201d", "\u201e", "$", "`", ";", "|", "&", "#", "(", ")", "{", "}",
                     "@", ",", "-", "\u2013", "\u2014", " ", "\t", "\n", "\r", "\x00", "\u2028", "\u0085", "="]
TEXT = st.text(alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(exclude_categories=("Cs",))), max_size=40)


def old_quote(text: str) -> str:
    """The quoting before the fix: only the ASCII apostrophe doubled."""
    return "'%s'" % text.replace("'", "''")


# ---- the reader itself ----------------------------------------------------------------------------

def test_reader_sees_the_break_out_the_old_quoting_allowed():
    line = "Set-SendConnector -Identity 'Relay' -Comment %s" % old_quote(ISSUE_PAYLOAD)
    with pytest.raises(NotOneCommand, match="';' right after a value"):
        parse_command(line)


@pytest.mark.parametrize("quote", QUOTES[1:])
def test_reader_ends_a_string_on_each_typographic_quote(quote):
    assert read_verbatim("'It%ss'" % (quote * 2)) == "It%ss" % quote
    with pytest.raises(NotOneCommand):
        read_verbatim("'It%ss'" % quote)  # the lone quote ends the string early


def test_reader_rules_from_the_spec():
    assert read_verbatim("'$env:PATH `n $(Get-Date) \"x\"'") == '$env:PATH `n $(Get-Date) "x"'
    assert read_verbatim("'two\nlines'") == "two\nlines"
    assert read_verbatim("\u2018typographic open and close\u2019") == "typographic open and close"
    assert read_verbatim("''''") == "'"
    for line in ("Get-SendConnector; Remove-SendConnector", "Get-SendConnector -Identity \"x\"",
                 "Get-SendConnector -Identity x|y", "Get-SendConnector -Identity $(x)", "Get-X -A 'a'#c",
                 "Get-X -A 'a'\nRemove-X", "Get-X -A 'unterminated"):
        with pytest.raises(NotOneCommand):
            parse_command(line)


# ---- the renderer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("quote", QUOTES)
def test_each_quote_character_is_doubled_and_reads_back(quote):
    for value in (quote, quote * 3, "a%sb" % quote, "x%s; Remove-SendConnector * -Confirm:$false; %s" % (quote, quote),
                  "end%s" % quote, "%sstart" % quote):
        rendered = _render.quote(value)
        assert rendered.count(quote) == value.count(quote) * 2 + (2 if quote == "'" else 0)
        assert read_verbatim(rendered) == value
        assert parse_command("Set-SendConnector -Comment %s" % rendered) == ("Set-SendConnector", [("Comment", value)])


def test_the_issue_payload_renders_as_one_command():
    line = _render.render("New-SendConnector", [("Name", "Relay"), ("Comment", ISSUE_PAYLOAD), ("Confirm", False)])
    assert line == ("New-SendConnector -Name Relay -Comment 'x\u2019\u2019; Remove-SendConnector * -Confirm:$false; "
                    "\u2019\u2019' -Confirm:$false")
    assert parse_command(line) == ("New-SendConnector", [("Name", "Relay"), ("Comment", ISSUE_PAYLOAD), ("Confirm", False)])


def test_a_word_with_a_trailing_line_break_is_quoted():
    assert _render.render_value("abc\n") == "'abc\n'"
    assert _render.render_value("Custom") == "Custom"
    assert _render.render_value("\u0661\u0662") == "'\u0661\u0662'"  # non-ASCII digits are not a bare word


def test_every_value_shape_reads_back():
    params = [("Identity", "Relay 1"), ("AddressSpaces", ["SMTP:*;1", "X400:c=us;a= ;p=My\u2019Org;5"]),
              ("SmartHosts", {"Add": ["a\u2018b.example", "c"], "Remove": "d'e"}), ("Port", 587),
              ("Enabled", True), ("Fqdn", None), ("SourceTransportServers", []),
              ("AuthenticationCredential", Credential("relay", "s3cr\u2019et")), ("Confirm", False)]
    line = _render.render("Set-SendConnector", params)
    assert "s3cr" not in line
    name, read = parse_command(line)
    assert name == "Set-SendConnector"
    expected = [(k, str(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in params]
    expected[7] = ("AuthenticationCredential", CREDENTIAL)
    assert read == expected


@settings(max_examples=400, deadline=None)
@given(value=TEXT)
@example(ISSUE_PAYLOAD)
@example("'\u2019\u2018\u201a\u201b'")
@example("abc\n")
def test_any_text_reads_back_exactly_as_one_command(value):
    line = _render.render("Set-SendConnector", [("Identity", value), ("Comment", value), ("Force", True)])
    name, params = parse_command(line)
    assert name == "Set-SendConnector"
    assert params == [("Identity", value), ("Comment", value), ("Force", True)]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(TEXT, min_size=2, max_size=4), removed=TEXT)
def test_lists_and_add_remove_tables_read_back(values, removed):
    line = _render.render("Set-SendConnector", [("SmartHosts", values),
                                                ("AddressSpaces", {"Add": values, "Remove": [removed, removed]})])
    assert parse_command(line) == ("Set-SendConnector", [("SmartHosts", values),
                                                         ("AddressSpaces", {"Add": values, "Remove": [removed, removed]})])


def test_the_quote_set_matches_the_spec():
    assert set(_render.SINGLE_QUOTES) == SINGLE_QUOTE_CHARS

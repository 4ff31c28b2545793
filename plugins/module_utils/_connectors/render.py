# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Render a cmdlet call as the Exchange Management Shell line an administrator would type, e.g.
``New-SendConnector -Name 'Smart host to Internet' -AddressSpaces 'SMTP:*;1' -SmartHosts '192.168.3.2'``.
A credential is always shown as ``(Get-Credential)``: the password never reaches a command line.

Quoting: every text value that is not a plain word goes in a single-quoted (verbatim) string, in
which PowerShell expands nothing (no ``$``, no backtick escape, no ``$( )``). The only character
with a meaning inside it is the single quote, and PowerShell's language specification counts five
characters as one (its single-quote-character set): the ASCII apostrophe and the typographic
U+2018, U+2019, U+201A and U+201B. Any of them ends the string unless it is doubled, so each one is
doubled; a pasted line then reads back exactly the value and stays one command. Nothing is ever
rendered in double quotes (whose own quote set, ``"`` and U+201C..U+201E, and ``$``/backtick
expansion would need other escapes).
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import Credential

# A bare word needs no quotes only when it is ASCII letters and digits; fullmatch, because ``$``
# in a pattern also matches before a trailing newline ("abc\n" must not render bare).
_BARE = re.compile(r"[A-Za-z0-9]+")
# PowerShell's single-quote-character set: ' U+2018 U+2019 U+201A U+201B.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_QUOTE_CHAR = re.compile("([%s])" % SINGLE_QUOTES)
SWITCH_PARAMS = frozenset(["Confirm", "WhatIf", "Force"])
REDACTED = "(Get-Credential)"


def quote(text: str) -> str:
    """A single-quoted PowerShell string that reads back as ``text`` (each quote character doubled)."""
    return "'%s'" % _QUOTE_CHAR.sub(r"\1\1", text)


def render_value(value: Any) -> str:
    if isinstance(value, Credential):
        return REDACTED
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        parts = ["%s=%s" % (key, render_list(val)) for key, val in value.items()]
        return "@{%s}" % "; ".join(parts)
    if isinstance(value, (list, tuple)):
        return render_list(value)
    text = str(value)
    return text if _BARE.fullmatch(text) else quote(text)


def render_list(values: Any) -> str:
    if not isinstance(values, (list, tuple)):
        return render_value(values)
    if not values:
        return "@()"
    return ",".join(render_value(item) for item in values)


def render(cmdlet: str, params: list) -> str:
    words = [cmdlet]
    for name, value in params:
        if name in SWITCH_PARAMS and isinstance(value, bool):
            words.append("-%s:%s" % (name, "$true" if value else "$false"))
        else:
            words.append("-%s %s" % (name, render_value(value)))
    return " ".join(words)

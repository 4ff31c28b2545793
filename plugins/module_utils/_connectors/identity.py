# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Which connector a name means: the one place that compares Send connector names.

A connector is found by its NAME only, never by its GUID or distinguished name. Two names are the
same connector when Exchange would take them as the same: after Exchange's trimming (.NET
``String.Trim``: the characters ``char.IsWhiteSpace`` calls white space), compared case-insensitively
the way .NET's ``StringComparison.OrdinalIgnoreCase`` does on .NET Framework (which Exchange Server
runs on): each UTF-16 code unit is upper-cased with the invariant simple (one-to-one) mapping, and
nothing else is folded. So ``Relay`` and ``RELAY`` are the same connector, while ``Relay-Kelay`` and
``Relay-\\u212aelay`` (KELVIN SIGN) are not: Python's ``str.lower()``/``casefold()`` would map the
Kelvin sign to ``k`` and address the wrong connector. The .NET exceptions are kept: U+0131 (dotless
i) and U+017F (long s) are not upper-cased to I and S, ``ß`` stays ``ß`` (no ``SS``), and characters
outside the Basic Multilingual Plane (surrogate pairs) are compared as they are.

Names that Exchange would keep apart but a person would not are look-alikes: the same after Unicode
compatibility normalisation (NFKC: fullwidth letters, the Kelvin sign, NFD vs NFC), without invisible
characters, with common Cyrillic and Greek letters that look Latin read as Latin, and case-folded.
The modules warn about a look-alike, naming both. A name with a bidirectional control or a
zero-width character is refused outright: it shows as another name.

A name that reads as a GUID (in any form .NET's ``Guid.Parse`` or Python's ``uuid.UUID`` accept) is
a legal connector name, but Exchange's ``-Identity`` takes it as the GUID of some other connector;
so such a name, like one with wildcard characters, is looked up by reading all connectors and
matching here, and written by the GUID of the connector that has that name.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from typing import Any, Iterable, Optional

# .NET char.IsWhiteSpace (what String.Trim removes): U+0009-000D, U+0020, U+0085, U+00A0, U+1680,
# U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000. (Python's str.strip() also removes U+001C-001F.)
EXCHANGE_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
                       + "\u2028\u2029\u202f\u205f\u3000")
# Bidirectional formatting characters (Unicode Bidi_Control): they reorder how a name is shown.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that show as nothing: zero-width space/joiners, word joiner, invisible operators, BOM, soft hyphen,
# combining grapheme joiner, Mongolian vowel separator, Hangul fillers.
ZERO_WIDTH = frozenset("\u00ad\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u3164\ufeff\uffa0")
WILDCARDS = "*?[]"

# Simple upper-case mappings of the characters whose full mapping (Python's str.upper) has several characters:
# the Greek letters with ypogegrammeni map to their title-case forms; every other such character maps to itself.
_SIMPLE_UPPER = {c: c + 8 for c in list(range(0x1F80, 0x1F88)) + list(range(0x1F90, 0x1F98)) + list(range(0x1FA0, 0x1FA8))}
_SIMPLE_UPPER.update({0x1FB3: 0x1FBC, 0x1FC3: 0x1FCC, 0x1FF3: 0x1FFC})
# .NET's ordinal casing leaves these alone (no Turkish-i or long-s folding in ordinal comparisons).
_NOT_UPPERED = frozenset("\u0131\u017f")

# Letters of other scripts that look like Latin ones (a subset of Unicode's confusables, the ones that show
# identically in common fonts), read as the Latin letter for the look-alike test only.
_CONFUSABLE = str.maketrans({
    # Cyrillic
    "\u0430": "a", "\u0410": "A", "\u0412": "B", "\u0432": "b", "\u0441": "c", "\u0421": "C", "\u0435": "e",
    "\u0415": "E", "\u041d": "H", "\u0456": "i", "\u0406": "I", "\u0458": "j", "\u0408": "J", "\u041a": "K",
    "\u043a": "k", "\u041c": "M", "\u043e": "o", "\u041e": "O", "\u0440": "p", "\u0420": "P", "\u0455": "s",
    "\u0405": "S", "\u0422": "T", "\u0443": "y", "\u0423": "Y", "\u0445": "x", "\u0425": "X", "\u04bb": "h",
    "\u0501": "d", "\u051b": "q", "\u051d": "w", "\u04cf": "l",
    # Greek
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I", "\u039a": "K",
    "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
    "\u03bf": "o", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03c1": "p", "\u03c5": "u",
    # Latin look-alikes and digits/letters that share a glyph
    "\u0131": "i", "\u017f": "s", "\u0269": "i", "\u01c0": "l", "\u2170": "i", "\u217c": "l",
})

# .NET Guid.Parse formats: N (32 digits), D (8-4-4-4-12), B ({D}), P ((D)), X ({0x..,0x..,0x..,{0x..,...}}).
_HEX = "[0-9A-Fa-f]"
_GUID_D = "%s{8}-%s{4}-%s{4}-%s{4}-%s{12}" % ((_HEX,) * 5)
_GUID_FORMS = re.compile(
    r"(?:%s{32}|%s|\{%s\}|\(%s\)|\{0[xX]%s{1,8},0[xX]%s{1,4},0[xX]%s{1,4},\{0[xX]%s{1,2}(?:,0[xX]%s{1,2}){7}\}\})"
    % (_HEX, _GUID_D, _GUID_D, _GUID_D, _HEX, _HEX, _HEX, _HEX, _HEX), re.ASCII)


def trimmed(name: str) -> str:
    """The name as Exchange stores it: white space (.NET's definition) removed at both ends."""
    return name.strip(EXCHANGE_WHITESPACE)


def _upper(char: str) -> str:
    if char in _NOT_UPPERED or ord(char) > 0xFFFF:
        return char
    upper = char.upper()
    if len(upper) == 1:
        return upper
    return chr(_SIMPLE_UPPER.get(ord(char), ord(char)))


def key(name: Any) -> str:
    """The comparison key of a connector name: two names are one connector when their keys are equal."""
    return _key(str(name))


@functools.lru_cache(maxsize=8192)
def _key(text: str) -> str:
    # memoised: matching N items against N connectors read asks for the same N keys N times (issue 17's scale)
    return "".join(_upper(c) for c in trimmed(text))


def same(first: Any, second: Any) -> bool:
    """True when Exchange takes the two names as the same connector (see the module docstring)."""
    return key(first) == key(second)


def connector_name(connector: dict[str, Any]) -> str:
    """The name of a connector as read (raw from Get-SendConnector or canonical)."""
    return str(connector.get("Name", connector.get("name", "")) or "")


def find(connectors: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The connectors whose NAME is ``name`` (never a GUID or distinguished name)."""
    wanted = key(name)
    return [c for c in connectors if key(connector_name(c)) == wanted]


def looks_like_guid(name: Any) -> bool:
    """True when Exchange's -Identity (or the lab's) would read the name as a GUID."""
    text = trimmed(str(name))
    if _GUID_FORMS.fullmatch(text):
        return True
    try:
        uuid.UUID(text)
    except (ValueError, TypeError):
        return False
    return True


def needs_read_all(name: str) -> bool:
    """True when ``-Identity name`` could address another connector than the one named ``name``.

    Wildcards match other names; a GUID-shaped name is taken as a GUID; a name outside ASCII may be matched
    more loosely by the directory than by Exchange's own comparison. Such a name is looked up by reading
    every connector and matching with ``find``, and written by its GUID.
    """
    return any(c in name for c in WILDCARDS) or looks_like_guid(name) or not name.isascii()


def _codepoints(chars: Iterable[str]) -> str:
    return ", ".join("U+%04X" % ord(c) for c in sorted(set(chars)))


def name_problem(name: Any) -> Optional[str]:
    """Why a connector name is refused on identity grounds (bidi controls, zero-width characters), or None."""
    if not isinstance(name, str):
        return None
    bidi = [c for c in name if c in BIDI_CONTROLS]
    if bidi:
        return ("must not contain bidirectional control characters (%s): they change how the name is shown, so it "
                "could pass for another connector's name" % _codepoints(bidi))
    hidden = [c for c in name if c in ZERO_WIDTH]
    if hidden:
        return ("must not contain zero-width or invisible characters (%s): the name would show as another "
                "connector's name" % _codepoints(hidden))
    return None


def skeleton(name: str) -> str:
    """What a name looks like: equal skeletons mean a person could not tell the names apart."""
    text = unicodedata.normalize("NFKC", trimmed(name))
    text = "".join(c for c in text if c not in ZERO_WIDTH and c not in BIDI_CONTROLS and unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFKC", text.translate(_CONFUSABLE))
    return " ".join(text.casefold().translate(_CONFUSABLE).split())


def _nfd_base(name: str) -> str:
    return unicodedata.normalize("NFKD", trimmed(name))


def lookalikes(name: str, others: Iterable[str]) -> list[str]:
    """The names in ``others`` that look like ``name`` but are another connector for Exchange."""
    mine = skeleton(name)
    found = []
    for other in others:
        if not same(other, name) and (skeleton(other) == mine or _nfd_base(other) == _nfd_base(name)) \
                and other not in found:
            found.append(other)
    return found


def lookalike_warning(name: str, other: str, what: str = "") -> str:
    """The warning about a name that looks like an existing connector's (both names shown with escapes)."""
    return ("the connector name %s looks like the existing connector %s but is a different name for Exchange%s; "
            "check that the task names the connector you mean" % (shown(name), shown(other), what))


def shown(name: str) -> str:
    """A name for a message: quoted, with every non-ASCII character also written as its code point."""
    text = repr(name) if name.isascii() else "%r (%s)" % (name, "".join(
        c if c.isascii() else "<U+%04X>" % ord(c) for c in name))
    return text if len(text) <= 200 else text[:196] + "...'"


def duplicates(named: Iterable[tuple[str, Any]]) -> list[str]:
    """Errors for items naming a connector an earlier item already names.

    ``named`` is (path, name) pairs, e.g. ``("connectors[0]", "Relay")``; non-string names are skipped (their
    type is reported elsewhere). Each error names both paths.
    """
    first: dict[str, tuple[str, str]] = {}
    errors = []
    for path, name in named:
        if not isinstance(name, str) or not trimmed(name):
            continue
        k = key(name)
        if k in first:
            other_path, other_name = first[k]
            errors.append("%s.name: %s names the same connector as %s.name (%s); a list may name each connector "
                          "once (Exchange compares names without case and without leading or trailing spaces)"
                          % (path, shown(name), other_path, shown(other_name)))
        else:
            first[k] = (path, name)
    return errors

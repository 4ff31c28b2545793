"""Generated identity inputs (issue 15): look-alike names, GUID-shaped names and duplicate items.

Kept apart from cases.py on purpose: these generators have their own pools, so adding them does not change a
single derandomised draw of the older classes. A case has the shape cases.py uses (``module``, ``args``, ``bad``)
plus ``klass`` (the class it counts under), for duplicates ``also_named`` (the earlier item's path, which the
message must name as well), and for refused cases ``words`` the message must contain (the rule, the character).

Classes:

* ``confusables``: a connector name made from a base name by one transformation - KELVIN SIGN for K, Cyrillic or
  Greek letters that look Latin, fullwidth forms, NFD instead of NFC, a zero-width character, a bidi control.
  Names with a zero-width character or a bidi control are refused before any call (``bad`` = the name's path);
  the others are valid names (another connector for Exchange) and only have to be answered cleanly.
* ``identity``: names that read as a GUID in each form .NET's Guid.Parse accepts (D, N, B, P, X, upper case,
  padded with spaces); valid names, answered cleanly (the lab suite checks they never address that GUID).
* ``duplicates``: a send_connectors list in which two items name one connector as Exchange compares names
  (exact, other case, leading/trailing space, NBSP, em space, ideographic space); refused before any call, naming
  the later item's path and the earlier one.
"""

from __future__ import annotations

import unicodedata
import uuid

from hypothesis import strategies as st

BASES = ["Relay Kelay", "Outbound Mail", "Partner Route", "Caf\u00e9 Relay", "Smart host to Internet"]
CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "y": "\u0443",
            "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "C": "\u0421", "T": "\u0422", "H": "\u041d"}
GREEK = {"o": "\u03bf", "K": "\u039a", "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "M": "\u039c", "i": "\u03b9"}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
BIDI = ["\u202e", "\u202d", "\u2066", "\u2067", "\u200f", "\u061c"]
REFUSED = ("zero_width", "bidi")


def _swap(name: str, table: dict[str, str], position: int) -> str | None:
    spots = [i for i, ch in enumerate(name) if ch in table]
    if not spots:
        return None
    i = spots[position % len(spots)]
    return name[:i] + table[name[i]] + name[i + 1:]


def confusable(base: str, how: str, position: int) -> str | None:
    """``base`` changed one way (None: this way does not apply to this base)."""
    if how == "kelvin":
        return _swap(base, {"K": "\u212a", "k": "\u212a"}, position)
    if how == "cyrillic":
        return _swap(base, CYRILLIC, position)
    if how == "greek":
        return _swap(base, GREEK, position)
    if how == "fullwidth":
        return _swap(base, {c: chr(ord(c) + 0xFEE0) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}, position)
    if how == "nfd":
        decomposed = unicodedata.normalize("NFD", base)
        return decomposed if decomposed != base else None
    if how == "zero_width":
        i = 1 + position % (len(base) - 1)
        return base[:i] + ZERO_WIDTH[position % len(ZERO_WIDTH)] + base[i:]
    if how == "bidi":
        i = 1 + position % (len(base) - 1)
        return base[:i] + BIDI[position % len(BIDI)] + base[i:]
    raise ValueError(how)


HOWS = ["kelvin", "cyrillic", "greek", "fullwidth", "nfd", "zero_width", "bidi"]
# where a name goes, per module: (module, option path, the rest of the arguments)
PLACES = [
    ("send_connector", "name", {"address_spaces": ["lookalike.example"], "smart_hosts": ["192.0.2.90"]}),
    ("send_connector", "name", {"state": "absent"}),
    ("smart_host", "connector", {"hosts": ["192.0.2.91"]}),
    ("send_connector_info", "name", {}),
    ("send_connectors", "connectors[1].name", {}),
]


def place(connection: dict, module: str, path: str, rest: dict, name: str) -> dict:
    args = dict(connection, **rest)
    if module == "send_connectors":
        args["connectors"] = [{"name": "Bystander", "state": "absent"}, {"name": name, "state": "absent"}]
    else:
        args[path] = name
    return args


@st.composite
def confusable_case(draw, connection: dict, bases: tuple = tuple(BASES)):
    base = draw(st.sampled_from(bases))
    how = draw(st.sampled_from(HOWS))
    position = draw(st.integers(0, 40))
    name = confusable(base, how, position)
    if name is None or name == base:
        name, how = confusable(base, "zero_width", position), "zero_width"
    module, path, rest = draw(st.sampled_from(PLACES))
    case = {"klass": "confusables", "how": how, "base": base, "module": module,
            "args": place(connection, module, path, rest, name), "bad": [path] if how in REFUSED else []}
    if how in REFUSED:  # the message names the character that is refused
        case["words"] = "U+%04X" % ord(next(ch for ch in name if ch not in base))
    return case


def guid_forms(value: uuid.UUID) -> list[str]:
    d = str(value)
    x = "{0x%s,0x%s,0x%s,{%s}}" % (d[:8], d[9:13], d[14:18], ",".join("0x" + value.hex[16 + 2 * i:18 + 2 * i] for i in range(8)))
    return [d, d.upper(), value.hex, "{%s}" % d, "(%s)" % d, x, "  %s  " % d]


@st.composite
def guid_case(draw, connection: dict, guids: list[str] | None = None):
    """A name that reads as a GUID: one of ``guids`` (other connectors' GUIDs, in the lab) or a drawn one."""
    value = uuid.UUID(draw(st.sampled_from(guids))) if guids else uuid.UUID(int=draw(st.integers(0, 2 ** 128 - 1)))
    name = draw(st.sampled_from(guid_forms(value)))
    module, path, rest = draw(st.sampled_from(PLACES))
    return {"klass": "identity", "guid": str(value), "module": module,
            "args": place(connection, module, path, rest, name), "bad": []}


SAME = [  # how a second item can name the first item's connector
    ("exact", lambda n: n), ("case", lambda n: n.swapcase()), ("upper", str.upper),
    ("leading space", lambda n: " " + n), ("trailing space", lambda n: n + " "), ("nbsp", lambda n: n + "\u00a0"),
    ("em space", lambda n: "\u2003" + n), ("ideographic space", lambda n: "\u3000" + n + "\u3000"),
]


@st.composite
def duplicates_case(draw, connection: dict):
    size = draw(st.integers(2, 5))
    items = [{"name": "Dup %d" % i, "address_spaces": ["dup%d.example" % i]} for i in range(size)]
    first, second = sorted(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2, unique=True)))
    how, change = draw(st.sampled_from(SAME))
    base = draw(st.sampled_from(["Dup relay", "role-base", "Partner Route"]))
    items[first]["name"] = base
    items[second] = {"name": change(base), "state": draw(st.sampled_from(["absent", "present"]))}
    if items[second]["state"] == "present":
        items[second]["address_spaces"] = ["other.example"]
    return {"klass": "duplicates", "how": how, "module": "send_connectors",
            "args": dict(connection, connectors=items), "bad": ["connectors[%d].name" % second],
            "also_named": "connectors[%d].name" % first, "words": "names the same connector as"}

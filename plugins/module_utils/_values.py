# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Exchange values, from what pypsrp hands over to plain Python and back.

Over remote PowerShell, Exchange objects arrive deserialised: a property bag whose Exchange
value types (ByteQuantifiedSize, EnhancedTimeSpan, Fqdn, ADObjectId, SmtpX509Identifier, enums)
carry their meaning in ``ToString``. pypsrp 0.9.1 turns them into ``GenericComplexObject``s;
a ``MultiValuedProperty`` becomes such an object whose ``<LST>`` is left as raw XML text in
``property_sets``. ``to_plain`` flattens all of that; the ``parse_*``/``format_*`` functions turn
Exchange's renderings into canonical Python values and back.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Optional

UNLIMITED = "unlimited"
MAX_MESSAGE_BYTES = 2147483647

_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
_BYTES_IN_PARENS = re.compile(r"\(\s*([\d,.\s\u00a0\u202f']+)\s*bytes\s*\)", re.IGNORECASE)
_SIZE_INPUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B)?\s*$", re.IGNORECASE)
_TIMESPAN = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?\s*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FQDN = re.compile(r"^%s(?:\.%s)*\.?$" % (_LABEL, _LABEL))
_SMTP_SPACE = re.compile(r"^(?:\*|--|(?:\*\.)?%s(?:\.%s)*)$" % (_LABEL, _LABEL))
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_CERT_NAME = re.compile(r"^<I>(.+)<S>(.+)$", re.DOTALL)


# --------------------------------------------------------------------------------------------
# Wire objects -> plain Python
# --------------------------------------------------------------------------------------------
def _type_names(obj: Any) -> list[str]:
    names = getattr(obj, "types", None) or getattr(obj, "_types", None) or []
    return [str(n) for n in names]


def _strip_deserialized(name: str) -> str:
    return name[len("Deserialized."):] if name.startswith("Deserialized.") else name


def _is_multivalued(obj: Any) -> bool:
    for name in _type_names(obj):
        base = _strip_deserialized(name)
        if base.startswith("Microsoft.Exchange.Data.MultiValuedProperty") or base.startswith(
            "System.Collections."
        ) or base.endswith("[]"):
            return True
    return any(_looks_like_raw_list(p) or isinstance(p, list) for p in getattr(obj, "property_sets", []) or [])


def _looks_like_raw_list(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(("<LST", "<IE", "<QUE", "<STK"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_item(element: ET.Element, refs: Optional[dict[str, ET.Element]] = None) -> Any:
    """Plain value of one item inside a raw <LST> (strings, numbers, or an object's ToString).

    ``<Ref RefId="n"/>`` (PowerShell serialises a repeated object as a reference) is resolved
    through ``refs``, the objects of the whole message by RefId.
    """
    tag = _local(element.tag)
    text = element.text
    if tag == "Ref":
        target = (refs or {}).get(element.attrib.get("RefId", ""))
        if target is None or target is element:
            return None
        return _xml_item(target, None)
    if tag == "Nil":
        return None
    if tag == "B":
        return (text or "").strip().lower() == "true"
    if tag in ("I32", "I64", "I16", "U16", "U32", "U64", "By", "SB"):
        return int(text or 0)
    if tag == "Obj":
        for child in element:
            if _local(child.tag) == "ToString":
                return child.text or ""
        for child in element:
            if _local(child.tag) in ("LST", "IE", "QUE", "STK"):
                return [_xml_item(c, refs) for c in child]
        return None
    return text if text is not None else ""


def parse_raw_list(text: str, refs: Optional[dict[str, ET.Element]] = None) -> list[Any]:
    """Items of a ``<LST>...</LST>`` fragment pypsrp left undeserialised."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError:
        return []
    return [_xml_item(child, refs) for child in root]


def ref_map(xml_text: Any) -> dict[str, ET.Element]:
    """Every object of a serialised message by RefId (to resolve ``<Ref>`` inside raw lists)."""
    if not isinstance(xml_text, str):
        return {}
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return {}
    return {el.attrib["RefId"]: el for el in root.iter() if _local(el.tag) == "Obj" and "RefId" in el.attrib}


def _multivalued_items(obj: Any, refs: Optional[dict[str, ET.Element]] = None) -> list[Any]:
    items: list[Any] = []
    for part in getattr(obj, "property_sets", []) or []:
        if _looks_like_raw_list(part):
            items.extend(parse_raw_list(part, refs))
        elif isinstance(part, list):
            items.extend(to_plain(p, refs) for p in part)
    return items


def _credential_username(obj: Any) -> Optional[str]:
    for attr in ("username", "UserName"):
        value = getattr(obj, attr, None)
        if isinstance(value, str):
            return value
    props = {}
    props.update(getattr(obj, "extended_properties", {}) or {})
    props.update(getattr(obj, "adapted_properties", {}) or {})
    value = props.get("UserName")
    return value if isinstance(value, str) else None


def _is_credential(obj: Any) -> bool:
    return any(_strip_deserialized(n) == "System.Management.Automation.PSCredential" for n in _type_names(obj))


def to_plain(value: Any, refs: Optional[dict[str, ET.Element]] = None) -> Any:
    """One property value as plain Python: str/int/bool/None, a list, or a credential dict.

    Exchange value types collapse to their ``ToString`` (what the shell shows), which the
    ``parse_*`` functions understand; multi-valued properties become lists.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        if _looks_like_raw_list(value):
            return parse_raw_list(value, refs)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [to_plain(v, refs) for v in value]
    if isinstance(value, dict):
        return {str(to_plain(k, refs)): to_plain(v, refs) for k, v in value.items()}
    if isinstance(value, ET.Element):  # an undecryptable SecureString
        return None
    if _is_credential(value) or type(value).__name__ == "PSCredential":
        return {"username": _credential_username(value)}
    if _is_multivalued(value):
        return _multivalued_items(value, refs)
    to_string = getattr(value, "to_string", None)
    if to_string is None:
        to_string = getattr(value, "_to_string", None)
    if isinstance(to_string, str):
        return to_string
    props = object_properties(value)
    if props:
        return {k: to_plain(v, refs) for k, v in props.items()}
    return str(value)


def object_properties(obj: Any) -> dict[str, Any]:
    """All properties of a deserialised object (adapted win over extended)."""
    if isinstance(obj, dict):
        return dict(obj)
    props: dict[str, Any] = {}
    props.update(getattr(obj, "extended_properties", {}) or {})
    props.update(getattr(obj, "adapted_properties", {}) or {})
    return props


def object_to_dict(obj: Any) -> dict[str, Any]:
    """A top-level output object (e.g. a Send connector) as {PropertyName: plain value}."""
    refs = ref_map(getattr(obj, "_xml", None))
    return {name: to_plain(value, refs) for name, value in object_properties(obj).items()}


# --------------------------------------------------------------------------------------------
# Sizes (ByteQuantifiedSize / Unlimited)
# --------------------------------------------------------------------------------------------
def round_up_kb(count: int) -> int:
    """Exchange stores byte sizes rounded up to a whole KB (contract R17)."""
    return -(-count // 1024) * 1024


def parse_size(value: Any) -> Any:
    """``35 MB (36,700,160 bytes)``, ``35MB``, ``36700160``, ``Unlimited`` -> bytes or ``'unlimited'``.

    Raises ValueError for anything else. Returns None for None/empty.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a size, got a boolean")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lower() == UNLIMITED:
        return UNLIMITED
    match = _BYTES_IN_PARENS.search(text)
    if match:
        return int(re.sub(r"[^\d]", "", match.group(1)))
    match = _SIZE_INPUT.match(text)
    if not match:
        raise ValueError("'%s' is not a size: use bytes, a number with B/KB/MB/GB/TB, or unlimited" % text)
    number, unit = match.group(1), (match.group(2) or "B").upper()
    result = float(number) * _UNITS[unit]
    if result != int(result):
        raise ValueError("'%s' is not a whole number of bytes" % text)
    return int(result)


def canonical_size(value: Any) -> Any:
    """Size as Exchange stores it: bytes rounded up to a KB (never past the maximum), or 'unlimited'.

    A size outside 0-2147483647 bytes is returned as given, so that the range check names the
    user's value instead of a rounded one (-5 must not become 0).
    """
    size = parse_size(value)
    if isinstance(size, int) and 0 <= size <= MAX_MESSAGE_BYTES:
        return min(round_up_kb(size), MAX_MESSAGE_BYTES)
    return size


def format_size(size: Any) -> Optional[str]:
    """Bytes -> the shortest exact Exchange input (``35MB``, ``1536KB``, ``Unlimited``)."""
    if size is None:
        return None
    if size == UNLIMITED:
        return "Unlimited"
    for unit in ("TB", "GB", "MB", "KB"):
        if size and size % _UNITS[unit] == 0:
            return "%d%s" % (size // _UNITS[unit], unit)
    return "%dB" % size


# --------------------------------------------------------------------------------------------
# Time spans (EnhancedTimeSpan)
# --------------------------------------------------------------------------------------------
def parse_timespan(value: Any) -> Optional[int]:
    """``00:10:00``, ``1.00:00:00`` or a number of seconds -> whole seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a time span, got a boolean")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = _TIMESPAN.match(text)
    if not match:
        raise ValueError("'%s' is not a time span: use [d.]hh:mm:ss or a number of seconds" % text)
    sign, days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
        raise ValueError("'%s' is not a time span: hours must be < 24, minutes and seconds < 60" % text)
    if fraction and int(fraction):
        raise ValueError("'%s' has a fraction of a second; Exchange keeps whole seconds here" % text)
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return -total if sign else total


def format_timespan(seconds: Optional[int]) -> Optional[str]:
    """Seconds -> Exchange's rendering, ``[d.]hh:mm:ss``."""
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    body = "%02d:%02d:%02d" % (hours, minutes, secs)
    return "%s%s" % (sign, ("%d.%s" % (days, body)) if days else body)


# --------------------------------------------------------------------------------------------
# Host names, IP addresses, smart hosts
# --------------------------------------------------------------------------------------------
def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_fqdn(text: str) -> bool:
    return bool(_FQDN.match(text)) and len(text.rstrip(".")) <= 253


def canonical_ip(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    return str(ipaddress.ip_address(str(value).strip().strip("[]")))


def canonical_fqdn(value: Any) -> Optional[str]:
    """Fqdn / domain: lower case, no trailing dot; None when empty."""
    if value is None:
        return None
    text = str(value).strip().rstrip(".").lower()
    return text or None


def canonical_smart_host(value: Any) -> str:
    """``[192.168.3.2]`` -> ``192.168.3.2``; FQDNs lower case. Raises ValueError when neither."""
    text = str(value).strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if is_ip(bare):
        return str(ipaddress.ip_address(bare))
    if bare != text or not is_fqdn(bare):
        raise ValueError("'%s' is neither an IP address nor a host name" % text)
    return bare.rstrip(".").lower()


def check_smart_host(value: Any) -> None:
    canonical_smart_host(value)


def canonical_server(value: Any) -> str:
    """A transport server: Exchange keeps short names; compare case-insensitively."""
    text = str(value).strip()
    if not text:
        raise ValueError("a server name cannot be empty")
    if "\\" in text:  # an ADObjectId rendering such as DOMAIN\\EX01 is not expected, keep the name
        text = text.rsplit("\\", 1)[-1]
    if is_ip(text):
        raise ValueError("'%s' is an IP address; give the Exchange server's name" % text)
    return text.split(".", 1)[0].upper()


# --------------------------------------------------------------------------------------------
# Address spaces
# --------------------------------------------------------------------------------------------
def parse_address_space(value: Any) -> dict[str, Any]:
    """``*``, ``contoso.com;2``, ``SMTP:contoso.com;1`` or {domain, type, cost} -> {type, domain, cost}.

    Raises ValueError with the reason (contract R1, R2, R3, R5).
    """
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"type", "domain", "address", "cost"})
        if unknown:
            raise ValueError("unknown key(s) %s; use domain, type and cost" % ", ".join(unknown))
        space = value.get("domain", value.get("address"))
        if space in (None, ""):
            raise ValueError("'domain' is required")
        kind = str(value.get("type") or "SMTP")
        cost = value.get("cost", 1)
        space = str(space).strip()
    else:
        text = str(value).strip()
        if not text:
            raise ValueError("an address space cannot be empty")
        kind, space, cost = "SMTP", text, 1
        head, sep, rest = text.partition(":")
        if sep and _TYPE.match(head) and not head.isdigit():
            kind, space = head, rest
        if ";" in space:
            body, _sep, tail = space.rpartition(";")
            if tail.strip().lstrip("-").isdigit():
                space, cost = body, int(tail.strip())
            elif kind.upper() != "SMTP":
                raise ValueError("a %s address space that contains ';' needs an explicit cost (R5)" % kind)
    if isinstance(cost, bool) or not isinstance(cost, int):
        try:
            cost = int(str(cost))
        except ValueError:
            raise ValueError("cost '%s' is not a whole number" % cost)
    if not 1 <= cost <= 100:
        raise ValueError("cost %d is outside 1-100 (R2)" % cost)
    if not _TYPE.match(kind):
        raise ValueError("address space type '%s' is not valid" % kind)
    if kind.upper() == "SMTP":
        kind = "SMTP"
        space = space.strip().rstrip(".").lower()
        if not _SMTP_SPACE.match(space):
            raise ValueError(
                "'%s' is not a valid SMTP address space: use *, contoso.com or *.contoso.com; a wildcard must be "
                "a whole leading label (R3)" % space
            )
    elif not space.strip():
        raise ValueError("the %s address space is empty" % kind)
    return {"type": kind, "domain": space, "cost": cost}


def format_address_space(space: dict[str, Any]) -> str:
    return "%s:%s;%d" % (space["type"], space["domain"], space["cost"])


def canonical_address_space(value: Any) -> str:
    """Any accepted form -> ``SMTP:contoso.com;1`` (Exchange's stored form)."""
    return format_address_space(parse_address_space(value))


def address_space_id(value: str) -> str:
    """What makes an address space unique on a connector: type and space, not cost (``smtp:*``)."""
    return value.rpartition(";")[0].lower()


def address_space_key(value: str) -> str:
    """Comparison key: type case-insensitive; non-SMTP spaces compare case-insensitively too."""
    return value.lower()


# --------------------------------------------------------------------------------------------
# Certificate names, enums, flags
# --------------------------------------------------------------------------------------------
def _canonical_x500(name: str) -> str:
    parts = [p.strip() for p in re.split(r"(?<!\\),", name)]
    return ", ".join(p for p in parts if p)


def canonical_certificate_name(value: Any) -> Optional[str]:
    """``<I>issuer<S>subject`` with X.500 names spaced like Exchange shows them (R15)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    match = _CERT_NAME.match(text)
    if not match:
        raise ValueError("'%s' is not of the form <I>issuer<S>subject (R15)" % text)
    return "<I>%s<S>%s" % (_canonical_x500(match.group(1)), _canonical_x500(match.group(2)))


def canonical_enum(value: Any, choices: list[str]) -> Optional[str]:
    """Case-insensitive enum -> the spelling Exchange uses. Raises ValueError."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "":
        return None
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    raise ValueError("'%s' is not one of %s" % (text, ", ".join(choices)))


def canonical_flags(value: Any, choices: list[str], empty: str) -> list[str]:
    """A flags enum (``'A, B'`` or [A, B]) -> sorted canonical names; ``empty`` alone means none."""
    if value is None:
        items: list[Any] = []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = str(value).split(",")
    names = set()
    for item in items:
        name = canonical_enum(item, choices)
        if name:
            names.add(name)
    if len(names) > 1:
        names.discard(empty)
    return sorted(names, key=choices.index) or [empty]

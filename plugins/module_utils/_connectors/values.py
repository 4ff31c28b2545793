# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Exchange values, from Exchange's renderings to canonical Python and back.

Over remote PowerShell, Exchange value types (ByteQuantifiedSize, EnhancedTimeSpan, Fqdn, ADObjectId,
SmtpX509Identifier, enums) carry their meaning in ``ToString``; the collection's CLIXML reader
(``_remoting/wire.py``) hands them over as those strings, and the ``parse_*``/``format_*`` functions here turn
them into canonical Python values and back.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity

UNLIMITED = "unlimited"
MAX_MESSAGE_BYTES = 2147483647

_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
# Every pattern below is anchored, ASCII-only (re.ASCII: "\d" is 0-9, not any Unicode digit) and free of
# nested or adjacent quantifiers over the same characters, so matching is linear in the input length
# (the old size pattern backtracked cubically on "(" followed by thousands of spaces).
_NUMBER = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_BYTES_TEXT = re.compile(r"[0-9][0-9,.\u00a0\u202f' ]*", re.ASCII)
_TIMESPAN = re.compile(r"(-)?(?:([0-9]+)\.)?([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]{1,7}))?)?", re.ASCII)
# A host name label (RFC 1035 2.3.1 / RFC 1123 2.1): 1-63 letters, digits or "-", not starting or ending
# with "-". An SMTP domain (address spaces, TlsDomain) also takes "_", as Exchange's SmtpDomain does.
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
_DOMAIN_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", re.ASCII)
_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*", re.ASCII)
# RFC 1685 (X.400 O/R address as text), the form New-SendConnector's AddressSpaces documents:
# "o=MySite;p=MyOrg;a=adatum;c=us" - attribute=value pairs separated by ";".
_X400_PAIR = re.compile(r"[A-Za-z][A-Za-z0-9-]*=[^;=]+", re.ASCII)
_CERT_NAME = re.compile(r"<I>([^<>]+)<S>([^<>]+)")
# Characters no value of any option may contain: NUL ends a string in Active Directory and in C APIs, CR/LF
# end a command line (EMS rendering, SMTP). Exchange's Fqdn/SmtpDomain/AddressSpace parsers refuse them too.
_CONTROL = ("\x00", "\r", "\n")
# Connector names (New-SendConnector -Name): Exchange keeps the name as the AD object's CN (docs/exchange-rules.md
# 1.3, R22) and its ADObjectNameStringLength constraint caps it at 64 characters; these characters are
# refused in an Exchange object name (they have a meaning in a distinguished name).
NAME_MAX = 64
NAME_FORBIDDEN = '\\/,=+<>;"#'
WILDCARDS = _identity.WILDCARDS


class BadValue(ValueError):
    """A value that breaks a syntax rule; the message states the rule in words."""


def shown(value: Any, limit: int = 40) -> str:
    """A value for a message: repr, cut to ``limit`` characters (a 100,000-character value stays short)."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    if len(text) > limit:
        text = text[: limit - 4] + "...'"
    return text


CONTROL_RULE = "must not contain NUL, carriage return or line feed characters"


def has_control(value: Any) -> bool:
    """True for a string with NUL, CR or LF (the one place that knows those characters)."""
    return isinstance(value, str) and any(c in value for c in _CONTROL)


def check_text(value: Any) -> None:
    """Raise BadValue when a string contains NUL, CR or LF."""
    if has_control(value):
        raise BadValue(CONTROL_RULE)


def check_name(value: Any) -> Optional[str]:
    """The problem with a Send connector name, in words, or None when Exchange accepts it.

    Leading and trailing spaces are not a problem: the modules strip them, as Exchange does when it stores
    the name (docs/exchange-rules.md 1.3), so the connector is found again under the name it got.
    """
    if not isinstance(value, str):
        return None
    if has_control(value):
        return CONTROL_RULE
    problem = _identity.name_problem(value)
    if problem:
        return problem
    text = value.strip()
    if not text:
        return "must not be empty or blank"
    if len(text) > NAME_MAX:
        return "must be at most %d characters long (it has %d)" % (NAME_MAX, len(text))
    bad = sorted({c for c in text if c in NAME_FORBIDDEN})
    if bad:
        return "must not contain %s (Exchange refuses \\ / , = + < > ; \" # in a connector name)" % " ".join(bad)
    return None


# --------------------------------------------------------------------------------------------
# Sizes (ByteQuantifiedSize / Unlimited)
# --------------------------------------------------------------------------------------------
def round_up_kb(count: int) -> int:
    """Exchange stores byte sizes rounded up to a whole KB (docs/exchange-rules.md R17)."""
    return -(-count // 1024) * 1024


def _whole_bytes(number: str, unit: str, text: str) -> int:
    """``number`` (digits, optionally with a fraction) times ``unit``, exactly; no float, no infinity."""
    match = _NUMBER.fullmatch(number)
    if not match:
        raise BadValue("%s is not a size: use bytes, a number with B/KB/MB/GB/TB, or unlimited" % shown(text))
    whole, fraction = match.group(1).lstrip("0") or "0", match.group(2) or ""
    if len(whole) > 15:  # more than 15 digits is far past the maximum whatever the unit
        raise BadValue("%s is more than the maximum of %d bytes (2 GB - 1)" % (shown(text), MAX_MESSAGE_BYTES))
    fraction = fraction.rstrip("0")
    scale = 10 ** len(fraction)
    numerator = (int(whole) * scale + (int(fraction) if fraction else 0)) * _UNITS[unit]
    if numerator % scale:
        raise BadValue("%s is not a whole number of bytes" % shown(text))
    return numerator // scale


def _split_unit(text: str) -> tuple[str, str]:
    upper = text.upper()
    for unit in ("KB", "MB", "GB", "TB", "B"):
        if upper.endswith(unit):
            return text[: -len(unit)].rstrip(" "), unit
    return text, "B"


def parse_size(value: Any) -> Any:
    """``35 MB (36,700,160 bytes)``, ``35MB``, ``36700160``, ``Unlimited`` -> bytes or ``'unlimited'``.

    The forms Set-SendConnector's MaxMessageSize takes (a number with an optional unit B, KB, MB, GB or TB,
    or unlimited; docs/exchange-rules.md R17) plus Exchange's own rendering, where the bytes in parentheses are
    the exact value and must follow a size. Raises BadValue for anything else; None for None/empty.
    The parser is linear in the input (no backtracking pattern).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue("must be a size, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise BadValue("must be a whole number of bytes or a size such as 35MB")
        return int(value)
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    if text.lower() == UNLIMITED:
        return UNLIMITED
    if text.endswith("bytes)") and " (" in text:
        head, _sep, tail = text.rpartition(" (")
        digits = tail[: -len("bytes)")].rstrip(" ")
        if not _BYTES_TEXT.fullmatch(digits) or not digits.replace(",", "").replace(".", "").replace(
            "\u00a0", ""
        ).replace("\u202f", "").replace("'", "").replace(" ", "").isdigit():
            raise BadValue("%s is not a size: use bytes, a number with B/KB/MB/GB/TB, or unlimited" % shown(text))
        number, unit = _split_unit(head.strip(" "))
        if not _NUMBER.fullmatch(number):  # the part before the parentheses must be a (rounded) size too
            raise BadValue("%s is not a size: use bytes, a number with B/KB/MB/GB/TB, or unlimited" % shown(text))
        plain = re.sub(r"[^0-9]", "", digits)
        if len(plain) > 15:
            raise BadValue("%s is more than the maximum of %d bytes (2 GB - 1)" % (shown(text), MAX_MESSAGE_BYTES))
        return int(plain)
    number, unit = _split_unit(text)
    return _whole_bytes(number, unit, text)


def canonical_size(value: Any) -> Any:
    """Size as Exchange stores it: bytes rounded up to a KB (never past the maximum), or 'unlimited'.

    A size outside 0-2147483647 bytes is returned as given, so that the range check names the
    user's value instead of a rounded one (-5 must not become 0).
    """
    size = parse_size(value)
    if isinstance(size, int) and 0 <= size <= MAX_MESSAGE_BYTES:
        return min(round_up_kb(size), MAX_MESSAGE_BYTES)
    return size


def show_size(value: Any) -> Any:
    """36700160 -> ``35 MB (36,700,160 bytes)``, 'unlimited' -> ``Unlimited``: as Get-SendConnector shows a size."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return "Unlimited" if value.lower() == UNLIMITED else value
    if not isinstance(value, int):
        return value
    unit, factor = "B", 1
    for name in ("TB", "GB", "MB", "KB"):
        if value >= _UNITS[name]:
            unit, factor = name, _UNITS[name]
            break
    amount = round(value / factor, 1)
    number = str(int(amount)) if amount == int(amount) else "%.1f" % amount
    return "%s %s (%s bytes)" % (number, unit, "{:,}".format(value))


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
    """``00:10:00``, ``1.00:00:00`` or a number of seconds -> whole seconds.

    EnhancedTimeSpan syntax as the cmdlet pages give it (``dd.hh:mm:ss``, docs/exchange-rules.md 1.2
    ConnectionInactivityTimeOut); hours < 24, minutes and seconds < 60. Raises BadValue.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue("must be a time span, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        raise BadValue("must be a whole number of seconds or [d.]hh:mm:ss")
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    if text.isascii() and text.isdigit():
        if len(text) > 18:
            raise BadValue("%s is far more than the maximum of 1.00:00:00" % shown(text))
        return int(text)
    match = _TIMESPAN.fullmatch(text)
    if not match:
        raise BadValue("%s is not a time span: use [d.]hh:mm[:ss] or a number of seconds" % shown(text))
    sign, days, hours, minutes, seconds, fraction = match.groups()
    if days and len(days) > 12:
        raise BadValue("%s is far more than the maximum of 1.00:00:00" % shown(text))
    seconds = seconds or "0"
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
        raise BadValue("%s is not a time span: hours must be below 24, minutes and seconds below 60" % shown(text))
    if fraction and int(fraction):
        raise BadValue("%s has a fraction of a second; Exchange keeps whole seconds here" % shown(text))
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
def is_ip(text: str, brackets: bool = False) -> bool:
    """An IPv4 or IPv6 address; with ``brackets``, also one in square brackets (``[192.0.2.1]``)."""
    try:
        ipaddress.ip_address(text.strip("[]") if brackets else text)
    except ValueError:
        return False
    return True


def is_fqdn(text: str, underscore: bool = False) -> bool:
    """A host name: dot-separated labels (RFC 1035 2.3.1, RFC 1123 2.1), at most 253 characters without the
    final dot, and not all-numeric in its last label (RFC 1123 2.1, RFC 3696 2: a top-level domain is never
    all-numeric, so ``256.1.1.1`` or ``999.999.999.999`` are neither an IP address nor a host name).
    ``underscore``: an SMTP domain (address space, TlsDomain), where labels may also contain "_"."""
    if not isinstance(text, str) or not text.isascii():
        return False
    body = text[:-1] if text.endswith(".") else text
    if not body or len(body) > 253:
        return False
    labels = body.split(".")
    label = _DOMAIN_LABEL_RE if underscore else _LABEL_RE
    if not all(label.fullmatch(part) for part in labels):
        return False
    return not labels[-1].isdigit()


def canonical_ip(value: Any) -> Optional[str]:
    """SourceIPAddress: an IPv4 address (New-SendConnector documents "IPv4 literal"; the lab's IPAddress
    binding refuses IPv6 as Exchange's parameter does). Raises BadValue."""
    if value is None or value == "":
        return None
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        if is_ip(text):
            raise BadValue("%s is an IPv6 address; Exchange takes an IPv4 address here" % shown(text))
        raise BadValue("%s is not an IPv4 address such as 192.168.3.10" % shown(text))


def canonical_fqdn(value: Any) -> Optional[str]:
    """Fqdn / domain: lower case, no trailing dot; None when empty. Raises BadValue on NUL/CR/LF."""
    if value is None:
        return None
    text = str(value)
    check_text(text)
    text = text.strip(" \t").lower()
    if text.endswith(".") and not text.endswith("..") and text != "*.":
        text = text[:-1]  # one final dot is the same name; "a.." or "*." stay (and are refused by the rules)
    return text or None


def canonical_smart_host(value: Any) -> str:
    """``[192.168.3.2]`` -> ``192.168.3.2``; FQDNs lower case. Raises BadValue when neither.

    SmartHosts takes FQDNs and IP literals (docs/exchange-rules.md section 3 "Accepted input"); ``--`` is the
    EdgeSync inbound connector's placeholder and only valid there (R4).
    """
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if is_ip(bare):
        return str(ipaddress.ip_address(bare))
    if text == "--":  # read back from the EdgeSync inbound connector; input_problem refuses it in a task
        return text
    if bare != text or not is_fqdn(bare):
        raise BadValue("%s is neither an IP address nor a valid host name such as relay.contoso.com" % shown(text))
    return bare.rstrip(".").lower()


# Address space types that are URL schemes (docs/exchange-rules.md R5): Exchange takes any text as a type, but a
# Send connector's type names an address type (SMTP, X400, a non-SMTP system's such as NOTES), and these are what
# a pasted link or URL starts with, so they are refused as likely mistakes (client stricter than Exchange, issue 15).
URL_SCHEMES = frozenset(("http", "https", "ftp", "ftps", "sftp", "file", "ldap", "ldaps", "mailto", "ws", "wss",
                         "data", "urn"))


def input_problem(kind: str, canon: str) -> Optional[str]:
    """What Exchange shows on the connectors EdgeSync creates but refuses from a task (R4: ``--``)."""
    if kind == "spaces" and canon.lower().startswith("smtp:--;"):
        return ("'--' (every accepted domain) is valid only on Edge Transport connectors that EdgeSync creates, "
                "not on a connector hosted on Mailbox servers; give *, contoso.com or *.contoso.com")
    if kind == "hosts" and canon == "--":
        return ("'--' stands for every Mailbox server of the site and is valid only on the connector EdgeSync "
                "creates; give a host name or an IP address")
    # Stricter than Exchange on purpose (issue 15): values a task almost certainly does not mean.
    if kind == "hosts" and "%" in canon:
        return ("%s has an IPv6 zone id (%%...): a zone names a network interface of one machine and means nothing "
                "to the Exchange servers; give the address without it" % shown(canon))
    if kind == "spaces":
        space_type, _sep, rest = canon.partition(":")
        if rest.startswith("//") or space_type.lower() in URL_SCHEMES:
            return ("%s looks like a URL, not an address space: give the domain (contoso.com), or SMTP: or X400: "
                    "before it (another type names a non-SMTP system's addresses, never a URL scheme such as http or "
                    "mailto)" % shown(canon.rpartition(";")[0]))
    return None


def task_value_problem(name: str, value: Any) -> Optional[str]:
    """What a task may not set although Exchange would take it (the client is stricter, issue 15), or None.

    ``tls_domain: '*'`` matches any certificate, so DomainValidation would check nothing (Exchange wants a domain);
    ``fqdn: '.'`` is the root of DNS, not a host name, and would clear the connector's Fqdn.
    """
    if not isinstance(value, str):
        return None
    text = value.strip(" \t")
    if name == "tls_domain" and text == "*":
        return ("'*' matches every certificate, so DomainValidation would check nothing: give the smart host's "
                "domain, such as contoso.com or *.contoso.com")
    if name == "fqdn" and text and not text.strip("."):
        return "%s is not a fully qualified domain name such as mail.contoso.com (an empty string clears Fqdn)" % shown(text)
    return None


def canonical_server(value: Any) -> str:
    """A transport server: Exchange keeps short names; compare case-insensitively."""
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    if not text:
        raise BadValue("a server name cannot be empty")
    if "\\" in text:  # an ADObjectId rendering such as DOMAIN\\EX01 is not expected, keep the name
        text = text.rsplit("\\", 1)[-1]
    if is_ip(text):
        raise BadValue("%s is an IP address; give the Exchange server's name" % shown(text))
    short = text.split(".", 1)[0]
    # A server is an AD object named by its NetBIOS-style host name: one DNS label (RFC 1123 host name rules).
    if not _LABEL_RE.fullmatch(short) or not is_fqdn(text):
        raise BadValue("%s is not a server name such as EX01 or ex01.contoso.com" % shown(text))
    return short.upper()


# --------------------------------------------------------------------------------------------
# Address spaces
# --------------------------------------------------------------------------------------------
def _smtp_space(space: str) -> str:
    """An SMTP address space (R3): ``*``, ``contoso.com`` or ``*.contoso.com``; RFC 1035 names, a
    wildcard only as the whole first label. One final dot is dropped (``contoso.com.`` is the same
    domain); ``*.`` or ``contoso.com..`` are refused. ``--`` is refused (R4: Edge/EdgeSync only)."""
    if space in ("*", "--"):  # "--" is read back from EdgeSync connectors; input_problem refuses it in a task
        return space
    body = space[2:] if space.startswith("*.") else space
    if body.endswith(".") and not body.endswith(".."):
        body = body[:-1]
    if "*" in body or not body or body.endswith(".") or not is_fqdn(body, underscore=True):
        raise BadValue("%s is not a valid SMTP address space: use *, contoso.com or *.contoso.com (a wildcard "
                       "must be the whole first label)" % shown(space))
    return ("*." if space.startswith("*.") else "") + body.lower()


def _x400_space(space: str) -> str:
    """An X400 address space in RFC 1685 text form, e.g. ``o=MySite;p=MyOrg;a=adatum;c=us``."""
    if not all(_X400_PAIR.fullmatch(pair) for pair in space.split(";")):
        raise BadValue("%s is not an X400 address in RFC 1685 form such as o=MySite;p=MyOrg;a=adatum;c=us"
                       % shown(space))
    return space


def parse_address_space(value: Any) -> dict[str, Any]:
    """``*``, ``contoso.com;2``, ``SMTP:contoso.com;1`` or {domain, type, cost} -> {type, domain, cost}.

    ``[Type:]Space[;Cost]`` as the cmdlet docs define AddressSpaces (docs/exchange-rules.md R1, R2, R3, R5).
    Raises BadValue with the rule in words.
    """
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in set(value) - {"type", "domain", "address", "cost"})
        if unknown:
            raise BadValue("unknown key(s) %s; use domain, type and cost" % ", ".join(shown(k, 30) for k in unknown))
        space = value.get("domain", value.get("address"))
        if space in (None, ""):
            raise BadValue("'domain' is required")
        if not isinstance(space, str):
            raise BadValue("'domain' must be a string")
        kind = value.get("type") or "SMTP"
        if not isinstance(kind, str):
            raise BadValue("'type' must be a string such as SMTP or X400")
        cost = value.get("cost", 1)
        for part in (space, kind):
            check_text(part)
        space = space.strip(" \t")
    else:
        if not isinstance(value, str):
            raise BadValue("an address space is a string such as contoso.com;2 or a {domain, type, cost} mapping")
        check_text(value)
        text = value.strip(" \t")
        if not text:
            raise BadValue("an address space cannot be empty")
        kind, space, cost = "SMTP", text, 1
        head, sep, rest = text.partition(":")
        if sep and _TYPE.fullmatch(head) and not head.isdigit():
            kind, space = head, rest
        if ";" in space:
            body, _sep, tail = space.rpartition(";")
            tail = tail.strip(" ")
            if tail.lstrip("-").isascii() and tail.lstrip("-").isdigit():
                if len(tail) > 6:
                    raise BadValue("the cost %s is outside 1-100" % shown(tail))
                space, cost = body, int(tail)
            elif kind.upper() != "SMTP":
                raise BadValue("a %s address space that contains ';' needs an explicit cost at the end, e.g. "
                               "%s:o=MySite;p=MyOrg;1" % (kind, kind))
    if isinstance(cost, bool) or not isinstance(cost, int):
        text_cost = str(cost).strip()
        if not (text_cost.isascii() and text_cost.lstrip("-").isdigit() and len(text_cost) <= 6):
            raise BadValue("the cost must be a whole number from 1 to 100")
        cost = int(text_cost)
    if not 1 <= cost <= 100:
        raise BadValue("the cost %d is outside 1-100" % cost if abs(cost) < 10 ** 12
                       else "the cost must be a whole number from 1 to 100")
    if not _TYPE.fullmatch(kind):
        raise BadValue("the address space type %s is not valid (letters, digits and '-', e.g. SMTP or X400)"
                       % shown(kind))
    if kind.upper() == "SMTP":
        kind = "SMTP"
        space = _smtp_space(space.strip(" "))
    elif not space.strip(" "):
        raise BadValue("the %s address space is empty" % kind)
    elif kind.upper() == "X400":
        kind = "X400"
        space = _x400_space(space.strip(" "))
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
    """``<I>issuer<S>subject`` with X.500 names spaced like Exchange shows them.

    R15 (Set-SendConnector TlsCertificateName): "<I>X.500Issuer<S>X.500Subject"; an X.500 name is a list of
    attribute=value parts, so each side needs at least one "=". Raises BadValue.
    """
    if value is None:
        return None
    text = str(value)
    check_text(text)
    text = text.strip(" \t")
    if not text:
        return None
    match = _CERT_NAME.fullmatch(text)
    if not match or not match.group(1).strip() or not match.group(2).strip():
        raise BadValue("%s is not of the form <I>issuer<S>subject, e.g. <I>CN=Contoso CA<S>CN=mail.contoso.com"
                       % shown(text))
    for side, part in (("issuer", match.group(1)), ("subject", match.group(2))):
        if "=" not in part:
            raise BadValue("the %s %s is not an X.500 name: it needs attribute=value parts such as CN=mail.contoso.com"
                           % (side, shown(part.strip())))
    return "<I>%s<S>%s" % (_canonical_x500(match.group(1)), _canonical_x500(match.group(2)))


def canonical_enum(value: Any, choices: list[str]) -> Optional[str]:
    """Case-insensitive enum -> the spelling Exchange uses (PowerShell binds enum names in any case).

    Empty means "not given" here; whether an empty value is allowed is the option's rule (nullable).
    Raises BadValue.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        raise BadValue("must be one of %s" % ", ".join(choices))
    check_text(value)
    text = value.strip(" \t")
    if text == "":
        return None
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    raise BadValue("%s is not one of %s (in any case)" % (shown(text), ", ".join(choices)))


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


def short_name(name: Any, limit: int = 80) -> str:
    """A name as a sentence shows it: at most ``limit`` characters, cut with an ellipsis. Exchange takes names
    far longer than a line; messages name a connector often, and repeating 300 characters hides the message."""
    text = "" if name is None else str(name)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"

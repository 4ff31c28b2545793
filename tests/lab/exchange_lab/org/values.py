"""Exchange value types as plain Python: parse (from what a client sends) and render.

Parsers raise :class:`ConvertError` when the text does not fit the type's syntax (PowerShell
reports this as an argument-transformation error) and :class:`RangeError` when it parses but
is out of range (reported as "Cannot bind parameter ... to the target").
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import math
import re

MAX_MESSAGE_SIZE = 2147483647
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
# SmtpDomain labels take "_" too; host names (Fqdn, SmartHost) do not (RFC 1123). ASCII only.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$", re.ASCII)
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$", re.ASCII)
_BAD_CHARS = ("\x00", "\r", "\n")


def check_chars(text: str, what: str) -> None:
    """Exchange's value types (Fqdn, SmtpDomain, AddressSpace, SmartHost, ...) refuse NUL, CR and LF."""
    if any(c in text for c in _BAD_CHARS):
        raise ConvertError(f"The {what} value contains a character that isn't allowed (NUL, carriage return or line feed).")


class ConvertError(ValueError):
    """The value cannot be converted to the Exchange type (syntax)."""


class RangeError(ValueError):
    """The value converts but is outside the allowed range."""


def is_domain(text: str, host: bool = False) -> bool:
    """RFC 1035-ish domain name (labels of letters, digits, '-', and '_' unless ``host``), at most 253
    characters; the last label is never all digits (no top-level domain is, RFC 3696 section 2)."""
    if not text or len(text) > 253 or text.endswith("."):
        return False
    labels = text.split(".")
    label = _HOST_LABEL if host else _LABEL
    return all(label.match(part) for part in labels) and not labels[-1].isdigit()


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- AddressSpace -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AddressSpace:
    type: str
    address: str
    cost: int

    @property
    def is_smtp(self) -> bool:
        return self.type.upper() == "SMTP"

    def __str__(self) -> str:
        return f"{self.type}:{self.address};{self.cost}"

    def to_dict(self) -> dict[str, object]:
        return {"Type": self.type, "Address": self.address, "Cost": self.cost}


def parse_smtp_space(space: str) -> str:
    if space in ("*", "--"):
        return space
    body = space[2:] if space.startswith("*.") else space
    if "*" in body or not is_domain(body):
        raise ConvertError(
            f'"{space}" isn\'t a valid SMTP address space. Use "*", a domain such as "contoso.com", or a '
            'domain with all its subdomains such as "*.contoso.com"; a wildcard must be a whole leading label.'
        )
    return space


def _parse_cost(text: str, whole: str) -> int:
    try:
        if not re.fullmatch(r"\s*-?[0-9]{1,9}\s*", text, re.ASCII):
            raise ValueError(text)
        cost = int(text.strip())
    except ValueError:
        raise ConvertError(f'The cost "{text}" in address space "{whole}" isn\'t an integer.') from None
    if not 1 <= cost <= 100:
        raise ConvertError(f'The cost {cost} in address space "{whole}" is out of range; it must be between 1 and 100.')
    return cost


def parse_address_space(text: str) -> AddressSpace:
    """``[Type:]Space[;Cost]`` (R1-R5): SMTP by default, cost 1 by default."""
    check_chars(str(text), "AddressSpace")
    whole = str(text).strip()
    if not whole:
        raise ConvertError("An address space can't be empty.")
    addr_type, rest = "SMTP", whole
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9-]*):(.*)$", whole)
    if match:
        addr_type, rest = match.group(1), match.group(2)
    if addr_type.upper() == "SMTP":
        space, cost = rest, 1
        if ";" in rest:
            space, cost_text = rest.rsplit(";", 1)
            cost = _parse_cost(cost_text, whole)
        # Exchange keeps the type as it was written (smtp:*;1 stays smtp:, as the public captures show)
        return AddressSpace(addr_type, parse_smtp_space(space.strip()), cost)
    # Non-SMTP (X400, free text): a ';' inside the space needs an explicit trailing cost (R5).
    space, cost = rest, 1
    if ";" in rest:
        head, tail = rest.rsplit(";", 1)
        if not re.fullmatch(r"\s*-?[0-9]+\s*", tail, re.ASCII):
            raise ConvertError(
                f'The {addr_type} address space "{whole}" contains ";" so it must end with an explicit cost, '
                f'e.g. "{whole};1".'
            )
        space, cost = head, _parse_cost(tail, whole)
    if not space.strip():
        raise ConvertError(f'The {addr_type} address space "{whole}" has no address.')
    # RFC 1685 text form: attribute=value pairs (attribute: a letter, then letters/digits/'-'), ';'-separated.
    if addr_type.upper() == "X400" and not all(
        re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*=[^;=]+", pair, re.ASCII) for pair in space.strip().split(";")
    ):
        raise ConvertError(
            f'The X400 address space "{whole}" isn\'t valid RFC 1685 syntax, e.g. "o=MySite;p=MyOrg;a=adatum;c=us".'
        )
    return AddressSpace(addr_type, space.strip(), cost)


# --- Smart hosts, FQDN, TLS names --------------------------------------------------------


def parse_smart_host(text: str) -> str:
    """FQDN or IP literal (brackets accepted); stored without brackets."""
    check_chars(str(text), "SmartHost")
    value = str(text).strip()
    inner = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if is_ip(inner) or (inner == value and is_domain(inner, host=True)) or inner == "--":
        return inner
    raise ConvertError(
        f'"{text}" isn\'t a valid smart host. Use a host name such as "relay.contoso.com" or an IP address such as "192.168.3.2".'
    )


def render_smart_host(host: str) -> str:
    return f"[{host}]" if is_ip(host) else host


def parse_fqdn(text: str) -> str:
    check_chars(str(text), "Fqdn")
    value = str(text).strip()
    if not is_domain(value, host=True):
        raise ConvertError(f'"{text}" isn\'t a valid fully qualified domain name.')
    return value


def parse_tls_domain(text: str) -> str:
    """SmtpDomainWithSubdomains: ``contoso.com`` or ``*.contoso.com`` (no embedded wildcards)."""
    check_chars(str(text), "SmtpDomainWithSubdomains")
    value = str(text).strip()
    body = value[2:] if value.startswith("*.") else value
    if value == "*" or ("*" not in body and is_domain(body)):
        return value
    raise ConvertError(
        f'"{text}" isn\'t a valid SMTP domain. Use "contoso.com" or "*.contoso.com"; wildcards are allowed only as the whole first label.'
    )


# Linear: one quantifier per side (the former "[^<>]*\S[^<>]*" backtracked quadratically on long input).
_CERT_NAME = re.compile(r"^<I>(?P<issuer>[^<>]+)<S>(?P<subject>[^<>]+)$")


def parse_certificate_name(text: str) -> str:
    """SmtpX509Identifier: ``<I>issuer<S>subject`` (R15), each side an X.500 name (attribute=value parts)."""
    check_chars(str(text), "SmtpX509Identifier")
    value = str(text).strip()
    match = _CERT_NAME.match(value)
    if (not match or not match.group("issuer").strip() or not match.group("subject").strip()
            or "=" not in match.group("issuer") or "=" not in match.group("subject")):
        raise ConvertError(
            f'"{text}" isn\'t a valid certificate name. Use "<I>X.500 issuer<S>X.500 subject", '
            'e.g. "<I>CN=Contoso CA, DC=contoso, DC=com<S>CN=mail.contoso.com".'
        )
    return value


def split_certificate_name(value: str) -> tuple[str, str]:
    match = _CERT_NAME.match(value)
    assert match
    return match.group("issuer"), match.group("subject")


def parse_ipv4(text: str) -> str:
    try:
        check_chars(str(text), "IPAddress")
        return str(ipaddress.IPv4Address(str(text).strip()))
    except ValueError:
        raise ConvertError(f'"{text}" isn\'t a valid IPv4 address.') from None


# --- ByteQuantifiedSize / Unlimited --------------------------------------------------------


def parse_size(value: object) -> int | None:
    """MaxMessageSize input -> bytes (None = Unlimited). Bytes round up to the next KB (R17)."""
    if isinstance(value, bool):
        raise ConvertError(
            f'Cannot convert value "{value}" to type "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]".'
        )
    if isinstance(value, int):
        if not 0 <= value <= MAX_MESSAGE_SIZE:
            raise RangeError(f"The value {value} is out of range; MaxMessageSize must be between 0 and {MAX_MESSAGE_SIZE} bytes.")
        number, unit, text = float(value), "B", str(value)
    else:
        text = str(value).strip()
        if text.lower() == "unlimited":
            return None
        match = re.fullmatch(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([KMGT]?B)?", text, re.IGNORECASE | re.ASCII)
        if not match:
            raise ConvertError(
                f'Cannot convert value "{text}" to type "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]". '
                'Error: "Use a number with one of the units B, KB, MB, GB or TB (e.g. 35MB), or unlimited."'
            )
        number, unit = float(match.group(1)), (match.group(2) or "B").upper()
    size = number * _UNITS[unit]
    if size != int(size) and size <= MAX_MESSAGE_SIZE:
        raise ConvertError(
            f'Cannot convert value "{text}" to type "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]". '
            'Error: "The value isn\'t a whole number of bytes."'
        )
    if size > MAX_MESSAGE_SIZE or size < 0:
        raise RangeError(
            f"The value {text} is out of range; MaxMessageSize must be between 0 and {MAX_MESSAGE_SIZE} bytes (2 GB is 2147483648 bytes and too large)."
        )
    if unit != "B":
        return int(size)
    rounded = int(math.ceil(size / 1024.0) * 1024)  # byte values round up to the next whole KB
    return rounded if rounded <= MAX_MESSAGE_SIZE else MAX_MESSAGE_SIZE


def render_size(size: int | None) -> str:
    """``35 MB (36,700,160 bytes)`` or ``Unlimited``."""
    if size is None:
        return "Unlimited"
    unit, factor = "B", 1
    for name in ("TB", "GB", "MB", "KB"):
        if size >= _UNITS[name]:
            unit, factor = name, _UNITS[name]
            break
    amount = round(size / factor, 1)
    shown = str(int(amount)) if amount == int(amount) else f"{amount:.1f}"
    return f"{shown} {unit} ({size:,} bytes)"


# --- EnhancedTimeSpan ---------------------------------------------------------------------

_TIMESPAN = re.compile(
    r"^(?:(?P<d>[0-9]{1,12})\.)?(?P<h>[0-9]{1,2}):(?P<m>[0-9]{1,2})(?::(?P<s>[0-9]{1,2})(?:\.(?P<f>[0-9]{1,7}))?)?$",
    re.ASCII,
)


def parse_timespan(value: object) -> int:
    """``[d.]hh:mm[:ss]``, a bare number of days, or a timedelta -> seconds."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    check_chars(str(value), "EnhancedTimeSpan")
    text = str(value).strip()
    if re.fullmatch(r"[0-9]{1,12}", text, re.ASCII):
        return int(text) * 86400
    match = _TIMESPAN.match(text)
    if not match or int(match.group("h")) > 23 or int(match.group("m")) > 59 or int(match.group("s") or 0) > 59:
        raise ConvertError(
            f'Cannot convert value "{text}" to type "Microsoft.Exchange.Data.EnhancedTimeSpan". Error: "Use the format dd.hh:mm:ss, e.g. 00:10:00 or 1.00:00:00."'
        )
    if match.group("f") and int(match.group("f")):
        raise ConvertError(
            f'Cannot convert value "{text}" to type "Microsoft.Exchange.Data.EnhancedTimeSpan". Error: "This setting keeps whole seconds."'
        )
    days = int(match.group("d") or 0)
    return days * 86400 + int(match.group("h")) * 3600 + int(match.group("m")) * 60 + int(match.group("s") or 0)


def render_timespan(seconds: int) -> str:
    days, rem = divmod(int(seconds), 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    core = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{core}" if days else core

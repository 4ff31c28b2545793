# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Checks of the values the SMTP probe writes into SMTP command lines and message headers, made
before any connection: a CR or LF would end the command and start another one on the wire
(SMTP command injection), a NUL is refused by every MTA; beyond that each value must have the
grammar of what it stands for (RFC 5321 section 4.1.2: ``Domain`` / ``address-literal`` for
EHLO, ``Mailbox`` for MAIL FROM and RCPT TO). Host names and IP literals are judged by the
collection's shared parsers in ``_values``.

Every function returns a list of messages ``<option path>: <what is wrong, in words>``; an empty
list means the value is fine.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import socket
import ssl
from typing import Any, Callable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as v
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import BY_NAME, PROBED

# RFC 5321 4.1.2 / RFC 5322 3.2.3: atext; non-ASCII letters are allowed too (SMTPUTF8, RFC 6531).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_DOT_STRING = re.compile(r"%s(?:\.%s)*\Z" % (_ATOM, _ATOM))
# RFC 5321 4.1.2 Quoted-string: printable ASCII except " and \ unless escaped (no CR/LF/NUL: refused earlier).
_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"\Z')
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3 path of 256 octets, minus the angle brackets
MAX_HEADER_TEXT = 998  # RFC 5322 2.1.1 line length


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


# Line and paragraph separators besides CR/LF (VT, FF, NEL, U+2028, U+2029, the file/group/record separators):
# Python's str.splitlines() and the email library break lines at them, so a header would be cut there.
_SEPARATORS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def control_characters(path: str, value: Any) -> list[str]:
    """CR, LF, NUL, every other line or paragraph separator and C0/C1 control character (tab aside) end or
    break an SMTP line or header: refuse them with the option's path, before connecting."""
    text = str(value)
    found = []
    if "\r" in text or "\n" in text:
        found.append("a line break (CR or LF)")
    if "\x00" in text:
        found.append("a NUL character")
    separators = sorted({c for c in text if c in _SEPARATORS})
    if separators:
        found.append("a line or paragraph separator (%s)" % ", ".join("U+%04X" % ord(c) for c in separators))
    controls = sorted({c for c in text if (c < " " or "\x7f" <= c <= "\x9f") and c not in "\t\r\n\x00"
                       and c not in _SEPARATORS})
    if controls:
        found.append("a control character (%s)" % ", ".join("U+%04X" % ord(c) for c in controls))
    if not found:
        return []
    return [f"{path}: {_show(value)} contains {' and '.join(found)}; a value sent in an SMTP command or header must be a single line"]


def _domain_ok(domain: str) -> bool:
    """A host name as RFC 5321 ``Domain`` (internationalised names through IDNA) or an address literal."""
    if domain.startswith("[") and domain.endswith("]"):
        inner = domain[1:-1]
        if inner.lower().startswith("ipv6:"):
            try:
                return ipaddress.ip_address(inner[5:]).version == 6
            except ValueError:
                return False
        try:
            return ipaddress.ip_address(inner).version == 4
        except ValueError:
            return False
    try:
        ascii_name = domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return False
    return v.is_fqdn(ascii_name) and not v.is_ip(ascii_name)


def helo_name(path: str, value: Any) -> list[str]:
    """The EHLO argument: a host name or an address literal such as [192.0.2.1] / [IPv6:2001:db8::1]."""
    problems = control_characters(path, value)
    if problems:
        return problems
    text = str(value)
    if not text.strip():
        return [f"{path}: must not be empty"]
    if not _domain_ok(text):
        return [f"{path}: {_show(value)} is not a host name (such as mail.contoso.com) or an address literal (such as [192.0.2.1])"]
    return []


def address(path: str, value: Any) -> list[str]:
    """An envelope address (RFC 5321 ``Mailbox``): local-part@domain, no angle brackets, no spaces."""
    problems = control_characters(path, value)
    if problems:
        return problems
    text = str(value)
    if not text:
        return [f"{path}: must not be empty"]
    rule = "is not an e-mail address such as chris@contoso.com (local-part@domain, no spaces or angle brackets)"
    if len(text) > MAX_ADDRESS:
        return [f"{path}: {_show(value)} is longer than {MAX_ADDRESS} characters, the longest address SMTP carries"]
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        return [f"{path}: {_show(value)} {rule}"]
    if not (_DOT_STRING.match(local) or _QUOTED.match(local)):
        return [f"{path}: {_show(value)} {rule}"]
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        return [f"{path}: {_show(value)} has a local part longer than {MAX_LOCAL_PART} octets"]
    if not _domain_ok(domain):
        return [f"{path}: {_show(value)} does not end in a valid domain after @ (such as contoso.com or [192.0.2.1])"]
    return []


_NAME_ADDR = re.compile(r'^\s*(?:"[^"]*"|[^"<>]*?)\s*<([^<>]*)>\s*\Z')


def header_address(path: str, value: Any) -> tuple[list[str], Optional[str]]:
    """A header address: ``chris@contoso.com`` or ``Chris <chris@contoso.com>``; returns (problems, address)."""
    problems = control_characters(path, value)
    if problems:
        return problems, None
    text = str(value).strip()
    if len(text) > MAX_HEADER_TEXT:  # before any regular expression (a 100,000-space value took 25 s)
        return [f"{path}: is longer than {MAX_HEADER_TEXT} characters, the longest line a message header may have"], None
    match = _NAME_ADDR.match(text) if "<" in text else None
    addr = match.group(1) if match else text
    problems = address(path, addr)
    return problems, (None if problems else addr)


def header_text(path: str, value: Any) -> list[str]:
    """A header value such as the subject: one line of at most 998 characters."""
    problems = control_characters(path, value)
    if problems:
        return problems
    if len(str(value)) > MAX_HEADER_TEXT:
        return [f"{path}: is longer than {MAX_HEADER_TEXT} characters, the longest line a message header may have"]
    return []


def smart_host(path: str, value: Any, port_option: str = "port") -> tuple[list[str], Optional[str]]:
    """A smart host as on the connector (FQDN, IP, [IP]); returns (problems, host without brackets).
    ``port_option``: where its port is given instead (a target's own port, the test message's server's)."""
    problems = control_characters(path, value)
    if problems:
        return problems, None
    text = str(value).strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ":" in bare and not v.is_ip(bare):
        where = "Send connectors have one port for all smart hosts, give it as port" if port_option == "port" \
            else f"give it as {port_option}"
        return [f"{path}: {_show(value)} carries a port; {where}"], None
    try:
        v.canonical_smart_host(text)
    except ValueError as exc:
        return [f"{path}: {exc}"], None
    return [], bare


def endpoint_problems(where: Callable[[str], str], port: Any, connect_address: Any, helo: Any) -> list[str]:
    """How an SMTP server is reached: ``port``, ``connect_address`` (an IP; empty means the name is resolved) and
    ``helo_name`` (empty means this machine's name). ``where(option)`` is the path each problem names."""
    problems = []
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        problems.append(f"{where('port')}: {port!r} is not a TCP port (1-65535)")
    if connect_address:
        problems.extend(connect_address_problems(where("connect_address"), connect_address))
    if helo:
        problems.extend(helo_name(where("helo_name"), helo))
    return problems


def connect_address_problems(path: str, value: Any) -> list[str]:
    """The address to connect to instead of resolving the host's name: an IP address (with or without brackets)."""
    problems = control_characters(path, value)
    if not v.is_ip(str(value).strip().strip("[]")):
        problems.append(f"{path}: {_show(value)} is not an IP address")
    return problems


def connect_ip(value: Any) -> Optional[str]:
    """A checked ``connect_address`` as the probe connects to it (no brackets), or None when not given."""
    return str(value).strip().strip("[]") if value else None


MAX_TIMEOUT = 3600.0


def timeout(path: str, value: Any) -> list[str]:
    """Seconds allowed for one host's whole SMTP conversation."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        return [f"{path}: must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}"]
    return []


def ca_cert(path: str, value: str) -> list[str]:
    """A missing file, an unreadable one and one without PEM certificates each get their own sentence."""
    # a line break or NUL in the path is shown quoted, not printed into the message
    shown = value if str(value).isprintable() else _show(value)
    if not os.path.exists(value):
        return [f"{path}: {shown} does not exist"]
    if os.path.isdir(value):
        return [f"{path}: {shown} is a directory; give a PEM file of CA certificates"]
    try:
        with open(value, "rb") as handle:
            handle.read(1)
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot read {shown} ({getattr(exc, 'strerror', None) or exc})"]
    try:
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return [f"{path}: {shown} holds no PEM CA certificate that could be loaded ({getattr(exc, 'reason', None) or exc})"]
    return []


def default_helo_name() -> str:
    """This machine's FQDN when it is a valid EHLO argument, else localhost."""
    name = socket.getfqdn()
    return name if not helo_name("helo_name", name) else "localhost"


# --------------------------------------------------------------------------------------------
# The test message: one complete message submitted over SMTP (smtp_probe and message_trace)
# --------------------------------------------------------------------------------------------
def test_message_options(module: str) -> dict[str, Any]:
    """The sub-options of ``send_test_message`` that describe the message, as both modules declare them."""
    return {
        "from": dict(type="str", required=True, aliases=["sender"]),
        "to": dict(type="list", elements="str", required=True, aliases=["recipients"]),
        "subject": dict(type="str", default=f"mailflow.exchange {module} test message"),
        "body": dict(type="str", default=f"This is a test message sent by mailflow.exchange.{module}."),
    }


def test_message_problems(path: str, spec: dict[str, Any]) -> list[str]:
    """Every value of the test message that goes into an SMTP command or a header (``path`` is the option's)."""
    errors = list(header_address(f"{path}.from", spec.get("from"))[0]) if spec.get("from") is not None else []
    if not spec.get("to"):
        errors.append(f"{path}.to: give at least one recipient")
    for index, rcpt in enumerate(spec.get("to") or []):
        errors.extend(header_address(f"{path}.to[{index}]", rcpt)[0])
    if spec.get("subject") is not None:
        errors.extend(header_text(f"{path}.subject", spec["subject"]))
    return errors


def submission_problems(path: str, spec: dict[str, Any]) -> list[str]:
    """A test message with the SMTP server it is submitted to (message_trace's ``send_test_message``): the server's
    name, how it is reached, the TLS trust, and the message, each problem under ``path``."""
    errors: list[str] = []
    if spec.get("host") is not None:
        errors.extend(smart_host(f"{path}.host", spec["host"], f"{path}.port")[0])
    errors.extend(endpoint_problems(lambda key: f"{path}.{key}", spec.get("port"), spec.get("connect_address"), spec.get("helo_name")))
    if spec.get("timeout") is not None:
        errors.extend(timeout(f"{path}.timeout", spec["timeout"]))
    if spec.get("ca_cert"):
        errors.extend(ca_cert(f"{path}.ca_cert", spec["ca_cert"]))
    return errors + test_message_problems(path, spec)


def test_message_envelope(spec: dict[str, Any]) -> tuple[Optional[str], list[Optional[str]]]:
    """(envelope sender, envelope recipients): the addresses of the checked ``from`` and ``to`` header values."""
    return header_address("from", spec["from"])[1], [header_address("to", r)[1] for r in spec["to"]]


# --------------------------------------------------------------------------------------------
# Targets: what to probe, each with the connector settings it is judged against
# --------------------------------------------------------------------------------------------
# The per-target connector settings; each falls back to the top-level option of the same name.
CONNECTOR_KEYS = tuple(o.name for o in PROBED if not o.kind.secret)  # the option table's probe rows (the credential aside)
TARGET_KEYS = ("port", "connect_address", "helo_name", "authentication_credential") + CONNECTOR_KEYS


@dataclasses.dataclass
class Target:
    """One smart host to probe, with everything the probe and the findings need (canonical values)."""

    index: int
    path: str  # where its host came from, e.g. ``targets[3]`` or ``hosts[0]``
    host: str
    label: Optional[str]
    port: int
    connect_address: Optional[str]
    helo_name: Optional[str]
    credential: Optional[dict[str, Any]]
    require_tls: bool
    ignore_starttls: bool
    tls_auth_level: Optional[str]
    tls_domain: Optional[str]
    auth_mechanism: str
    max_message_size: Any  # bytes, "unlimited", or None when not given


def _connector_problems(settings: dict[str, Any]) -> list[str]:
    """The connector settings through the collection's own schema (enums, sizes, TLS domain, cross-option rules)."""
    data = {k: val for k, val in settings.items() if val is not None}
    data["dns_routing_enabled"] = False  # a connector with smart hosts (the probe's whole subject)
    # The credential is not the probe's business: without one it reports AUTH_NOT_TESTED instead of refusing
    # (the connector modules require it for BasicAuth; the probe never passes it to the schema).
    problems = [p for p in _schema.validate(data) if not p.startswith("authentication_credential:")]
    if str(settings.get("tls_auth_level") or "").lower() == "domainvalidation" and not settings.get("tls_domain"):
        problems.append("tls_domain: required when tls_auth_level is DomainValidation (the name the certificate must carry)")
    return problems


def _route(problem: str, given: set[str], prefix: str) -> str:
    """Put a ``field: message`` under the target's path when the target gave the field (or a field the message names)."""
    field, sep, message = problem.partition(": ")
    if not sep:
        return problem
    if field in given or any(key in message for key in given if key in CONNECTOR_KEYS):
        return f"{prefix}.{field}: {message}"
    return problem


def _canonical(name: str, value: Any) -> Any:
    return BY_NAME[name].canonical(value) if value is not None else None


def build_targets(params: dict[str, Any]) -> tuple[list[Target], list[str]]:
    """The targets from ``targets`` or ``hosts`` plus the top-level options; every problem at once."""
    errors: list[str] = []
    items: list[tuple[str, dict[str, Any]]] = []
    if params.get("targets"):
        for index, item in enumerate(params["targets"]):
            items.append((f"targets[{index}]", dict(item or {})))
    else:
        for index, raw in enumerate(params.get("hosts") or []):
            if raw is None or not str(raw).strip():
                continue
            items.append((f"hosts[{index}]", {"host": raw}))
        if not items:
            errors.append("hosts: give at least one smart host (or use targets)")
        if params.get("connect_address") and len(items) != 1:
            errors.append("connect_address: only allowed with exactly one entry in hosts (use targets for one address per smart host)")

    # A top-level value some target falls back to is reported once, under its own name.
    targets: list[Target] = []
    for number, (path, item) in enumerate(items):
        given = {k for k in TARGET_KEYS if item.get(k) is not None}
        merged = {k: (item[k] if k in given else params.get(k)) for k in TARGET_KEYS}
        host_path = f"{path}.host" if path.startswith("targets") else path
        port_option = f"{path}.port" if path.startswith("targets") else "port"
        host_problems, host = smart_host(host_path, item.get("host"), port_option) if item.get("host") is not None \
            else ([f"{host_path}: required"], None)
        problems = list(host_problems)

        def where(key: str, _path: str = path, _given: frozenset = frozenset(given)) -> str:
            return f"{_path}.{key}" if key in _given else key

        port = merged["port"]
        address = merged["connect_address"]
        problems.extend(endpoint_problems(where, port, address, merged["helo_name"]))
        connector = {k: merged[k] for k in CONNECTOR_KEYS}
        problems.extend(_route(problem, given, path) for problem in _connector_problems(connector))
        for problem in problems:
            if problem not in errors:
                errors.append(problem)
        if problems:
            continue
        try:
            size = _canonical("max_message_size", merged["max_message_size"])
            target = Target(
                index=number,
                path=path,
                host=host or "",
                label=item.get("label"),
                port=port,
                connect_address=connect_ip(address),
                helo_name=merged["helo_name"] or None,
                credential=merged["authentication_credential"] or None,
                require_tls=bool(merged["require_tls"]),
                ignore_starttls=bool(merged["ignore_starttls"]),
                tls_auth_level=_canonical("tls_auth_level", merged["tls_auth_level"]),
                tls_domain=_canonical("tls_domain", merged["tls_domain"]),
                auth_mechanism=_canonical("smart_host_auth_mechanism", merged["smart_host_auth_mechanism"]) or "None",
                max_message_size=size,
            )
        except (ValueError, TypeError) as exc:  # the schema accepted it, so this is not expected; still name it
            errors.append(f"{path}: {exc}")
            continue
        targets.append(target)
    return targets, errors

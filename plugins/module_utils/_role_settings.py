# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The smart_host_routing role's own settings (verification, report, statistics), checked at the start of
the role, before any remote call (issue 15): each problem names the variable and the rule in words, never
interpreter text. Addresses, header text and host names are judged by smtp_probe's parsers
(_smtp_probe_input), the same the modules run; nothing is converted with Python's own str()/int() so a
list given for a string is reported as such.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as _input

PREFIX = "smart_host_routing_"
_BOOL_WORDS = ("1", "0", "on", "off", "yes", "no", "y", "n", "true", "false", "t", "f")
MAX_TEXT = 4096


def _kind(value: Any) -> str:
    """What a value is, in the words the one checker uses for every module option (never the value itself)."""
    return _schema.type_name(value)


def _whole(name: str, value: Any, low: int, high: int) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "%s: must be a whole number from %d to %d, got %s" % (name, low, high, _kind(value))
    text = str(value).strip() if isinstance(value, str) else value
    try:
        number = float(text) if isinstance(text, str) and len(text) <= 30 else float(value) if not isinstance(value, str) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number != int(number):
        return "%s: must be a whole number from %d to %d, got %s" % (name, low, high, _input._show(value))
    if not low <= int(number) <= high:
        return "%s: must be from %d to %d, got %d" % (name, low, high, int(number))
    return None


def _number(name: str, value: Any, low: float, high: float) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return "%s: must be a number of seconds from %g to %g, got %s" % (name, low, high, _kind(value))
    try:
        number = float(value) if not isinstance(value, str) or len(value) <= 30 else None
    except ValueError:
        number = None
    if number is None or math.isnan(number) or not low <= number <= high:
        return "%s: must be a number of seconds from %g to %g, got %s" % (name, low, high, _input._show(value))
    return None


def _text(name: str, value: Any, required: bool = False) -> list[str]:
    if not isinstance(value, str):
        return ["%s: must be a string, got %s" % (name, _kind(value))]
    if required and not value.strip():
        return ["%s: must not be empty" % name]
    if len(value) > MAX_TEXT:
        return ["%s: must be at most %d characters long (it has %d)" % (name, MAX_TEXT, len(value))]
    return _input.control_characters(name, value)


def _address(name: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return ["%s: must be a string (an e-mail address), got %s" % (name, _kind(value))]
    if not value:
        return []  # empty: not given (whether it is needed is the role's own check)
    return _input.control_characters(name, value) or _input.address(name, value)


def settings_errors(settings: dict[str, Any]) -> list[str]:
    """Every problem of the role's verification, report and statistics variables (full names as keys)."""
    errors: list[str] = []

    def get(key: str) -> Any:
        return settings.get(PREFIX + key)

    def name(key: str) -> str:
        return PREFIX + key

    for key, low, high in (("trace_timeout", 1, 86400), ("smtp_port", 1, 65535), ("probe_timeout", 1, 3600)):
        if PREFIX + key in settings:
            problem = _whole(name(key), get(key), low, high)
            if problem:
                errors.append(problem)
    if PREFIX + "trace_poll_interval" in settings:
        problem = _number(name("trace_poll_interval"), get("trace_poll_interval"), 0.1, 3600)
        if problem:
            errors.append(problem)
    for key in ("test_sender", "test_recipient"):
        if PREFIX + key in settings:
            errors.extend(_address(name(key), get(key)))
    if PREFIX + "test_recipients" in settings:
        recipients = get("test_recipients")
        if not isinstance(recipients, dict):
            errors.append("%s: must be a mapping of connector name to e-mail address, got %s"
                          % (name("test_recipients"), _kind(recipients)))
        else:
            for connector, recipient in recipients.items():
                path = "%s[%s]" % (name("test_recipients"), _input._show(connector))
                if not isinstance(connector, str):
                    errors.append("%s: the key must be a connector name (a string), got %s" % (path, _kind(connector)))
                    continue
                errors.extend(_input.control_characters(path, connector))
                errors.extend(_address(path, recipient) if recipient != "" else
                              ["%s: must be an e-mail address, got an empty string" % path])
    if PREFIX + "test_subject" in settings:
        errors.extend(_text(name("test_subject"), get("test_subject")))
    if PREFIX + "stats_key" in settings:
        key = get("stats_key")
        found = _text(name("stats_key"), key, required=True)
        if not found and not (key.isascii() and key.replace("_", "a").isalnum() and not key[0].isdigit()):
            found = ["%s: must be a variable name (letters, digits and _, not starting with a digit), got %s"
                     % (name("stats_key"), _input._show(key))]
        errors.extend(found)
    if PREFIX + "report_file" in settings:
        report = get("report_file")
        found = _text(name("report_file"), report)
        if not found and report.strip() and report.endswith(("/", "\\")):
            found = ["%s: must be a file path, not a directory, got %s" % (name("report_file"), _input._show(report))]
        errors.extend(found)
    for key in ("smtp_server", "smtp_connect_address", "protocol_log_dir", "ca_cert", "audit_clixml", "report_dir"):
        # null means "not set" for these optional paths and names, as the tasks read them (default(omit, true)):
        # a smart host's ready file without TLS has ca_cert null, and the lab inventory passes it on
        if PREFIX + key in settings and get(key) is not None:
            errors.extend(_text(name(key), get(key)))
    if PREFIX + "helo_name" in settings and get("helo_name"):
        errors.extend(_text(name("helo_name"), get("helo_name")) or _input.helo_name(name("helo_name"), get("helo_name")))
    for key in ("verify", "test_message", "preflight", "probe_login", "protocol_log", "audit_probe", "audit_route",
                "rollback"):
        value = get(key)
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            continue  # what Ansible's bool filter reads (extra vars given with -e are strings)
        if PREFIX + key in settings and not isinstance(value, bool):
            shown = _input._show(value) if isinstance(value, str) else _kind(value)
            errors.append("%s: must be true or false, got %s" % (name(key), shown))
    if PREFIX + "trace_servers" in settings:
        servers = get("trace_servers")
        if not isinstance(servers, (list, tuple)):
            errors.append("%s: must be a list of server names, got %s" % (name("trace_servers"), _kind(servers)))
        else:
            for index, server in enumerate(servers):
                errors.extend(_text("%s[%d]" % (name("trace_servers"), index), server, required=True))
    return errors


def postmaster_recipient(address_spaces: Any) -> tuple[str, str]:
    """The test recipient of a connector nobody gave one for: ``postmaster@<domain>`` of its first SMTP address space
    that names one domain (not ``*``, not ``*.contoso.com``), and that domain; ``("", "")`` when none does.

    Every domain that accepts mail has a postmaster (RFC 5321 section 4.5.1), and the connector routes that domain, so
    Exchange sends the test message through it."""
    for value in address_spaces if isinstance(address_spaces, (list, tuple)) else []:
        try:
            space = _values.parse_address_space(value)
        except _values.BadValue:
            continue
        if space["type"] == "SMTP" and "*" not in space["domain"] and space["domain"] != "--":
            return "postmaster@" + space["domain"], space["domain"]
    return "", ""

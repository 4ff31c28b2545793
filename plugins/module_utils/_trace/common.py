# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

What the ``message_trace`` module and its action plugin share: the time options (``parse_time``, ``wire_time``)
and the combined ``result`` and failure message of several traces (``overall_result``, ``not_sent_message``).
The action plugin runs on the controller in each task's worker: this module imports no remoting code, so the
controller does not load pypsrp, requests and spnego for a trace (``tracer`` does, for the module's session).
"""

from __future__ import annotations

import datetime
import re


class TimeError(ValueError):
    """A time option that is not a time (or not one Exchange can search); the message names the option."""


_RELATIVE = re.compile(r"^\s*-\s*(\d{1,12})\s*([smhd])\s*$", re.IGNORECASE | re.ASCII)
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE | re.ASCII,
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(option, text, now=None):
    """ISO-8601 (UTC when no zone), ``now`` or ``-<n>[smhd]`` -> aware UTC datetime."""
    now = now or utcnow()
    value = str(text).strip()
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value)
    if match:
        try:
            return now - datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
        except (OverflowError, ValueError):
            raise TimeError("%s: '%s' reaches outside the range of dates (years 1-9999)" % (option, value[:40]))
    match = _ISO.match(value)
    if not match:
        raise TimeError(
            "%s: '%s' is not a time; use ISO-8601 (2026-05-01T13:00:00Z), now, or a relative time such as -15m, -2h, -1d"
            % (option, value)
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        when = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    except ValueError as err:
        raise TimeError("%s: '%s' is not a valid date and time (%s)" % (option, value, err))
    offset = datetime.timedelta(0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if minutes > 59 or hours * 60 + minutes > 14 * 60:
            # UTC offsets run from -12:00 to +14:00 (ISO 8601 minutes 00-59); '+99:99' is no offset (issue 15)
            raise TimeError("%s: '%s' has the UTC offset %s; an offset is from -14:00 to +14:00 with minutes 00-59"
                            % (option, value[:40], zone))
        offset = sign * datetime.timedelta(hours=hours, minutes=minutes)
    try:
        return (when - offset).replace(tzinfo=datetime.timezone.utc)
    except OverflowError:
        raise TimeError("%s: '%s' is outside the range of dates (years 1-9999) once converted to UTC" % (option, value))


def wire_time(when):
    """The UTC ISO-8601 text Exchange parses the same way whatever its culture."""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def overall_result(traces):
    """The ``result`` of several traces: ``sent`` when all were sent, else the worst one."""
    results = [t["result"] for t in traces]
    if results and all(r == "sent" for r in results):
        return "sent"
    return next((r for r in ("failed", "no_connector", "other_connector", "deferred", "timeout", "not_found", "found")
                 if r in results), "not_found")


def not_sent_message(result, params):
    """The failure message of ``wait_for: send``: each message that was not sent, with its LastError."""
    traces = result.get("traces") or [dict(result, message_id=params.get("message_id"), connector=params.get("connector"))]
    parts = []
    for trace in traces:
        if trace["result"] == "sent":
            continue
        what = "the message%s" % (" %s" % trace["message_id"] if trace.get("message_id") else "")
        if trace.get("connector"):
            what += " (connector %s)" % trace["connector"]
        text = "%s was not sent: %s" % (what, trace["result"])
        if trace.get("taken_by"):
            text += " (Send connector %s took it)" % trace["taken_by"]
        if trace["result"] == "no_connector":
            text += " (no Send connector has that name)"
        if trace.get("last_error"):
            text += ", LastError: %s" % trace["last_error"]
        parts.append(text)
    return "; ".join(parts)

# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Exchange SmtpSend protocol logs: parse the text of one or more ``SEND*.LOG`` files into SMTP
sessions, and pick sessions by connector, message id or remote endpoint.

File format: ``#Software``/``#Version``/``#Log-type``/``#Date``/``#Fields`` header lines, then
CSV rows (RFC 4180 quoting) with the fields named in ``#Fields``, normally
``date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context``.
Rows of concurrent sessions are interleaved, so rows are grouped by session-id and ordered by
sequence-number. ``event`` is ``+`` connect, ``-`` disconnect, ``>`` sent, ``<`` received, ``*`` info.
"""

from __future__ import annotations

import csv
import re
from typing import Any, Iterable, Optional, Union

DEFAULT_FIELDS = ["date-time", "connector-id", "session-id", "sequence-number", "local-endpoint", "remote-endpoint", "event", "data", "context"]
REQUIRED_FIELDS = ("session-id", "sequence-number", "event")
EVENTS = {"+": "connect", "-": "disconnect", ">": "send", "<": "receive", "*": "information"}
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


class ProtocolLogError(ValueError):
    """A protocol log that cannot be read; the message names the line and the rule."""


def _rows(text: str, strict: bool, source: str) -> Iterable[dict[str, Any]]:
    fields = list(DEFAULT_FIELDS)
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line[1:].partition(":")
            key, value = parts[0].strip().lower(), parts[2]
            headers[key] = value.strip()
            if key == "fields":
                fields = [f.strip().lower() for f in value.split(",") if f.strip()]
                missing = [f for f in REQUIRED_FIELDS if f not in fields]
                if missing:
                    raise ProtocolLogError(f"{source} line {number}: #Fields lacks {', '.join(missing)}")
            continue
        try:
            values = list(csv.reader([line], strict=True))[0]
        except csv.Error as exc:
            if strict:
                raise ProtocolLogError(f"{source} line {number}: not a CSV row ({exc})") from None
            continue
        if len(values) != len(fields):
            if strict:
                raise ProtocolLogError(f"{source} line {number}: expected {len(fields)} fields ({','.join(fields)}), found {len(values)}")
            continue
        row = dict(zip(fields, values))
        try:
            row["sequence-number"] = int(row["sequence-number"])
        except ValueError:
            if strict:
                raise ProtocolLogError(f"{source} line {number}: sequence-number {row['sequence-number']!r} is not a number") from None
            continue
        if row["event"] not in EVENTS:
            if strict:
                raise ProtocolLogError(f"{source} line {number}: event {row['event']!r} is not one of + - > < *")
            continue
        row["_log"] = dict(headers)
        yield row


def _line(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "date_time": row.get("date-time", ""),
        "sequence_number": row["sequence-number"],
        "event": row["event"],
        "event_name": EVENTS[row["event"]],
        "data": row.get("data", ""),
        "context": row.get("context", ""),
        "local_endpoint": row.get("local-endpoint", ""),
        "remote_endpoint": row.get("remote-endpoint", ""),
    }


def _dialogue_text(line: dict[str, Any]) -> str:
    text = line["data"] if line["data"] else line["context"]
    if line["data"] and line["context"]:
        text = f"{line['data']} ({line['context']})"
    return f"{line['event']} {text}".rstrip()


def _summarise(session_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows.sort(key=lambda r: r["sequence-number"])
    lines = [_line(r) for r in rows]
    first = rows[0]
    local = next((ln["local_endpoint"] for ln in lines if ln["local_endpoint"]), "")
    remote = next((ln["remote_endpoint"] for ln in lines if ln["remote_endpoint"]), "")
    sent = [ln["data"] for ln in lines if ln["event"] == ">"]
    received = [ln for ln in lines if ln["event"] == "<"]
    helo = next((d.split(None, 1)[1] if " " in d else "" for d in sent if d.upper().startswith(("EHLO", "HELO"))), None)
    auth = next((d.split()[1].upper() for d in sent if d.upper().startswith("AUTH ") and len(d.split()) > 1), None)
    starttls = False
    for index, ln in enumerate(lines):
        if ln["event"] == ">" and ln["data"].strip().upper() == "STARTTLS":
            reply = next((r for r in lines[index + 1 :] if r["event"] == "<"), None)
            starttls = bool(reply and reply["data"].startswith("220"))
    auth_result = None
    if auth:
        after = [
            r
            for r in received
            if r["sequence_number"] > next(ln["sequence_number"] for ln in lines if ln["event"] == ">" and ln["data"].upper().startswith("AUTH "))
        ]
        final = next((r for r in after if not r["data"].startswith("334")), None)
        auth_result = final["data"] if final else None
    message_ids: list[str] = []
    for ln in lines:
        text = f"{ln['data']} {ln['context']}"
        if "messageid" not in text.lower().replace("-", ""):
            continue  # addresses in MAIL FROM/RCPT TO look like message ids; only trust labelled ones
        for found in _MESSAGE_ID.findall(text):
            if found not in message_ids:
                message_ids.append(found)
    sequence = [r["sequence-number"] for r in rows]
    return {
        "session_id": session_id,
        "connector": first.get("connector-id", ""),
        "local_endpoint": local,
        "remote_endpoint": remote,
        "start": lines[0]["date_time"],
        "end": lines[-1]["date_time"],
        "complete": any(ln["event"] == "-" for ln in lines),
        "sequence_gaps": sequence != list(range(sequence[0], sequence[0] + len(sequence))),
        "helo": helo,
        "starttls": starttls,
        "auth_mechanism": auth,
        "auth_result": auth_result,
        "message_ids": message_ids,
        "replies": [r["data"] for r in received],
        "dialogue": [_dialogue_text(ln) for ln in lines],
        "lines": lines,
        "log": first["_log"],
    }


def parse(texts: Union[str, list[str]], strict: bool = True) -> list[dict[str, Any]]:
    """Sessions from one log text or a list of them (several files), ordered by session-id."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for index, text in enumerate(texts, 1):
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig", "replace")
        if not isinstance(text, str):
            raise ProtocolLogError(f"log {index}: expected the text of a protocol log, got {type(text).__name__}")
        for row in _rows(text.lstrip("\ufeff"), strict, f"log {index}" if len(texts) > 1 else "log"):
            grouped.setdefault(row["session-id"], []).append(row)
    return [_summarise(sid, grouped[sid]) for sid in sorted(grouped)]


def _connector_names(value: str) -> set[str]:
    value = value.strip()
    names = {value.lower()}
    match = re.match(r"^CN=((?:[^,\\]|\\.)+)", value, re.IGNORECASE)  # a DN: its first CN
    if match:
        names.add(match.group(1).replace("\\,", ",").lower())
    return names


def _bare_id(value: str) -> str:
    return value.strip().strip("<>").lower()


def select(
    sessions: list[dict[str, Any]],
    connector: Optional[str] = None,
    message_id: Optional[str] = None,
    remote_endpoint: Optional[str] = None,
) -> list[dict[str, Any]]:
    """Sessions of a connector (name or DN), carrying a message id, and/or to a remote IP[:port]."""
    result = []
    for session in sessions:
        if connector and not (_connector_names(session["connector"]) & _connector_names(connector)):
            continue
        if message_id and _bare_id(message_id) not in {_bare_id(m) for m in session["message_ids"]}:
            continue
        if remote_endpoint:
            wanted = remote_endpoint.strip()
            remote = session["remote_endpoint"]
            if remote != wanted and remote.rsplit(":", 1)[0].strip("[]") != wanted.strip("[]"):
                continue
        result.append(session)
    return result

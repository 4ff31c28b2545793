# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for Exchange SmtpSend protocol logs.

``smtp_protocol_log`` parses log text into sessions; ``smtp_protocol_sessions`` picks sessions.
Their documentation is in the sidecar files ``smtp_protocol_log.yml`` and ``smtp_protocol_sessions.yml``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailflow.exchange.plugins.module_utils._trace.protocol_log import ProtocolLogError, parse, select


def smtp_protocol_log(text, strict=True):
    """Sessions (ordered by session-id, lines by sequence-number) from SmtpSend log text."""
    if isinstance(text, dict) and "content" in text:
        raise AnsibleFilterError("smtp_protocol_log: got a slurp result; decode it first with b64decode (content | b64decode)")
    if not isinstance(text, (str, bytes, list)):
        raise AnsibleFilterError(f"smtp_protocol_log: expected the log text or a list of texts, got {type(text).__name__}")
    try:
        return parse(text if not isinstance(text, list) else [str(t) if not isinstance(t, (str, bytes)) else t for t in text], strict=bool(strict))
    except ProtocolLogError as exc:
        raise AnsibleFilterError(f"smtp_protocol_log: {exc}") from None


def smtp_protocol_sessions(sessions, connector=None, message_id=None, remote_endpoint=None):
    """The sessions of a connector, carrying a message id, or to a remote endpoint."""
    if not isinstance(sessions, list) or any(not isinstance(s, dict) or "session_id" not in s for s in sessions):
        raise AnsibleFilterError("smtp_protocol_sessions: expects the list that smtp_protocol_log returns")
    return select(sessions, connector=connector, message_id=message_id, remote_endpoint=remote_endpoint)


class FilterModule:
    def filters(self):
        return {
            "smtp_protocol_log": smtp_protocol_log,
            "smtp_protocol_sessions": smtp_protocol_sessions,
        }

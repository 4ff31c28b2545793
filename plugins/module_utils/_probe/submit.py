# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The test message of ``send_test_message``, as ``smtp_probe`` and ``message_trace`` submit it: one complete message
(``smtp.build_message``) through the first probed host that accepts it (``smtp.send_message``), nothing in check
mode, and one sentence for a message that was not accepted. Its input is checked before by
``input.test_message_problems``.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.mailflow.exchange.plugins.module_utils._probe import input as checks
from ansible_collections.mailflow.exchange.plugins.module_utils._probe.smtp import ProbeSettings, build_message, send_message

SKIPPED = {"skipped": True, "reason": "check mode: no test message was sent"}
SKIPPED_WARNING = "send_test_message was skipped in check mode"


def submit(spec: dict[str, Any], all_settings: list[ProbeSettings], probes: list[dict[str, Any]], check_mode: bool) -> dict[str, Any]:
    """What happened to the test message (``send_message``'s record, or ``SKIPPED`` in check mode): tried through
    each probed host that has an address, in order, until one queued it."""
    if check_mode:
        return dict(SKIPPED)
    first = all_settings[0]
    msg = build_message(spec["from"], spec["to"], spec["subject"], spec["body"], first.helo_name)
    sender, recipients = checks.test_message_envelope(spec)
    result: dict[str, Any] = {}
    for settings, probe in zip(all_settings, probes):
        if not probe.get("address"):
            continue
        result = send_message(settings, probe["address"], msg, require_tls=settings.require_tls, envelope_from=sender, envelope_to=recipients)
        if result["queued"]:
            break
    return result or {"host": None, "queued": False, "error": "no host was reachable", "message_id": str(msg["Message-ID"])}


def refusal(test: dict[str, Any]) -> str:
    """The failure message of a test message that was not queued."""
    return f"The test message was not accepted: {test.get('error') or test.get('code')} {test.get('text') or ''}".strip()

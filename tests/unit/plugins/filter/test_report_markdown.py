"""The role's report as Markdown (smart_host_routing_report_markdown): parsed back with a CommonMark/GFM
parser, so a value from Exchange or a smart host cannot break the document's structure."""

from __future__ import annotations

from markdown_it import MarkdownIt

from ansible_collections.mailflow.exchange.plugins.filter.__internal import smart_host_routing as f

CREATED = {
    "name": "Smart host | to `Internet`",
    "state": "present",
    "check_mode": False,
    "changed": True,
    "commands": [
        "New-SendConnector -Name 'Smart host | to `Internet`' -AddressSpaces 'SMTP:*;1' -SmartHosts 'relay.contoso.net' "
        "-AuthenticationCredential (Get-Credential)",
    ],
    "changes": [],
    "probes": [
        {
            "host": "relay.contoso.net",
            "port": 587,
            "address": "192.0.2.10",
            "tls_version": "TLSv1.3",
            "certificate_subject": "CN=relay.contoso.net,O=Contoso | Mail",
            "certificate_days_left": 40,
            "auth_mechanisms": ["LOGIN", "PLAIN"],
            "auth_login": "ok",
            "findings": [
                {"severity": "warning", "code": "CERT_EXPIRES_SOON", "message": "the certificate expires in 40 days",
                 "hint": "Renew it before <2027-01-09> *on the relay*."},
                {"severity": "info", "code": "DNS_NO_ADDRESS", "message": "probed 192.0.2.10 instead", "hint": None},
            ],
        }
    ],
    "read_back": "matches",
    "test_message_id": "<m1@contoso.com>",
    "trace": {
        "result": "sent",
        "events": [
            {"timestamp": "2026-05-01T13:05:00.000Z", "event_id": "RECEIVE", "connector_id": "EX01\\Default Frontend EX01",
             "server_hostname": "EX01.contoso.com", "server_ip": "127.0.0.1", "recipient_status": None},
            {"timestamp": "2026-05-01T13:05:00.100Z", "event_id": "SEND", "connector_id": "Smart host | to `Internet`",
             "server_hostname": "relay.contoso.net", "server_ip": "192.0.2.10", "recipient_status": ["250 2.6.0 Queued"]},
        ],
    },
    "smtp_session": ["* attempting to connect", "+", "< 220 relay ready", "> EHLO EX01.contoso.com", "< 250 ```odd```", "- Local"],
}

FAILED = {
    "name": "Partner",
    "state": "present",
    "check_mode": True,
    "changed": True,
    "commands": ["Set-SendConnector -Identity 'Partner' -Port 587"],
    "changes": ["port: 25 -> 587"],
    "probes": [{"host": "mx.partner.example", "port": 25, "error": "connection refused", "findings": []}],
    "trace": {"result": "failed", "events": [], "last_error": "451 4.4.397 Error communicating with target host",
              "hint": "The smart host is unreachable from the transport server."},
}


def _tokens(text: str):
    return MarkdownIt("commonmark").enable("table").parse(text)


def _texts(tokens, kind: str) -> list[str]:
    return [t.content for t in tokens if t.type == kind]


def _cells(tokens) -> list[list[str]]:
    """Rows of every table, each a list of the cells' inline text."""
    rows, row, inside = [], None, False
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type in ("td_open", "th_open"):
            inside = True
        elif t.type == "inline" and inside and row is not None:
            row.append("".join(c.content for c in t.children or []))
        elif t.type in ("td_close", "th_close"):
            inside = False
        elif t.type == "tr_close":
            rows.append(row)
    return rows


def test_every_part_of_the_report_is_in_the_document():
    text = f.report_markdown([CREATED, FAILED], host="exchange-lab", generated="2026-05-01 13:05:02 UTC")
    tokens = _tokens(text)
    headings = [t.content for i, t in enumerate(tokens) if i and tokens[i - 1].type == "heading_open"]
    assert headings[0] == "Smart host routing report"
    assert "Send connector Smart host | to `Internet`: created" == "".join(
        c.content for c in next(t for t in tokens if t.type == "inline" and "Send connector" in t.content).children
    )
    assert {"Commands run", "Commands that would run (check mode)", "Smart host probes", "Read back",
            "Test message and trace", "SMTP session (SmtpSend protocol log)", "Changes"} <= set(headings), headings
    blocks = [t for t in tokens if t.type == "fence"]
    # The commands and the SMTP session come back exactly, even with backticks inside.
    assert blocks[0].info == "powershell" and blocks[0].content.splitlines() == CREATED["commands"]
    assert blocks[1].content.splitlines() == [
        "* attempting to connect", "+ connected", "< 220 relay ready", "> EHLO EX01.contoso.com", "< 250 ```odd```",
        "- disconnected (Local)",
    ]
    rows = _cells(tokens)
    probe_header = ["Smart host", "Address", "TLS", "Certificate", "Days left", "AUTH", "AUTH LOGIN"]
    assert probe_header in rows
    probe_row = rows[rows.index(probe_header) + 1]
    assert probe_row == ["relay.contoso.net:587", "192.0.2.10", "TLSv1.3", "CN=relay.contoso.net,O=Contoso | Mail", "40",
                         "LOGIN, PLAIN", "ok"]
    trace_header = ["Time (UTC)", "Event", "Connector", "Server", "IP", "Recipient status"]
    receive, send = rows[rows.index(trace_header) + 1:rows.index(trace_header) + 3]
    assert receive[2] == "EX01\\Default Frontend EX01" and send[2] == "Smart host | to `Internet`"
    assert send[5] == "250 2.6.0 Queued"
    plain = "\n".join(_texts(tokens, "inline"))
    # Every finding with its hint (info too: the file is the full record), the markup in the hint kept as text.
    assert "CERT_EXPIRES_SOON" in plain and "DNS_NO_ADDRESS" in plain
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "Renew it before &lt;2027-01-09&gt; *on the relay*." in rendered
    assert "<em>" not in rendered
    # The failed one: check mode, the change, the probe error, LastError and the trace hint.
    assert "check mode - nothing was changed" in plain
    assert "port: 25 -> 587" in plain
    assert "probe failed" in rendered and "connection refused" in plain
    assert "451 4.4.397 Error communicating with target host" in plain
    assert "The smart host is unreachable from the transport server." in plain


def test_same_content_as_the_printed_lines():
    """What the lines say about a connector, the document says too (nothing dropped from the ticket)."""
    text = f.report_markdown([CREATED])
    for line in f.report_lines([CREATED]):
        words = line.strip()
        for fragment in ("command ", "probe   ", "trace: ", "test message ", "read back: "):
            if words.startswith(fragment.strip()):
                words = words[len(fragment.strip()):].strip()
        if words.startswith("["):  # "[WARNING] message"
            words = words.split("] ", 1)[1]
        for part in (p for p in words.replace("`", " ").split() if len(p) > 3 and p.isalnum()):
            assert part in text, (part, line)


def test_nothing_to_report():
    text = f.report_markdown([])
    assert text.startswith("# Smart host routing report\n") and text.endswith("\n")
    assert "**Connectors:** none" in text


def test_no_change_says_so():
    text = f.report_markdown([{"name": "c", "state": "present", "changed": False, "commands": []}])
    assert "## Send connector `c`: no change" in text
    assert "None: the connector already was as wanted." in text

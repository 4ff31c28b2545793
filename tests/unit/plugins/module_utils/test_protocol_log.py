"""SmtpSend protocol log parsing, on a sample built from a BasicAuthRequireTLS session to a smart host in the field
order Microsoft's "Protocol logging" page gives."""

from __future__ import annotations

import random
import re

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._trace.protocol_log import (
    ProtocolLogError,
    parse,
    select,
)

HEADER = """#Software: Microsoft Exchange Server
#Version: 15.02.1544.004
#Log-type: SMTP Send Protocol Log
#Date: 2024-05-01T13:00:00.123Z
#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
"""

SID = "08DC69B1A2B3C4D5"
C = "Smart host to Internet"
E = "10.0.0.5:50123,192.168.3.2:25"
SESSION = [
    f"2024-05-01T13:05:00.100Z,{C},{SID},0,,192.168.3.2:25,*,,attempting to connect",
    f"2024-05-01T13:05:00.110Z,{C},{SID},1,{E},+,,",
    f"2024-05-01T13:05:00.120Z,{C},{SID},2,{E},<,220 relay.contoso.com ESMTP ready,",
    f"2024-05-01T13:05:00.121Z,{C},{SID},3,{E},>,EHLO ex01.contoso.com,",
    f"2024-05-01T13:05:00.125Z,{C},{SID},4,{E},<,250-relay.contoso.com Hello [10.0.0.5] SIZE 36700160 PIPELINING STARTTLS AUTH LOGIN 8BITMIME,",
    f"2024-05-01T13:05:00.126Z,{C},{SID},5,{E},>,STARTTLS,",
    f"2024-05-01T13:05:00.130Z,{C},{SID},6,{E},<,220 2.0.0 Ready to start TLS,",
    f"2024-05-01T13:05:00.140Z,{C},{SID},7,{E},*,,Received certificate",
    f'2024-05-01T13:05:00.141Z,{C},{SID},8,{E},*,"CN=relay.contoso.com, O=Contoso, C=US",Certificate subject',
    f"2024-05-01T13:05:00.150Z,{C},{SID},9,{E},>,EHLO ex01.contoso.com,",
    f"2024-05-01T13:05:00.155Z,{C},{SID},10,{E},<,250-relay.contoso.com Hello [10.0.0.5] AUTH LOGIN PLAIN 8BITMIME,",
    f"2024-05-01T13:05:00.156Z,{C},{SID},11,{E},>,AUTH LOGIN,",
    f"2024-05-01T13:05:00.170Z,{C},{SID},12,{E},<,235 2.7.0 Authentication successful,",
    f"2024-05-01T13:05:00.171Z,{C},{SID},13,{E},*,,sending message with RecordId 51539607553 and InternetMessageId <4867a3d7@ex01.contoso.com>",
    f"2024-05-01T13:05:00.172Z,{C},{SID},14,{E},>,MAIL FROM:<chris@contoso.com> SIZE=2048,",
    f"2024-05-01T13:05:00.172Z,{C},{SID},15,{E},>,RCPT TO:<pat@fabrikam.com>,",
    f"2024-05-01T13:05:00.180Z,{C},{SID},16,{E},<,250 2.1.0 Sender OK,",
    f"2024-05-01T13:05:00.181Z,{C},{SID},17,{E},<,250 2.1.5 Recipient OK,",
    f"2024-05-01T13:05:00.182Z,{C},{SID},18,{E},>,DATA,",
    f"2024-05-01T13:05:00.185Z,{C},{SID},19,{E},<,354 Start mail input,",
    f"2024-05-01T13:05:00.200Z,{C},{SID},20,{E},<,250 2.6.0 Queued mail for delivery,",
    f"2024-05-01T13:05:00.201Z,{C},{SID},21,{E},>,QUIT,",
    f"2024-05-01T13:05:00.205Z,{C},{SID},22,{E},<,221 2.0.0 Service closing transmission channel,",
    f"2024-05-01T13:05:00.206Z,{C},{SID},23,{E},-,,Local",
]

OTHER_SID = "08DC69B1A2B3C4C0"  # sorts before SID
OTHER_DN = "CN=Relay\\, partners,CN=Connections,CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups"
OTHER = [
    f'2024-05-01T13:05:00.300Z,"{OTHER_DN}",{OTHER_SID},0,,10.9.9.9:587,*,,attempting to connect',
    f'2024-05-01T13:05:00.310Z,"{OTHER_DN}",{OTHER_SID},1,10.0.0.5:50200,10.9.9.9:587,+,,',
    f'2024-05-01T13:05:00.320Z,"{OTHER_DN}",{OTHER_SID},2,10.0.0.5:50200,10.9.9.9:587,<,"421 4.3.2 Service not available, closing channel",',
    f'2024-05-01T13:05:00.330Z,"{OTHER_DN}",{OTHER_SID},3,10.0.0.5:50200,10.9.9.9:587,-,,Remote',
]


def interleaved(seed: int = 7) -> str:
    rows = SESSION + OTHER
    random.Random(seed).shuffle(rows)
    return HEADER + "\n".join(rows) + "\n"


def test_sessions_are_grouped_and_ordered_from_interleaved_rows():
    sessions = parse(interleaved())
    assert [s["session_id"] for s in sessions] == [OTHER_SID, SID]
    main = sessions[1]
    assert [ln["sequence_number"] for ln in main["lines"]] == list(range(24))
    assert main["connector"] == C
    assert main["local_endpoint"] == "10.0.0.5:50123" and main["remote_endpoint"] == "192.168.3.2:25"
    assert (main["start"], main["end"]) == ("2024-05-01T13:05:00.100Z", "2024-05-01T13:05:00.206Z")
    assert main["complete"] is True and main["sequence_gaps"] is False


def test_session_facts_from_the_dialogue():
    main = parse(interleaved())[1]
    assert main["helo"] == "ex01.contoso.com"
    assert main["starttls"] is True
    assert main["auth_mechanism"] == "LOGIN" and main["auth_result"] == "235 2.7.0 Authentication successful"
    assert main["message_ids"] == ["<4867a3d7@ex01.contoso.com>"]  # not the MAIL FROM/RCPT TO addresses
    assert main["dialogue"][:4] == [
        "* attempting to connect",
        "+",
        "< 220 relay.contoso.com ESMTP ready",
        "> EHLO ex01.contoso.com",
    ]
    assert main["replies"][-1] == "221 2.0.0 Service closing transmission channel"
    assert main["log"]["version"] == "15.02.1544.004" and main["log"]["log-type"] == "SMTP Send Protocol Log"


def test_quoted_fields_keep_their_commas():
    sessions = parse(interleaved())
    cert_line = sessions[1]["lines"][8]
    assert cert_line["data"] == "CN=relay.contoso.com, O=Contoso, C=US" and cert_line["context"] == "Certificate subject"
    assert sessions[0]["connector"] == OTHER_DN
    assert sessions[0]["replies"] == ["421 4.3.2 Service not available, closing channel"]
    assert sessions[0]["starttls"] is False and sessions[0]["auth_mechanism"] is None


def test_select_by_connector_name_dn_message_id_and_endpoint():
    sessions = parse(interleaved())
    assert [s["session_id"] for s in select(sessions, connector="smart HOST to internet")] == [SID]
    assert [s["session_id"] for s in select(sessions, connector="Relay, partners")] == [OTHER_SID]
    assert [s["session_id"] for s in select(sessions, message_id="4867a3d7@ex01.contoso.com")] == [SID]
    assert [s["session_id"] for s in select(sessions, message_id="<4867a3d7@ex01.contoso.com>", connector=C)] == [SID]
    assert select(sessions, message_id="<other@ex01.contoso.com>") == []
    assert [s["session_id"] for s in select(sessions, remote_endpoint="10.9.9.9")] == [OTHER_SID]
    assert [s["session_id"] for s in select(sessions, remote_endpoint="192.168.3.2:25")] == [SID]
    assert select(sessions, remote_endpoint="192.168.3.2:587") == []


def test_several_files_and_a_session_split_across_them():
    first = HEADER + "\n".join(SESSION[:10]) + "\n"
    second = HEADER.replace("13:00:00.123Z", "14:00:00.000Z") + "\n".join(SESSION[10:] + OTHER) + "\n"
    sessions = parse([second, first])
    assert [s["session_id"] for s in sessions] == [OTHER_SID, SID]
    assert len(sessions[1]["lines"]) == 24 and sessions[1]["sequence_gaps"] is False
    only_second = parse(second)
    assert only_second[1]["sequence_gaps"] is False and only_second[1]["lines"][0]["sequence_number"] == 10
    assert parse(HEADER + "\n".join(SESSION[:5] + SESSION[7:]))[0]["sequence_gaps"] is True


def test_fields_header_decides_the_column_order():
    text = "#Fields: session-id,sequence-number,event,data\nABC,1,<,250 OK\nABC,0,>,EHLO x\n"
    (session,) = parse(text)
    assert session["dialogue"] == ["> EHLO x", "< 250 OK"] and session["connector"] == ""


@pytest.mark.parametrize(
    "row, rule",
    [
        (f"2024-05-01T13:05:00.100Z,{C},{SID},0,,1.2.3.4:25,*", "expected 9 fields"),
        (f"2024-05-01T13:05:00.100Z,{C},{SID},x,,1.2.3.4:25,*,,", "sequence-number 'x' is not a number"),
        (f"2024-05-01T13:05:00.100Z,{C},{SID},0,,1.2.3.4:25,?,,", "event '?' is not one of"),
    ],
)
def test_malformed_rows_name_the_line_or_are_skipped(row, rule):
    text = HEADER + SESSION[0] + "\n" + row + "\n"
    with pytest.raises(ProtocolLogError, match=re.escape(rule)) as err:
        parse(text)
    assert "line 7" in str(err.value)
    (session,) = parse(text, strict=False)
    assert len(session["lines"]) == 1


def test_fields_header_without_required_columns():
    with pytest.raises(ProtocolLogError, match="#Fields lacks session-id"):
        parse("#Fields: date-time,data\n")

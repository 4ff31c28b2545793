"""The protocol-log filters as a playbook uses them: a SEND log file read with the file lookup."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

from send_connector_harness import ROOT  # noqa: E402  (the one bootstrap is tests/conftest.py)

LOG = """#Software: Microsoft Exchange Server
#Version: 15.02.1544.004
#Log-type: SMTP Send Protocol Log
#Date: 2024-05-01T13:00:00.123Z
#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
2024-05-01T13:05:00.126Z,Smart host to Internet,08DC69B1A2B3C4D5,3,10.0.0.5:50123,192.168.3.2:25,>,STARTTLS,
2024-05-01T13:05:00.100Z,Smart host to Internet,08DC69B1A2B3C4D5,0,,192.168.3.2:25,*,,attempting to connect
2024-05-01T13:05:00.300Z,Intra-Organization SMTP Send Connector,08DC69B1A2B3C4C0,0,,10.0.0.6:25,*,,attempting to connect
2024-05-01T13:05:00.110Z,Smart host to Internet,08DC69B1A2B3C4D5,1,10.0.0.5:50123,192.168.3.2:25,+,,
2024-05-01T13:05:00.120Z,Smart host to Internet,08DC69B1A2B3C4D5,2,10.0.0.5:50123,192.168.3.2:25,<,"250-relay.contoso.com Hello, [10.0.0.5] STARTTLS",
2024-05-01T13:05:00.130Z,Smart host to Internet,08DC69B1A2B3C4D5,4,10.0.0.5:50123,192.168.3.2:25,<,220 2.0.0 Ready to start TLS,
2024-05-01T13:05:00.156Z,Smart host to Internet,08DC69B1A2B3C4D5,5,10.0.0.5:50123,192.168.3.2:25,>,AUTH LOGIN,
2024-05-01T13:05:00.170Z,Smart host to Internet,08DC69B1A2B3C4D5,6,10.0.0.5:50123,192.168.3.2:25,<,235 2.7.0 Authentication successful,
2024-05-01T13:05:00.171Z,Smart host to Internet,08DC69B1A2B3C4D5,7,10.0.0.5:50123,192.168.3.2:25,*,,sending message with RecordId 51539607553 and \
InternetMessageId <4867a3d7@ex01.contoso.com>
2024-05-01T13:05:00.206Z,Smart host to Internet,08DC69B1A2B3C4D5,8,10.0.0.5:50123,192.168.3.2:25,-,,Local
"""


def test_playbook_reads_and_selects_sessions(tmp_path):
    collections = tmp_path / "collections"
    link = collections / "ansible_collections" / "mailflow" / "exchange"
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    log_dir = tmp_path / "SmtpSend"
    log_dir.mkdir()
    (log_dir / "SEND2024050113-1.LOG").write_text(LOG)
    out = tmp_path / "picked.json"
    playbook = tmp_path / "log.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Find the logs
              ansible.builtin.find:
                paths: {log_dir}
                patterns: 'SEND*.LOG'
              register: found
            - name: Parse and pick the smart host session of the message
              ansible.builtin.copy:
                dest: {out}
                content: >-
                  {{{{ query('ansible.builtin.file', *(found.files | map(attribute='path')))
                     | mailflow.exchange.smtp_protocol_log
                     | mailflow.exchange.smtp_protocol_sessions(connector='Smart host to Internet', message_id='<4867a3d7@ex01.contoso.com>')
                     | to_json }}}}
        """))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (session,) = json.loads(out.read_text())
    assert session["session_id"] == "08DC69B1A2B3C4D5"
    assert [line["sequence_number"] for line in session["lines"]] == list(range(9))
    assert session["starttls"] is True and session["auth_mechanism"] == "LOGIN"
    assert session["replies"][0] == "250-relay.contoso.com Hello, [10.0.0.5] STARTTLS"
    assert session["remote_endpoint"] == "192.168.3.2:25"


def test_parser_reads_what_the_lab_transport_writes(tmp_path):
    """Contract between the lab's SmtpSend writer (exchange_lab.mail.protocol_log) and the parser."""
    from exchange_lab.mail.protocol_log import ProtocolLogs  # pylint: disable=import-outside-toplevel

    parse_and_select = _parser()
    logs = ProtocolLogs(str(tmp_path / "logs"))
    first = logs.session("EX01", "Smart host to Internet", verbose=True)
    second = logs.session("EX01", "Relay, partners", verbose=True)
    first.local, first.remote = "127.0.0.1:50001", "127.0.0.2:2525"
    second.local, second.remote = "127.0.0.1:50002", "127.0.0.3:25"
    first.event("*", "", "attempting to connect")
    second.event("*", "", "attempting to connect")
    first.event("+")
    second.event("+")
    first.event("<", "220 relay ready, go ahead")
    first.event(">", "STARTTLS")
    first.event("<", "220 2.0.0 Ready to start TLS")
    first.event("*", "CN=relay.contoso.net, O=Contoso", "Certificate subject")
    first.event("*", "", "sending message with RecordId 1 and InternetMessageId <abc@ex01.contoso.com>")
    second.event("-", "", "Local")
    first.event("-", "", "Local")
    files = sorted(os.path.join(walk[0], name) for walk in os.walk(tmp_path / "logs") for name in walk[2])
    assert files and all(name.rsplit(os.sep, 1)[-1].startswith("SEND") for name in files)
    texts = [open(path, encoding="utf-8").read() for path in files]
    sessions, picked = parse_and_select(texts, connector="Smart host to Internet", message_id="abc@ex01.contoso.com")
    assert len(sessions) == 2
    (session,) = picked
    assert session["session_id"] == first.session_id and session["remote_endpoint"] == "127.0.0.2:2525"
    assert session["starttls"] is True and session["complete"] is True and session["sequence_gaps"] is False
    assert session["replies"][0] == "220 relay ready, go ahead"
    assert session["lines"][5]["data"] == "CN=relay.contoso.net, O=Contoso"
    (other,) = [s for s in sessions if s["session_id"] == second.session_id]
    assert other["connector"] == "Relay, partners"


def _parser():
    """The filter functions, imported from this checkout (as the collection loader would)."""
    filters = importlib.import_module("ansible_collections.mailflow.exchange.plugins.filter.protocol_log").FilterModule().filters()

    def parse_and_select(texts, **criteria):
        sessions = filters["smtp_protocol_log"](texts)
        return sessions, filters["smtp_protocol_sessions"](sessions, **criteria)

    return parse_and_select

"""A comment with typographic quotes over the wire (issue 11): the lab stores and returns it as
given, and the command the module reports reads back, with PowerShell's quoting rules, as one
command carrying exactly that comment.
"""

from __future__ import annotations


from pwsh_tokens import parse_command  # noqa: E402

PAYLOAD = "x\u2019; Remove-SendConnector * -Confirm:$false; \u2019"
NAME = "Quote \u2018test\u2019 relay"


def test_typographic_quote_comment_creates_reads_back_and_renders_one_command(ansible, lab):
    run = ansible.play("""
    - name: create
      mailflow.exchange.send_connector:
        name: "{{ conn_name }}"
        address_spaces: ['quotes.example']
        dns_routing_enabled: false
        smart_hosts: [192.168.3.2]
        comment: "{{ payload }}"
    - name: again
      mailflow.exchange.send_connector:
        name: "{{ conn_name }}"
        comment: "{{ payload }}"
    - name: read
      mailflow.exchange.send_connector_info:
        name: "{{ conn_name }}"
    """, vars_={"payload": PAYLOAD, "conn_name": NAME})
    created = run.result("create")
    assert created["changed"] is True and not created["failed"], created
    assert created["connector"]["comment"] == PAYLOAD
    [command] = created["commands"]
    cmdlet, params = parse_command(command)
    assert cmdlet == "New-SendConnector"
    assert dict(params)["Comment"] == PAYLOAD and dict(params)["Name"] == NAME
    again = run.result("again")
    assert again["changed"] is False and not again["failed"], again
    [stored] = run.result("read")["connectors"]
    assert stored["comment"] == PAYLOAD and stored["name"] == NAME

    # the stored comment changed to another quote character: the Set line round-trips too
    changed = ansible.play("""
    - name: change
      mailflow.exchange.send_connector:
        name: "{{ conn_name }}"
        comment: "{{ payload }}"
    """, vars_={"payload": PAYLOAD.replace("\u2019", "\u201b'"), "conn_name": NAME}).result("change")
    assert changed["changed"] is True, changed
    # a name outside ASCII is written by the named connector's own GUID (never by a name Exchange might match
    # differently, issue 15), so the Set line names the connector read above
    assert parse_command(changed["commands"][0]) == (
        "Set-SendConnector", [("Identity", stored["guid"]), ("Comment", PAYLOAD.replace("\u2019", "\u201b'"))])

    # the connector the payload names is still there: nothing ran but the one cmdlet
    listed = ansible.play("""
    - name: all
      mailflow.exchange.send_connector_info: {}
    """).result("all")["connectors"]
    assert NAME in [c["name"] for c in listed]

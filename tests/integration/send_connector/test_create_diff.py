"""ansible-playbook --diff of a create, as printed with Ansible's default settings: what the task set (and
what it implies), no null lines, no predicted defaults, the size as the Exchange shell writes it."""

from __future__ import annotations

CREATE = """
- name: create
  mailflow.exchange.send_connector:
    name: Diff test
    address_spaces: ['contoso.example']
    smart_hosts: [relay.contoso.example]
    max_message_size: 35MB
    comment: managed by ansible
"""


def test_create_diff_lists_only_what_the_task_set(ansible):
    run = ansible.play(CREATE, args=["--diff"], env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    result = run.result("create")
    assert result["changed"] is True, result
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"] == {
        "name": "Diff test",
        "address_spaces": ["SMTP:contoso.example;1"],
        "dns_routing_enabled": False,
        "smart_hosts": ["relay.contoso.example"],
        "max_message_size": "35 MB (36,700,160 bytes)",
        "comment": "managed by ansible",
    }
    printed = run.stdout.split("TASK [create]", 1)[1]
    assert "+++ after" in printed
    assert "null" not in printed and "connection_inactivity_timeout" not in printed and "source_transport_servers" not in printed
    assert '"max_message_size": "35 MB (36,700,160 bytes)"' in printed
    # the connector itself (the return value) still has every setting Exchange gave it
    assert result["connector"]["connection_inactivity_timeout"] == "00:10:00"
    again = ansible.play(CREATE, args=["--diff"]).result("create")
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]

"""One checker: the same bad input gets the same words from send_connector, a send_connectors item, a
send_connector_preflight item and the role.

Each of 24 bad settings is given four ways: as send_connector's options and as one item of send_connectors and of
send_connector_preflight (all three through the modules' real ``main()``, bad_input/runner.py, the connection pointing at a closed port,
so nothing is ever sent), and as one connector of the role's ``smart_host_routing_connectors``, run by
``ansible-playbook`` through the role itself, which stops in its validate stage (one playbook for all cases,
each case an ``include_role`` whose failure is rescued and kept). The problems, without their location
(``connectors[0].``, the role variable) and the ``(connector 'name')`` label, must be the same sentences, and
every one must name the field.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from ansible_collections.mailflow.exchange.plugins.filter.__internal import smart_host_routing as role_filter

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "bad_input", "runner.py")
BASE = {"name": "Same words", "address_spaces": ["same.example"]}

# (settings added to BASE, the field that must be named, a word of the rule)
BAD = [
    ({"port": "abc"}, "port", "whole number"),
    ({"port": 70000}, "port", "65535"),
    ({"prot": 25}, "prot", "did you mean port"),
    ({"error_policies": [3]}, "error_policies[0]", "one of"),
    ({"error_policies": ["Sometimes"]}, "error_policies[0]", "one of"),
    ({"tls_auth_level": "Sometimes"}, "tls_auth_level", "one of"),
    ({"max_message_size": "2GB"}, "max_message_size", "bytes"),
    ({"connection_inactivity_timeout": "2.00:00:00"}, "connection_inactivity_timeout", "00:00:01"),
    ({"smart_hosts": ["bad host!"]}, "smart_hosts[0]", "host"),
    ({"address_spaces": ["*contoso.com"]}, "address_spaces[0]", "wildcard"),
    ({"fqdn": "not a fqdn!"}, "fqdn", "fully qualified"),
    ({"tls_domain": "bad domain!"}, "tls_domain", "domain"),
    ({"source_ip_address": "::1"}, "source_ip_address", "IPv4"),
    ({"smart_hosts": ["192.0.2.1"], "require_tls": True, "ignore_starttls": True}, "ignore_starttls", "must be false"),
    ({"require_tls": "maybe"}, "require_tls", "true or false"),
    ({"authentication_credential": {"password": "x"}}, "authentication_credential.username", "required"),
    ({"comment": "two\nlines"}, "comment", "line"),
    ({"smtp_max_messages_per_connection": 0}, "smtp_max_messages_per_connection", "from 1"),
    ({"smart_hosts": ["192.0.2.1"], "dns_routing_enabled": True}, "dns_routing_enabled", "must be false"),
    ({"tls_certificate_name": "garbage"}, "tls_certificate_name", "<I>"),
    ({"usage": "Everything"}, "usage", "one of"),
    ({"domain_secure_enabled": True, "address_spaces": ["*"]}, "address_spaces", "wildcard"),
    # the provider preset is a row of the option table like the rest: its choices, and its refusals
    ({"smart_host_profile": "office365"}, "smart_host_profile", "one of"),
    ({"smart_host_profile": "generic", "smart_hosts": ["192.0.2.1"], "port": 465}, "port", "STARTTLS only"),
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def strip(problem: str, prefix: str) -> str:
    """A problem without its location and its connector label."""
    problem = re.sub(r" \(connector 'Same words'\)$", "", problem)
    return problem[len(prefix):] if prefix and problem.startswith(prefix) else problem


@pytest.fixture(scope="module")
def module_answers(tmp_path_factory, collections_path):
    port = closed_port()
    connection = {"server": "127.0.0.1", "server_port": port, "auth": "basic", "username": "user", "password": "not-echoed-7f3a"}
    cases = []
    for index, (bad, _field, _word) in enumerate(BAD):
        cases.append({"id": "one-%d" % index, "module": "send_connector", "args": dict(connection, **dict(BASE, **bad))})
        cases.append({"id": "item-%d" % index, "module": "send_connectors",
                      "args": dict(connection, connectors=[dict(BASE, **bad)])})
        cases.append({"id": "preflight-%d" % index, "module": "send_connector_preflight",
                      "args": dict(connection, connectors=[dict(BASE, **bad)])})
    workdir = str(tmp_path_factory.mktemp("same_words"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (collections_path, env.get("PYTHONPATH")) if p)
    for key in [k for k in env if k.startswith("EXCHANGE_")]:
        del env[key]
    source = os.path.join(workdir, "cases.jsonl")
    with open(source, "w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps(case) + "\n")
    with open(source, encoding="utf-8") as stdin:
        proc = subprocess.Popen([sys.executable, RUNNER], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, cwd=workdir, text=True)
        try:
            out, _err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    answers = {}
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            answers[record["id"]] = json.loads(record["output"].strip().splitlines()[-1])
    return answers


VALIDATE_TASK = "Validate | Check the role's settings, smart_host_routing_connectors (JSON Schema) and the verification settings"
PLAYBOOK = """
- name: Every bad connector through the role, which must stop in its validate stage
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One case
      ansible.builtin.include_tasks: case.yml
      loop: "{{ cases }}"
      loop_control:
        loop_var: case
    - name: Keep what the role said
      ansible.builtin.copy:
        content: "{{ answers | default({}) | to_json }}"
        dest: "{{ answers_file }}"
        mode: "0600"
"""
CASE = """
- name: The role with one bad connector
  block:
    - name: Run the role
      ansible.builtin.include_role:
        name: mailflow.exchange.smart_host_routing
      vars:
        smart_host_routing_connectors: "{{ [case.connector] }}"
        smart_host_routing_preflight: false
        smart_host_routing_verify: false
    - name: The role went past validate
      ansible.builtin.set_fact:
        answers: "{{ answers | default({}) | combine({case.id: 'PASSED VALIDATE'}) }}"
  rescue:
    - name: Keep the failure
      ansible.builtin.set_fact:
        answers: "{{ answers | default({}) | combine({case.id: ansible_failed_task.name ~ '\\n' ~ ansible_failed_result.msg}) }}"
"""


@pytest.fixture(scope="module")
def role_answers(tmp_path_factory, collections_path):
    """{case index: (the failed task's name, the first line of its message, the problems the role listed)} from one
    ansible-playbook run."""
    workdir = tmp_path_factory.mktemp("same_words_role")
    (workdir / "play.yml").write_text(PLAYBOOK)
    (workdir / "case.yml").write_text(CASE)
    answers_file = workdir / "answers.json"
    cases = [{"id": str(index), "connector": dict(BASE, **bad)} for index, (bad, _f, _w) in enumerate(BAD)]
    (workdir / "vars.json").write_text(json.dumps({"cases": cases, "answers_file": str(answers_file)}))
    env = {k: val for k, val in os.environ.items() if not k.startswith(("EXCHANGE_", "SMART_HOST_", "ANSIBLE_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"),
               ANSIBLE_HOME=str(workdir / "home"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.Popen([playbook, "play.yml", "-e", "@vars.json", "-e", "ansible_python_interpreter=" + sys.executable],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(workdir), text=True)
    try:
        out, _err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and answers_file.exists(), out[-3000:]
    answers = {}
    for key, text in json.loads(answers_file.read_text()).items():
        task, _sep, msg = text.partition("\n")
        answers[int(key)] = (task, msg.split("\n", 1)[0], [line[len("  - "):] for line in msg.splitlines() if line.startswith("  - ")])
    return answers


@pytest.mark.parametrize("index", range(len(BAD)), ids=[sorted(b[0])[-1] for b in BAD])
def test_same_words_from_module_item_and_role(module_answers, role_answers, index):
    bad, field, word = BAD[index]
    one = module_answers["one-%d" % index]
    item = module_answers["item-%d" % index]
    preflight = module_answers["preflight-%d" % index]
    assert one["failed"] and item["failed"] and preflight["failed"], (one, item, preflight)
    task, head, role = role_answers[index]
    # the role's one validate task, refusing in its input check (the JSON Schema of send_connectors and smart_host)
    assert task == VALIDATE_TASK and " problem(s) in the input; nothing was changed:" in head, (task, head, role)
    from_module = sorted(strip(e, "") for e in one["errors"])
    from_item = sorted(strip(e, "connectors[0].") for e in item["errors"])
    from_preflight = sorted(strip(e, "connectors[0].") for e in preflight["errors"])
    from_role = sorted(strip(e, role_filter.ROLE_VAR + "[0].") for e in role)
    assert from_module == from_item == from_preflight == from_role, (from_module, from_item, from_preflight, from_role)
    assert any(e.startswith(field + ": ") and word in e for e in from_module), from_module
    assert all(a["msg"].startswith("invalid task: ") for a in (one, item, preflight)), (one["msg"], item["msg"], preflight["msg"])

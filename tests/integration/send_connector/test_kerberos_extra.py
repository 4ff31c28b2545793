"""Kerberos is an extra (requirements-kerberos.txt): without it the modules still work with Basic/NTLM,
and a task asked for Kerberos says in one sentence what to install.

"Without it" is made real for the module's Python: a ``sitecustomize`` on PYTHONPATH makes ``import
gssapi`` and ``import krb5`` fail as they do where the extra is not installed; the modules run through
ansible-playbook against the Basic lab, as anywhere else in these tests.
"""

from __future__ import annotations

import os

import pytest

BLOCKER = '''
import importlib.abc
import sys


class _NoKerberosExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("gssapi", "krb5"):
            raise ModuleNotFoundError("No module named %r" % name, name=name)
        return None


sys.meta_path.insert(0, _NoKerberosExtra())
'''

INSTALL_HINT = "pip install -r requirements-kerberos.txt"


@pytest.fixture(scope="module")
def without_extra(tmp_path_factory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("no-kerberos-extra")
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def _info(name: str, **module_args: str) -> str:
    args = "".join("\n        %s: %s" % item for item in module_args.items())
    return """
    - name: %s
      mailflow.exchange.send_connector_info:%s
      ignore_errors: true
    """ % (name, args)


def test_kerberos_without_the_extra_says_what_to_install(ansible, lab, without_extra):
    before = lab.counters()
    run = ansible.play(
        _info("kerberos", auth="kerberos") + _info("negotiate from a ticket cache", auth="negotiate", password="''"),
        env=without_extra,
    )
    for task, auth in (("kerberos", "auth kerberos"), ("negotiate from a ticket cache", "auth negotiate without a password")):
        result = run.result(task)
        assert result["failed"], result
        message = result["msg"]
        assert message.startswith(auth), message
        assert INSTALL_HINT in message and "\n" not in message, message
        assert ". " not in message and "Traceback" not in message, message
    # Both stopped before connecting: the lab saw no request.
    assert lab.counters().get("wsman_requests", 0) == before.get("wsman_requests", 0)


def test_without_the_extra_basic_works(ansible, lab, without_extra):
    before = lab.counters()
    run = ansible.play(_info("basic", auth="basic"), env=without_extra)
    basic = run.result("basic")
    assert not basic["failed"], basic
    assert isinstance(basic["connectors"], list)
    assert lab.counters().get("wsman_requests", 0) > before.get("wsman_requests", 0)


def test_with_the_extra_kerberos_is_attempted(ansible):
    """The same task with the extra installed gets past the check (and fails on the Basic-only lab for
    another reason): the sentence above is about the missing extra, not about the lab."""
    run = ansible.play(_info("kerberos", auth="kerberos"))
    result = run.result("kerberos")
    assert result["failed"], result
    assert INSTALL_HINT not in result["msg"], result["msg"]

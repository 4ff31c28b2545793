"""The modules with their default authentication, Kerberos, against a throwaway KDC and the lab.

The lab accepts Kerberos through Negotiate; the modules ask for Kerberos only (``auth`` is not
set, so its default applies), with the UPN in lower case (the modules upper-case the realm).
"""

from __future__ import annotations

import os

import pytest

from send_connector_harness import Ansible, LabProcess

kdc = pytest.importorskip("exchange_lab.kdc")

LIFE = """
- name: create
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces: ['*']
    usage: Custom
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None
- name: create again
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    address_spaces: ['*']
    smart_hosts: [192.168.3.2]
- name: absent
  mailflow.exchange.send_connector:
    name: Smart host to Internet
    state: absent
"""


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    if kdc.missing_tools():
        pytest.skip("Kerberos KDC tools missing: %s" % ", ".join(kdc.missing_tools()))
    with pytest.MonkeyPatch.context() as mp:
        r = kdc.KerberosRealm(str(tmp_path_factory.mktemp("kdc")), users=("admin", "viewer"))
        r.start()
        for key, value in r.env().items():
            mp.setenv(key, value)  # the lab process inherits the realm (keytab, krb5.conf)
        yield r
        r.stop()


@pytest.fixture(scope="module")
def lab(realm, tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="negotiate")
    proc.start()
    yield proc
    proc.stop()


def kerberos_env(realm, ccache, **extra):
    env = dict(realm.env(ccache))
    env.update({"EXCHANGE_SERVER": realm.host, "EXCHANGE_USERNAME": "admin@" + realm.realm.lower()})
    env.update(extra)
    return env


def without_auth(ansible):
    """EXCHANGE_AUTH removed so that the modules' default (kerberos) applies."""
    base = ansible.env

    def env(user="admin", **overrides):
        result = base(user, **overrides)
        result.pop("EXCHANGE_AUTH", None)
        return result

    ansible.env = env
    return ansible


def test_default_auth_is_kerberos_with_password(realm, lab, tmp_path):
    ansible = without_auth(Ansible(lab, str(tmp_path)))
    ccache = "FILE:%s" % (tmp_path / "empty-ccache")
    run = ansible.play(LIFE, env=kerberos_env(realm, ccache, EXCHANGE_PASSWORD=realm.passwords["admin"]))
    assert run.result("create")["changed"] is True, run.stdout[-3000:]
    assert run.result("create again")["changed"] is False
    assert run.result("absent")["changed"] is True
    assert not os.path.exists(str(tmp_path / "empty-ccache"))  # the user's cache is neither read nor written


def test_kerberos_ticket_from_kinit_without_password(realm, lab, tmp_path):
    ansible = without_auth(Ansible(lab, str(tmp_path)))
    ccache = "FILE:%s" % (tmp_path / "ccache")
    realm.kinit("admin", ccache)
    env = kerberos_env(realm, ccache, EXCHANGE_PASSWORD="")
    run = ansible.play(LIFE, env=env)
    assert run.result("create")["changed"] is True, run.stdout[-3000:]
    assert run.result("absent")["changed"] is True


def test_kerberos_wrong_password_is_one_sentence(realm, lab, tmp_path):
    ansible = without_auth(Ansible(lab, str(tmp_path)))
    run = ansible.play("""
    - name: wrong password
      mailflow.exchange.send_connector_info:
      ignore_errors: true
    """, env=kerberos_env(realm, "FILE:%s" % (tmp_path / "c"), EXCHANGE_PASSWORD="not-it"))
    res = run.result("wrong password")
    assert res["failed"] and "the KDC rejected the password" in res["msg"], res["msg"]
    assert "\n" not in res["msg"]


KEPT = """
- name: create
  mailflow.exchange.send_connector:
    name: Kept over Kerberos
    address_spaces: ['kept.example']
    usage: Custom
    smart_hosts: [192.168.3.2]
    smart_host_auth_mechanism: None
    keep_session: 30
- name: create again
  mailflow.exchange.send_connector:
    name: Kept over Kerberos
    address_spaces: ['kept.example']
    smart_hosts: [192.168.3.2]
    keep_session: 30
- name: absent
  mailflow.exchange.send_connector:
    name: Kept over Kerberos
    state: absent
"""


@pytest.mark.parametrize("login", ["password", "ticket"])
def test_kept_runspace_over_kerberos(realm, lab, tmp_path, login):
    """keep_session over Kerberos: the broker forked from the first task goes on with the pool's Kerberos context
    (HTTP with Kerberos message encryption), for a password login and for a kinit ticket (no password to prove)."""
    ansible = without_auth(Ansible(lab, str(tmp_path)))
    ccache = "FILE:%s" % (tmp_path / "ccache")
    if login == "ticket":
        realm.kinit("admin", ccache)
    password = realm.passwords["admin"] if login == "password" else ""
    before = lab.counters()
    run = ansible.play(KEPT, env=kerberos_env(realm, ccache, EXCHANGE_PASSWORD=password))
    assert run.result("create")["changed"] is True, run.stdout[-3000:]
    assert run.result("create again")["changed"] is False
    assert run.result("absent")["changed"] is True
    after = lab.counters()
    assert after["runspaces_opened"] - before.get("runspaces_opened", 0) == 1  # one for the three tasks
    assert after["runspaces_closed"] - before.get("runspaces_closed", 0) == 1  # closed by the last (keep_session 0)

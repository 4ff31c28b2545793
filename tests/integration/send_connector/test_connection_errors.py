"""Connection failures say what actually failed (issue 11), over the wire against lab processes.

A certificate for another name, a certificate from an unknown CA, a ca_cert that is not PEM, an
authentication scheme the server does not offer (read from its WWW-Authenticate) and a port
outside 1-65535 each get their own sentence; the last two kinds name the option to change.
"""

from __future__ import annotations

import os

import pytest
import trustme

from send_connector_harness import Ansible, started_lab

INFO = """
- name: info
  mailflow.exchange.send_connector_info: {}
  ignore_errors: true
"""


class _Without(Ansible):
    """ansible-playbook without some EXCHANGE_* variables (so the module's own default applies)."""

    def __init__(self, lab, workdir, *drop):
        super().__init__(lab, workdir)
        self.drop = drop

    def env(self, user="admin", **overrides):
        env = super().env(user, **overrides)
        for name in self.drop:
            env.pop(name, None)
        return env


def failure(ansible, tasks=INFO, task="info", **kwargs):
    run = ansible.play(tasks, **kwargs)
    res = run.result(task)
    assert res["failed"], res
    assert "Traceback" not in run.stdout + run.stderr and "\n" not in res["msg"], res["msg"]
    assert "unexpected error" not in res["msg"]
    return res["msg"]


@pytest.fixture(scope="module")
def other_address_lab(tmp_path_factory):
    """HTTPS on 127.0.0.2: its certificate names localhost, 127.0.0.1 and the host's names, not 127.0.0.2."""
    yield from started_lab(tmp_path_factory, https=True, auth="basic", extra_args=["--host", "127.0.0.2"])


def test_certificate_for_another_name(other_address_lab, tmp_path):
    msg = failure(Ansible(other_address_lab, str(tmp_path)))
    assert msg.startswith("the TLS certificate of https://127.0.0.2:%d/PowerShell is not valid for the name 127.0.0.2 "
                          "(it is for localhost, " % other_address_lab.ready["port"]), msg
    assert "127.0.0.1" in msg.split("(it is for", 1)[1].split(")")[0]
    assert "set server to a name the certificate carries" in msg and "was issued by" not in msg


def test_certificate_from_a_ca_not_in_ca_cert(https_lab, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA(organization_name="Not the lab").cert_pem.write_to_path(str(other_ca))
    msg = failure(Ansible(https_lab, str(tmp_path)), env={"EXCHANGE_CA_CERT": str(other_ca)})
    assert "was not issued by the CA in ca_cert %s" % other_ca in msg, msg
    assert "not valid for the name" not in msg


def test_certificate_from_a_ca_this_machine_does_not_trust(https_lab, tmp_path):
    msg = failure(_Without(https_lab, str(tmp_path), "EXCHANGE_CA_CERT"))
    assert "was issued by a CA this machine does not trust" in msg and "give that CA's PEM file in ca_cert" in msg, msg


def test_ca_cert_that_is_not_pem_is_refused_before_connecting(https_lab, tmp_path):
    der = tmp_path / "ca.cer"
    der.write_bytes(trustme.CA().cert_pem.bytes().replace(b"-----BEGIN CERTIFICATE-----", b""))
    before = https_lab.counters().get("wsman_requests", 0)
    msg = failure(Ansible(https_lab, str(tmp_path)), env={"EXCHANGE_CA_CERT": str(der)})
    assert msg.startswith("ca_cert %s holds no PEM certificate" % der), msg
    assert https_lab.counters().get("wsman_requests", 0) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_ca_cert(https_lab, tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_text(open(https_lab.ready["ca_cert"], encoding="ascii").read())
    pem.chmod(0)
    assert "cannot be read" in failure(Ansible(https_lab, str(tmp_path)), env={"EXCHANGE_CA_CERT": str(pem)})


def test_default_kerberos_against_a_basic_only_server_says_which_auth_to_set(lab, tmp_path):
    msg = failure(_Without(lab, str(tmp_path), "EXCHANGE_AUTH"))
    url = "http://%s:%d/PowerShell" % (lab.ready["host"], lab.ready["port"])
    assert msg == (
        "%s does not offer kerberos authentication (auth was not given, so kerberos was used): the server offers Basic "
        "(WWW-Authenticate); set auth: basic with protocol https (over http Basic sends the password in clear text) "
        "(or EXCHANGE_AUTH)" % url), msg
    assert "refused the Kerberos ticket" not in msg


def test_basic_against_an_ntlm_server_says_which_auth_to_set(ntlm_lab, tmp_path):
    msg = failure(Ansible(ntlm_lab, str(tmp_path)), env={"EXCHANGE_AUTH": "basic"})
    assert "does not offer basic authentication (auth is basic): the server offers NTLM (WWW-Authenticate); set " \
           "auth: negotiate or auth: ntlm" in msg, msg
    assert ntlm_lab.ready["password"] not in msg


def test_wrong_password_with_an_offered_scheme_still_says_credentials(lab, tmp_path):
    msg = failure(Ansible(lab, str(tmp_path)), env={"EXCHANGE_PASSWORD": "not-the-password"})
    assert "rejected the credentials of user admin with basic authentication (HTTP 401)" in msg, msg


@pytest.mark.parametrize("where", ["option", "environment"])
@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_outside_the_range_is_refused_not_replaced(lab, tmp_path, port, where):
    before = lab.counters().get("wsman_requests", 0)
    if where == "option":
        tasks = INFO.replace("{}", "{server_port: %d}" % port)
        msg = failure(Ansible(lab, str(tmp_path)), tasks)
    else:
        msg = failure(Ansible(lab, str(tmp_path)), env={"EXCHANGE_PORT": str(port)})
    # the task's own validation (option) or the connection settings (environment): either names the option
    assert "server_port: must be" in msg and "1 to 65535" in msg, msg
    assert lab.counters().get("wsman_requests", 0) == before

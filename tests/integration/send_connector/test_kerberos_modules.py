"""The modules over Kerberos, end to end: ansible-playbook -> pypsrp -> a real MIT KDC -> the lab.

The lab runs with ``--auth kerberos`` (Kerberos only, like Exchange's /PowerShell) over plain
HTTP, so every message is sealed with the Kerberos session key. The modules connect to
``localhost`` (the service principal is ``HTTP/localhost@LAB.TEST``) and log in either with a
user name and password (a ticket obtained for the run, kept in memory) or with a ticket that
``kinit`` put in the credential cache beforehand (no password in the task).

Each failure a user can hit must end in one clear sentence, never a traceback. To keep the suite
fast, the cases are grouped into four ansible-playbook runs (module-scoped fixtures); each test
then checks one task's result. Per-task ``environment:`` points a task at a skewed or a dead KDC.
"""

from __future__ import annotations

import json
import os

import pytest

from send_connector_harness import Ansible, LabProcess

from exchange_lab import kdc  # noqa: E402

pytestmark = pytest.mark.skipif(
    bool(kdc.missing_tools(with_faketime=True)),
    reason="MIT Kerberos tools not installed: %s (apt-get install $(cat hacking/apt-packages.txt))"
    % ", ".join(kdc.missing_tools(with_faketime=True)),
)

ADMIN = "admin@LAB.TEST"


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        r = kdc.KerberosRealm(str(tmp_path_factory.mktemp("kdc")), users=("admin", "viewer", "stranger"))
        r.start()
        for key, value in r.env().items():
            mp.setenv(key, value)  # the lab process inherits KRB5_CONFIG and KRB5_KTNAME
        yield r
        r.stop()


@pytest.fixture(scope="module")
def lab(realm, tmp_path_factory):
    proc = LabProcess(str(tmp_path_factory.mktemp("lab")), auth="kerberos")
    proc.start()
    yield proc
    proc.stop()


class KerberosAnsible(Ansible):
    """The harness's ansible-playbook with Kerberos connection settings (None removes a variable)."""

    def __init__(self, lab: LabProcess, workdir: str, realm: kdc.KerberosRealm) -> None:
        super().__init__(lab, workdir)
        self.realm = realm
        self.ccache_path = os.path.join(workdir, "user-ccache")
        self.ccache = "FILE:" + self.ccache_path
        self.krb: dict[str, str | None] = {}

    def env(self, user: str = "admin", **overrides: str) -> dict[str, str]:
        env = super().env(user)
        env.update(self.realm.env(self.ccache))
        env.update(
            {
                "EXCHANGE_SERVER": "localhost",
                "EXCHANGE_AUTH": "kerberos",
                "EXCHANGE_USERNAME": ADMIN,
                "EXCHANGE_PASSWORD": self.realm.passwords["admin"],
            }
        )
        for key, value in {**self.krb, **overrides}.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, tasks: str, args=(), **krb: str | None):
        self.krb = krb
        try:
            return self.play(tasks, args=args)
        finally:
            self.krb = {}


@pytest.fixture(scope="module")
def ansible(lab, realm, tmp_path_factory):
    return KerberosAnsible(lab, str(tmp_path_factory.mktemp("plays")), realm)


def info_task(name: str, **args: str) -> str:
    lines = [f"- name: {name}", "  mailflow.exchange.send_connector_info:"]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in args.items()] or ["    {}"]
    lines.append("  ignore_errors: true")
    return "\n".join(lines) + "\n"


def assert_ok(run, task):
    result = run.result(task)
    assert not result.get("failed"), "%s: %s\n%s" % (task, result.get("msg"), run.stderr[-2000:])
    return result


def failure(run, task) -> str:
    result = run.result(task)
    assert result.get("failed"), "%s should have failed: %s" % (task, result)
    message = result["msg"]
    assert "Traceback" not in message and "\n" not in message
    return message


# --- run 1: user name and password (verbose, to check that the password never shows) --------------


@pytest.fixture(scope="module")
def password_run(ansible):
    if os.path.exists(ansible.ccache_path):
        os.unlink(ansible.ccache_path)
    tasks = (
        info_task("kerberos")
        + info_task("negotiate", auth="negotiate")
        + info_task("lower-case realm", username="admin@lab.test")
        + """
- name: create
  mailflow.exchange.send_connector:
    name: Kerberos smart host
    address_spaces: ['kerberos.example']
    usage: Custom
    dns_routing_enabled: false
    smart_hosts: [relay.kerberos.example]
- name: read back
  mailflow.exchange.send_connector_info:
    name: Kerberos smart host
"""
    )
    run = ansible.run(tasks, args=["-vvv"])
    run.ccache_created = os.path.exists(ansible.ccache_path)
    return run


@pytest.mark.parametrize("task", ["kerberos", "negotiate", "lower-case realm"])
def test_password_login_reads_connectors(password_run, task):
    assert isinstance(assert_ok(password_run, task)["connectors"], list)


def test_password_login_writes_a_connector(password_run):
    assert assert_ok(password_run, "create")["changed"] is True
    connectors = assert_ok(password_run, "read back")["connectors"]
    assert [c["name"] for c in connectors] == ["Kerberos smart host"]


def test_password_ticket_stays_private(password_run):
    """The ticket obtained with the password lives in memory: the user's cache was not created."""
    assert password_run.result("kerberos")  # the run happened
    assert not password_run.ccache_created


def test_password_never_appears_in_output(password_run, realm):
    assert_ok(password_run, "kerberos")
    assert realm.passwords["admin"] not in password_run.stdout + password_run.stderr


# --- runs 2 and 3: no password in the task: the credential cache, empty then after kinit ----------

CCACHE_TASKS = (
    info_task("kerberos, no user")
    + info_task("kerberos, user", username=ADMIN)
    + info_task("negotiate, no user", auth="negotiate")
    + info_task("negotiate, user", auth="negotiate", username=ADMIN)
)


@pytest.fixture(scope="module")
def empty_cache_run(ansible):
    if os.path.exists(ansible.ccache_path):
        os.unlink(ansible.ccache_path)
    return ansible.run(CCACHE_TASKS, EXCHANGE_USERNAME=None, EXCHANGE_PASSWORD=None)


@pytest.fixture(scope="module")
def ccache_run(ansible, realm, empty_cache_run):
    realm.kinit("admin", ansible.ccache)
    try:
        return ansible.run(CCACHE_TASKS, EXCHANGE_USERNAME=None, EXCHANGE_PASSWORD=None)
    finally:
        os.unlink(ansible.ccache_path)


@pytest.mark.parametrize("task", ["kerberos, no user", "kerberos, user", "negotiate, no user", "negotiate, user"])
def test_credential_cache_login_without_password(ccache_run, task):
    assert isinstance(assert_ok(ccache_run, task)["connectors"], list)


@pytest.mark.parametrize("task", ["kerberos, no user", "negotiate, no user"])
def test_no_ticket_and_no_password(empty_cache_run, ansible, task):
    message = failure(empty_cache_run, task)
    assert "Kerberos has no ticket for the default principal: no password was given" in message
    assert ansible.ccache in message


@pytest.mark.parametrize("task", ["kerberos, user", "negotiate, user"])
def test_no_ticket_for_the_named_user(empty_cache_run, task):
    message = failure(empty_cache_run, task)
    assert "Kerberos has no ticket for admin@LAB.TEST" in message and "run kinit admin@LAB.TEST first" in message


# --- run 4: every other failure ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def skewed_realm(tmp_path_factory):
    """A second KDC whose clock runs one hour ahead (libfaketime)."""
    skewed = kdc.KerberosRealm(str(tmp_path_factory.mktemp("skewed")), users=("admin",), clock_offset=3600)
    with skewed:
        yield skewed


@pytest.fixture(scope="module")
def dead_realm(tmp_path_factory):
    """A realm configured but never started: no KDC answers on its port."""
    down = kdc.KerberosRealm(str(tmp_path_factory.mktemp("down")), users=("admin",))
    down.create()
    return down


@pytest.fixture(scope="module")
def failure_run(ansible, realm, skewed_realm, dead_realm):
    def env_task(name: str, krb5_config: str, **args: str) -> str:
        return info_task(name, **args) + f"  environment:\n    KRB5_CONFIG: {json.dumps(krb5_config)}\n"

    tasks = ""
    for auth in ("kerberos", "negotiate"):
        tasks += info_task(f"wrong password, {auth}", auth=auth, password="not-the-password")
        tasks += info_task(f"unknown principal, {auth}", auth=auth, username="ghost@LAB.TEST")
        tasks += info_task(f"IP address, {auth}", auth=auth, server="127.0.0.1")
        tasks += env_task(f"clock skew, {auth}", skewed_realm.krb5_config, auth=auth, password=skewed_realm.passwords["admin"])
        tasks += env_task(f"KDC unreachable, {auth}", dead_realm.krb5_config, auth=auth)
    tasks += info_task("refused by the server", username="stranger@LAB.TEST", password=realm.passwords["stranger"])
    tasks += info_task("DOMAIN\\user form", username="LAB\\admin")
    return ansible.run(tasks)


AUTHS = ["kerberos", "negotiate"]


@pytest.mark.parametrize("auth", AUTHS)
def test_wrong_password(failure_run, auth):
    message = failure(failure_run, f"wrong password, {auth}")
    assert "Kerberos login for admin@LAB.TEST failed: the KDC rejected the password (check password)" in message


@pytest.mark.parametrize("auth", AUTHS)
def test_unknown_principal(failure_run, auth):
    message = failure(failure_run, f"unknown principal, {auth}")
    assert "the KDC of realm LAB.TEST does not know the user ghost@LAB.TEST" in message


@pytest.mark.parametrize("auth", AUTHS)
def test_ip_address_has_no_spn(failure_run, auth):
    message = failure(failure_run, f"IP address, {auth}")
    assert "Kerberos cannot get a ticket for HTTP/127.0.0.1 because server is an IP address" in message


@pytest.mark.parametrize("auth", AUTHS)
def test_clock_skew(failure_run, auth):
    message = failure(failure_run, f"clock skew, {auth}")
    assert "clock and the KDC's differ by more than the allowed skew" in message


@pytest.mark.parametrize("auth", AUTHS)
def test_kdc_unreachable(failure_run, auth):
    message = failure(failure_run, f"KDC unreachable, {auth}")
    assert "no KDC of realm LAB.TEST answered" in message


def test_negotiate_says_kerberos_failed_before_ntlm(failure_run):
    """negotiate falls back to NTLM, which a Kerberos-only server refuses: the message keeps Kerberos' reason."""
    message = failure(failure_run, "wrong password, negotiate")
    assert message.startswith("negotiate could not use Kerberos and the NTLM fallback was refused")


def test_ticket_the_server_refuses(failure_run):
    """A valid ticket for a principal the server does not let in: the server's 401, in one sentence."""
    message = failure(failure_run, "refused by the server")
    assert "refused the Kerberos ticket of stranger@LAB.TEST (HTTP 401)" in message


def test_domain_backslash_user_is_refused_before_connecting(failure_run, lab):
    message = failure(failure_run, "DOMAIN\\user form")
    assert "DOMAIN\\user form, which Kerberos does not understand: give the UPN" in message

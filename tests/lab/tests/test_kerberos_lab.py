"""Kerberos end to end: a real MIT KDC on loopback, the lab accepting Kerberos, plain pypsrp.

The realm (``exchange_lab.kdc``) has ``admin@LAB.TEST`` and ``viewer@LAB.TEST`` (the lab's RBAC
users), ``stranger@LAB.TEST`` (a valid principal the lab does not know) and the lab's service
``HTTP/localhost`` + ``host/localhost``. Clients connect to ``localhost`` (the SPN's host name);
``127.0.0.1`` is the "no matching SPN" case. Everything goes through ``KRB5_CONFIG`` /
``KRB5_KTNAME`` / ``KRB5CCNAME``; nothing touches /etc.

The lab runs twice: ``--auth negotiate`` (accepts Kerberos and NTLM, Kerberos key from the
keytab) and ``--auth kerberos`` (Kerberos only, like Exchange's /PowerShell).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from exchange_lab import kdc

pytestmark = pytest.mark.skipif(
    bool(kdc.missing_tools(with_faketime=True)),
    reason="MIT Kerberos tools not installed: %s (apt-get install $(cat hacking/apt-packages.txt))"
    % ", ".join(kdc.missing_tools(with_faketime=True)),
)

from pypsrp.exceptions import AuthenticationError  # noqa: E402
from pypsrp.powershell import PowerShell, RunspacePool  # noqa: E402
from pypsrp.wsman import WSMan  # noqa: E402

from labfixture import LAB_SRC, LabProcess  # noqa: E402

USERS = ("admin", "viewer", "stranger")
LAB_AUTHS = ("negotiate", "kerberos")


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        r = kdc.KerberosRealm(str(tmp_path_factory.mktemp("kdc")), users=USERS)
        r.start()
        for key, value in r.env().items():
            mp.setenv(key, value)
        yield r
        r.stop()


@pytest.fixture(scope="module", params=LAB_AUTHS)
def lab(request, realm, tmp_path_factory):
    """A lab process whose environment points at the realm's krb5.conf and keytab."""
    proc = LabProcess(str(tmp_path_factory.mktemp(f"lab-{request.param}")), auth=request.param)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def ccache(tmp_path, monkeypatch):
    """A fresh, empty credential cache for this test (KRB5CCNAME), as a user's own would be."""
    name = f"FILE:{tmp_path / 'ccache'}"
    monkeypatch.setenv("KRB5CCNAME", name)
    return name


def wsman(lab, *, host="localhost", auth="kerberos", username=None, password=None, **kwargs):
    return WSMan(
        host,
        port=lab.ready["port"],
        path=lab.ready["path"],
        ssl=False,
        auth=auth,
        username=username,
        password=password,
        negotiate_service="HTTP",
        read_timeout=30,
        connection_timeout=10,
        **kwargs,
    )


def run(pool, cmdlet, **params):
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for key, value in params.items():
        ps.add_parameter(key, value)
    ps.invoke()
    return ps


def capture_wire(pool) -> list[requests.Response]:
    seen: list[requests.Response] = []
    pool.connection.transport.session.hooks["response"].append(lambda response, *a, **k: seen.append(response))
    return seen


def error_ids(ps) -> str:
    return " ".join(str(getattr(e, "fq_error", "")) for e in ps.streams.error)


# --- the realm itself -------------------------------------------------------------------------


def test_realm_lives_in_its_directory(realm):
    info = realm.info()
    assert info["realm"] == "LAB.TEST"
    assert info["krb5_config"].startswith(realm.directory)
    assert os.environ["KRB5_CONFIG"] == realm.krb5_config
    with open(realm.krb5_config, encoding="utf-8") as handle:
        conf = handle.read()
    for setting in ("rdns = false", "dns_canonicalize_hostname = false", "dns_lookup_kdc = false", f"kdc = 127.0.0.1:{realm.port}"):
        assert setting in conf
    listed = subprocess.run(
        [kdc.find_tool("klist"), "-k", realm.keytab], capture_output=True, text=True, check=True
    ).stdout
    assert "HTTP/localhost@LAB.TEST" in listed and "host/localhost@LAB.TEST" in listed


def test_kdc_command_prints_json_and_stops_on_sigterm(tmp_path):
    env = dict(os.environ, PYTHONPATH=LAB_SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    state = tmp_path / "kdc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange_lab", "kdc", "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["realm"] == "LAB.TEST" and info["kdc"] == f"127.0.0.1:{info['kdc_port']}"
        assert set(info["principals"]) == {"admin", "viewer"}
        assert info["env"]["KRB5_CONFIG"] == str(state / "krb5.conf")
        cc = f"FILE:{tmp_path / 'cc'}"
        kinit = subprocess.run(
            [kdc.find_tool("kinit"), info["principals"]["admin"]["principal"]],
            input=info["principals"]["admin"]["password"] + "\n",
            capture_output=True,
            text=True,
            env={**os.environ, **info["env"], "KRB5CCNAME": cc},
            check=False,
        )
        assert kinit.returncode == 0, kinit.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    with open(state / "krb5kdc.pid", encoding="ascii") as handle:
        kdc_pid = int(handle.read())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(kdc_pid):
        time.sleep(0.05)
    assert not _alive(kdc_pid), "krb5kdc still running after the kdc command stopped"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


# --- logging in -------------------------------------------------------------------------------


@pytest.mark.parametrize("client_auth", ["kerberos", "negotiate"])
def test_password_login_with_message_encryption(lab, realm, ccache, client_auth):
    w = wsman(lab, auth=client_auth, username="admin@LAB.TEST", password=realm.passwords["admin"])
    with RunspacePool(w, configuration_name=lab.ready["configuration_name"]) as pool:
        wire = capture_wire(pool)
        ps = run(pool, "Get-ExchangeServer")
        assert not ps.had_errors, error_ids(ps)
        assert ps.output, "Get-ExchangeServer returned nothing"
    assert w.transport.encryption is not None
    assert pool.connection.transport.session.auth.contexts["localhost"].negotiated_protocol == "kerberos"
    assert wire, "no HTTP exchange recorded"
    for response in wire:
        assert response.status_code == 200
        assert response.request.headers["Content-Type"].startswith("multipart/encrypted;")
        assert response.headers["Content-Type"].startswith("multipart/encrypted;")
        assert b"Get-ExchangeServer" not in response.request.body
        assert b"Envelope" not in response.content


def test_password_login_keeps_the_ticket_private(lab, realm, ccache):
    """With a password the ticket stays in memory: the user's cache (KRB5CCNAME) is not created."""
    w = wsman(lab, username="admin@LAB.TEST", password=realm.passwords["admin"])
    with RunspacePool(w, configuration_name=lab.ready["configuration_name"]) as pool:
        assert not run(pool, "Get-ExchangeServer").had_errors
    assert not os.path.exists(ccache.split(":", 1)[1])


@pytest.mark.parametrize("client_auth", ["kerberos", "negotiate"])
@pytest.mark.parametrize("username", [None, "admin@LAB.TEST"])
def test_credential_cache_login(lab, realm, ccache, client_auth, username):
    realm.kinit("admin", ccache)
    w = wsman(lab, auth=client_auth, username=username)
    with RunspacePool(w, configuration_name=lab.ready["configuration_name"]) as pool:
        ps = run(pool, "Get-ExchangeServer")
        assert not ps.had_errors, error_ids(ps)
    assert w.transport.encryption is not None


def test_principal_is_the_rbac_user(lab, realm, ccache):
    """viewer@LAB.TEST is the lab's View-Only user: write cmdlets are not in its session; admin's are."""
    realm.kinit("viewer", ccache)
    with RunspacePool(wsman(lab), configuration_name=lab.ready["configuration_name"]) as pool:
        viewer = run(pool, "Remove-SendConnector", Identity="No Such Connector", Confirm=False)
    assert "CommandNotFoundException" in error_ids(viewer)
    with RunspacePool(wsman(lab, username="admin@LAB.TEST", password=realm.passwords["admin"]), configuration_name="Microsoft.Exchange") as pool:
        admin = run(pool, "Remove-SendConnector", Identity="No Such Connector", Confirm=False)
    assert admin.streams.error, "admin's Remove-SendConnector of a missing connector reported nothing"
    assert "CommandNotFoundException" not in error_ids(admin)


# --- failures as pypsrp raises them -----------------------------------------------------------


def open_pool(w):
    with RunspacePool(w, configuration_name="Microsoft.Exchange"):
        pass


def test_principal_unknown_to_the_lab_is_refused(lab, realm, ccache):
    w = wsman(lab, username="stranger@LAB.TEST", password=realm.passwords["stranger"])
    with pytest.raises(AuthenticationError):
        open_pool(w)


def test_wrong_password(lab, ccache):
    with pytest.raises(Exception, match="Preauthentication failed"):
        open_pool(wsman(lab, username="admin@LAB.TEST", password="not-the-password"))


def test_unknown_principal(lab, ccache):
    with pytest.raises(Exception, match="Client 'ghost@LAB.TEST' not found in Kerberos database"):
        open_pool(wsman(lab, username="ghost@LAB.TEST", password="whatever"))


def test_no_ticket_and_no_password(lab, ccache):
    with pytest.raises(Exception, match="No Kerberos credentials available"):
        open_pool(wsman(lab))


def test_ip_address_has_no_spn(lab, realm, ccache):
    w = wsman(lab, host="127.0.0.1", username="admin@LAB.TEST", password=realm.passwords["admin"])
    with pytest.raises(Exception, match=r"Server HTTP/127\.0\.0\.1@LAB\.TEST not found in Kerberos database"):
        open_pool(w)


def test_only_the_kerberos_lab_refuses_ntlm(lab):
    """--auth kerberos is Kerberos only, like Exchange; --auth negotiate also takes NTLM (lab users)."""
    w = wsman(lab, auth="ntlm", username=lab.ready["username"], password=lab.ready["password"])
    if lab.ready["auth"] == "kerberos":
        with pytest.raises(AuthenticationError):
            open_pool(w)
    else:
        with RunspacePool(w, configuration_name="Microsoft.Exchange") as pool:
            assert not run(pool, "Get-ExchangeServer").had_errors


def test_clock_skew(lab, tmp_path, ccache, monkeypatch):
    """A KDC one hour ahead (libfaketime): the KDC refuses the pre-authentication timestamp."""
    skewed = kdc.KerberosRealm(str(tmp_path / "skewed"), users=("admin",), clock_offset=3600)
    with skewed:
        for key, value in skewed.env(ccache).items():
            monkeypatch.setenv(key, value)
        with pytest.raises(Exception, match="Clock skew too great"):
            open_pool(wsman(lab, username="admin@LAB.TEST", password=skewed.passwords["admin"]))


def test_kdc_unreachable(lab, tmp_path, ccache, monkeypatch):
    down = kdc.KerberosRealm(str(tmp_path / "down"), users=("admin",))
    down.create()  # configured, never started: nothing listens on its port
    monkeypatch.setenv("KRB5_CONFIG", down.krb5_config)
    with pytest.raises(Exception, match="Cannot contact any KDC for realm 'LAB.TEST'"):
        open_pool(wsman(lab, username="admin@LAB.TEST", password=down.passwords["admin"]))


def test_https_with_kerberos(realm, tmp_path, ccache):
    """Over HTTPS the TLS channel protects the session: Kerberos authenticates, nothing is sealed on top."""
    https_lab = LabProcess(str(tmp_path / "https-lab"), auth="kerberos", https=True)
    https_lab.start()
    try:
        w = WSMan(
            "localhost",
            port=https_lab.ready["port"],
            path="PowerShell",
            ssl=True,
            auth="kerberos",
            username="admin@LAB.TEST",
            password=realm.passwords["admin"],
            cert_validation=https_lab.ready["ca_cert"],
            negotiate_service="HTTP",
        )
        with RunspacePool(w, configuration_name="Microsoft.Exchange") as pool:
            ps = run(pool, "Get-ExchangeServer")
            assert not ps.had_errors, error_ids(ps)
            assert ps.output
        assert w.transport.encryption is None
    finally:
        https_lab.stop()

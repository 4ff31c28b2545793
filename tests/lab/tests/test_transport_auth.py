"""HTTPS with the lab's CA, NTLM and Negotiate with WinRM message encryption over HTTP, and the
PSRP key exchange that carries a PSCredential's SecureString to the backend.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl

import pytest
import requests
import spnego
from pypsrp.complex_objects import PSCredential
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from test_transport_backend import ADMIN, start_lab


@pytest.fixture(scope="module")
def https_lab(tmp_path_factory):
    proc = start_lab(str(tmp_path_factory.mktemp("lab")), https=True)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ntlm_lab(tmp_path_factory):
    proc = start_lab(str(tmp_path_factory.mktemp("lab")), auth="ntlm")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def negotiate_lab(tmp_path_factory):
    proc = start_lab(str(tmp_path_factory.mktemp("lab")), auth="negotiate")
    yield proc
    proc.stop()


def echo(p) -> list:
    ps = PowerShell(p)
    ps.add_cmdlet("Get-LabEcho").add_parameter("Name", "secret-free text")
    ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED
    return ps.output


def open_pool(lab, **kwargs) -> RunspacePool:
    return RunspacePool(lab.wsman(**kwargs), configuration_name="Microsoft.Exchange")


@pytest.fixture(scope="module")
def https_ntlm_lab(tmp_path_factory):
    proc = start_lab(str(tmp_path_factory.mktemp("lab")), https=True, auth="negotiate")
    yield proc
    proc.stop()


# --- HTTPS ------------------------------------------------------------------------------------


def test_https_ready_json_names_the_ca(https_lab):
    ready = https_lab.ready
    assert ready["scheme"] == "https"
    assert ready["ca_cert"] == os.path.join(https_lab.state_dir, "ca.pem")
    with open(ready["ca_cert"], encoding="ascii") as handle:
        assert handle.read().startswith("-----BEGIN CERTIFICATE-----")


def test_https_basic_with_ca_validation(https_lab):
    with open_pool(https_lab) as p:  # cert_validation = the CA path
        assert echo(p)[0] == "user=admin"


def test_https_certificate_names_localhost(https_lab):
    server = WSMan(
        "localhost",
        port=https_lab.ready["port"],
        path="PowerShell",
        ssl=True,
        auth="basic",
        username=ADMIN[0],
        password=ADMIN[1],
        cert_validation=https_lab.ready["ca_cert"],
    )
    with RunspacePool(server, configuration_name="Microsoft.Exchange") as p:
        assert echo(p)[0] == "user=admin"


def test_https_without_the_ca_fails_validation(https_lab):
    p = open_pool(https_lab, cert_validation=True)
    with pytest.raises(requests.exceptions.SSLError):
        p.open()


def test_https_handshake_failure_does_not_block_the_server(https_lab):
    context = ssl.create_default_context()  # does not trust the lab CA
    with socket.create_connection((https_lab.ready["host"], https_lab.ready["port"]), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="localhost")
    with open_pool(https_lab) as p:
        assert echo(p)[0] == "user=admin"


# --- NTLM / Negotiate with message encryption -------------------------------------------------


def capture_wire(p) -> list[requests.Response]:
    """Record the raw HTTP exchanges of an opened pool (before pypsrp decrypts them)."""
    seen: list[requests.Response] = []
    session = p.connection.transport.session
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    return seen


@pytest.mark.parametrize("client_auth", ["ntlm", "negotiate"])
def test_ntlm_encrypts_messages_over_http(ntlm_lab, client_auth):
    with open_pool(ntlm_lab, auth=client_auth) as p:
        wire = capture_wire(p)
        assert echo(p)[0] == "user=admin"
    assert wire, "no HTTP exchange recorded"
    for response in wire:
        assert response.status_code == 200
        request_type = response.request.headers["Content-Type"]
        assert request_type.startswith("multipart/encrypted;")
        assert 'protocol="application/HTTP-SPNEGO-session-encrypted"' in request_type
        assert response.headers["Content-Type"].startswith("multipart/encrypted;")
        assert b"Get-LabEcho" not in response.request.body
        assert b"secret-free text" not in response.content
        assert b"Envelope" not in response.content


@pytest.mark.parametrize("user", ["admin", "CONTOSO\\admin", "admin@contoso.com"])
def test_ntlm_user_name_forms(ntlm_lab, user):
    with open_pool(ntlm_lab, username=user) as p:
        assert echo(p)[0] == "user=admin"


def test_ntlm_bad_password_is_authentication_error(ntlm_lab):
    p = open_pool(ntlm_lab, password="not-the-password")
    with pytest.raises(AuthenticationError):
        p.open()


def test_ntlm_unknown_user_is_authentication_error(ntlm_lab):
    p = open_pool(ntlm_lab, username="mallory", password="whatever")
    with pytest.raises(AuthenticationError):
        p.open()


def test_ntlm_challenge_and_plaintext_refused(ntlm_lab):
    url = f"http://{ntlm_lab.ready['host']}:{ntlm_lab.ready['port']}/PowerShell"
    response = requests.post(url, data=b"<x/>", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "NTLM"


@pytest.mark.parametrize("client_auth", ["negotiate", "ntlm"])
def test_negotiate_encrypts_messages_over_http(negotiate_lab, client_auth):
    with open_pool(negotiate_lab, auth=client_auth) as p:
        wire = capture_wire(p)
        assert echo(p)[0] == "user=admin"
    for response in wire:
        assert response.request.headers["Content-Type"].startswith("multipart/encrypted;")
        assert response.headers["Content-Type"].startswith("multipart/encrypted;")
    assert wire


def test_negotiate_challenge(negotiate_lab):
    url = f"http://{negotiate_lab.ready['host']}:{negotiate_lab.ready['port']}/PowerShell"
    response = requests.post(url, data=b"", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Negotiate"


def test_negotiate_bad_password_is_authentication_error(negotiate_lab):
    p = open_pool(negotiate_lab, password="nope")
    with pytest.raises(AuthenticationError):
        p.open()


# --- key exchange and SecureString ---------------------------------------------------------------


@pytest.mark.parametrize("lab_name", ["ntlm_lab", "https_lab", "https_ntlm_lab"])
def test_pscredential_password_reaches_backend_after_key_exchange(request, lab_name):
    lab = request.getfixturevalue(lab_name)
    secret = "Smart-host pässword 42!"
    with open_pool(lab) as p:
        p.exchange_keys()
        ps = PowerShell(p)
        ps.add_cmdlet("Test-LabCredential")
        ps.add_parameter("Credential", PSCredential(username="CONTOSO\\relay", password=secret))
        ps.add_parameter("Expected", secret)
        ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    assert ps.output == ["CONTOSO\\relay", True, len(secret)]
    assert secret not in lab.log_tail(10000)


def test_ntlm_authenticates_the_connection_and_refuses_plaintext(ntlm_lab):
    """Raw HTTP with pyspnego: the handshake authenticates the TCP connection, later requests
    on it carry no Authorization header, and an unsealed SOAP body is refused (400)."""
    url = f"http://{ntlm_lab.ready['host']}:{ntlm_lab.ready['port']}/PowerShell"
    context = spnego.client(ADMIN[0], ADMIN[1], protocol="ntlm")
    with requests.Session() as session:
        first = session.post(
            url, data=b"", headers={"Authorization": "NTLM " + base64.b64encode(context.step()).decode()}
        )
        assert first.status_code == 401
        challenge = base64.b64decode(first.headers["WWW-Authenticate"].split(" ", 1)[1])
        token = context.step(challenge)
        done = session.post(url, data=b"", headers={"Authorization": "NTLM " + base64.b64encode(token).decode()})
        assert done.status_code == 200
        plain = session.post(url, data=b"<s:Envelope/>", headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        assert plain.status_code == 400
    with requests.Session() as other:  # a new connection is not authenticated
        assert other.post(url, data=b"<s:Envelope/>").status_code == 401


@pytest.mark.parametrize("client_auth", ["negotiate", "ntlm"])
def test_negotiate_over_https_relies_on_tls_not_sealing(https_ntlm_lab, client_auth):
    with open_pool(https_ntlm_lab, auth=client_auth) as p:
        wire = capture_wire(p)
        assert echo(p)[0] == "user=admin"
    assert wire
    for response in wire:  # TLS protects the body: no WinRM sealing on top
        assert response.request.headers["Content-Type"].startswith("application/soap+xml")

"""Pure-logic tests of the transport's pieces (no server): WinRM encryption framing with real
pyspnego NTLM contexts, SOAP faults as pypsrp parses them, durations, user names, error records.
"""

from __future__ import annotations

import os

import pytest
import spnego
from psrpcore.types import ErrorCategory
from pypsrp.encryption import WinRMEncryption
from pypsrp.wsman import WSMan

from exchange_lab import api
from exchange_lab.transport import auth, encryption, errors, soap


@pytest.fixture
def ntlm_pair(tmp_path, monkeypatch):
    """A completed NTLM client/server context pair using the lab's user file format."""
    user_file = tmp_path / "ntlm_users"
    auth.write_ntlm_user_file(str(user_file), [("CONTOSO", "admin", "Pa55-word")], ["contoso.com"])
    monkeypatch.setenv("NTLM_USER_FILE", str(user_file))
    client = spnego.client(
        "CONTOSO\\admin", "Pa55-word", protocol="ntlm", options=spnego.NegotiateOptions.wrapping_winrm
    )
    server = spnego.server(protocol="ntlm")
    token = client.step()
    while not client.complete or not server.complete:
        token = server.step(token)
        if token is not None:
            token = client.step(token)
    return client, server


def test_client_sealed_message_unwraps_on_server(ntlm_pair):
    client, server = ntlm_pair
    message = b"<s:Envelope>" + "päss".encode() * 5000 + b"</s:Envelope>"
    content_type, body = WinRMEncryption(client, WinRMEncryption.SPNEGO).wrap_message(message)
    header = f'{content_type};protocol="{WinRMEncryption.SPNEGO}";boundary="Encrypted Boundary"'
    assert encryption.is_encrypted(header)
    assert encryption.unwrap(server, body, header) == message


def test_server_sealed_message_unwraps_in_pypsrp(ntlm_pair):
    client, server = ntlm_pair
    message = b"<reply>" + os.urandom(3000).hex().encode() + b"</reply>"
    body = encryption.wrap(server, message)
    assert message not in body
    assert WinRMEncryption(client, WinRMEncryption.SPNEGO).unwrap_message(body, "Encrypted Boundary") == message


def test_tampered_message_is_rejected(ntlm_pair):
    client, server = ntlm_pair
    _, body = WinRMEncryption(client, WinRMEncryption.SPNEGO).wrap_message(b"<x>hello</x>")
    tampered = body.replace(b"Length=12", b"Length=99")
    with pytest.raises(encryption.EncryptionError):
        encryption.unwrap(server, tampered, encryption.content_type())


def test_ntlm_user_file_lists_every_name_form(tmp_path):
    path = tmp_path / "users"
    auth.write_ntlm_user_file(str(path), [("CONTOSO", "admin", "plain-pass")], ["contoso.com"])
    lines = path.read_text().splitlines()
    assert lines[:2] == ["CONTOSO:admin:plain-pass", ":admin:plain-pass"]
    assert ":admin@contoso.com:plain-pass" in lines and ":admin@CONTOSO:plain-pass" in lines
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("user", ["CONTOSO\\admin", "admin", "admin@contoso.com"])
def test_password_with_colons_authenticates(tmp_path, monkeypatch, user):
    path = tmp_path / "users"
    password = "pa:ss:wo:rd"
    auth.write_ntlm_user_file(str(path), [("CONTOSO", "admin", password)], ["contoso.com"])
    assert password not in path.read_text()  # written as hashes (smbpasswd form)
    monkeypatch.setenv("NTLM_USER_FILE", str(path))
    client = spnego.client(user, password, protocol="ntlm")
    server = spnego.server(protocol="ntlm")
    server.step(client.step(server.step(client.step())))
    assert server.complete
    assert auth.bare_user(server.client_principal) == "admin"


@pytest.mark.parametrize(
    ("name", "bare"),
    [("admin", "admin"), ("CONTOSO\\admin", "admin"), ("admin@contoso.com", "admin"), ("", "")],
)
def test_bare_user(name, bare):
    assert auth.bare_user(name) == bare


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT20S", 20.0), ("PT20.000S", 20.0), ("PT1M30S", 90.0), ("PT2H", 7200.0), ("", 7.0), ("junk", 7.0)],
)
def test_parse_duration(text, seconds):
    assert soap.parse_duration(text, 7.0) == seconds


def test_fault_parses_like_windows_in_pypsrp():
    xml = soap.fault("uuid:ABC", soap.CODE_OPERATION_TIMEOUT, "w:TimedOut", "Timed out.", "EX01.contoso.com", False)
    error = WSMan._parse_wsman_fault(xml.decode())
    assert error.code == 2150858793
    assert error.machine == "EX01.contoso.com"
    assert error.reason == "Timed out."


def test_error_record_from_error_info():
    info = api.ErrorInfo(
        message="Object 'x' not found.",
        fully_qualified_error_id="[Server=EX01] 1234,Microsoft.Exchange.Management.Tasks.GetX",
        category=int(ErrorCategory.ObjectNotFound),
        exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        target_object="x",
        activity="Get-X",
    )
    record = errors.error_record(info)
    assert str(record) == "Object 'x' not found."
    assert record.CategoryInfo.Category == ErrorCategory.ObjectNotFound
    assert record.CategoryInfo.Reason == "ManagementObjectNotFoundException"  # defaults to the short type name
    assert record.CategoryInfo.TargetType == "String"
    names = record.Exception.PSObject.type_names
    assert names[0] == info.exception_type and names[-1] == "System.Object"
    assert "System.Exception" in names


def test_unknown_category_becomes_not_specified():
    info = api.ErrorInfo(message="m", fully_qualified_error_id="X", category=9999)
    assert errors.error_record(info).CategoryInfo.Category == ErrorCategory.NotSpecified

"""Connection settings and the one-sentence failure messages (pure logic; the wire is tested against the lab)."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from pypsrp.exceptions import FragmentError

from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session


def settings(**params):
    base = {"server": "ex01.contoso.com"}
    base.update(params)
    return _session.connection_settings(base)


def test_defaults_follow_exchange():
    s = settings()
    assert (s["protocol"], s["port"], s["path"], s["auth"]) == (
        "http", 80, "PowerShell", "kerberos")
    assert s["configuration_name"] == "Microsoft.Exchange" and s["validate_certs"] is True
    assert settings(protocol="https")["port"] == 443
    assert _session.endpoint_url(settings(server_port=8080, path="/PowerShell/")) == "http://ex01.contoso.com:8080/PowerShell"


def test_missing_server_and_bad_port_are_sentences():
    with pytest.raises(_session.ExchangeError, match="server is required.*EXCHANGE_SERVER"):
        _session.connection_settings({})
    for port in (0, -1, 65536, 70000):
        with pytest.raises(_session.ExchangeError, match="server_port: must be a TCP port number from 1 to 65535, got %d"
                           % port):
            settings(server_port=port)
    assert settings(server_port=1)["port"] == 1 and settings(server_port=65535, protocol="https")["port"] == 65535


@pytest.mark.parametrize("header, schemes", [
    ('Basic realm="WSMan"', ["Basic"]),
    ("Negotiate, Kerberos", ["Negotiate", "Kerberos"]),
    ('Basic realm="a,b", charset="UTF-8", NTLM', ["Basic", "NTLM"]),
    ("Negotiate oYIBBjCC", ["Negotiate"]),
    ("", []),
])
def test_offered_schemes(header, schemes):
    assert _session.offered_schemes(header) == schemes


@pytest.mark.parametrize("auth, offered, advice", [
    ("kerberos", ["Basic"], "set auth: basic with protocol https"),
    ("basic", ["NTLM"], "set auth: negotiate or auth: ntlm"),
    ("basic", ["Negotiate"], "set auth: kerberos or auth: negotiate or auth: ntlm"),
    ("ntlm", ["Kerberos"], "set auth: kerberos or auth: negotiate"),
    ("kerberos", ["Digest"], "offers only Digest authentication"),
])
def test_auth_hint_names_what_the_server_offers_and_what_to_set(auth, offered, advice):
    hint = _session.auth_hint(auth, offered, "http://ex01:80/PowerShell")
    assert advice in hint and ", ".join(offered) in hint


@pytest.mark.parametrize("auth, offered", [("kerberos", ["Negotiate"]), ("negotiate", ["NTLM"]), ("basic", ["Basic"]),
                                           ("ntlm", ["Negotiate", "Basic"]), ("kerberos", [])])
def test_no_auth_hint_when_the_scheme_is_offered_or_unknown(auth, offered):
    assert _session.auth_hint(auth, offered, "http://ex01:80/PowerShell") is None


def test_ca_file_checks(tmp_path):
    der = tmp_path / "ca.cer"
    der.write_bytes(b"0\x82\x03\x10binary")
    with pytest.raises(_session.ExchangeError, match="holds no PEM certificate.*openssl x509 -inform der"):
        settings(protocol="https", ca_cert=str(der))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(_session.ExchangeError, match="holds no certificate that can be read"):
        settings(protocol="https", ca_cert=str(broken))
    # not checked when it is not used
    assert settings(protocol="http", ca_cert=str(der))["ca_cert"] == str(der)
    assert settings(protocol="https", validate_certs=False, ca_cert=str(der))["validate_certs"] is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_ca_file(tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    pem.chmod(0)
    with pytest.raises(_session.ExchangeError, match="cannot be read"):
        settings(protocol="https", ca_cert=str(pem))


def test_every_env_fallback_is_declared():
    env = {name: entry["fallback"][1][0] for name, entry in _session.CONNECTION_ARGSPEC.items() if "fallback" in entry}
    assert env["server"] == "EXCHANGE_SERVER" and env["server_port"] == "EXCHANGE_PORT"
    assert env["password"] == "EXCHANGE_PASSWORD" and _session.CONNECTION_ARGSPEC["password"]["no_log"]


class _Wrapped(Exception):
    pass


def _chain(inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as err:
            raise _Wrapped("HTTPConnectionPool(host='ex01', port=80): Max retries exceeded") from err
    except _Wrapped as outer:
        return outer


@pytest.mark.parametrize(
    "error, text",
    [
        (_chain(ConnectionRefusedError(111, "Connection refused")), "connection refused (is the server listening on port 80?)"),
        (_chain(socket.timeout("timed out")), "did not answer in time"),
        (_chain(OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")), "TLS certificate validation failed"),
        (_chain(socket.gaierror(-2, "Name or service not known")), "could not resolve the server name ex01.contoso.com"),
        (FragmentError("Fragment Fragment Id: 2 != Expected Fragment Id: 0"),
         "arrived incomplete (a reply read after a timeout was not repeated: Fragment Fragment Id: 2"),
        (RuntimeError("something else\nwith a second line"), "remote PowerShell to http://ex01.contoso.com:80/PowerShell failed: something else"),
    ],
)
def test_network_errors_become_one_sentence(error, text):
    message = _session.ExchangeSession(settings())._network_error(error)
    assert text in message and "\n" not in message


@pytest.mark.parametrize("code, text", [(404, "was not found (HTTP 404)"), (403, "refused access (HTTP 403)"),
                                        (500, "answered HTTP 500")])
def test_http_errors(code, text):
    assert text in _session.ExchangeSession(settings())._http_error(code)


def test_cmdlet_error_kinds():
    nf = _session.CmdletError("Get-SendConnector", "couldn't be found", error_id="[Server=EX01] ... ManagementObjectNotFoundException")
    assert nf.not_found and not nf.not_recognized
    cnf = _session.CmdletError("Set-SendConnector", "not recognized", reason="CommandNotFoundException")
    assert cnf.not_recognized and str(cnf).startswith("Set-SendConnector failed:")
    unbound = _session.CmdletError("Get-SendConnector", "The input object cannot be bound to any parameters",
                                   error_id="InputObjectNotBound,Microsoft.Exchange.Management.SystemConfigurationTasks."
                                            "GetSendConnector", reason="ParameterBindingException")
    assert unbound.input_not_bound and not unbound.not_found and not nf.input_not_bound


@pytest.mark.parametrize("params, text", [
    ({"auth": "basic"}, "basic authentication needs username and password: give them (or set EXCHANGE_USERNAME and "
                        "EXCHANGE_PASSWORD)"),
    ({"auth": "ntlm", "username": "admin"}, "ntlm authentication needs password: give it (or set EXCHANGE_PASSWORD)"),
    ({"protocol": "https", "ca_cert": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem does not exist"),
])
def test_missing_credentials_and_ca_file_are_sentences_before_connecting(params, text):
    with pytest.raises(_session.ExchangeError) as err:
        settings(**params)
    assert text in str(err.value)


def test_kerberos_and_negotiate_may_use_the_ticket_cache():
    assert settings(auth="kerberos")["username"] is None
    assert settings(auth="negotiate")["password"] is None


@pytest.mark.parametrize("protocol, error, text", [
    ("http", _chain(ConnectionResetError(104, "Connection reset by peer")),
     "closed the connection without answering; if it expects https, set protocol https"),
    ("https", _chain(OSError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")),
     "did not answer with TLS; if it expects plain http, set protocol http"),
])
def test_protocol_mismatch_is_named(protocol, error, text):
    message = _session.ExchangeSession(settings(protocol=protocol))._network_error(error)
    assert text in message and "TLS certificate validation" not in message


def test_no_runspace_is_kept_where_the_platform_cannot_check_the_peer(monkeypatch, tmp_path):
    """Without SO_PEERCRED (macOS, the BSDs) keep_session keeps nothing: no socket, no broker, the caller closes."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import broker as _broker

    monkeypatch.setattr(_broker, "SUPPORTED", False)
    monkeypatch.setenv("MAILFLOW_EXCHANGE_SESSION_DIR", str(tmp_path / "sessions"))
    wanted = settings()

    class Pool:  # an open pool as ExchangeSession holds it; hand_over must not fork for it
        pass

    session = _session.ExchangeSession(wanted)
    session._pool = Pool()
    assert _broker.hand_over(session, 60) is False and session._pool is not None
    assert not (tmp_path / "sessions").exists()
    with pytest.raises(_broker.BrokerUnavailable):
        _broker.connect(wanted)


@pytest.mark.parametrize("value", [-1, 3601, True, "60"])
def test_keep_session_is_a_number_of_seconds_up_to_an_hour(value):
    with pytest.raises(_session.ExchangeError) as raised:
        settings(keep_session=value)
    assert raised.value.message.startswith("keep_session: must be a number of seconds from 0 to 3600")
    assert settings(keep_session=3600)["keep_session"] == 3600 and settings()["keep_session"] == 0


def test_pypsrp_is_imported_only_to_open_a_pool_and_a_failed_import_is_a_sentence(monkeypatch):
    # a run through a kept runspace (keep_session) never opens a pool, so it never pays pypsrp's import
    for name in ("PSCredential", "AuthenticationError", "WinRMTransportError", "WSManFaultError", "PowerShell",
                 "RunspacePool", "WSMan", "PYPSRP_IMPORT_ERROR"):
        monkeypatch.setattr(_session, name, None)
    monkeypatch.setitem(sys.modules, "pypsrp.wsman", None)  # an import of it now fails
    with pytest.raises(_session.ExchangeError, match="pypsrp, which the Exchange modules need .* install pypsrp there"):
        _session.ExchangeSession(settings(auth="basic", username="u", password="p")).open()
    assert "pypsrp.wsman" in _session.PYPSRP_IMPORT_ERROR
    monkeypatch.delitem(sys.modules, "pypsrp.wsman")
    _session.load_pypsrp()
    assert _session.WSMan.__module__ == "pypsrp.wsman" and _session.RunspacePool.__name__ == "RunspacePool"

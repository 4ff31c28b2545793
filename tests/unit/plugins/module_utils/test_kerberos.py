"""Kerberos error mapping and user names (pure logic).

The error texts are what MIT Kerberos 1.20, krb5 0.10 and pyspnego 0.12 really produced against
the lab's KDC (tests/lab/tests/test_kerberos_lab.py provokes each of them over the wire).
"""

from __future__ import annotations

import logging

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import kerberos as k


class Krb5Error(Exception):
    """Stands in for krb5._exceptions.Krb5Error: only the class name and text matter to the mapping."""


class SpnegoError(Exception):
    pass


class AuthenticationError(Exception):
    pass


SETTINGS = {"auth": "kerberos", "server": "localhost", "username": "admin@LAB.TEST", "url": "http://localhost:80/PowerShell"}

REAL_TEXTS = {
    "wrong_password": "Preauthentication failed -1765328360",
    "unknown_principal": "Client 'ghost@LAB.TEST' not found in Kerberos database -1765328378",
    "no_ticket": (
        "SpnegoError (7): Major (458752): No credentials were supplied, or the credentials were unavailable or "
        "inaccessible, Minor (2529639053): No Kerberos credentials available (default cache: FILE:/tmp/k/none), "
        "Context: Processing security token"
    ),
    "no_spn": (
        "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code may provide more information, "
        "Minor (2529638919): Server HTTP/127.0.0.1@LAB.TEST not found in Kerberos database, Context: Processing "
        "security token"
    ),
    "clock_skew": "Clock skew too great -1765328347",
    "kdc_unreachable": "Cannot contact any KDC for realm 'LAB.TEST' -1765328228",
    "unknown_realm": 'Cannot find KDC for realm "lab.test" -1765328230',
}


@pytest.mark.parametrize("key, text", sorted(REAL_TEXTS.items()))
def test_classify_real_mit_texts(key, text):
    assert k.classify(text) == key


def test_classify_other_ccache_text():
    text = "Major (458752): No credentials were supplied, Minor (2529639053): Can't find client principal admin@LAB.TEST in cache collection"
    assert k.classify(text) == "no_ticket"


def test_classify_unrelated_text_is_none():
    assert k.classify("Connection refused") is None


@pytest.mark.parametrize(
    "key, expected",
    [
        ("wrong_password", "the KDC rejected the password"),
        ("unknown_principal", "does not know the user admin@LAB.TEST"),
        ("no_ticket", "run kinit admin@LAB.TEST first, or give password"),
        ("no_spn", "HTTP/localhost"),
        ("clock_skew", "clock"),
        ("kdc_unreachable", "no KDC of realm LAB.TEST answered"),
        ("unknown_realm", "realm LAB.TEST"),
    ],
)
def test_explain_gives_one_sentence(key, expected):
    err = Krb5Error(REAL_TEXTS[key])
    message = k.explain(err, SETTINGS)
    assert expected in message
    assert "\n" not in message and "Traceback" not in message
    assert message.count(". ") == 0  # one sentence


def test_explain_walks_the_exception_chain():
    try:
        try:
            raise Krb5Error(REAL_TEXTS["clock_skew"])
        except Krb5Error as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert "clock" in k.explain(outer, SETTINGS)


def test_no_spn_by_ip_address_says_use_the_dns_name():
    settings = dict(SETTINGS, server="127.0.0.1")
    message = k.explain(SpnegoError(REAL_TEXTS["no_spn"]), settings)
    assert "server is an IP address" in message and "DNS host name" in message


def test_no_ticket_names_the_cache_from_the_error():
    message = k.explain(SpnegoError(REAL_TEXTS["no_ticket"]), dict(SETTINGS, username=None))
    assert "FILE:/tmp/k/none" in message and "the default principal" in message


def test_not_a_kerberos_error_is_left_to_the_session():
    assert k.explain(ConnectionRefusedError("Connection refused"), SETTINGS) is None


def test_other_auths_are_not_touched():
    assert k.explain(Krb5Error(REAL_TEXTS["wrong_password"]), dict(SETTINGS, auth="ntlm")) is None


def test_kerberos_401_means_the_server_refused_the_ticket():
    message = k.explain(AuthenticationError("Failed to authenticate the user admin@LAB.TEST with kerberos"), SETTINGS)
    assert "refused the Kerberos ticket of admin@LAB.TEST" in message


def test_negotiate_401_uses_the_captured_kerberos_reason():
    settings = dict(SETTINGS, auth="negotiate")
    with k.NegotiateDiagnostics() as diag:
        logging.getLogger("spnego._negotiate").debug(
            "Failed to create first token for SPNEGO protocol %s: %s", "kerberos", REAL_TEXTS["wrong_password"]
        )
    err = AuthenticationError("Failed to authenticate the user admin@LAB.TEST with negotiate")
    message = k.explain(err, settings, diag)
    assert message.startswith("negotiate could not use Kerberos and the NTLM fallback was refused")
    assert "rejected the password" in message


def test_negotiate_without_a_kerberos_reason_is_left_to_the_session():
    settings = dict(SETTINGS, auth="negotiate")
    with k.NegotiateDiagnostics() as diag:
        pass
    assert k.explain(AuthenticationError("Failed to authenticate the user x with negotiate"), settings, diag) is None


def test_diagnostics_restore_the_logger():
    logger = logging.getLogger("spnego._negotiate")
    before = (logger.level, logger.propagate, list(logger.handlers))
    with k.NegotiateDiagnostics():
        assert logger.propagate is False
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


@pytest.mark.parametrize(
    "username, auth, expected",
    [
        ("admin@lab.test", "kerberos", "admin@LAB.TEST"),
        ("admin@LAB.TEST", "negotiate", "admin@LAB.TEST"),
        ("admin", "kerberos", "admin"),
        (None, "kerberos", None),
        ("admin@lab.test", "ntlm", "admin@lab.test"),
        ("LAB\\admin", "negotiate", "LAB\\admin"),
    ],
)
def test_principal_name(username, auth, expected):
    assert k.principal_name(username, auth) == expected


def test_domain_backslash_user_with_kerberos_is_an_error():
    with pytest.raises(ValueError, match="UPN"):
        k.principal_name("LAB\\admin", "kerberos")


def test_wsman_options_use_the_http_service_class():
    assert k.wsman_options("kerberos") == {"negotiate_service": "HTTP"}
    assert k.wsman_options("negotiate") == {"negotiate_service": "HTTP"}
    assert k.wsman_options("basic") == {}


def test_messages_name_the_principal_as_kerberos_sees_it():
    message = k.explain(Krb5Error(REAL_TEXTS["wrong_password"]), dict(SETTINGS, username="admin@lab.test"))
    assert "admin@LAB.TEST" in message

"""The lab's own copies of two Exchange rules its delivery follows (issue 9 items 1 and 4).

These are the oracle the collection's probe is compared against in
tests/integration/smtp_probe/test_postfix_smart_host.py; here each rule is pinned on its own.
"""

from __future__ import annotations

import pytest

from exchange_lab.mail.queues import SMART_HOST, QueueStore
from exchange_lab.mail.smtp_send import SendSettings, certificate_checks

HOST = "smarthost.lab.test"


@pytest.mark.parametrize(
    "settings, expected",
    [
        # opportunistic TLS: nothing is validated, an expired certificate still encrypts
        ({}, (False, None)),
        ({"require_tls": True}, (False, None)),
        ({"require_tls": True, "tls_auth_level": "EncryptionOnly"}, (False, None)),
        # BasicAuthRequireTLS alone: the smart host's FQDN must be in the certificate, the chain is not checked
        ({"auth_mechanism": "BasicAuthRequireTLS"}, (False, HOST)),
        ({"require_tls": True, "tls_auth_level": "CertificateValidation"}, (True, None)),
        ({"require_tls": True, "tls_auth_level": "CertificateValidation", "auth_mechanism": "BasicAuthRequireTLS"}, (True, HOST)),
        ({"require_tls": True, "tls_auth_level": "DomainValidation", "tls_domain": "*.lab.test"}, (True, "*.lab.test")),
        ({"require_tls": True, "tls_auth_level": "DomainValidation"}, (True, HOST)),
        # domain security (mutual TLS, DNS routing): chain and the next hop's domain
        ({"domain_secure": True}, (True, HOST)),
        # a TlsAuthLevel without RequireTLS cannot be saved (R11); if it were, Exchange would not use it
        ({"tls_auth_level": "CertificateValidation"}, (False, None)),
    ],
)
def test_certificate_checks_follow_the_connector(settings, expected):
    assert certificate_checks(SendSettings(connector_name="c", smart_hosts=[HOST], **settings), HOST) == expected


def test_an_ip_smart_host_is_not_name_checked_for_basic_auth_require_tls():
    settings = SendSettings(connector_name="c", smart_hosts=["127.0.0.1"], auth_mechanism="BasicAuthRequireTLS")
    assert certificate_checks(settings, "127.0.0.1") == (False, None)


def test_queue_follows_the_connector_guid(tmp_path):
    store = QueueStore(str(tmp_path))
    old = store.find("EX01", SMART_HOST, HOST, "Smart host to Internet", "11111111-1111-1111-1111-111111111111")
    # renamed: same GUID, same queue, new name
    renamed = store.find("EX01", SMART_HOST, HOST, "Renamed", "11111111-1111-1111-1111-111111111111")
    assert renamed is old and old.connector_name == "Renamed"
    # removed and created again under the same name: the queue now carries the NEW connector's GUID
    again = store.find("EX01", SMART_HOST, HOST, "Renamed", "22222222-2222-2222-2222-222222222222")
    assert again is old and again.connector_guid == "22222222-2222-2222-2222-222222222222"
    # another connector to the same next hop gets its own queue
    other = store.find("EX01", SMART_HOST, HOST, "Other", "33333333-3333-3333-3333-333333333333")
    assert other is not old and other.name != old.name


def test_the_test_smart_hosts_certificate_has_a_realistic_lifetime(tmp_path):
    """Issue 10 item 8: trustme's default runs to the year 3000 (a probe said 'days left 355412')."""
    import datetime

    from cryptography import x509

    from exchange_lab.smarthost_certs import make_certificates

    certs = make_certificates(str(tmp_path), [HOST])
    with open(certs.server_cert, "rb") as handle:
        leaf = x509.load_pem_x509_certificates(handle.read())[0]
    days = (leaf.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days
    assert 300 <= days <= 366, days

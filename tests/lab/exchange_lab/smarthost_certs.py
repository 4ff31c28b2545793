"""Certificates for the test smart host, made fresh at every start with ``trustme``.

The CA written to ``<state>/ca.pem`` is the one clients should trust. The server certificate is
issued for the names asked for; optionally it is already expired, or issued by a second CA that
is *not* in ``ca.pem`` (an "unknown CA", whose own PEM goes to ``<state>/untrusted-ca.pem`` so a
test can still inspect it).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import ssl

import trustme


DEFAULT_VALID_DAYS = 365


@dataclasses.dataclass
class CertificateSet:
    ca_cert: str  # path of the PEM bundle clients should trust
    server_cert: str  # path of the server certificate chain (PEM)
    names: list[str]
    expired: bool
    unknown_ca: bool
    context: ssl.SSLContext  # server-side context presenting the certificate


def _write(path: str, data: bytes) -> str:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return path


def make_certificates(
    state_dir: str, names: list[str], *, expired: bool = False, unknown_ca: bool = False, valid_days: int | None = None
) -> CertificateSet:
    """Create the CA and server certificate in ``state_dir`` and a server SSLContext using them.

    ``valid_days`` makes the certificate expire that many days from now (for expiry warnings).
    """
    if not names:
        raise ValueError("cert_names: at least one name is required for the server certificate")
    trusted = trustme.CA(organization_name="exchange_lab test smart host CA")
    issuer = trustme.CA(organization_name="exchange_lab unknown CA") if unknown_ca else trusted
    now = datetime.datetime.now(datetime.timezone.utc)
    # A realistic lifetime (trustme's default runs to the year 3000, which a probe then reports
    # as ~355,000 days left): issued yesterday, valid for a year, like a public server certificate.
    validity: dict[str, datetime.datetime] = {"not_before": now - datetime.timedelta(days=1), "not_after": now + datetime.timedelta(days=DEFAULT_VALID_DAYS)}
    if valid_days is not None:
        validity = {"not_before": now - datetime.timedelta(days=30), "not_after": now + datetime.timedelta(days=valid_days, hours=12)}
    if expired:
        validity = {"not_before": now - datetime.timedelta(days=90), "not_after": now - datetime.timedelta(days=1)}
    leaf = issuer.issue_cert(*names, common_name=names[0], organization_name="exchange_lab smart host", **validity)

    ca_path = _write(os.path.join(state_dir, "ca.pem"), trusted.cert_pem.bytes())
    if unknown_ca:
        _write(os.path.join(state_dir, "untrusted-ca.pem"), issuer.cert_pem.bytes())
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    cert_path = _write(os.path.join(state_dir, "server-cert.pem"), chain)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(context)
    return CertificateSet(ca_path, cert_path, list(names), expired, unknown_ca, context)

"""A throw-away CA and server certificate for ``serve --https``.

The CA certificate is written to ``<state>/ca.pem`` so clients can validate the endpoint
(``cert_validation=<path>``); the server key never leaves memory.
"""

from __future__ import annotations

import os
import socket
import ssl

import trustme


def server_names(extra: list[str]) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn(), *extra]
    seen: list[str] = []
    for name in names:
        if name and name.lower() not in (n.lower() for n in seen):
            seen.append(name)
    return seen


def make_server_context(state_dir: str, names: list[str]) -> tuple[ssl.SSLContext, str]:
    """Return (server SSLContext, path of the CA PEM) for a certificate valid for ``names``."""
    ca = trustme.CA(organization_name="Exchange lab")
    leaf = ca.issue_cert(*server_names(names), common_name=names[0] if names else "localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(ctx)
    ca_path = os.path.join(state_dir, "ca.pem")
    tmp = f"{ca_path}.{os.getpid()}.tmp"
    ca.cert_pem.write_to_path(tmp)
    os.replace(tmp, ca_path)
    return ctx, ca_path

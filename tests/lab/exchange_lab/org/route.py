"""The Exchange side of a Send connector's route: certificates, transport limits, servers.

* ``Get-ExchangeCertificate [-Server S] [[-Identity|-Thumbprint] T]``: the certificates configured under
  ``servers[].certificates`` (the server that runs the cmdlet when -Server is left out). A server whose
  store the config does not model returns nothing.
* ``Get-TransportConfig``: the organisation's MaxSendSize (``transport_config.max_send_size``).
* ``Get-TransportService`` (org version, replaced by the mail transport's richer one when mail is enabled):
  MaxPerDomainOutboundConnections per server (``servers[].max_per_domain_outbound_connections``).

The mail transport uses :func:`local_certificate_problem` to decide whether a TLS send can present the
certificate a connector's TlsCertificateName names (Exchange's SmtpSend log then says
``TLS negotiation failed with error UnknownCredentials`` and the session times out).
"""

from __future__ import annotations

import datetime
import typing as t

from psrpcore.types import ErrorCategory

from exchange_lab.org import shapes
from exchange_lab.org.connectors import NOT_FOUND, server_dn
from exchange_lab.org.errors import TaskError
from exchange_lab.org.params import Param
from exchange_lab.org.values import render_size, split_certificate_name

if t.TYPE_CHECKING:
    from exchange_lab.config import CertificateDef, LabConfig, ServerDef
    from exchange_lab.org.registry import Context

CERT_TYPE = "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
TRANSPORT_CONFIG_TYPE = "Microsoft.Exchange.Data.Directory.SystemConfiguration.TransportConfigContainer"
TRANSPORT_SERVICE_TYPE = "Microsoft.Exchange.Data.Directory.SystemConfiguration.TransportServer"

CERT_PARAMS = [
    Param("Identity", "any", position=0, pipeline=True),
    Param("Thumbprint"),
    Param("Server"),
    Param("DomainName", "list"),
    Param("DomainController"),
]
TRANSPORT_CONFIG_PARAMS = [Param("Identity", "any", position=0), Param("DomainController")]
TRANSPORT_SERVICE_PARAMS = [Param("Identity", "any", position=0), Param("DomainController")]


def _not_found(ctx: "Context", what: str) -> None:
    cfg = ctx.org.config
    ctx.error(TaskError(
        f"The operation couldn't be performed because object '{what}' couldn't be found on '{cfg.domain_controller}'.",
        NOT_FOUND, ErrorCategory.NotSpecified, target=what, code="RouteObjectNotFound",
    ))


def _server(ctx: "Context", name: t.Any) -> "ServerDef | None":
    cfg = ctx.org.config
    wanted = str(name or cfg.cmdlet_server).strip()
    found = cfg.server(wanted)
    if found is None:
        _not_found(ctx, wanted)
    return found


def _services(cert: "CertificateDef") -> t.Any:
    names = [s for s in cert.services if s != "None"]
    return shapes.obj(
        shapes.chain("Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices", "System.Enum",
                     "System.ValueType"),
        ", ".join(names) if names else "None",
    )


def _status(cert: "CertificateDef") -> t.Any:
    return shapes.obj(
        shapes.chain("Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatus", "System.Enum",
                     "System.ValueType"),
        cert.status,
    )


def _domains(subject: str) -> list[str]:
    return [part.strip()[3:] for part in subject.split(",") if part.strip().upper().startswith("CN=")]


def render_certificate(ctx: "Context", server: "ServerDef", cert: "CertificateDef") -> t.Any:
    start, end = cert.window()
    cfg = ctx.org.config
    props: list[tuple[str, t.Any]] = [
        ("AccessRules", None),
        ("CertificateDomains", shapes.mvp("Microsoft.Exchange.Data.SmtpDomainWithSubdomains", _domains(cert.subject))),
        ("HasPrivateKey", cert.has_private_key),
        ("IsSelfSigned", cert.issuer.strip().lower() == cert.subject.strip().lower()),
        ("Issuer", cert.issuer),
        ("NotAfter", end.astimezone()),
        ("NotBefore", start.astimezone()),
        ("PublicKeySize", 2048),
        ("RootCAType", "Unknown" if cert.issuer.strip().lower() == cert.subject.strip().lower() else "ThirdParty"),
        ("SerialNumber", cert.thumbprint[:32]),
        ("Services", _services(cert)),
        ("Status", _status(cert)),
        ("Subject", cert.subject),
        ("Thumbprint", cert.thumbprint),
        ("FriendlyName", cert.friendly_name or next(iter(_domains(cert.subject)), cert.thumbprint)),
        ("Identity", f"{server.name}\\{cert.thumbprint}"),
        ("ServerName", server.name),
    ]
    computer = f"{cfg.local_server.lower()}.{cfg.domain}"
    return shapes.obj(shapes.chain(CERT_TYPE), f"[Subject]\n  {cert.subject}\n\n[Issuer]\n  {cert.issuer}\n\n"
                      f"[Thumbprint]\n  {cert.thumbprint}\n", props, shapes.remoting_members(computer, ctx.runspace_id))


def get_exchange_certificate(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    identity = args.get("Identity")
    server_name = args.get("Server")
    thumbprint = args.get("Thumbprint")
    if identity is not None and not isinstance(identity, str):
        identity = str(getattr(identity, "Identity", identity))
    if identity and "\\" in str(identity):
        server_name, _, thumbprint = str(identity).partition("\\")
    elif identity:
        thumbprint = identity
    server = _server(ctx, server_name)
    if server is None:
        return []
    certs = list(server.certificates or [])
    if thumbprint:
        certs = [c for c in certs if c.thumbprint == str(thumbprint).strip().upper()]
        if not certs:
            _not_found(ctx, str(thumbprint))
            return []
    wanted = [str(d).lower() for d in args.get("DomainName") or []]
    if wanted:
        certs = [c for c in certs if any(d in wanted for d in (x.lower() for x in _domains(c.subject)))]
    return [render_certificate(ctx, server, c) for c in certs]


def get_transport_config(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    cfg = ctx.org.config
    size = cfg.max_send_size
    computer = f"{cfg.local_server.lower()}.{cfg.domain}"
    props: list[tuple[str, t.Any]] = [
        ("MaxSendSize", shapes.byte_size(size, render_size(size))),
        ("MaxReceiveSize", shapes.byte_size(size, render_size(size))),
        ("MaxRecipientEnvelopeLimit", "500"),
        ("Name", "Transport Settings"),
        ("Identity", "Transport Settings"),
        ("IsValid", True),
    ]
    return [shapes.obj(shapes.chain(TRANSPORT_CONFIG_TYPE, "Microsoft.Exchange.Data.Directory.ADContainer",
                                    "Microsoft.Exchange.Data.Directory.ADConfigurationObject"),
                       "Transport Settings", props, shapes.remoting_members(computer, ctx.runspace_id))]


def transport_servers(ctx: "Context", identity: t.Any) -> list["ServerDef"]:
    cfg = ctx.org.config
    servers = list(cfg.servers)
    if identity:
        found = cfg.server(str(identity))
        if found is None:
            _not_found(ctx, str(identity))
            return []
        servers = [found]
    return servers


def get_transport_service(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    """The org's own Get-TransportService (the mail transport adds log paths when it runs)."""
    cfg = ctx.org.config
    out = []
    for server in transport_servers(ctx, args.get("Identity")):
        computer = f"{cfg.local_server.lower()}.{cfg.domain}"
        props = [
            ("Name", server.name), ("Fqdn", f"{server.name}.{cfg.domain}"),
            ("MaxOutboundConnections", 1000),
            ("MaxPerDomainOutboundConnections", server.max_per_domain_outbound_connections),
            ("DistinguishedName", server_dn(cfg, server.name)),
            ("Identity", server.name), ("IsValid", True),
        ]
        out.append(shapes.obj(shapes.chain(TRANSPORT_SERVICE_TYPE, "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
                                           "Microsoft.Exchange.Data.Directory.ADObject"),
                              server.name, props, shapes.remoting_members(computer, ctx.runspace_id)))
    return out


def certificates_named(config: "LabConfig", server: str, tls_certificate_name: str) -> list["CertificateDef"] | None:
    """The certificates of ``server`` that ``<I>issuer<S>subject`` names; None when its store is not modelled."""
    found = config.server(server)
    if found is None or found.certificates is None:
        return None
    issuer, subject = split_certificate_name(tls_certificate_name)

    def norm(text: str) -> str:
        return ",".join(part.strip().lower() for part in str(text).split(","))

    return [c for c in found.certificates if norm(c.issuer) == norm(issuer) and norm(c.subject) == norm(subject)]


def local_certificate_problem(config: "LabConfig", server: str, tls_certificate_name: str | None,
                              now: datetime.datetime | None = None) -> str | None:
    """Why ``server`` cannot present the certificate TlsCertificateName names (None: it can, or not modelled).

    Exchange uses the longest-lived of several matching certificates; the transport needs it to be in
    its validity window, with its private key, and not revoked/invalid."""
    if not tls_certificate_name:
        return None
    certs = certificates_named(config, server, tls_certificate_name)
    if certs is None:
        return None
    if not certs:
        return f"no certificate matching TlsCertificateName in the store of {server}"
    chosen = max(certs, key=lambda c: c.window()[1])
    if chosen.expired(now):
        return f"the certificate {chosen.thumbprint} on {server} is outside its validity period"
    if not chosen.has_private_key:
        return f"the certificate {chosen.thumbprint} on {server} has no private key"
    if chosen.status != "Valid":
        return f"the certificate {chosen.thumbprint} on {server} has status {chosen.status}"
    return None

"""Get-ExchangeServer, Set-ADServerSettings and the lab-only Get-LabCounter."""

from __future__ import annotations

import fnmatch
import typing as t
import uuid

from psrpcore.types import ErrorCategory

from exchange_lab.org import shapes
from exchange_lab.org.connectors import NOT_FOUND, identity_text, server_dn, server_guid
from exchange_lab.org.errors import TaskError
from exchange_lab.org.params import Param
from exchange_lab.org.values import parse_fqdn

if t.TYPE_CHECKING:
    from exchange_lab.org.registry import Context

GET_SERVER_PARAMS = [
    Param("Identity", "any", position=0, pipeline=True),
    Param("DomainController", "custom", parse=parse_fqdn),
    Param("Domain", "custom", parse=parse_fqdn),
    Param("Status", "switch"),
]
AD_SETTINGS_PARAMS = [
    Param("ViewEntireForest", "bool"),
    Param("PreferredServer", "custom", parse=parse_fqdn),
    Param("ConfigurationDomainController", "custom", parse=parse_fqdn),
    Param("PreferredGlobalCatalog", "custom", parse=parse_fqdn),
    Param("SetPreferredDomainControllers", "list", parse=parse_fqdn),
    Param("RecipientViewRoot"),
    Param("RunspaceServerSettings", "any"),
]


def _site_id(cfg: t.Any, site: str) -> t.Any:
    dcs = ",".join(f"DC={p}" for p in cfg.domain.split("."))
    dn = f"CN={site},CN=Sites,CN=Configuration,{dcs}"
    return shapes.ad_object_id(site, dn, None, cfg.domain, to_string=f"{cfg.domain}/Configuration/Sites/{site}")


def render_server(ctx: "Context", server: t.Any) -> t.Any:
    cfg = ctx.org.config
    fqdn = f"{server.name}.{cfg.domain}".lower() if not server.is_edge else f"{server.name}.{cfg.domain}".lower()
    dn = server_dn(cfg, server.name)
    identity = shapes.ad_object_id(server.name, dn, server_guid(cfg, server.name), cfg.domain)
    known = {"Mailbox", "ClientAccess", "HubTransport", "Edge"}
    role = shapes.flags_value(shapes.ServerRole, [r for r in server.roles if r in known] or ["None"])
    mailbox = server.is_mailbox
    props: list[tuple[str, t.Any]] = [
        ("Name", server.name),
        ("DataPath", "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Mailbox"),
        ("Domain", cfg.domain),
        (
            "Edition",
            shapes.obj(
                shapes.chain("Microsoft.Exchange.Data.ServerEditionType", "System.Enum", "System.ValueType"),
                "Enterprise",
            ),
        ),
        (
            "ExchangeLegacyDN",
            f"/o={cfg.organization}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn={server.name}",
        ),
        ("Fqdn", fqdn),
        ("IsHubTransportServer", mailbox or "HubTransport" in server.roles),
        ("IsClientAccessServer", mailbox or "ClientAccess" in server.roles),
        ("IsEdgeServer", server.is_edge),
        ("IsMailboxServer", mailbox),
        ("IsFrontendTransportServer", mailbox or "ClientAccess" in server.roles),
        ("IsExchange2007OrLater", True),
        ("IsE14OrLater", True),
        ("IsE15OrLater", True),
        ("OrganizationalUnit", f"{cfg.domain}/{server.name}"),
        ("AdminDisplayVersion", shapes.obj(shapes.chain("Microsoft.Exchange.Data.ServerVersion"), server.version)),
        ("Site", _site_id(cfg, server.site) if server.site else None),
        ("ServerRole", role),
        ("DistinguishedName", dn),
        ("Identity", identity),
        ("Guid", uuid.UUID(server_guid(cfg, server.name))),
        ("Id", identity),
        ("OriginatingServer", cfg.domain_controller),
        ("IsValid", True),
        ("ObjectState", shapes.ObjectState.Unchanged),
    ]
    computer = f"{cfg.local_server.lower()}.{cfg.domain}"
    return shapes.obj(
        shapes.chain(
            "Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
            "Microsoft.Exchange.Data.Directory.ADPresentationObject",
            "Microsoft.Exchange.Data.ConfigurableObject",
        ),
        server.name,
        props,
        shapes.remoting_members(computer, ctx.runspace_id),
    )


def get_exchange_server(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    cfg = ctx.org.config
    servers = list(cfg.servers)
    identity = identity_text(args.get("Identity"))
    if identity is not None and identity.strip():
        wanted = identity.strip().lower()
        if any(c in wanted for c in "*?"):
            servers = [
                s
                for s in servers
                if fnmatch.fnmatchcase(s.name.lower(), wanted)
                or fnmatch.fnmatchcase(f"{s.name}.{cfg.domain}".lower(), wanted)
            ]
        else:
            found = cfg.server(wanted)
            servers = (
                [found]
                if found is not None
                and (wanted == found.name.lower() or wanted == f"{found.name}.{cfg.domain}".lower())
                else []
            )
        if not servers:
            ctx.error(
                TaskError(
                    f"The operation couldn't be performed because object '{identity}' couldn't be found on '{cfg.domain_controller}'.",
                    NOT_FOUND,
                    ErrorCategory.NotSpecified,
                    target=identity,
                    code="ServerNotFound",
                )
            )
            return []
    return [render_server(ctx, s) for s in sorted(servers, key=lambda s: s.name.lower())]


def set_ad_server_settings(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    """Accepted and remembered per runspace; it changes nothing else in the lab."""
    settings = {k: v for k, v in args.items() if k in {p.name for p in AD_SETTINGS_PARAMS}}
    ctx.org.ad_server_settings[ctx.runspace_id] = settings
    return []


def get_lab_counter(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    """The metrics snapshot as a hashtable (lab only; not itself counted)."""
    return [dict(sorted(ctx.org.metrics.snapshot().items()))]

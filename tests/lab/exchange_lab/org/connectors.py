"""Get/New/Set/Remove-SendConnector: parameters, defaults, rules (docs/exchange-rules.md sections 1-5).

Records are stored (``org.json``) and handed to the lab's mail transport as plain dicts keyed
by Exchange property names; :func:`render` turns one into the object a client receives.
"""

from __future__ import annotations

import copy
import datetime
import fnmatch
import typing as t
import uuid

from psrpcore.types import ErrorCategory, PSObject

from exchange_lab.org import shapes
from exchange_lab.org.errors import TaskError
from exchange_lab.org.params import ListChange, Param
from exchange_lab.org.values import (
    ConvertError,
    RangeError,
    is_ip,
    parse_address_space,
    parse_certificate_name,
    parse_fqdn,
    parse_ipv4,
    parse_size,
    parse_smart_host,
    parse_timespan,
    parse_tls_domain,
    render_size,
    render_smart_host,
    render_timespan,
    split_certificate_name,
)

if t.TYPE_CHECKING:
    from exchange_lab.org.registry import Context

DEFAULT_SIZE = 35 * 1024 * 1024
USAGES = ("Custom", "Internal", "Internet", "Partner")
AUTH = ("None", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "ExternalAuthoritative")
TLS_LEVELS = ("EncryptionOnly", "CertificateValidation", "DomainValidation")
ERROR_POLICIES = ("Default", "DowngradeDnsFailures", "DowngradeCustomFailures", "UpgradeCustomFailures")
NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
AMBIGUOUS = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
ALREADY_EXISTS = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
VALIDATION = "Microsoft.Exchange.Data.DataValidationException"
ARGUMENT = "System.ArgumentException"
ROUTING_GROUP = "CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups"


def _timeout(value: t.Any) -> int:
    seconds = parse_timespan(value)
    if not 1 <= seconds <= 86400:
        raise RangeError(
            f"The value {render_timespan(seconds)} is out of range; ConnectionInactivityTimeOut must be between 00:00:01 and 1.00:00:00."
        )
    return seconds


def _credential(value: t.Any) -> dict[str, str]:
    user = getattr(value, "UserName", None)
    password = getattr(value, "Password", None)
    if user is None or password is None:
        raise ConvertError(
            f'Cannot convert the "{value}" value of type "{type(value).__name__}" to type "System.Management.Automation.PSCredential".'
        )
    if hasattr(password, "decrypt"):
        try:
            password = password.decrypt()
        except Exception:  # noqa: BLE001 - no session key: the client skipped exchange_keys()
            raise ConvertError(
                "The credential's password (a SecureString) can't be decrypted; exchange session keys first."
            ) from None
    if not str(user).strip():
        raise ConvertError("The credential's UserName is empty.")
    return {"UserName": str(user), "Password": str(password)}


def _server_name(value: t.Any) -> str:
    text = str(value).strip()
    if not text:
        raise ConvertError("A server name can't be empty.")
    return text


SHARED = [
    Param(
        "AddressSpaces",
        "list",
        parse=parse_address_space,
        hashtable=True,
        dotnet="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Data.AddressSpace]",
    ),
    Param("AuthenticationCredential", "custom", parse=_credential),
    Param("CloudServicesMailEnabled", "bool"),
    Param("Comment"),
    Param("ConnectionInactivityTimeOut", "custom", parse=_timeout),
    Param(
        "ConnectorType",
        "enum",
        choices=("Default", "XPremises"),
        dotnet="Microsoft.Exchange.Data.Directory.SystemConfiguration.TenantConnectorType",
        nullable=False,
    ),
    Param("DNSRoutingEnabled", "bool"),
    Param("DomainController", "custom", parse=parse_fqdn),
    Param("DomainSecureEnabled", "bool"),
    Param("Enabled", "bool"),
    Param(
        "ErrorPolicies",
        "flags",
        choices=ERROR_POLICIES,
        dotnet="Microsoft.Exchange.Data.Directory.SystemConfiguration.ErrorPolicies",
    ),
    Param("Force", "switch"),
    Param("ForceHELO", "bool"),
    Param("Fqdn", "custom", parse=parse_fqdn),
    Param("FrontendProxyEnabled", "bool"),
    Param("IgnoreSTARTTLS", "bool"),
    Param("IsCoexistenceConnector", "bool"),
    Param("IsScopedConnector", "bool"),
    Param("LinkedReceiveConnector"),
    Param("MaxMessageSize", "custom", parse=parse_size),
    Param("Port", "int", range=(0, 65535)),
    Param(
        "ProtocolLoggingLevel",
        "enum",
        choices=("None", "Verbose"),
        dotnet="Microsoft.Exchange.Data.ProtocolLoggingLevel",
        nullable=False,
    ),
    Param("RequireOorg", "bool"),
    Param("RequireTLS", "bool"),
    Param(
        "SmartHostAuthMechanism",
        "enum",
        choices=AUTH,
        dotnet="Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthMechanisms",
        nullable=False,
    ),
    Param(
        "SmartHosts",
        "list",
        parse=parse_smart_host,
        hashtable=True,
        dotnet="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Data.SmartHost]",
    ),
    Param("SmtpMaxMessagesPerConnection", "int", range=(1, 2**31 - 1)),
    Param("SourceIPAddress", "custom", parse=parse_ipv4),
    Param(
        "SourceTransportServers",
        "list",
        parse=_server_name,
        hashtable=True,
        dotnet="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Data.Directory.ADObjectId]",
    ),
    Param("TlsAuthLevel", "enum", choices=TLS_LEVELS, dotnet="Microsoft.Exchange.Data.TlsAuthLevel"),
    Param("TlsCertificateName", "custom", parse=parse_certificate_name),
    Param("TlsDomain", "custom", parse=parse_tls_domain),
    Param("UseExternalDNSServersEnabled", "bool"),
]
NEW_PARAMS = [
    Param("Name", position=0, mandatory=True),
    Param(
        "Usage",
        "enum",
        choices=USAGES,
        dotnet="Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector+UsageType",
        nullable=False,
    ),
    *(Param(u, "switch") for u in USAGES),
    *SHARED,
]
SET_PARAMS = [Param("Identity", "any", position=0, mandatory=True, pipeline=True), Param("Name"), *SHARED]
GET_PARAMS = [
    Param("Identity", "any", position=0, pipeline=True),
    Param("DomainController", "custom", parse=parse_fqdn),
]
REMOVE_PARAMS = [
    Param("Identity", "any", position=0, mandatory=True, pipeline=True),
    Param("DomainController", "custom", parse=parse_fqdn),
]

# Parameters copied 1:1 onto the record.
PLAIN = (
    "CloudServicesMailEnabled",
    "Comment",
    "ConnectorType",
    "DNSRoutingEnabled",
    "DomainSecureEnabled",
    "Enabled",
    "ForceHELO",
    "Fqdn",
    "FrontendProxyEnabled",
    "IgnoreSTARTTLS",
    "IsCoexistenceConnector",
    "IsScopedConnector",
    "Port",
    "ProtocolLoggingLevel",
    "RequireOorg",
    "RequireTLS",
    "SmartHostAuthMechanism",
    "SmtpMaxMessagesPerConnection",
    "TlsAuthLevel",
    "TlsCertificateName",
    "TlsDomain",
    "UseExternalDNSServersEnabled",
    "ConnectionInactivityTimeOut",
    "MaxMessageSize",
    "AuthenticationCredential",
)
NOT_NULL = ("Port", "SmtpMaxMessagesPerConnection", "ConnectionInactivityTimeOut")


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def defaults(name: str, usage: str, local_server: str) -> dict[str, t.Any]:
    """A brand-new connector per docs/exchange-rules.md section 5 (only MaxMessageSize depends on usage).

    ``local_server`` is the server that RUNS New-SendConnector (the default source server), which behind
    remote PowerShell proxying is not necessarily the server the client connected to."""
    stamp = now_iso()
    return {
        "Name": name,
        "Guid": str(uuid.uuid4()),
        "Usage": usage,
        "AddressSpaces": [],
        "SmartHosts": [],
        "DNSRoutingEnabled": True,
        "Port": 25,
        "Fqdn": None,
        "ForceHELO": False,
        "IgnoreSTARTTLS": False,
        "RequireTLS": False,
        "TlsAuthLevel": None,
        "TlsDomain": None,
        "TlsCertificateName": None,
        "SmartHostAuthMechanism": "None",
        "AuthenticationCredential": None,
        "MaxMessageSize": None if usage == "Internal" else DEFAULT_SIZE,
        "ProtocolLoggingLevel": "None",
        "Enabled": True,
        "IsScopedConnector": False,
        "SourceTransportServers": [local_server],
        "ConnectionInactivityTimeOut": 600,
        "SmtpMaxMessagesPerConnection": 20,
        "ErrorPolicies": "Default",
        "DomainSecureEnabled": False,
        "FrontendProxyEnabled": False,
        "UseExternalDNSServersEnabled": False,
        "CloudServicesMailEnabled": False,
        "ConnectorType": "Default",
        "RequireOorg": False,
        "IsCoexistenceConnector": False,
        "SourceIPAddress": "0.0.0.0",
        "Comment": None,
        "WhenCreated": stamp,
        "WhenChanged": stamp,
    }


# --- identity -----------------------------------------------------------------------------


def identity_text(value: t.Any) -> str | None:
    """A name, GUID or ``Server\\Name`` from whatever the client sent (string, Guid, an object from Get)."""
    if value is None:
        return None
    if isinstance(value, (str, uuid.UUID)):
        return str(value)
    if isinstance(value, PSObject):
        for prop in ("Guid", "Identity", "Name"):
            try:
                inner = getattr(value, prop)
            except AttributeError:
                continue
            if inner is not None:
                return identity_text(inner)
    return str(value)


def find(
    records: list[dict[str, t.Any]], identity: str, servers: t.Callable[[str], t.Any], wildcard: bool
) -> list[dict[str, t.Any]]:
    text = identity.strip()
    try:
        wanted = str(uuid.UUID(text))
        return [r for r in records if r["Guid"] == wanted]
    except ValueError:
        pass
    if "\\" in text:
        server, _, text = text.partition("\\")
        if servers(server) is None:
            return []
    if wildcard and any(c in text for c in "*?["):
        return [r for r in records if fnmatch.fnmatchcase(r["Name"].lower(), text.lower())]
    return [r for r in records if r["Name"].lower() == text.lower()]


def not_found(identity: str, dc: str) -> TaskError:
    return TaskError(
        f"The operation couldn't be performed because object '{identity}' couldn't be found on '{dc}'.",
        NOT_FOUND,
        ErrorCategory.NotSpecified,
        target=identity,
        code="NotFound",
    )


def resolve_one(ctx: "Context", records: list[dict[str, t.Any]], raw: t.Any) -> dict[str, t.Any] | None:
    identity = identity_text(raw)
    cfg = ctx.org.config
    if identity is None or not identity.strip():
        ctx.error(
            TaskError(
                "The Identity parameter can't be empty or $null for this cmdlet.",
                ARGUMENT,
                ErrorCategory.InvalidArgument,
                code="NullIdentity",
            )
        )
        return None
    found = find(records, identity, cfg.server, wildcard=True)
    if not found:
        ctx.error(not_found(identity, cfg.domain_controller))
        return None
    if len(found) > 1:
        ctx.error(
            TaskError(
                f"The operation couldn't be performed because '{identity}' matches multiple entries.",
                AMBIGUOUS,
                ErrorCategory.NotSpecified,
                target=identity,
                code="Ambiguous",
            )
        )
        return None
    return found[0]


# --- applying parameters ------------------------------------------------------------------


def _resolve_servers(ctx: "Context", names: list[str]) -> list[str]:
    cfg = ctx.org.config
    result: list[str] = []
    for name in names:
        server = cfg.server(name)
        if server is None:
            raise not_found(name, cfg.domain_controller)
        if server.is_edge:
            raise TaskError(
                f"SourceTransportServers: '{server.name}' is an Edge Transport server. A Send connector created in the "
                "organization needs Mailbox servers as source servers; Edge servers get connectors through EdgeSync.",
                ARGUMENT,
                ErrorCategory.InvalidArgument,
                target=server.name,
                code="EdgeSource",
            )
        if server.name not in result:
            result.append(server.name)
    return result


def apply(ctx: "Context", record: dict[str, t.Any], args: dict[str, t.Any]) -> None:
    """Copy bound parameters onto ``record`` (raises TaskError for unknown source servers)."""
    was_dns = record["DNSRoutingEnabled"]
    for key in PLAIN:
        if key in args:
            if args[key] is None and key in NOT_NULL:
                raise TaskError(f"{key} can't be $null.", ARGUMENT, ErrorCategory.InvalidArgument, code=f"Null{key}")
            record[key] = args[key]
    if "ErrorPolicies" in args:
        record["ErrorPolicies"] = ", ".join(args["ErrorPolicies"])
    if "SourceIPAddress" in args:
        record["SourceIPAddress"] = args["SourceIPAddress"] or "0.0.0.0"
    if "AddressSpaces" in args:
        change: ListChange = args["AddressSpaces"]
        spaces = change.apply(
            [shapes_space(s) for s in record["AddressSpaces"]], key=lambda a: (a.type.upper(), a.address.lower())
        )
        record["AddressSpaces"] = [s.to_dict() for s in spaces]
    if "SmartHosts" in args:
        record["SmartHosts"] = args["SmartHosts"].apply(record["SmartHosts"], key=str.lower)
    if "SourceTransportServers" in args:
        change = args["SourceTransportServers"]
        resolved = ListChange(
            replace=None if change.replace is None else _resolve_servers(ctx, change.replace),
            add=_resolve_servers(ctx, change.add),
            remove=[ctx.org.config.server(n).name if ctx.org.config.server(n) else n for n in change.remove],
        )
        record["SourceTransportServers"] = resolved.apply(record["SourceTransportServers"], key=str.lower)
    if record["DNSRoutingEnabled"] and not was_dns:
        # Switching to DNS routing (Set-SendConnector -DNSRoutingEnabled $true): Exchange clears the smart
        # hosts, sets SmartHostAuthMechanism to None and drops the stored credential. Switching back later
        # needs the credential again. Values given in the same call are kept (and judged by the rules).
        if "SmartHosts" not in args:
            record["SmartHosts"] = []
        if "SmartHostAuthMechanism" not in args:
            record["SmartHostAuthMechanism"] = "None"
        if "AuthenticationCredential" not in args:
            record["AuthenticationCredential"] = None


def shapes_space(space: dict[str, t.Any]) -> t.Any:
    from exchange_lab.org.values import AddressSpace

    return AddressSpace(space["Type"], space["Address"], int(space["Cost"]))


# --- rules --------------------------------------------------------------------------------


def _rule(message: str, param: str, code: str, exc: str = VALIDATION) -> TaskError:
    return TaskError(message, exc, ErrorCategory.InvalidArgument, target=param, code=code)


def validate(ctx: "Context", record: dict[str, t.Any]) -> TaskError | None:
    """Object-level rules on the connector as it would be saved (R4-R16)."""
    spaces = record["AddressSpaces"]
    hosts = record["SmartHosts"]
    dns = record["DNSRoutingEnabled"]
    if not spaces:
        return _rule("AddressSpaces: a Send connector needs at least one address space.", "AddressSpaces", "NoSpaces")
    if any(s["Type"].upper() == "SMTP" and s["Address"] == "--" for s in spaces):
        return _rule(
            'AddressSpaces: "--" (every accepted domain) is valid only on Edge Transport connectors that send into '
            f"the organization; this connector is hosted on Mailbox servers ({', '.join(record['SourceTransportServers'])}).",
            "AddressSpaces",
            "DashDash",
        )
    if "--" in hosts:
        return _rule(
            'SmartHosts: "--" (every Mailbox server of the site) is valid only on the inbound connector EdgeSync '
            "creates for an Edge Transport server.",
            "SmartHosts",
            "DashDashSmartHost",
        )
    seen: set[tuple[str, str]] = set()
    for space in spaces:
        key = (space["Type"].upper(), space["Address"].lower())
        if key in seen:
            return _rule(
                f"AddressSpaces: the address space '{space['Type']}:{space['Address']}' is listed more than once.",
                "AddressSpaces",
                "DuplicateSpace",
            )
        seen.add(key)
    if not record["SourceTransportServers"]:
        return _rule(
            "SourceTransportServers: a Send connector needs at least one source transport server.",
            "SourceTransportServers",
            "NoSource",
        )
    non_smtp = [s for s in spaces if s["Type"].upper() != "SMTP"]
    if non_smtp and (not hosts or dns):
        first = non_smtp[0]
        return _rule(
            f"AddressSpaces: the non-SMTP address space '{first['Type']}:{first['Address']};{first['Cost']}' requires smart "
            "hosts: set SmartHosts and DNSRoutingEnabled $false.",
            "AddressSpaces",
            "NonSmtpNeedsSmartHost",
        )
    if hosts and dns:
        return _rule(
            "SmartHosts: smart hosts can be used only when DNSRoutingEnabled is $false. Set -DNSRoutingEnabled $false "
            "in the same command, or clear SmartHosts to route with DNS.",
            "SmartHosts",
            "SmartHostsNeedNoDns",
        )
    if not hosts and not dns:
        return _rule(
            "DNSRoutingEnabled: when DNSRoutingEnabled is $false, SmartHosts must list at least one smart host. "
            "Set -SmartHosts in the same command.",
            "DNSRoutingEnabled",
            "NoDnsNeedsSmartHosts",
        )
    mech = record["SmartHostAuthMechanism"]
    if mech != "None" and dns:
        return _rule(
            f"SmartHostAuthMechanism: '{mech}' is used only with smart hosts (SmartHosts set and DNSRoutingEnabled "
            "$false); use None for a DNS-routed connector.",
            "SmartHostAuthMechanism",
            "AuthNeedsSmartHost",
        )
    if mech in ("BasicAuth", "BasicAuthRequireTLS") and not record["AuthenticationCredential"]:
        return _rule(
            f"AuthenticationCredential: SmartHostAuthMechanism '{mech}' requires AuthenticationCredential.",
            "AuthenticationCredential",
            "BasicNeedsCredential",
        )
    if record["RequireTLS"] and record["IgnoreSTARTTLS"]:
        return _rule(
            "IgnoreSTARTTLS: IgnoreSTARTTLS must be $false when RequireTLS is $true.",
            "IgnoreSTARTTLS",
            "RequireTlsIgnoreStartTls",
        )
    level = record["TlsAuthLevel"]
    if level and (not record["RequireTLS"] or record["IgnoreSTARTTLS"]):
        return _rule(
            f"TlsAuthLevel: '{level}' can be set only when RequireTLS is $true and IgnoreSTARTTLS is $false.",
            "TlsAuthLevel",
            "TlsAuthLevelNeedsTls",
        )
    if record["TlsDomain"] and level != "DomainValidation":
        return _rule(
            "The TLSDomain parameter can only be set if the TLSAuthLevel parameter is set to DomainValidation.",
            "TlsDomain",
            "TlsDomainNeedsDomainValidation",
        )
    if level == "DomainValidation" and not dns and not record["TlsDomain"]:
        return _rule(
            "TlsDomain: TlsAuthLevel DomainValidation on a smart-host connector (DNSRoutingEnabled $false) requires TlsDomain.",
            "TlsDomain",
            "DomainValidationNeedsTlsDomain",
        )
    if record["DomainSecureEnabled"]:
        if not dns or record["IgnoreSTARTTLS"]:
            return _rule(
                "DomainSecureEnabled: domain security (mutual TLS) requires DNSRoutingEnabled $true and IgnoreSTARTTLS $false.",
                "DomainSecureEnabled",
                "DomainSecureNeedsDnsTls",
            )
        wild = [s for s in spaces if "*" in s["Address"]]
        if wild:
            return _rule(
                f"DomainSecureEnabled: domain security can't be used with the wildcard address space '{wild[0]['Address']}'.",
                "DomainSecureEnabled",
                "DomainSecureWildcard",
            )
    return None


def check_certificate(ctx: "Context", record: dict[str, t.Any], args: dict[str, t.Any]) -> TaskError | None:
    """TlsCertificateName is looked up on the FIRST source server only (as Exchange does), when it or the
    source servers are given. Servers whose certificate store the lab config does not model are not checked."""
    name = record["TlsCertificateName"]
    if not name or not ({"TlsCertificateName", "SourceTransportServers"} & set(args)):
        return None
    from exchange_lab.org.route import certificates_named

    first = record["SourceTransportServers"][0] if record["SourceTransportServers"] else None
    found = certificates_named(ctx.org.config, first, name) if first else None
    if found is None or found:
        return None  # store not modelled, or the certificate is there
    issuer, subject = split_certificate_name(name)
    return _rule(
        f"TlsCertificateName: the certificate with issuer '{issuer}' and subject '{subject}' wasn't found in the "
        f"certificate store of server {first}.",
        "TlsCertificateName",
        "CertificateNotFound",
    )


def check_unique(ctx: "Context", records: list[dict[str, t.Any]], record: dict[str, t.Any]) -> TaskError | None:
    for other in records:
        if other["Guid"] != record["Guid"] and other["Name"].lower() == record["Name"].lower():
            return TaskError(
                f"Active Directory operation failed on {ctx.org.config.domain_controller}. The object "
                f"'{distinguished_name(ctx.org.config, record['Name'])}' already exists.",
                ALREADY_EXISTS,
                ErrorCategory.NotSpecified,
                target=record["Name"],
                code="AlreadyExists",
            )
    return None


def check_name(name: str | None) -> TaskError | None:
    if name is None or not name.strip():
        return _rule("Name: the connector name can't be empty.", "Name", "EmptyName", ARGUMENT)
    if any(c in name for c in "\x00\r\n"):
        return _rule("Name: the connector name can't contain NUL, carriage return or line feed characters.", "Name",
                     "BadNameCharacter", ARGUMENT)
    if len(name.strip()) > 64 or any(c in name for c in '\\/,=+<>;"#'):
        return _rule(
            f"Name: '{name}' isn't a valid connector name; use at most 64 characters and none of \\ / , = + < > ; \" #.",
            "Name",
            "BadName",
            ARGUMENT,
        )
    return None


# --- cmdlets ------------------------------------------------------------------------------


def _usage(args: dict[str, t.Any]) -> tuple[str | None, TaskError | None]:
    chosen = [u for u in USAGES if args.get(u)]
    if "Usage" in args:
        chosen.append(f"Usage {args['Usage']}")
    if len(chosen) > 1:
        return None, _rule(
            "Usage: the usage type can be given only once; -Custom, -Internal, -Internet, -Partner and -Usage exclude "
            f"one another (got {', '.join(chosen)}).",
            "Usage",
            "UsageConflict",
            ARGUMENT,
        )
    if "Usage" in args:
        return args["Usage"], None
    return ([u for u in USAGES if args.get(u)] or ["Custom"])[0], None


def _prompt(ctx: "Context", args: dict[str, t.Any], action: str, by_default: bool = False) -> None:
    from exchange_lab.org import errors

    confirm = args.get("Confirm")
    if confirm is True or (by_default and confirm is None):
        raise errors.no_ui_prompt(ctx.cmdlet.name, action, ctx.cmdlet.klass)


def _warn_source_ip(ctx: "Context", args: dict[str, t.Any]) -> None:
    if args.get("SourceIPAddress") not in (None, "0.0.0.0"):
        ctx.warn(
            f"SourceIPAddress is used only by Send connectors on Edge Transport servers; it's stored but ignored on "
            f"Mailbox server {ctx.org.config.cmdlet_server}."
        )


def _linked(args: dict[str, t.Any]) -> TaskError | None:
    if args.get("LinkedReceiveConnector"):
        return _rule(
            "LinkedReceiveConnector: linked Receive connectors were removed after Exchange 2010; use AddressSpaces.",
            "LinkedReceiveConnector",
            "Linked",
            ARGUMENT,
        )
    return None


def new_send_connector(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    from exchange_lab.org import errors

    err = _linked(args)
    if err is None and "AddressSpaces" not in args:
        raise errors.missing_mandatory(ctx.cmdlet.name, ["AddressSpaces"], ctx.cmdlet.klass)
    usage, usage_err = _usage(args)
    err = err or usage_err or check_name(args["Name"])
    if err:
        ctx.error(err)
        return []
    org = ctx.org
    with org.store.locked() as data:
        record = defaults(args["Name"].strip(), usage or "Custom", org.config.cmdlet_server)
        if not _apply_and_check(ctx, record, args, data["connectors"]):
            return []
        _prompt(ctx, args, f'Creating Send connector "{record["Name"]}".')
        _warn_source_ip(ctx, args)
        if args.get("WhatIf"):
            return []
        data["connectors"].append(record)
        org.commit(ctx, record["Guid"], None)
    return [render(ctx.org, record, ctx.runspace_id, args.get("DomainController"))]


def _apply_and_check(ctx: "Context", record: dict[str, t.Any], args: dict[str, t.Any], connectors: list[dict[str, t.Any]]) -> bool:
    """Apply the parameters to ``record`` and check it as it would be saved (the rules, a unique name).

    On failure the error is written (non-terminating, like Exchange's tasks) and False returned:
    the caller stores nothing.
    """
    try:
        apply(ctx, record, args)
    except TaskError as exc:
        ctx.error(exc)
        return False
    err = validate(ctx, record) or check_certificate(ctx, record, args) or check_unique(ctx, connectors, record)
    if err:
        ctx.error(err)
        return False
    return True


def set_send_connector(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    org = ctx.org
    with org.store.locked() as data:
        current = resolve_one(ctx, data["connectors"], args["Identity"])
        if current is None:
            return []
        record = copy.deepcopy(current)
        if "Name" in args:
            err = check_name(args["Name"])
            if err:
                ctx.error(err)
                return []
            record["Name"] = args["Name"].strip()
        err = _linked(args)
        if err:
            ctx.error(err)
            return []
        if not _apply_and_check(ctx, record, args, data["connectors"]):
            return []
        _prompt(ctx, args, f'Modifying Send connector "{current["Name"]}".')
        _warn_source_ip(ctx, args)
        if record == current:
            ctx.warn(f"The command completed successfully but no settings of '{current['Name']}' have been modified.")
            return []
        if args.get("WhatIf"):
            return []
        record["WhenChanged"] = now_iso()
        index = data["connectors"].index(current)
        data["connectors"][index] = record
        org.commit(ctx, record["Guid"], current)
    return []


def remove_send_connector(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    org = ctx.org
    with org.store.locked() as data:
        current = resolve_one(ctx, data["connectors"], args["Identity"])
        if current is None:
            return []
        if args.get("WhatIf"):
            return []
        _prompt(ctx, args, f'Removing Send connector "{current["Name"]}".', by_default=True)
        data["connectors"].remove(current)
        org.commit(ctx, current["Guid"], current)
    return []


def get_send_connector(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    records = ctx.org.visible_connectors(args.get("DomainController"))
    identity = identity_text(args.get("Identity"))
    if identity is not None and identity.strip():
        found = find(records, identity, ctx.org.config.server, wildcard=True)
        if not found:
            ctx.error(not_found(identity, args.get("DomainController") or ctx.org.config.domain_controller))
            return []
        records = found
    records = sorted(records, key=lambda r: r["Name"].lower())
    return [render(ctx.org, r, ctx.runspace_id, args.get("DomainController")) for r in records]


# --- rendering ----------------------------------------------------------------------------


def distinguished_name(cfg: t.Any, name: str) -> str:
    dcs = ",".join(f"DC={p}" for p in cfg.domain.split("."))
    return f"CN={name},CN=Connections,{ROUTING_GROUP},CN={cfg.organization},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dcs}"


def server_dn(cfg: t.Any, name: str) -> str:
    dcs = ",".join(f"DC={p}" for p in cfg.domain.split("."))
    return (
        f"CN={name},CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,"
        f"CN={cfg.organization},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dcs}"
    )


def server_guid(cfg: t.Any, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name.lower()}.{cfg.domain.lower()}"))


def render(org: t.Any, record: dict[str, t.Any], runspace_id: str, dc: str | None = None) -> PSObject:
    """The Get-SendConnector object for ``record`` (what a client deserialises)."""
    cfg = org.config
    dn = distinguished_name(cfg, record["Name"])
    identity = shapes.ad_object_id(record["Name"], dn, record["Guid"], cfg.domain)
    servers = [
        shapes.ad_object_id(s, server_dn(cfg, s), server_guid(cfg, s), cfg.domain)
        for s in record["SourceTransportServers"]
    ]
    hosts = [shapes.smart_host(h, render_smart_host(h), is_ip(h)) for h in record["SmartHosts"]]
    size_text = render_size(record["MaxMessageSize"])
    cert = record["TlsCertificateName"]
    cred = record["AuthenticationCredential"]
    smtp_asm = "Microsoft.Exchange.Data.AddressSpace"
    schema_dn = "CN=ms-Exch-Routing-SMTP-Connector,CN=Schema,CN=Configuration," + ",".join(
        f"DC={p}" for p in cfg.domain.split(".")
    )
    props: list[tuple[str, t.Any]] = [
        (
            "AddressSpaces",
            shapes.mvp(smtp_asm, [shapes.address_space(s, cfg.wire == "exchange") for s in record["AddressSpaces"]]),
        ),
        ("AuthenticationCredential", shapes.credential(cred["UserName"]) if cred else None),
        ("CloudServicesMailEnabled", record["CloudServicesMailEnabled"]),
        ("Comment", record["Comment"]),
        ("ConnectedDomains", shapes.mvp("Microsoft.Exchange.Data.ConnectedDomain", [])),
        (
            "ConnectionInactivityTimeOut",
            shapes.timespan(
                record["ConnectionInactivityTimeOut"], render_timespan(record["ConnectionInactivityTimeOut"])
            ),
        ),
        ("ConnectorType", shapes.enum_value(shapes.TenantConnectorType, record["ConnectorType"])),
        ("DNSRoutingEnabled", record["DNSRoutingEnabled"]),
        ("DomainSecureEnabled", record["DomainSecureEnabled"]),
        ("Enabled", record["Enabled"]),
        (
            "ErrorPolicies",
            shapes.flags_value(shapes.ErrorPolicies, [p.strip() for p in record["ErrorPolicies"].split(",")]),
        ),
        ("ForceHELO", record["ForceHELO"]),
        ("Fqdn", shapes.fqdn(record["Fqdn"])),
        ("FrontendProxyEnabled", record["FrontendProxyEnabled"]),
        (
            "HomeMTA",
            shapes.ad_object_id(
                "Microsoft MTA",
                f"CN=Microsoft MTA,{server_dn(cfg, record['SourceTransportServers'][0])}",
                None,
                cfg.domain,
            ),
        ),
        (
            "HomeMtaServerId",
            shapes.ad_object_id(
                record["SourceTransportServers"][0],
                server_dn(cfg, record["SourceTransportServers"][0]),
                server_guid(cfg, record["SourceTransportServers"][0]),
                cfg.domain,
            ),
        ),
        ("IgnoreSTARTTLS", record["IgnoreSTARTTLS"]),
        ("IsCoexistenceConnector", record["IsCoexistenceConnector"]),
        ("IsScopedConnector", record["IsScopedConnector"]),
        ("IsSmtpConnector", True),
        ("LinkedReceiveConnector", None),
        ("MaxMessageSize", shapes.byte_size(record["MaxMessageSize"], size_text)),
        ("Name", record["Name"]),
        ("Port", record["Port"]),
        ("ProtocolLoggingLevel", shapes.enum_value(shapes.ProtocolLoggingLevel, record["ProtocolLoggingLevel"])),
        ("RequireOorg", record["RequireOorg"]),
        ("RequireTLS", record["RequireTLS"]),
        ("SmartHostAuthMechanism", shapes.enum_value(shapes.AuthMechanisms, record["SmartHostAuthMechanism"])),
        ("SmartHosts", shapes.mvp("Microsoft.Exchange.Data.SmartHost", hosts)),
        ("SmartHostsString", ",".join(render_smart_host(h) for h in record["SmartHosts"])),
        ("SmtpMaxMessagesPerConnection", record["SmtpMaxMessagesPerConnection"]),
        ("SourceIPAddress", shapes.ip_address(record["SourceIPAddress"])),
        (
            "SourceRoutingGroup",
            shapes.obj(
                shapes.chain("Microsoft.Exchange.Data.Directory.SystemConfiguration.RoutingGroupId"),
                "Exchange Routing Group (DWBGZMFD01QNBJR)",
            ),
        ),
        ("SourceTransportServers", shapes.mvp("Microsoft.Exchange.Data.Directory.ADObjectId", servers)),
        ("TlsAuthLevel", shapes.enum_value(shapes.TlsAuthLevel, record["TlsAuthLevel"])),
        ("TlsCertificateName", shapes.certificate_name(*split_certificate_name(cert)) if cert else None),
        (
            "TlsDomain",
            (
                shapes.obj(
                    shapes.chain("Microsoft.Exchange.Data.SmtpDomainWithSubdomains"),
                    record["TlsDomain"],
                    [
                        ("Domain", record["TlsDomain"].lstrip("*.")),
                        ("IncludeSubDomains", record["TlsDomain"].startswith("*")),
                    ],
                )
                if record["TlsDomain"]
                else None
            ),
        ),
        ("UseExternalDNSServersEnabled", record["UseExternalDNSServersEnabled"]),
        ("AdminDisplayName", ""),
        (
            "ExchangeVersion",
            shapes.obj(
                shapes.chain("Microsoft.Exchange.Data.ExchangeObjectVersion"),
                "0.1 (8.0.535.0)",
                [("ExchangeBuild", "8.0.535.0")],
            ),
        ),
        ("DistinguishedName", dn),
        ("Identity", identity),
        ("Guid", uuid.UUID(record["Guid"])),
        (
            "ObjectCategory",
            shapes.ad_object_id(
                "ms-Exch-Routing-SMTP-Connector",
                schema_dn,
                None,
                cfg.domain,
                to_string=f"{cfg.domain}/Configuration/Schema/ms-Exch-Routing-SMTP-Connector",
            ),
        ),
        ("ObjectClass", shapes.string_mvp(["top", "mailGateway", "msExchRoutingSMTPConnector"])),
        ("WhenChanged", shapes.dt_local(record["WhenChanged"])),
        ("WhenCreated", shapes.dt_local(record["WhenCreated"])),
        ("WhenChangedUTC", shapes.dt_utc(record["WhenChanged"])),
        ("WhenCreatedUTC", shapes.dt_utc(record["WhenCreated"])),
        (
            "OrganizationId",
            shapes.obj(
                shapes.chain("Microsoft.Exchange.Data.Directory.OrganizationId"),
                "",
                [("OrganizationalUnit", None), ("ConfigurationUnit", None)],
            ),
        ),
        ("Id", identity),
        ("OriginatingServer", dc or cfg.domain_controller),
        ("IsValid", True),
        ("ObjectState", shapes.ObjectState.Unchanged),
    ]
    computer = f"{cfg.local_server.lower()}.{cfg.domain}"
    return shapes.obj(
        shapes.chain(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig",
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.SendConnector",
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailGateway",
            "Microsoft.Exchange.Data.Directory.ADLegacyVersionableObject",
            "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
            "Microsoft.Exchange.Data.Directory.ADObject",
            "Microsoft.Exchange.Data.Directory.ADRawEntry",
            "Microsoft.Exchange.Data.ConfigurableObject",
        ),
        record["Name"],
        props,
        shapes.remoting_members(computer, runspace_id),
    )

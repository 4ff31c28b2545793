# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

THE table of Send connector settings. Everything else derives from it: the Ansible argument
spec, the JSON Schema, normalisation of both sides, the diff, the parameters sent to
``New-``/``Set-SendConnector`` and their Exchange Management Shell rendering, and the docs
consistency test.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils import _values as v

BOTH = "both"  # New-SendConnector and Set-SendConnector
CREATE = "create"  # New-SendConnector only (cannot be read back or changed)

AUTH_MECHANISMS = ["None", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "ExternalAuthoritative"]
USAGES = ["Custom", "Internal", "Internet", "Partner"]
TLS_AUTH_LEVELS = ["EncryptionOnly", "CertificateValidation", "DomainValidation"]
PROTOCOL_LOGGING_LEVELS = ["None", "Verbose"]
ERROR_POLICIES = ["Default", "DowngradeDnsFailures", "DowngradeCustomFailures", "UpgradeCustomFailures"]
CONNECTOR_TYPES = ["Default", "XPremises"]


class Option:
    """One Send connector setting.

    kind: bool | int | str | enum | flags | size | timespan | fqdn | domain | ip | certname |
          spaces | hosts | servers | credential
    """

    def __init__(
        self,
        name: str,
        param: str,
        kind: str,
        *,
        scope: str = BOTH,
        choices: Optional[list[str]] = None,
        minimum: Optional[int] = None,
        maximum: Optional[int] = None,
        ordered: bool = False,
        partial: bool = False,
        nullable: bool = False,
        secret: bool = False,
        summary: str = "",
    ) -> None:
        self.name = name
        self.param = param
        self.kind = kind
        self.scope = scope
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self.ordered = ordered
        self.partial = partial  # list accepts {add, remove}, sent as @{Add=...;Remove=...}
        self.nullable = nullable  # an empty string clears the setting ($null)
        self.secret = secret
        self.summary = summary

    # ---- normalisation -----------------------------------------------------------------
    def item(self, value: Any) -> Any:
        """Canonical form of one list item (raises ValueError)."""
        return _ITEM[self.kind](value)

    def canonical(self, value: Any) -> Any:
        """Canonical form of a whole value, from the user or from Exchange (raises ValueError)."""
        kind = self.kind
        if kind == "bool":
            return None if value is None else bool(value)
        if kind == "int":
            return None if value in (None, "") else int(value)
        if kind == "str":
            v.check_text(value)
            return None if value in (None, "") else str(value)
        if kind == "enum":
            return v.canonical_enum(value, self.choices or [])
        if kind == "flags":
            return v.canonical_flags(value, self.choices or [], (self.choices or [""])[0])
        if kind == "size":
            return v.canonical_size(value)
        if kind == "timespan":
            return v.format_timespan(v.parse_timespan(value))
        if kind in ("fqdn", "domain"):
            return v.canonical_fqdn(value)
        if kind == "ip":
            return v.canonical_ip(value)
        if kind == "certname":
            return v.canonical_certificate_name(value)
        if kind == "credential":
            if not value:
                return None
            if isinstance(value, dict):
                user = value.get("username")
                v.check_text(user)
                return {"username": user} if user else None
            return None
        if kind in ("spaces", "hosts", "servers"):
            if value in (None, ""):
                return []
            if isinstance(value, str):
                value = [value]
            result: list[Any] = []
            for item in value:
                canon = self.item(item)
                if canon not in result:
                    result.append(canon)
            return result
        raise ValueError("unknown kind %s" % kind)

    def key(self, canon: Any) -> Any:
        """What equality means for this setting (case, order...)."""
        if canon is None:
            return None
        if self.kind == "spaces":
            return frozenset(v.address_space_key(s) for s in canon)
        if self.kind in ("hosts", "servers"):
            return tuple(x.lower() for x in canon) if self.ordered else frozenset(x.lower() for x in canon)
        if self.kind == "flags":
            return frozenset(canon)
        if self.kind == "certname":
            return canon.lower()
        if self.kind == "credential":
            return (canon.get("username") or "").lower()
        return canon

    def same(self, a: Any, b: Any) -> bool:
        return self.key(a) == self.key(b)

    # ---- wire value to send ---------------------------------------------------------------
    def wire(self, canon: Any) -> Any:
        """The value to send as a cmdlet parameter (canonical in, PSRP-friendly out)."""
        if canon is None:
            return None
        if self.kind == "size":
            return v.format_size(canon)
        if self.kind == "flags":
            return ", ".join(canon)
        return canon


def _item_str(value: Any) -> str:
    return str(value)


_ITEM: dict[str, Callable[[Any], Any]] = {
    "spaces": v.canonical_address_space,
    "hosts": v.canonical_smart_host,
    "servers": v.canonical_server,
    "flags": _item_str,
}

# The table. Order = the order parameters are rendered in commands and listed in docs.
# Where each syntax rule comes from: the parameter pages New-SendConnector.md / Set-SendConnector.md in
# MicrosoftDocs/office-docs-powershell (exchange/exchange-ps/ExchangePowerShell/) as summarised in
# docs/exchange-rules.md section 1.2 (types, ranges) and section 2 (R1-R22); the parsers in
# _values.py carry the detail. Every string of every option is refused with NUL, CR or LF (_values.check_text).
OPTIONS: list[Option] = [
    # AddressSpaces: [Type:]Space[;Cost] (R1), cost 1-100 (R2), SMTP space RFC 1035 with a whole leading
    # wildcard label only (R3), "--" only on Edge/EdgeSync (R4), X400 in RFC 1685 form and ";" needing an
    # explicit cost (R5) -> _values.parse_address_space.
    Option("address_spaces", "AddressSpaces", "spaces", partial=True,
           summary="Address spaces the connector routes; required to create it."),
    # Usage: UsageType enum Custom|Internal|Internet|Partner, New only (1.1, R21).
    Option("usage", "Usage", "enum", scope=CREATE, choices=USAGES,
           summary="Usage type, chosen once at creation; Exchange cannot change or show it."),
    Option("dns_routing_enabled", "DNSRoutingEnabled", "bool",
           summary="Route by DNS MX records (true) or through smart hosts (false)."),
    # SmartHosts: FQDNs and/or IP literals (section 3 "Accepted input"); a name that is all-numeric in its last
    # label is neither (RFC 1123 2.1) -> _values.canonical_smart_host.
    Option("smart_hosts", "SmartHosts", "hosts", partial=True,
           summary="Smart hosts (IP addresses or FQDNs) mail is relayed through."),
    # SmartHostAuthMechanism: AuthMechanisms enum, one value (1.2, R9); not nullable: an empty value is refused.
    Option("smart_host_auth_mechanism", "SmartHostAuthMechanism", "enum", choices=AUTH_MECHANISMS,
           summary="How the connector authenticates to its smart hosts."),
    Option("authentication_credential", "AuthenticationCredential", "credential", secret=True,
           summary="User name and password for BasicAuth and BasicAuthRequireTLS."),
    # SourceTransportServers: Mailbox server names (1.2), at least one (4.4) -> _values.canonical_server.
    Option("source_transport_servers", "SourceTransportServers", "servers", partial=True,
           summary="Mailbox servers that host the connector."),
    Option("is_scoped_connector", "IsScopedConnector", "bool",
           summary="Visible only to transport servers in the source servers' AD site."),
    # Port: Int32 0-65535 (1.2, R19).
    Option("port", "Port", "int", minimum=0, maximum=65535,
           summary="TCP port used for the smart hosts (0-65535)."),
    # Fqdn: a fully qualified domain name (1.2) -> _values.is_fqdn in _schema._range_error.
    Option("fqdn", "Fqdn", "fqdn", nullable=True,
           summary="Name used in EHLO/HELO and to pick the TLS certificate; empty string clears it."),
    Option("require_tls", "RequireTLS", "bool",
           summary="Every message must go out over TLS."),
    Option("ignore_starttls", "IgnoreSTARTTLS", "bool",
           summary="Ignore the STARTTLS offer of the remote server."),
    # TlsAuthLevel: enum (1.2, R11, R12); empty string clears it.
    Option("tls_auth_level", "TlsAuthLevel", "enum", choices=TLS_AUTH_LEVELS, nullable=True,
           summary="TLS authentication level; empty string clears it."),
    # TlsDomain: SmtpDomainWithSubdomains, contoso.com or *.contoso.com (1.2, R12).
    Option("tls_domain", "TlsDomain", "domain", nullable=True,
           summary="Domain the smart host certificate must match with DomainValidation."),
    # TlsCertificateName: "<I>X.500Issuer<S>X.500Subject" (R15) -> _values.canonical_certificate_name.
    Option("tls_certificate_name", "TlsCertificateName", "certname", nullable=True,
           summary="Local certificate, as <I>issuer<S>subject; empty string clears it."),
    # MaxMessageSize: number with B/KB/MB/GB/TB or unlimited, 0-2147483647 bytes (R17) -> _values.parse_size.
    Option("max_message_size", "MaxMessageSize", "size",
           summary="Largest message: bytes, a number with B/KB/MB/GB/TB, or unlimited."),
    # ProtocolLoggingLevel: None|Verbose (1.2); not nullable.
    Option("protocol_logging_level", "ProtocolLoggingLevel", "enum", choices=PROTOCOL_LOGGING_LEVELS,
           summary="SmtpSend protocol logging."),
    Option("enabled", "Enabled", "bool", summary="Whether the connector is used for routing."),
    Option("comment", "Comment", "str", nullable=True, summary="Free text; empty string clears it."),
    # ConnectionInactivityTimeOut: EnhancedTimeSpan dd.hh:mm:ss, 00:00:01-1.00:00:00 (1.2, R18).
    Option("connection_inactivity_timeout", "ConnectionInactivityTimeOut", "timespan",
           summary="Idle time before an open connection is closed ([d.]hh:mm:ss or seconds)."),
    # SmtpMaxMessagesPerConnection: Int32, no documented range; at least 1 (R20).
    Option("smtp_max_messages_per_connection", "SmtpMaxMessagesPerConnection", "int", minimum=1,
           maximum=2147483647, summary="Messages sent per connection."),
    Option("force_helo", "ForceHELO", "bool", summary="Send HELO instead of EHLO."),
    # DomainSecureEnabled: needs DNS routing and STARTTLS, and no wildcard address space (R14).
    Option("domain_secure_enabled", "DomainSecureEnabled", "bool", summary="Mutual TLS domain security."),
    # ErrorPolicies: flags enum, several comma-separated (1.2).
    Option("error_policies", "ErrorPolicies", "flags", choices=ERROR_POLICIES,
           summary="How communication errors are treated."),
    Option("use_external_dns_servers_enabled", "UseExternalDNSServersEnabled", "bool",
           summary="Use the transport service's external DNS servers."),
    # SourceIPAddress: "IPv4 literal" (1.2, R16) -> _values.canonical_ip refuses IPv6.
    Option("source_ip_address", "SourceIPAddress", "ip", summary="Local IP address to send from (Edge only)."),
    Option("frontend_proxy_enabled", "FrontendProxyEnabled", "bool",
           summary="Proxy outbound mail through the Front End Transport service."),
    Option("cloud_services_mail_enabled", "CloudServicesMailEnabled", "bool",
           summary="Hybrid header handling for mail to Exchange Online."),
    # ConnectorType: TenantConnectorType Default|XPremises (1.2); not nullable.
    Option("connector_type", "ConnectorType", "enum", choices=CONNECTOR_TYPES,
           summary="Default, or XPremises for a hybrid connector."),
]

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}

# What a 2016/2019/SE New-SendConnector gives a setting the command did not name (docs/exchange-rules.md section 5
# "Emulator defaults"). Used to predict the connector after a create (check mode, the rule check before the
# write); MaxMessageSize depends on the usage type and SourceTransportServers on the server that runs the
# cmdlet, so they are filled in by ``create_defaults`` or left out.
_NEW_CONNECTOR_DEFAULTS: dict[str, Any] = {
    "dns_routing_enabled": True,
    "smart_hosts": [],
    "smart_host_auth_mechanism": "None",
    "authentication_credential": None,
    "is_scoped_connector": False,
    "port": 25,
    "fqdn": None,
    "require_tls": False,
    "ignore_starttls": False,
    "tls_auth_level": None,
    "tls_domain": None,
    "tls_certificate_name": None,
    "protocol_logging_level": "None",
    "enabled": True,
    "comment": None,
    "connection_inactivity_timeout": "00:10:00",
    "smtp_max_messages_per_connection": 20,
    "force_helo": False,
    "domain_secure_enabled": False,
    "error_policies": ["Default"],
    "use_external_dns_servers_enabled": False,
    "source_ip_address": "0.0.0.0",
    "frontend_proxy_enabled": False,
    "cloud_services_mail_enabled": False,
    "connector_type": "Default",
}


def create_defaults(usage: Optional[str] = None) -> dict[str, Any]:
    """Canonical settings of a connector New-SendConnector creates, before the given ones apply."""
    defaults = {name: BY_NAME[name].canonical(raw) for name, raw in _NEW_CONNECTOR_DEFAULTS.items()}
    internal = str(usage or "Custom").lower() == "internal"
    defaults["max_message_size"] = BY_NAME["max_message_size"].canonical("unlimited" if internal else "35MB")
    return defaults


def argument_spec() -> dict[str, Any]:
    """The Ansible argument spec of the connector settings (no defaults: not given = not managed)."""
    spec: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.kind == "bool":
            entry: dict[str, Any] = {"type": "bool"}
        elif opt.kind == "int":
            entry = {"type": "int"}
        elif opt.kind == "flags":
            entry = {"type": "list", "elements": "str"}
        elif opt.kind in ("spaces", "hosts", "servers", "size", "timespan"):
            entry = {"type": "raw"}
        elif opt.kind == "credential":
            entry = {
                "type": "dict",
                "options": {
                    "username": {"type": "str", "required": True},
                    # Not required: Exchange cannot show it, so send_connector_info returns the user name
                    # only and its output must still be valid input (sent only when needed).
                    "password": {"type": "str", "no_log": True},
                },
            }
        else:
            entry = {"type": "str"}
        spec[opt.name] = entry
    return spec


def from_exchange(props: dict[str, Any]) -> dict[str, Any]:
    """A Get-SendConnector object (plain dict from ``_values.object_to_dict``) -> canonical settings.

    Property names are matched case-insensitively. Settings Exchange does not show (usage) are
    left out. A value that cannot be understood is kept as Exchange rendered it, so that it
    shows up as a difference rather than crashing the module.
    """
    lowered = {str(k).lower(): val for k, val in props.items()}
    state: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.scope == CREATE:
            continue
        raw = lowered.get(opt.param.lower())
        if opt.kind == "credential" and isinstance(raw, str):
            raw = None if raw.strip() in ("", "System.Management.Automation.PSCredential") else {"username": None}
        try:
            state[opt.name] = opt.canonical(raw)
        except (ValueError, TypeError):
            state[opt.name] = raw
    return state


def identity_from_exchange(props: dict[str, Any]) -> dict[str, Any]:
    lowered = {str(k).lower(): val for k, val in props.items()}
    guid = lowered.get("guid")
    return {
        "guid": str(guid) if guid is not None else None,
        "identity": lowered.get("identity") if isinstance(lowered.get("identity"), str) else lowered.get("name"),
        "distinguished_name": lowered.get("distinguishedname"),
    }

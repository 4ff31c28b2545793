# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

THE table of Send connector settings (and of the task's own options that are not settings, scope ``TASK``:
the provider preset). Everything else derives from it: the Ansible argument spec, the JSON Schema, normalisation of both sides, the diff, the parameters sent to
``New-``/``Set-SendConnector`` and their Exchange Management Shell rendering, and the docs
consistency test.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import presets as _presets
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as v

BOTH = "both"  # New-SendConnector and Set-SendConnector
CREATE = "create"  # New-SendConnector only (cannot be read back or changed)
TASK = "task"  # the task's own option, not a connector setting: never sent to Exchange nor read back

AUTH_MECHANISMS = ["None", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "ExternalAuthoritative"]
USAGES = ["Custom", "Internal", "Internet", "Partner"]
TLS_AUTH_LEVELS = ["EncryptionOnly", "CertificateValidation", "DomainValidation"]
PROTOCOL_LOGGING_LEVELS = ["None", "Verbose"]
ERROR_POLICIES = ["Default", "DowngradeDnsFailures", "DowngradeCustomFailures", "UpgradeCustomFailures"]
CONNECTOR_TYPES = ["Default", "XPremises"]


class Kind:
    """One kind of setting value and everything that follows from it, so that no code outside this table asks
    which option or kind it handles: parsing (``canonical``; ``item`` for one entry of a list), what equality means
    (``key``; ``identity``: which list entries are the same entry), the value sent to the cmdlet (``wire``), the
    Ansible argument spec (``ansible``), the JSON Schema (``schema``), the rules on a raw value before parsing
    (``refuse``) and on one parsed list entry (``item_check``), the range or format rule on the canonical value
    (``check``), how a diff shows it (``show``), how a change is planned (``desired``: the value after the change
    and what to send), how Exchange's rendering is read (``read``), and whether Exchange can show it at all
    (``secret``: a credential, whose password is never read back).
    """

    def __init__(self, name: str, canonical: Callable[["Option", Any], Any], *,
                 ansible: Optional[dict[str, Any]] = None,
                 schema: Optional[Callable[["Option"], dict[str, Any]]] = None,
                 key: Optional[Callable[[Any], Any]] = None, wire: Optional[Callable[[Any], Any]] = None,
                 check: Optional[Callable[["Option", Any], str]] = None, show: Optional[Callable[[Any], Any]] = None,
                 item: Optional[Callable[[Any], Any]] = None, identity: Optional[Callable[[Any], Any]] = None,
                 refuse: Optional[Callable[["Option", Any], str]] = None,
                 item_check: Optional[Callable[[Any], Optional[str]]] = None,
                 desired: Optional[Callable[..., tuple[Any, bool, Any]]] = None,
                 read: Optional[Callable[[Any], Any]] = None, secret: bool = False,
                 list_check: Optional[Callable[[Any], list[str]]] = None,
                 ansible_choices: bool = False) -> None:
        self.name = name
        self._canonical = canonical
        self._ansible = ansible or {"type": "str"}
        self._schema = schema
        self._key = key
        self._wire = wire
        self._check = check
        self._show = show
        self.item = item
        self._identity = identity
        self._refuse = refuse
        self._item_check = item_check
        self._desired = desired or _desired_value
        self._read = read
        self.secret = secret
        self._list_check = list_check
        self.ansible_choices = ansible_choices  # the row's choices go into the argument spec (exact, case and all)

    def __repr__(self) -> str:
        return "Kind(%s)" % self.name


def _string_schema(opt: "Option") -> dict[str, Any]:
    return {"type": ["string", "null"] if opt.nullable else "string", "x-value": opt.name}


def _int_schema(opt: "Option") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    if opt.minimum is not None:
        schema["minimum"] = opt.minimum
    if opt.maximum is not None:
        schema["maximum"] = opt.maximum
    return schema


def _text_schema(opt: "Option") -> dict[str, Any]:
    return {"type": ["string", "integer"], "x-value": opt.name}


def _list_schema(opt: "Option", typed: bool = True, min_items: int = 0) -> dict[str, Any]:
    """A list setting: the whole list, or (``partial``) a mapping of add/remove lists. ``typed``: every entry is a
    string (else the kind's ``refuse`` words a wrong entry); ``min_items``: what Exchange itself requires."""
    item: dict[str, Any] = {"type": "string", "x-item": opt.name} if typed else {"x-item": opt.name}
    whole: dict[str, Any] = {"type": "array", "items": item}
    if min_items:
        whole["minItems"] = min_items
    if opt.at_least_one:
        whole.update({"x-task": {"minItems": 1, "x-empty": opt.at_least_one}})
    if not opt.partial:
        return whole
    part = {
        "type": "object",
        "properties": {"add": {"type": "array", "items": item}, "remove": {"type": "array", "items": item}},
        "additionalProperties": False,
        "minProperties": 1,
    }
    return {"x-list": opt.name, "anyOf": [whole, part]}


def _credential_schema(opt: "Option") -> dict[str, Any]:
    return {
        "type": "object",
        # password may be null: Ansible fills in a missing suboption, and send_connector_info's output (which
        # cannot carry the password) must be valid input; the planner demands it when it must be sent.
        "properties": {
            "username": {"type": "string", "minLength": 1, "pattern": "\\S", "x-text": True},
            "password": {"type": ["string", "null"], "x-text": True, "x-secret": True},
        },
        "required": ["username"],
        "additionalProperties": False,
        "x-secret": True,
    }


def _canonical_list(opt: "Option", value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    result: list[Any] = []
    for entry in value:
        canon = opt.item(entry)
        if canon not in result:
            result.append(canon)
    return result


def _canonical_credential(_opt: "Option", value: Any) -> Any:
    if not value or not isinstance(value, dict):
        return None
    user = value.get("username")
    v.check_text(user)
    return {"username": user} if user else None


def _canonical_str(_opt: "Option", value: Any) -> Any:
    v.check_text(value)
    return None if value in (None, "") else str(value)


def _canonical_choice(opt: "Option", value: Any) -> Any:
    """One of the row's choices, exactly as written (the argument spec's ``choices``)."""
    if value in (None, ""):
        return None
    if value not in (opt.choices or []):
        raise ValueError("must be one of %s" % ", ".join(opt.choices or []))
    return value


def _size_check(_opt: "Option", canon: Any) -> str:
    """R17: 0-2147483647 bytes; 2GB is 2147483648, one byte too many."""
    if isinstance(canon, int) and not 0 <= canon <= v.MAX_MESSAGE_BYTES:
        shown = ("%d bytes" % canon) if abs(canon) < 10 ** 20 else "the size"
        return "%s is outside 0-%d bytes (2GB is one byte too many; use at most 2047MB)" % (shown, v.MAX_MESSAGE_BYTES)
    return ""


def _timespan_check(opt: "Option", canon: Any) -> str:
    seconds = v.parse_timespan(canon)
    if seconds is not None and opt.minimum is not None and opt.maximum is not None \
            and not opt.minimum <= seconds <= opt.maximum:
        return "must be from %s to %s (%d to %d seconds)" % (v.format_timespan(opt.minimum), v.format_timespan(opt.maximum),
                                                             opt.minimum, opt.maximum)
    return ""


def _fqdn_check(_opt: "Option", canon: Any) -> str:
    if canon and not v.is_fqdn(canon):
        return "%s is not a fully qualified domain name such as mail.contoso.com" % v.shown(canon)
    return ""


def _domain_check(_opt: "Option", canon: Any) -> str:
    """An SmtpDomainWithSubdomains: contoso.com or *.contoso.com (R12)."""
    if canon and canon != "*" and not v.is_fqdn(canon[2:] if canon.startswith("*.") else canon, underscore=True):
        return "%s is not a domain such as contoso.com or *.contoso.com" % v.shown(canon)
    return ""


def _lower_set(canon: Any) -> Any:
    return frozenset(x.lower() for x in canon)


# ---- planning: (the value after the change, whether to send it, what to send) ------------------
def _desired_value(opt: "Option", value: Any, have: Any, creating: bool) -> tuple[Any, bool, Any]:
    canon = opt.canonical(value)
    if creating:
        return canon, canon is not None, opt.wire(canon)
    return canon, not opt.same(canon, have), opt.wire(canon)


def _desired_list(opt: "Option", value: Any, have: Any, creating: bool, whole: bool = False) -> tuple[Any, bool, Any]:
    """A list setting: the whole list, or {add, remove} against what Exchange has. Sent as @{Add=..;Remove=..}
    unless ``whole`` (the kind's parameter takes the whole list only) or the list ends up empty (cleared)."""
    current = None if creating else list(have or [])
    if not isinstance(value, dict):
        new = opt.canonical(value)
        if current is not None and opt.same(new, current):
            return current, False, None
        return new, True, new or None
    add = opt.canonical(value.get("add") or [])
    remove = opt.canonical(value.get("remove") or [])
    have_list = list(current or [])
    have_keys = {opt.key([x]) for x in have_list}
    add_keys = {opt.key([x]) for x in add}
    remove_ids = {opt.identity(x) for x in remove}
    add_ids = {opt.identity(x) for x in add}
    # One entry per identity: adding 'contoso.com;5' where 'contoso.com;1' is replaces it (a new cost), and
    # removing 'contoso.com' removes it whatever its cost.
    really_remove = [x for x in have_list if opt.identity(x) in remove_ids
                     or (opt.identity(x) in add_ids and opt.key([x]) not in add_keys)]
    really_add = [x for x in add if opt.key([x]) not in have_keys and opt.identity(x) not in remove_ids]
    new = [x for x in have_list if x not in really_remove] + really_add
    if current is None:  # creating: the add list is the whole list
        return new, True, new or None
    if not really_add and not really_remove:
        return have_list, False, None
    if whole or not new:
        return new, True, new or None  # sent whole; an emptied list is cleared
    wire: dict[str, list] = {}
    if really_add:
        wire["Add"] = really_add
    if really_remove:
        wire["Remove"] = really_remove
    return new, True, wire


def _flags_refuse(opt: "Option", instance: Any) -> str:
    """One entry of a flags list: one enum name."""
    try:
        if v.canonical_enum(instance, opt.choices or []) is not None:
            return ""
    except (ValueError, TypeError) as err:
        return str(err)
    return "must be one of %s (in any case); an empty value is not allowed" % ", ".join(opt.choices or [])


def _enum_refuse(opt: "Option", instance: Any) -> str:
    if not opt.nullable and isinstance(instance, str) and not instance.strip(" \t"):
        # An empty enum would be sent as $null, which Exchange refuses for this parameter.
        return "must be one of %s (in any case); an empty value is not allowed" % ", ".join(opt.choices or [])
    return ""


def _space_refuse(_opt: "Option", instance: Any) -> str:
    if not isinstance(instance, (str, dict)):
        return "an address space is a string such as contoso.com;2 or a {domain, type, cost} mapping"
    return ""


def _repeated_spaces(items: Any) -> list[str]:
    """The same address space (type and space) twice, e.g. with two costs: Exchange refuses the list."""
    if not isinstance(items, list):
        return []
    problems = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            ident = v.address_space_id(v.canonical_address_space(item))
        except (ValueError, TypeError):
            continue  # reported by the item's own check
        if ident in seen and v.canonical_address_space(items[seen[ident]]) != v.canonical_address_space(item):
            problems.append("items %d and %d are the same address space with two costs; each address space "
                            "(type and domain) may appear once" % (seen[ident], index))
        seen.setdefault(ident, index)
    return problems


def _read_credential(raw: Any) -> Any:
    """Exchange renders a stored credential as its type name (or nothing) when it cannot send the object."""
    if isinstance(raw, str):
        return None if raw.strip() in ("", "System.Management.Automation.PSCredential") else {"username": None}
    return raw


BOOL = Kind("bool", lambda _o, x: None if x is None else bool(x), ansible={"type": "bool"},
            schema=lambda _o: {"type": "boolean"})
INT = Kind("int", lambda _o, x: None if x in (None, "") else int(x), ansible={"type": "int"}, schema=_int_schema)
STR = Kind("str", _canonical_str)
# A name among the row's choices, as Ansible checks ``choices``: exact (the provider presets' names).
CHOICE = Kind("choice", _canonical_choice, ansible_choices=True)
ENUM = Kind("enum", lambda o, x: v.canonical_enum(x, o.choices or []), refuse=_enum_refuse)
FLAGS = Kind("flags", lambda o, x: v.canonical_flags(x, o.choices or [], (o.choices or [""])[0]),
             ansible={"type": "list", "elements": "str"}, item=str, key=frozenset, wire=", ".join,
             schema=lambda o: {"type": "array", "items": {"type": "string", "x-value": o.name}}, refuse=_flags_refuse)
SIZE = Kind("size", lambda _o, x: v.canonical_size(x), ansible={"type": "raw"}, schema=_text_schema,
            wire=v.format_size, check=_size_check, show=v.show_size)
TIMESPAN = Kind("timespan", lambda _o, x: v.format_timespan(v.parse_timespan(x)), ansible={"type": "raw"},
                schema=_text_schema, check=_timespan_check)
FQDN = Kind("fqdn", lambda _o, x: v.canonical_fqdn(x), check=_fqdn_check)
DOMAIN = Kind("domain", lambda _o, x: v.canonical_fqdn(x), check=_domain_check)
IP = Kind("ip", lambda _o, x: v.canonical_ip(x))
CERTNAME = Kind("certname", lambda _o, x: v.canonical_certificate_name(x), key=str.lower)
# AddressSpaces: R7, a connector routes at least one; the parameter takes the whole list (no Add/Remove); an entry
# is one per type and space (its cost aside).
SPACES = Kind("spaces", _canonical_list, ansible={"type": "raw"}, schema=lambda o: _list_schema(o, typed=False, min_items=1),
              item=v.canonical_address_space, key=lambda canon: frozenset(v.address_space_key(s) for s in canon),
              identity=v.address_space_id, refuse=_space_refuse, list_check=_repeated_spaces, item_check=lambda canon: v.input_problem("spaces", canon),
              desired=lambda o, value, have, creating: _desired_list(o, value, have, creating, whole=True))
HOSTS = Kind("hosts", _canonical_list, ansible={"type": "raw"}, schema=_list_schema, item=v.canonical_smart_host,
             key=_lower_set, item_check=lambda canon: v.input_problem("hosts", canon), desired=_desired_list)
SERVERS = Kind("servers", _canonical_list, ansible={"type": "raw"}, schema=_list_schema, item=v.canonical_server,
               key=_lower_set, desired=_desired_list)
CREDENTIAL = Kind(
    "credential", _canonical_credential, schema=_credential_schema, read=_read_credential, secret=True,
    key=lambda canon: (canon.get("username") or "").lower(),
    ansible={
        "type": "dict",
        "options": {
            "username": {"type": "str", "required": True},
            # Not required: Exchange cannot show it, so send_connector_info returns the user name
            # only and its output must still be valid input (sent only when needed).
            "password": {"type": "str", "no_log": True},
        },
    })


class Option:
    """One row of the table, with its ``Kind``: a Send connector setting, or (scope ``TASK``) an option of the task
    that is not one (never sent, read or compared; ``param`` is empty)."""

    def __init__(
        self,
        name: str,
        param: str,
        kind: Kind,
        *,
        scope: str = BOTH,
        choices: Optional[list[str]] = None,
        minimum: Optional[int] = None,
        maximum: Optional[int] = None,
        partial: bool = False,
        nullable: bool = False,
        at_least_one: str = "",
        probe: bool = False,
    ) -> None:
        self.name = name
        self.param = param
        self.kind = kind
        self.scope = scope
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self.partial = partial  # list accepts {add, remove}, sent as @{Add=...;Remove=...}
        self.nullable = nullable  # an empty string clears the setting ($null)
        self.at_least_one = at_least_one  # a task may not give the list empty: this sentence says why
        self.probe = probe  # smtp_probe judges a smart host against it (its targets' options, the role's targets)

    # ---- normalisation -----------------------------------------------------------------
    def item(self, value: Any) -> Any:
        """Canonical form of one list item (raises ValueError)."""
        return self.kind.item(value)

    def canonical(self, value: Any) -> Any:
        """Canonical form of a whole value, from the user or from Exchange (raises ValueError)."""
        return self.kind._canonical(self, value)

    def key(self, canon: Any) -> Any:
        """What equality means for this setting (case, order...)."""
        if canon is None or self.kind._key is None:
            return canon
        return self.kind._key(canon)

    def same(self, a: Any, b: Any) -> bool:
        return self.key(a) == self.key(b)

    def identity(self, item: Any) -> Any:
        """Which entries of a list are the same entry (address spaces: type and space, the cost aside)."""
        return self.kind._identity(item) if self.kind._identity else self.key([item])

    def refuse(self, instance: Any) -> str:
        """The kind's rule on a raw value (one entry of a list, for a list kind) before parsing: "" when it holds."""
        return self.kind._refuse(self, instance) if self.kind._refuse else ""

    def item_problem(self, canon: Any) -> Optional[str]:
        """What a task may not give as one parsed list entry although Exchange shows it (e.g. '--'), or None."""
        return self.kind._item_check(canon) if self.kind._item_check else None

    def desired(self, value: Any, have: Any, creating: bool) -> tuple[Any, bool, Any]:
        """(the value after the change, whether it is sent, the value to send) for the task's ``value`` against
        what Exchange has (``have``; ignored when ``creating``)."""
        return self.kind._desired(self, value, have, creating)

    def list_problems(self, items: Any) -> list[str]:
        """The kind's rules on a whole list as a task gives it (address spaces: one cost per space)."""
        return self.kind._list_check(items) if self.kind._list_check else []

    def read(self, raw: Any) -> Any:
        """Exchange's rendering of the setting, made parseable (canonical then parses it)."""
        return self.kind._read(raw) if self.kind._read else raw

    def wire(self, canon: Any) -> Any:
        """The value to send as a cmdlet parameter (canonical in, PSRP-friendly out)."""
        if canon is None or self.kind._wire is None:
            return canon
        return self.kind._wire(canon)

    def check(self, canon: Any) -> str:
        """The range or format rule on a canonical value: "" when it holds, else the rule in words."""
        return self.kind._check(self, canon) if self.kind._check else ""

    def show(self, value: Any) -> Any:
        """The value as a person reads it in a diff (as the Exchange Management Shell shows it)."""
        return self.kind._show(value) if self.kind._show else value

    # ---- declarations derived from the kind ---------------------------------------------------
    def argument_spec(self) -> dict[str, Any]:
        spec = copy.deepcopy(self.kind._ansible)
        if self.kind.ansible_choices:
            spec["choices"] = list(self.choices or [])
        return spec

    def schema(self) -> dict[str, Any]:
        return self.kind._schema(self) if self.kind._schema else _string_schema(self)


# The table. Order = the order parameters are rendered in commands and listed in docs.
# Where each syntax rule comes from: the parameter pages New-SendConnector.md / Set-SendConnector.md in
# MicrosoftDocs/office-docs-powershell (exchange/exchange-ps/ExchangePowerShell/) as summarised in
# docs/exchange-rules.md section 1.2 (types, ranges) and section 2 (R1-R23); the parsers in
# values.py carry the detail. Every string of every option is refused with NUL, CR or LF (_values.check_text).
OPTIONS: list[Option] = [
    # AddressSpaces: [Type:]Space[;Cost] (R1), cost 1-100 (R2), SMTP space RFC 1035 with a whole leading
    # wildcard label only (R3), "--" only on Edge/EdgeSync (R4), X400 in RFC 1685 form and ";" needing an
    # explicit cost (R5) -> _values.parse_address_space.
    Option("address_spaces", "AddressSpaces", SPACES, partial=True),
    # Usage: UsageType enum Custom|Internal|Internet|Partner, New only (1.1, R21).
    Option("usage", "Usage", ENUM, scope=CREATE, choices=USAGES),
    Option("dns_routing_enabled", "DNSRoutingEnabled", BOOL),
    # SmartHosts: FQDNs and/or IP literals (section 3 "Accepted input"); a name that is all-numeric in its last
    # label is neither (RFC 1123 2.1) -> _values.canonical_smart_host.
    Option("smart_hosts", "SmartHosts", HOSTS, partial=True),
    # SmartHostAuthMechanism: AuthMechanisms enum, one value (1.2, R9); not nullable: an empty value is refused.
    Option("smart_host_auth_mechanism", "SmartHostAuthMechanism", ENUM, choices=AUTH_MECHANISMS, probe=True),
    Option("authentication_credential", "AuthenticationCredential", CREDENTIAL, probe=True),
    # SourceTransportServers: Mailbox server names (1.2), at least one (4.4) -> _values.canonical_server.
    Option("source_transport_servers", "SourceTransportServers", SERVERS, partial=True,
           at_least_one="a Send connector needs at least one source transport server"),
    Option("is_scoped_connector", "IsScopedConnector", BOOL),
    # Port: Int32 0-65535 (1.2, R19).
    Option("port", "Port", INT, minimum=0, maximum=65535),
    # Fqdn: a fully qualified domain name (1.2) -> the FQDN kind's check.
    Option("fqdn", "Fqdn", FQDN, nullable=True),
    Option("require_tls", "RequireTLS", BOOL, probe=True),
    Option("ignore_starttls", "IgnoreSTARTTLS", BOOL, probe=True),
    # TlsAuthLevel: enum (1.2, R11, R12); empty string clears it.
    Option("tls_auth_level", "TlsAuthLevel", ENUM, choices=TLS_AUTH_LEVELS, nullable=True, probe=True),
    # TlsDomain: SmtpDomainWithSubdomains, contoso.com or *.contoso.com (1.2, R12).
    Option("tls_domain", "TlsDomain", DOMAIN, nullable=True, probe=True),
    # TlsCertificateName: "<I>X.500Issuer<S>X.500Subject" (R15) -> _values.canonical_certificate_name.
    Option("tls_certificate_name", "TlsCertificateName", CERTNAME, nullable=True),
    # MaxMessageSize: number with B/KB/MB/GB/TB or unlimited, 0-2147483647 bytes (R17) -> _values.parse_size.
    Option("max_message_size", "MaxMessageSize", SIZE, probe=True),
    # ProtocolLoggingLevel: None|Verbose (1.2); not nullable.
    Option("protocol_logging_level", "ProtocolLoggingLevel", ENUM, choices=PROTOCOL_LOGGING_LEVELS),
    Option("enabled", "Enabled", BOOL),
    Option("comment", "Comment", STR, nullable=True),
    # ConnectionInactivityTimeOut: EnhancedTimeSpan dd.hh:mm:ss, 00:00:01-1.00:00:00 (1.2, R18).
    Option("connection_inactivity_timeout", "ConnectionInactivityTimeOut", TIMESPAN, minimum=1, maximum=86400),
    # SmtpMaxMessagesPerConnection: Int32, no documented range; at least 1 (R20).
    Option("smtp_max_messages_per_connection", "SmtpMaxMessagesPerConnection", INT, minimum=1,
           maximum=2147483647),
    Option("force_helo", "ForceHELO", BOOL),
    # DomainSecureEnabled: needs DNS routing and STARTTLS, and no wildcard address space (R14).
    Option("domain_secure_enabled", "DomainSecureEnabled", BOOL),
    # ErrorPolicies: flags enum, several comma-separated (1.2).
    Option("error_policies", "ErrorPolicies", FLAGS, choices=ERROR_POLICIES),
    Option("use_external_dns_servers_enabled", "UseExternalDNSServersEnabled", BOOL),
    # SourceIPAddress: "IPv4 literal" (1.2, R16) -> _values.canonical_ip refuses IPv6.
    Option("source_ip_address", "SourceIPAddress", IP),
    Option("frontend_proxy_enabled", "FrontendProxyEnabled", BOOL),
    Option("cloud_services_mail_enabled", "CloudServicesMailEnabled", BOOL),
    # ConnectorType: TenantConnectorType Default|XPremises (1.2); not nullable.
    Option("connector_type", "ConnectorType", ENUM, choices=CONNECTOR_TYPES),
    # A provider preset (presets.py): not a connector setting, but the task's own option, whose values go under
    # the task's (presets.resolve). Documented with each module that takes it.
    Option(_presets.OPTION, "", CHOICE, scope=TASK, choices=_presets.NAMES),
]

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
# The rows that are Send connector settings (sent, read back, planned, compared): all but the task's own options.
SETTINGS: list[Option] = [o for o in OPTIONS if o.scope != TASK]
# The settings smtp_probe judges a smart host against, in table order (its options, its targets' options, the role's
# probe targets): a new row with probe=True reaches all three.
PROBED: list[Option] = [o for o in OPTIONS if o.probe]

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
    """The Ansible argument spec of the table's options (no defaults: not given = not managed)."""
    return {opt.name: opt.argument_spec() for opt in OPTIONS}


def from_exchange(props: dict[str, Any]) -> dict[str, Any]:
    """A Get-SendConnector object (a record of the collection's reader, ``_wire``) -> canonical settings.

    Property names are matched case-insensitively. Settings Exchange does not show (usage) are
    left out. A value that cannot be understood is kept as Exchange rendered it, so that it
    shows up as a difference rather than crashing the module.
    """
    lowered = {str(k).lower(): val for k, val in props.items()}
    state: dict[str, Any] = {}
    for opt in SETTINGS:
        if opt.scope == CREATE:
            continue
        raw = opt.read(lowered.get(opt.param.lower()))
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

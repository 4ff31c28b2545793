"""Lab configuration: ``--config FILE`` (YAML or JSON); every key is optional.

Example::

    organization: Contoso                # OrgName in distinguished names
    domain: contoso.com                  # AD domain; server FQDNs are <name>.<domain>
    domain_controller: DC01.contoso.com  # OriginatingServer / the DC errors name
    servers:                             # the Exchange servers Get-ExchangeServer returns
      - {name: EX01, site: Default-First-Site-Name, roles: [Mailbox], version: "Version 15.2 (Build 1544.4)"}
      - {name: EX02, site: Default-First-Site-Name, roles: [Mailbox]}
      - {name: EX03, site: Branch-Site, roles: [Mailbox]}
      - {name: EDGE01, site: "", roles: [Edge]}
      # certificates (Get-ExchangeCertificate -Server EX01); without the key the server's certificate
      # store is not modelled: TlsCertificateName is not checked against it and Get-ExchangeCertificate
      # returns nothing. max_per_domain_outbound_connections: Get-TransportService (default 20).
      - name: EX04
        certificates:
          - {thumbprint: 0A1B..., issuer: "CN=Contoso CA", subject: "CN=mail.contoso.com", services: [IIS, SMTP],
             not_before: "2026-01-01T00:00:00Z", not_after: "2027-01-01T00:00:00Z", has_private_key: true,
             status: Valid}
    local_server: EX01                   # the server the endpoint runs on (the one a client connects to)
    cmdlet_server: EX02                  # the server remote PowerShell proxies cmdlets to (default: local_server):
                                         # New-SendConnector's default source server, [Server=...] in error records
    transport_config:                    # Get-TransportConfig
      max_send_size: 10485760            # MaxSendSize in bytes (Exchange's default 10 MB)
    latency:
      runspace_open: 0.0                 # seconds added when a RunspacePool is opened
      cmdlet: 0.0                        # seconds added to every cmdlet
    faults:                              # injected on the Nth WSMan request / cmdlet (1-based, counted from start)
      - {on_request: 5, kind: wsman_fault}   # answer a WSManFault (500) instead of the real reply
      - {on_request: 9, kind: drop}          # close the TCP connection without answering
      - {on_cmdlet: 3, kind: replication_delay, seconds: 2}  # a write becomes visible to reads only later
      - {on_cmdlet: 4, kind: reverted}      # the 4th cmdlet's write is undone before the next cmdlet (someone else)
      - {on_command: 2, kind: command_drop}     # the 2nd pipeline's Command request: closed before it runs
      - {on_command: 3, kind: command_late, seconds: 10}  # the 3rd: its cmdlet runs, the answer comes 10 s late
      - {on_command: 4, kind: receive_late, seconds: 30}  # the 4th: the Receive with its output comes 30 s late
      - {on_write: 1, kind: write_answer_drop}   # the 1st write is applied, its answer is lost (TCP closed)
      - {on_write: 2, kind: write_answer_fault}  # the 2nd write is applied, its answer is a WSManFault (500)
    core_cmdlets: [Select-Object]        # PowerShell's own cmdlets the session offers; [] for none
    unbound_pipeline_input: [Get-SendConnector]  # cmdlets that bind no parameter to pipeline input: each input
                                         # object is a non-terminating InputObjectNotBound error (default [])
    hosts:                               # name map used by the lab's mail transport (no system resolver)
      smarthost.contoso.net: 127.0.0.2
    mail:                                # the mail transport (exchange_lab/mail/settings.py); all optional
      enabled: true                      # false: no SMTP listener and no transport cmdlets
      smtp_port: 0                       # receive connector port (0 = any free port; smtp_port in the ready JSON)
      ca_bundle: /path/to/ca.pem         # trust for TlsAuthLevel CertificateValidation/DomainValidation
      retry_interval: 60                 # seconds between delivery attempts of a queue in Retry (tests: 0.5)
      message_expiration: 172800         # seconds until a queued message is returned (FAIL + DSN)
      connect_timeout: 30                # seconds; caps the connector's ConnectionInactivityTimeOut
      accepted_domains: [fabrikam.org]   # sender domains besides `domain` that may relay
      receive_max_message_size: 36700160
      send_event_id: SEND                # or SENDEXTERNAL: the tracking event of a delivery through a connector
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import typing as t


@dataclasses.dataclass
class ServerDef:
    name: str
    site: str = "Default-First-Site-Name"
    roles: list[str] = dataclasses.field(default_factory=lambda: ["Mailbox"])
    version: str = "Version 15.2 (Build 1544.4)"
    certificates: list[CertificateDef] | None = None  # None: the certificate store is not modelled
    max_per_domain_outbound_connections: int = 20

    @property
    def is_edge(self) -> bool:
        return "Edge" in self.roles

    @property
    def is_mailbox(self) -> bool:
        return "Mailbox" in self.roles


CERTIFICATE_SERVICES = ("None", "IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter")
CERTIFICATE_STATUSES = ("Unknown", "Valid", "Revoked", "DateInvalid", "Untrusted", "Invalid", "RevocationCheckFailure",
                        "PendingRequest")


@dataclasses.dataclass
class CertificateDef:
    """One certificate in a server's store, as Get-ExchangeCertificate shows it."""

    thumbprint: str
    issuer: str
    subject: str
    not_before: str  # ISO 8601; a date without zone is UTC
    not_after: str
    services: list[str] = dataclasses.field(default_factory=lambda: ["SMTP"])
    has_private_key: bool = True
    status: str = "Valid"
    friendly_name: str = ""

    def window(self) -> tuple[datetime.datetime, datetime.datetime]:
        return _instant(self.not_before), _instant(self.not_after)

    def expired(self, now: datetime.datetime | None = None) -> bool:
        start, end = self.window()
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return not start <= now <= end

    def usable(self, now: datetime.datetime | None = None) -> bool:
        """What the transport needs to present it: in its validity window, its private key, status Valid."""
        return self.has_private_key and self.status == "Valid" and not self.expired(now)


def _instant(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _certificate(entry: t.Any, where: str) -> CertificateDef:
    cert = _build(CertificateDef, entry, where)
    cert.thumbprint = str(cert.thumbprint).strip().upper()
    if not cert.thumbprint or any(c not in "0123456789ABCDEF" for c in cert.thumbprint):
        raise ValueError(f"lab config: {where}.thumbprint must be hexadecimal, got {cert.thumbprint!r}")
    for key in ("not_before", "not_after"):
        try:
            _instant(getattr(cert, key))
        except (TypeError, ValueError):
            raise ValueError(f"lab config: {where}.{key} must be an ISO 8601 date, got {getattr(cert, key)!r}") from None
    services = [cert.services] if isinstance(cert.services, str) else list(cert.services or [])
    unknown = [s for s in services if s not in CERTIFICATE_SERVICES]
    if unknown:
        raise ValueError(f"lab config: {where}.services: unknown service(s) {', '.join(map(str, unknown))}; "
                         f"use {', '.join(CERTIFICATE_SERVICES)}")
    cert.services = services
    if cert.status not in CERTIFICATE_STATUSES:
        raise ValueError(f"lab config: {where}.status must be one of {', '.join(CERTIFICATE_STATUSES)}")
    cert.has_private_key = bool(cert.has_private_key)
    return cert


def _server(entry: t.Any, index: int) -> ServerDef:
    where = f"servers[{index}]"
    server = _build(ServerDef, entry, where)
    if server.certificates is not None:
        server.certificates = [_certificate(c, f"{where}.certificates[{i}]") for i, c in enumerate(server.certificates)]
    return server


@dataclasses.dataclass
class FaultDef:
    kind: str  # wsman_fault | drop | replication_delay | reverted | write_answer_fault | write_answer_drop | command_drop | command_late | receive_late
    on_request: int | None = None
    on_cmdlet: int | None = None
    on_write: int | None = None  # the Nth cmdlet call that changed stored state (the ``writes`` counter)
    on_command: int | None = None  # the Nth WSMan Command request (one per pipeline, i.e. per cmdlet call)
    seconds: float = 0.0


TOP_LEVEL_KEYS = frozenset(
    {"organization", "domain", "domain_controller", "local_server", "cmdlet_server", "servers", "latency", "faults",
     "hosts", "mail", "transport_config", "wire", "core_cmdlets", "unbound_pipeline_input"}
)
# PowerShell's own cmdlets the lab can offer in the session besides the RBAC-granted ones (org/pscore.py)
CORE_CMDLETS = ("Select-Object",)
# How output objects are written on the wire (exchange_lab/org/wire.py):
#   exchange  what Exchange 2019 writes (public Get-SendConnector captures): Exchange type names without the
#             Deserialized. prefix, nested value objects, SerializationData blobs, references for repeated
#             objects (IPAddress.Any shared by SmartHosts and SourceIPAddress), address spaces as given
#   objects   the lab's earlier shape: Deserialized. type names, nested value objects, no blobs
#   strings   depth 1: every property a primitive or a string, every multi-valued item a string
WIRE_PROFILES = ("exchange", "objects", "strings")
FAULT_TRIGGERS = {
    "wsman_fault": "on_request",
    "drop": "on_request",
    "replication_delay": "on_cmdlet",
    # The Nth cmdlet's write is made and answered, then undone before the next cmdlet runs: another administrator
    # (or another tool) changed it back in between. A New's connector is gone, a Set's old values are back.
    "reverted": "on_cmdlet",
    # The write is applied; the reply that carries its result (the next WSMan Receive answered after it)
    # is replaced by a WSManFault (HTTP 500) or a closed TCP connection.
    "write_answer_fault": "on_write",
    "write_answer_drop": "on_write",
    # The Nth Command request (the one that starts a pipeline) is dropped before the cmdlet runs: the
    # client cannot tell this from a lost answer, and nothing was written. Commands are counted, not
    # requests, because the number of Receive requests per pipeline depends on timing.
    "command_drop": "on_command",
    # The Nth Command request is answered ``seconds`` late; its cmdlet runs meanwhile (a client whose
    # read timeout is shorter sees a timeout after the write was made).
    "command_late": "on_command",
    # After the Nth Command request, the first Receive reply with output is sent ``seconds`` late. pypsrp sends a
    # timed-out Receive again unchanged, and the lab answers the repeat with the same reply (as pypsrp expects).
    "receive_late": "on_command",
}
ANSWER_FAULTS = frozenset(kind for kind, trigger in FAULT_TRIGGERS.items() if trigger == "on_write")


def _build(kind: type, entry: t.Any, where: str) -> t.Any:
    if not isinstance(entry, dict):
        raise ValueError(f"lab config: {where} must be a mapping")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(entry) - names)
    if unknown:
        raise ValueError(f"lab config: unknown key(s) {where}.{', '.join(unknown)}; known keys are {', '.join(sorted(names))}")
    return kind(**entry)


def _fault(entry: t.Any, index: int) -> FaultDef:
    where = f"faults[{index}]"
    fault = _build(FaultDef, entry, where)
    trigger = FAULT_TRIGGERS.get(fault.kind)
    if trigger is None:
        raise ValueError(f"lab config: {where}.kind {fault.kind!r} is not a fault the lab knows; use one of {', '.join(FAULT_TRIGGERS)}")
    if not isinstance(getattr(fault, trigger), int) or getattr(fault, trigger) < 1:
        raise ValueError(f"lab config: {where} of kind {fault.kind} needs {trigger}: N (a number from 1)")
    return fault


@dataclasses.dataclass
class LabConfig:
    organization: str = "Contoso"
    domain: str = "contoso.com"
    domain_controller: str = "DC01.contoso.com"
    local_server: str = "EX01"
    cmdlet_server_name: str | None = None  # the ``cmdlet_server`` key; see :attr:`cmdlet_server`
    max_send_size: int = 10 * 1024 * 1024  # Get-TransportConfig MaxSendSize (Exchange's default)
    servers: list[ServerDef] = dataclasses.field(
        default_factory=lambda: [
            ServerDef("EX01"),
            ServerDef("EX02"),
            ServerDef("EX03", site="Branch-Site"),
        ]
    )
    runspace_open_delay: float = 0.0
    cmdlet_delay: float = 0.0
    faults: list[FaultDef] = dataclasses.field(default_factory=list)
    hosts: dict[str, str] = dataclasses.field(default_factory=dict)
    extra: dict[str, t.Any] = dataclasses.field(default_factory=dict)  # sections later features read
    wire: str = "exchange"  # one of WIRE_PROFILES
    # PowerShell's own cmdlets the session offers (Exchange's restricted session is reported to offer
    # Select-Object, unverified); [] models a session without them
    core_cmdlets: list[str] = dataclasses.field(default_factory=lambda: list(CORE_CMDLETS))
    # cmdlets modelled as taking no pipeline input (an Exchange that would not bind -Identity from the pipeline,
    # although Microsoft's parameter pages say "Accept pipeline input: True"); lower-case names
    unbound_pipeline_input: list[str] = dataclasses.field(default_factory=list)

    @property
    def cmdlet_server(self) -> str:
        """The server that runs the cmdlets (remote PowerShell may proxy them away from ``local_server``)."""
        return self.cmdlet_server_name or self.local_server

    def server(self, name: str) -> ServerDef | None:
        wanted = name.split(".", 1)[0].lower()
        return next((s for s in self.servers if s.name.lower() == wanted), None)

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> "LabConfig":
        """Build the configuration; a typo is an error naming the key, never silently ignored."""
        if not isinstance(data, dict):
            raise ValueError("lab config: the file must hold a mapping of keys (organization, servers, latency, faults, hosts, mail)")
        data = dict(data)
        unknown = sorted(set(data) - TOP_LEVEL_KEYS)
        if unknown:
            raise ValueError(f"lab config: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(TOP_LEVEL_KEYS))}")
        cfg = cls()
        for key in ("organization", "domain", "domain_controller", "local_server"):
            if key in data:
                setattr(cfg, key, str(data.pop(key)))
        if "cmdlet_server" in data:
            cfg.cmdlet_server_name = str(data.pop("cmdlet_server"))
        transport = data.pop("transport_config", None) or {}
        unknown = sorted(set(transport) - {"max_send_size"})
        if unknown:
            raise ValueError(f"lab config: unknown key(s) transport_config.{', transport_config.'.join(unknown)}; "
                             "known keys are transport_config.max_send_size")
        if "max_send_size" in transport:
            size = transport["max_send_size"]
            if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 2147483647:
                raise ValueError("lab config: transport_config.max_send_size must be a number of bytes from 1 to 2147483647")
            cfg.max_send_size = size
        if "servers" in data:
            cfg.servers = [_server(entry, i) for i, entry in enumerate(data.pop("servers") or [])]
        if cfg.cmdlet_server_name and cfg.server(cfg.cmdlet_server_name) is None:
            raise ValueError(f"lab config: cmdlet_server {cfg.cmdlet_server_name!r} is not one of the servers")
        latency = data.pop("latency", None) or {}
        unknown = sorted(set(latency) - {"runspace_open", "cmdlet"})
        if unknown:
            raise ValueError(f"lab config: unknown key(s) latency.{', latency.'.join(unknown)}; known keys are latency.runspace_open, latency.cmdlet")
        cfg.runspace_open_delay = float(latency.get("runspace_open", 0.0))
        cfg.cmdlet_delay = float(latency.get("cmdlet", 0.0))
        cfg.faults = [_fault(entry, i) for i, entry in enumerate(data.pop("faults", None) or [])]
        cfg.hosts = {str(k).lower(): str(v) for k, v in (data.pop("hosts", None) or {}).items()}
        if "wire" in data:
            wire = data.pop("wire")
            if wire not in WIRE_PROFILES:
                raise ValueError(f"lab config: wire {wire!r} is not a wire profile; use one of {', '.join(WIRE_PROFILES)}")
            cfg.wire = wire
        if "core_cmdlets" in data:
            core = data.pop("core_cmdlets")
            if not isinstance(core, list) or any(not isinstance(name, str) for name in core):
                raise ValueError("lab config: core_cmdlets must be a list of cmdlet names (%s, or [] for none)"
                                 % ", ".join(CORE_CMDLETS))
            wrong = [name for name in core if name.lower() not in {c.lower() for c in CORE_CMDLETS}]
            if wrong:
                raise ValueError(f"lab config: core_cmdlets {', '.join(wrong)}: not a cmdlet the lab has; use "
                                 f"{', '.join(CORE_CMDLETS)} (or [] for none)")
            cfg.core_cmdlets = [next(c for c in CORE_CMDLETS if c.lower() == name.lower()) for name in core]
        if "unbound_pipeline_input" in data:
            unbound = data.pop("unbound_pipeline_input")
            if not isinstance(unbound, list) or any(not isinstance(name, str) or not name.strip() for name in unbound):
                raise ValueError("lab config: unbound_pipeline_input must be a list of cmdlet names (e.g. "
                                 "[Get-SendConnector]), or [] for none")
            cfg.unbound_pipeline_input = [name.strip().lower() for name in unbound]
        cfg.extra = data  # sections other parts read and check themselves (mail)
        return cfg

    @classmethod
    def load(cls, path: str | None) -> "LabConfig":
        if not path:
            return cls()
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            data = json.loads(text)
        except ValueError:
            import yaml  # PyYAML comes with ansible-core

            data = yaml.safe_load(text)
        return cls.from_dict(data or {})

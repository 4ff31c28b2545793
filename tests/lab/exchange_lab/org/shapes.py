"""Output objects shaped like Exchange 2019's over remote PowerShell (psrpcore objects).

Modelled on the public Export-Clixml capture of Exchange 2019 objects (microsoft/CSS-Exchange,
HealthChecker test data): every type chain carries the ``Deserialized.`` prefix and ends in
``Deserialized.System.Object``; Exchange value types travel as objects with a ``ToString``
(ByteQuantifiedSize, EnhancedTimeSpan, Fqdn, SmartHost, AddressSpace, ADObjectId); enums as
an ``I32`` with the enum name as ``ToString``; multi-valued properties as
``MultiValuedProperty`1[[T, ...]]`` objects holding a list.
"""

from __future__ import annotations

import datetime
import typing as t
import uuid

from psrpcore.types import PSDouble, PSEnumBase, PSFlagBase, PSInt64, PSList, PSNoteProperty, PSObject, PSType

D = "Deserialized."
_DATA_ASM = "Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_MSCORLIB = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"


def chain(*names: str) -> list[str]:
    return [D + n for n in names] + [D + "System.Object"]


def obj(
    types: list[str],
    to_string: str | None,
    props: t.Iterable[tuple[str, t.Any]] = (),
    extended: t.Iterable[tuple[str, t.Any]] = (),
) -> PSObject:
    """A property bag with the given (already prefixed) type chain."""
    value = PSObject()
    meta = value.PSObject
    meta.type_names = list(types)
    meta.to_string = to_string
    meta.adapted_properties.extend(PSNoteProperty(k, v) for k, v in props)
    meta.extended_properties.extend(PSNoteProperty(k, v) for k, v in extended)
    return value


def mvp(element_type: str, items: t.Iterable[t.Any], assembly: str = _DATA_ASM) -> PSList:
    """``MultiValuedProperty`1[[element_type, assembly]]`` holding ``items``."""
    value = PSList(list(items))
    value.PSObject.type_names = chain(
        f"Microsoft.Exchange.Data.MultiValuedProperty`1[[{element_type}, {assembly}]]",
        "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    )
    return value


def _enum_types(name: str) -> list[str]:
    return chain(name, "System.Enum", "System.ValueType")


def _enum(name: str) -> PSType:
    return PSType(_enum_types(name), skip_inheritance=True, rehydrate=False)


@_enum("Microsoft.Exchange.Data.ProtocolLoggingLevel")
class ProtocolLoggingLevel(PSEnumBase):
    none = 0
    Verbose = 1


@_enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthMechanisms")
class AuthMechanisms(PSFlagBase):
    none = 0
    Tls = 1
    Integrated = 2
    BasicAuth = 4
    BasicAuthRequireTLS = 8
    ExchangeServer = 16
    ExternalAuthoritative = 32


@_enum("Microsoft.Exchange.Data.TlsAuthLevel")
class TlsAuthLevel(PSEnumBase):
    EncryptionOnly = 1
    CertificateValidation = 2
    DomainValidation = 4


@_enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.ErrorPolicies")
class ErrorPolicies(PSFlagBase):
    Default = 0
    DowngradeDnsFailures = 1
    DowngradeCustomFailures = 2
    UpgradeCustomFailures = 4


@_enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.TenantConnectorType")
class TenantConnectorType(PSEnumBase):
    Default = 0
    XPremises = 1


@_enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole")
class ServerRole(PSFlagBase):
    none = 0
    Mailbox = 2
    ClientAccess = 4
    HubTransport = 32
    Edge = 64


@_enum("Microsoft.Exchange.Data.ObjectState")
class ObjectState(PSEnumBase):
    New = 0
    Unchanged = 1
    Changed = 2
    Deleted = 3


def enum_value(enum_cls: type, name: str | None) -> t.Any:
    """The member for an Exchange enum name (``None`` maps to the ``none`` member)."""
    if name is None:
        return None
    return enum_cls["none" if name == "None" else name]


def flags_value(enum_cls: type, names: t.Iterable[str]) -> t.Any:
    value = enum_cls(0)
    for name in names:
        value |= enum_value(enum_cls, name)
    return value


# --- Exchange value types -----------------------------------------------------------------


def ad_object_id(name: str, dn: str, guid: str | None, domain: str, to_string: str | None = None) -> PSObject:
    rdn, _, parent = dn.partition(",")
    parent_name = parent.split(",", 1)[0].partition("=")[2]
    return obj(
        chain("Microsoft.Exchange.Data.Directory.ADObjectId", "Microsoft.Exchange.Data.ObjectId"),
        to_string if to_string is not None else name,
        [
            ("OrgHierarchyToIgnore", None),
            ("IsDeleted", False),
            ("Rdn", rdn),
            ("Parent", parent_name),
            ("Depth", dn.count(",") + 1 - dn.count("DC=")),
            ("DistinguishedName", dn),
            ("IsRelativeDn", False),
            ("DomainId", domain),
            ("PartitionGuid", uuid.UUID(int=0)),
            ("PartitionFQDN", domain),
            ("ObjectGuid", uuid.UUID(guid) if guid else uuid.UUID(int=0)),
            ("Name", name),
        ],
    )


def fqdn(value: str | None) -> PSObject | None:
    if value is None:
        return None
    return obj(chain("Microsoft.Exchange.Data.Fqdn", "Microsoft.Exchange.Data.SmtpDomain"), value, [("Domain", value)])


def timespan(seconds: int, text: str) -> PSObject:
    ticks = int(seconds) * 10_000_000
    days, rem = divmod(int(seconds), 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    return obj(
        chain("Microsoft.Exchange.Data.EnhancedTimeSpan", "System.ValueType"),
        text,
        [
            ("Days", days),
            ("Hours", hours),
            ("Milliseconds", 0),
            ("Minutes", minutes),
            ("Seconds", secs),
            ("Ticks", PSInt64(ticks)),
            ("TotalDays", PSDouble(seconds / 86400.0)),
            ("TotalHours", PSDouble(seconds / 3600.0)),
            ("TotalMilliseconds", PSDouble(seconds * 1000.0)),
            ("TotalMinutes", PSDouble(seconds / 60.0)),
            ("TotalSeconds", PSDouble(float(seconds))),
            ("Sign", 1 if seconds >= 0 else -1),
        ],
    )


def byte_size(size: int | None, text: str) -> PSObject:
    """``Unlimited`1[[ByteQuantifiedSize]]``: ToString ``35 MB (36,700,160 bytes)`` or ``Unlimited``."""
    asm = f"Microsoft.Exchange.Data.ByteQuantifiedSize, {_DATA_ASM}"
    props: list[tuple[str, t.Any]] = [("IsUnlimited", size is None)]
    if size is not None:
        props.append(("Value", obj(chain("Microsoft.Exchange.Data.ByteQuantifiedSize", "System.ValueType"), text)))
    return obj(chain(f"Microsoft.Exchange.Data.Unlimited`1[[{asm}]]", "System.ValueType"), text, props)


def address_space(space: dict[str, t.Any], as_stored: bool = False) -> PSObject:
    """An AddressSpace. ``as_stored``: the type as it was written (``smtp:*;1``) and the properties Exchange
    2019 shows (wire profile ``exchange``); otherwise SMTP in capitals (the lab's earlier shape)."""
    smtp = space["Type"].upper() == "SMTP"
    kind = space["Type"] if as_stored or not smtp else "SMTP"
    address = space["Address"]
    text = f"{kind}:{address};{space['Cost']}"
    if as_stored:
        return obj(
            chain("Microsoft.Exchange.Data.AddressSpace"),
            text,
            [
                ("Address", address),
                ("Type", kind),
                ("Cost", space["Cost"]),
                ("IncludeSubDomains", smtp and address.startswith("*")),
                ("Domain", (address[2:] if address.startswith("*.") else address) if smtp else None),
                ("IsSmtpType", smtp),
                ("IsX400Type", kind.upper() == "X400"),
                ("X400Address", address if kind.upper() == "X400" else None),
            ],
        )
    return obj(
        chain("Microsoft.Exchange.Data.AddressSpace"),
        text,
        [
            ("Type", kind),
            ("Address", address),
            ("Cost", space["Cost"]),
            ("IsSmtpType", smtp),
            ("Domain", address.lstrip("*.") if smtp and address not in ("*", "--") else None),
            ("IncludeSubDomains", smtp and address.startswith("*")),
            ("IsLocal", False),
        ],
    )


def smart_host(host: str, rendered: str, is_ip: bool) -> PSObject:
    return obj(
        chain("Microsoft.Exchange.Data.SmartHost"),
        rendered,
        [("IsIPAddress", is_ip), ("Domain", None if is_ip else fqdn(host)), ("Address", host if is_ip else None)],
    )


def ip_address(text: str) -> PSObject:
    return obj(chain("System.Net.IPAddress"), text, [("AddressFamily", "InterNetwork"), ("IPAddressToString", text)])


def certificate_name(issuer: str, subject: str) -> PSObject:
    return obj(
        chain("Microsoft.Exchange.Data.SmtpX509Identifier"),
        f"<I>{issuer}<S>{subject}",
        [("CertificateIssuer", issuer), ("CertificateSubject", subject)],
    )


def credential(username: str) -> PSObject:
    """What a client sees of a stored credential: the user name, never the password."""
    return obj(
        chain("System.Management.Automation.PSCredential"),
        "System.Management.Automation.PSCredential",
        [("UserName", username), ("Password", None)],
    )


def dt_local(iso: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso).astimezone()


def dt_utc(iso: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso).astimezone(datetime.timezone.utc)


def string_mvp(items: t.Iterable[str]) -> PSList:
    return mvp("System.String", items, assembly=_MSCORLIB)


def remoting_members(computer: str, runspace_id: str) -> list[tuple[str, t.Any]]:
    rid: t.Any = None
    try:
        rid = uuid.UUID(runspace_id) if runspace_id else None
    except ValueError:
        rid = None
    return [("PSComputerName", computer), ("RunspaceId", rid), ("PSShowComputerName", False)]

"""Wire profiles: how the lab writes its output objects (lab config key ``wire``).

The cmdlets render their objects once, in the ``objects`` shape (``shapes.py``); ``shape`` turns an
output object into the configured profile just before the transport serialises it with psrpcore:

``objects``
    Unchanged: ``Deserialized.`` type names, nested value objects, no blobs.
``exchange``
    What Exchange 2019 writes, as the public ``Get-SendConnector`` captures show (microsoft/CSS-Exchange
    HealthChecker test data, kept in tests/data/exchange):

    * type names without the ``Deserialized.`` prefix (a server writes the live types; a client adds it);
    * a ``SerializationData`` blob (``BA``) in the members of every Exchange object;
    * enums as an ``Obj`` with the enum's type names, ``ToString`` and ``I32``;
    * ``MaxMessageSize`` (``Unlimited`1``) with a ``Value`` *string* such as ``35 MB (36,700,160 bytes)``;
    * smart hosts with ``Address`` (an ``IPAddress``; ``0.0.0.0`` for a name), ``IsIPAddress`` and
      ``Domain`` (a string);
    * references for repeated objects: the one ``IPAddress.Any`` object of a connector is shared by its
      name smart hosts and ``SourceIPAddress``, so psrpcore writes it inside the SmartHosts list first and
      a ``<Ref>`` to it afterwards, as Exchange does;
    * address spaces printed with the type as it was given (``smtp:*;1`` or ``SMTP:*;1``).
``strings``
    Depth 1: every property is a primitive or a string (the ``ToString`` of an object, the name of an
    enum) and every multi-valued item a string; only a credential stays an object (its user name).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import ipaddress
import struct
import typing as t

from psrpcore.types import PSEnumBase, PSFlagBase, PSInt64, PSList, PSNoteProperty, PSObject, PSType
from psrpcore.types._serializer import _serialize_enum_to_string

from exchange_lab.org import shapes

D = shapes.D
IP_TYPE = "System.Net.IPAddress"
SMART_HOST_TYPE = "Microsoft.Exchange.Data.SmartHost"
UNLIMITED_TYPE = "Microsoft.Exchange.Data.Unlimited`1"
MVP_TYPE = "Microsoft.Exchange.Data.MultiValuedProperty"
CREDENTIAL_TYPE = "System.Management.Automation.PSCredential"
BLOB = "SerializationData"
# SerializationData sizes (bytes before base64) as the captures show them; others get DEFAULT_BLOB.
BLOB_SIZES = {
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig": 22837,
    SMART_HOST_TYPE: 1166,
    "Microsoft.Exchange.Data.EnhancedTimeSpan": 188,
    "Microsoft.Exchange.Data.SmtpX509Identifier": 610,
    "Microsoft.Exchange.Data.AddressSpace": 509,
    "Microsoft.Exchange.Data.Directory.ADObjectId": 755,
    UNLIMITED_TYPE: 617,
    "Microsoft.Exchange.Data.ExchangeObjectVersion": 346,
    "Microsoft.Exchange.Data.Directory.OrganizationId": 664,
}
DEFAULT_BLOB = 512


def _plain(name: str) -> str:
    return name[len(D):] if name.startswith(D) else name


def _types(value: t.Any) -> list[str]:
    return list(value.PSObject.type_names or [])


def _props(value: t.Any, kind: str) -> list[tuple[str, t.Any]]:
    return [(p.name, p.get_value(value)) for p in getattr(value.PSObject, f"{kind}_properties")]


def _is_complex(value: t.Any) -> bool:
    return isinstance(value, PSObject) and not isinstance(value, (str, int, float, list, enum.Enum))


_TWINS: dict[type, type] = {}


def _enum_twin(member: enum.Enum) -> t.Any:
    """The same enum member with Exchange's type names (no ``Deserialized.`` prefix)."""
    cls = type(member)
    twin = _TWINS.get(cls)
    if twin is None:
        base = PSFlagBase if isinstance(member, PSFlagBase) else PSEnumBase
        names = [_plain(n) for n in cls.PSObject.type_names]
        twin = PSType(names, skip_inheritance=True, rehydrate=False)(
            base(cls.__name__, {k: v.value for k, v in cls.__members__.items()})
        )
        _TWINS[cls] = twin
    return twin(member.value)


@functools.lru_cache(maxsize=4096)
def blob(type_name: str, seed: str) -> bytes:
    """A stand-in for Exchange's BinaryFormatter blob: its header, the type name, then filler bytes."""
    size = BLOB_SIZES.get(UNLIMITED_TYPE if type_name.startswith(UNLIMITED_TYPE) else type_name, DEFAULT_BLOB)
    head = b"\x00\x01\x00\x00\x00\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00\x0c\x02\x00\x00\x00"
    head += type_name.encode("utf-8")[:200]
    filler = bytearray()
    block = hashlib.sha256(f"{type_name}|{seed}".encode("utf-8")).digest()
    while len(head) + len(filler) < size:
        filler += block
        block = hashlib.sha256(block).digest()
    return (head + bytes(filler))[:max(size, len(head))]


def ip_object(text: str) -> PSObject:
    """``System.Net.IPAddress`` as Exchange's serializer writes it."""
    address = ipaddress.ip_address(text)
    props: list[tuple[str, t.Any]] = []
    if address.version == 4:
        # .NET's IPAddress.Address: the four bytes in network order read as a little-endian number
        props.append(("Address", PSInt64(struct.unpack("<I", address.packed)[0])))
        props.append(("AddressFamily", "InterNetwork"))
    else:
        props.append(("AddressFamily", "InterNetworkV6"))
    props += [
        ("IsIPv6Multicast", address.version == 6 and address.is_multicast),
        ("IsIPv6LinkLocal", address.version == 6 and address.is_link_local),
        ("IsIPv6SiteLocal", address.version == 6 and address.is_site_local),
        ("IsIPv6Teredo", address.version == 6 and address.teredo is not None),
        ("IsIPv4MappedToIPv6", address.version == 6 and address.ipv4_mapped is not None),
    ]
    return shapes.obj([IP_TYPE, "System.Object"], text, props, [("IPAddressToString", text)])


class _Exchange:
    """One output object turned into Exchange's shape, in place (the cmdlets render fresh objects for every
    call; shared enum members are replaced, never changed); repeated objects stay one instance."""

    def __init__(self) -> None:
        self.done: set[int] = set()
        self.ips: dict[str, PSObject] = {}

    def ip(self, text: str) -> PSObject:
        if text not in self.ips:
            self.ips[text] = ip_object(text)
        return self.ips[text]

    def value(self, value: t.Any) -> t.Any:
        """The value to write instead of ``value`` (``value`` itself, changed in place, when it is an object)."""
        if isinstance(value, enum.Enum):
            return _enum_twin(value)
        if isinstance(value, list):
            if id(value) not in self.done:
                self.done.add(id(value))
                for index, item in enumerate(value):
                    value[index] = self.value(item)
                if isinstance(value, PSObject):
                    value.PSObject.type_names = [_plain(n) for n in _types(value)]
            return value
        if not _is_complex(value):
            return value
        types = [_plain(n) for n in _types(value)]
        if types and types[0] == IP_TYPE:
            return self.ip(value.PSObject.to_string)
        if id(value) not in self.done:
            self.done.add(id(value))
            self._object(value, types)
        return value

    def _object(self, value: t.Any, types: list[str]) -> None:
        meta = value.PSObject
        if any(p.name == BLOB for p in meta.extended_properties):
            return  # shaped already (an object a cmdlet keeps between calls)
        meta.type_names = types
        main = types[0] if types else ""
        if main == SMART_HOST_TYPE:
            props = {p.name: p.get_value(value) for p in meta.adapted_properties}
            is_ip = bool(props.get("IsIPAddress"))
            domain = props.get("Domain")
            host = props.get("Address") if is_ip else (domain.PSObject.to_string if domain is not None else None)
            meta.adapted_properties[:] = [
                PSNoteProperty("Address", self.ip(host) if is_ip else self.ip("0.0.0.0")),
                PSNoteProperty("IsIPAddress", is_ip),
                PSNoteProperty("Domain", None if is_ip else host),
            ]
        else:
            unlimited = main.startswith(UNLIMITED_TYPE)
            for prop in meta.adapted_properties + meta.extended_properties:
                old = prop.get_value(value)
                new = old.PSObject.to_string if unlimited and _is_complex(old) else self.value(old)
                if new is not old:
                    prop.set_value(new, value)
        if main.startswith("Microsoft.Exchange.") and not main.startswith(MVP_TYPE):
            meta.extended_properties.append(PSNoteProperty(BLOB, blob(main, str(meta.to_string))))


def _flat(value: t.Any) -> t.Any:
    if isinstance(value, enum.Enum):
        return _serialize_enum_to_string(value)
    if isinstance(value, list):
        items = PSList([_item_text(v) for v in value])
        if isinstance(value, PSObject):
            items.PSObject.type_names = _types(value)
        return items
    if _is_complex(value):
        text = value.PSObject.to_string
        return text if text is not None else str(value)
    return value


def _item_text(value: t.Any) -> t.Any:
    flat = _flat(value)
    return flat if isinstance(flat, str) else ("" if flat is None else str(flat))


def _is_credential(value: t.Any) -> bool:
    return _is_complex(value) and any(_plain(n) == CREDENTIAL_TYPE for n in _types(value))


def _strings(value: t.Any) -> t.Any:
    if not _is_complex(value):
        return _flat(value)
    # A credential keeps its user name (and null password): its ToString would say only that one is set,
    # which no client can compare; the captures show no credential, so nothing says Exchange flattens it.
    return shapes.obj(
        _types(value),
        value.PSObject.to_string,
        [(k, v if _is_credential(v) else _flat(v)) for k, v in _props(value, "adapted")],
        [(k, _flat(v)) for k, v in _props(value, "extended")],
    )


def shape(value: t.Any, profile: str) -> t.Any:
    """One output object in the wire profile ``profile`` (see the module docstring)."""
    if profile == "exchange":
        return _Exchange().value(value)
    if profile == "strings":
        return _strings(value)
    return value

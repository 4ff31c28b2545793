# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The collection's own reader for PowerShell's CLIXML (MS-PSRP 2.2.5 "Serialization"), used for
pipeline output and for ``Export-Clixml`` files.

pypsrp stays the transport, but its generic deserialiser is not used for output objects:

* it leaves the ``<LST>`` of an object it does not know (every Exchange ``MultiValuedProperty``)
  undeserialised, so an object first written inside such a list is never registered and a later
  ``<Ref RefId=...>`` to it raises ``KeyError`` (Exchange writes exactly that when a smart host
  given by name and ``SourceIPAddress`` share the ``IPAddress.Any`` object);
* it re-serialises every nested element to text, which costs about 13 ms per Exchange
  connector object (docs/benchmark.md).

This reader turns one message (or a file) into plain Python in one pass over an ElementTree:

* a ``<Ref>`` resolves against every object of the message or file, nested lists included;
* type names are read with or without the ``Deserialized.`` prefix;
* ``SerializationData`` blobs are dropped;
* an object with a list (``LST``/``IE``/``QUE``/``STK``) becomes a Python list, a ``DCT`` a dict,
  an object with a ``ToString`` becomes that text (Exchange value types, enums), a credential
  ``{"username": ...}`` (never a password), any other object a dict of its properties;
* a ``SecureString`` is never decrypted: it reads as ``None``.

The result of a top-level object is ``{PropertyName: plain value}``: the same as pypsrp's generic
deserialiser, flattened, gives for the objects pypsrp can read (tests/integration/pypsrp_reference.py;
tests check the equality on the lab's wire profiles and on public Exchange captures).
"""

from __future__ import annotations

import codecs
import re
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Optional

DESERIALIZED = "Deserialized."
BLOB = "SerializationData"
CREDENTIAL_TYPE = "System.Management.Automation.PSCredential"
_LIST_TAGS = frozenset(("LST", "IE", "QUE", "STK"))
_PROPERTY_TAGS = frozenset(("Props", "MS"))
_OBJECT_PARTS = frozenset(("TN", "TNRef", "ToString", "Props", "MS", "DCT")) | _LIST_TAGS
_INTS = frozenset(("I32", "I64", "I16", "U16", "U32", "U64", "By", "SB"))
_TEXTS = frozenset(("S", "ToString", "URI", "XD", "SBK"))
_RAW_TEXTS = frozenset(("DT", "TS", "D", "Version"))
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


class WireFormatError(ValueError):
    """The text is not CLIXML this reader understands."""


def strip_deserialized(name: str) -> str:
    return name[len(DESERIALIZED):] if name.startswith(DESERIALIZED) else name


def unescape(text: Optional[str]) -> str:
    """PowerShell's ``_xHHHH_`` escapes (UTF-16 code units; pairs make one character)."""
    if not text:
        return ""
    if "_x" not in text:
        return text
    decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decoded.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


def _strip_namespace(root: ET.Element) -> None:
    # Export-Clixml files carry xmlns="http://schemas.microsoft.com/powershell/2004/04"; the
    # PSRP messages carry none. One rule for both: drop it.
    if not root.tag.startswith("{"):
        return
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith("{"):
            element.tag = tag.rsplit("}", 1)[1]


class _Message(object):
    """One parsed message or file: its objects and type-name lists by RefId."""

    def __init__(self, root: ET.Element) -> None:
        self.objects: dict[str, ET.Element] = {}
        self.type_names: dict[str, list[str]] = {}
        for element in root.iter():
            tag = element.tag
            if tag == "Obj":
                ref_id = element.get("RefId")
                if ref_id is not None and ref_id not in self.objects:
                    self.objects[ref_id] = element
            elif tag == "TN":
                ref_id = element.get("RefId")
                if ref_id is not None and ref_id not in self.type_names:
                    self.type_names[ref_id] = [strip_deserialized(t.text or "") for t in element]
        self._open: set[int] = set()

    # ---- types ----------------------------------------------------------------------------
    def types_of(self, element: ET.Element) -> list[str]:
        for child in element:
            if child.tag == "TN":
                return [strip_deserialized(t.text or "") for t in child]
            if child.tag == "TNRef":
                return self.type_names.get(child.get("RefId", ""), [])
        return []

    # ---- values ---------------------------------------------------------------------------
    def value(self, element: ET.Element) -> Any:
        tag = element.tag
        if tag in _TEXTS:
            return unescape(element.text)
        if tag in _INTS:
            return int(element.text or 0)
        if tag == "B":
            return (element.text or "").strip().lower() == "true"
        if tag == "Nil":
            return None
        if tag == "Obj":
            return self._object(element)
        if tag == "Ref":
            target = self.objects.get(element.get("RefId", ""))
            return None if target is None else self._object(target)
        if tag == "G":
            try:
                return str(uuid.UUID(element.text or ""))
            except ValueError:
                return element.text
        if tag in _RAW_TEXTS:
            return element.text
        if tag in ("Db", "Sg"):
            return float(element.text or 0)
        if tag == "C":
            return chr(int(element.text or 0))
        if tag == "SS":  # never decrypted: nothing the collection reads is a secret
            return None
        if tag == "BA":
            return element.text or ""
        return element.text

    def _object(self, element: ET.Element) -> Any:
        key = id(element)
        if key in self._open:  # a reference cycle: the object is being read already
            return None
        self._open.add(key)
        try:
            return self._object_value(element)
        finally:
            self._open.discard(key)

    def _object_value(self, element: ET.Element) -> Any:
        types = self.types_of(element)
        if CREDENTIAL_TYPE in types:
            props = self.properties(element)
            name = props.get("UserName")
            return {"username": name if isinstance(name, str) else None}
        items: Optional[list[Any]] = None
        table: Optional[dict[str, Any]] = None
        to_string: Optional[str] = None
        primitive: Any = None
        has_primitive = False
        for child in element:
            tag = child.tag
            if tag in _LIST_TAGS:
                items = (items or []) + [self.value(item) for item in child]
            elif tag == "DCT":
                table = self._dictionary(child)
            elif tag == "ToString":
                to_string = unescape(child.text)
            elif tag not in _OBJECT_PARTS and not has_primitive:
                primitive, has_primitive = self.value(child), True
        if items is not None:
            return items
        if table is not None:
            return table
        if to_string is not None:
            return to_string
        if has_primitive:
            return primitive
        return self.properties(element)

    def _dictionary(self, element: ET.Element) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for entry in element:
            key = value = None
            for part in entry:
                if part.get("N") == "Key":
                    key = self.value(part)
                elif part.get("N") == "Value":
                    value = self.value(part)
            table[str(key)] = value
        return table

    def properties(self, element: ET.Element) -> dict[str, Any]:
        """Extended (``MS``) then adapted (``Props``) properties; adapted win; blobs dropped."""
        extended: dict[str, Any] = {}
        adapted: dict[str, Any] = {}
        for child in element:
            if child.tag in _PROPERTY_TAGS:
                target = adapted if child.tag == "Props" else extended
                for prop in child:
                    name = unescape(prop.get("N"))
                    if name == BLOB:
                        continue
                    target[name] = self.value(prop)
        extended.update(adapted)
        return extended

    def record(self, element: ET.Element) -> dict[str, Any]:
        """A top-level output object as ``{PropertyName: plain value}``; a primitive as ``{"value": v}``."""
        if element.tag == "Ref":
            element = self.objects.get(element.get("RefId", ""), element)
        if element.tag == "Obj":
            for child in element:
                if child.tag in _PROPERTY_TAGS:
                    return self.properties(element)
            value = self._object(element)
            return value if isinstance(value, dict) else {}
        value = self.value(element)
        return {"value": value} if isinstance(value, (str, int, bool)) else {}


def decode(data: bytes) -> str:
    """The text of a file: Windows PowerShell 5.1's Export-Clixml writes UTF-16 LE with a BOM, PowerShell 7
    UTF-8 (with or without a BOM)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _parse(text: Any) -> ET.Element:
    if isinstance(text, bytes):
        try:
            text = decode(text)
        except UnicodeDecodeError as err:
            raise WireFormatError("not CLIXML: the text is neither UTF-8 nor UTF-16 (%s)" % err)
    try:
        root = ET.fromstring(text.lstrip("\ufeff \t\r\n"))
    except ET.ParseError as err:
        raise WireFormatError("not CLIXML: %s" % err)
    _strip_namespace(root)
    return root


def _convert(func: Any, *args: Any) -> Any:
    """Run a conversion; what the text gets wrong becomes a WireFormatError (a sentence, never a traceback)."""
    try:
        return func(*args)
    except WireFormatError:
        raise
    except RecursionError:
        raise WireFormatError("not CLIXML this reader understands: objects nested too deeply")
    except (ValueError, TypeError, AttributeError) as err:
        raise WireFormatError("not CLIXML this reader understands: %s" % err)


def read_message(text: Any) -> dict[str, Any]:
    """One PSRP output message (an ``<Obj>`` or a primitive) as a record (see ``_Message.record``)."""
    root = _parse(text)
    return _convert(_Message(root).record, root)


def read_file_objects(text: Any) -> list[tuple[list[str], dict[str, Any]]]:
    """The objects of an ``Export-Clixml`` document (``<Objs>`` root; RefIds are file-wide), each as
    (type names without ``Deserialized.``, record)."""
    root = _parse(text)
    if root.tag != "Objs":
        raise WireFormatError("not an Export-Clixml document: the root element is <%s>, not <Objs>" % root.tag)
    message = _Message(root)
    return _convert(lambda: [(message.types_of(child), message.record(child)) for child in root])


SEND_CONNECTOR_TYPE = "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig"


def send_connectors_file(path: str) -> list[dict[str, Any]]:
    """The Send connectors of a ``Get-SendConnector | Export-Clixml -Path FILE`` file, as records.

    Raises ValueError with a sentence that names ``clixml_path`` and the rule it breaks.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise WireFormatError("clixml_path: cannot read %s: %s" % (path, err.strerror or err))
    try:
        objects = read_file_objects(data)
    except WireFormatError as err:
        raise WireFormatError("clixml_path: %s is not an Export-Clixml file (%s); write one with "
                              "Get-SendConnector | Export-Clixml -Path FILE" % (path, err))
    records = []
    for index, (types, record) in enumerate(objects):
        if SEND_CONNECTOR_TYPE not in types:
            raise WireFormatError("clixml_path: object %d of %s is %s, not a Send connector; export the output of "
                                  "Get-SendConnector" % (index + 1, path, types[0] if types else "an object without "
                                                         "a type name"))
        records.append(record)
    return records


class Output(object):
    """A pipeline output object as this reader read it (what ``ExchangeSession.run`` returns)."""

    __slots__ = ("record",)

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record


class Unreadable(object):
    """A pipeline output message this reader could not read, and why (``ExchangeSession.record`` reports it)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def read_output(serializer: Any) -> Any:
    """Make one pypsrp ``Serializer`` instance hand pipeline output to this reader (idempotent).

    pypsrp deserialises a ``PIPELINE_OUTPUT`` message by calling ``deserialize(text)`` without
    metadata; every other message it reads passes metadata (or an element), and keeps pypsrp's
    own path. The output then arrives in ``PowerShell.output`` as ``Output`` objects, or as ``Unreadable`` (with
    the reason) for a message this reader cannot read: never as pypsrp's generic object, whose slow path the
    collection does not use.
    """
    if getattr(serializer, "_mailflow_reader", False):
        return serializer
    original = serializer.deserialize

    def deserialize(element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if metadata is None and clear and isinstance(element, (str, bytes)):
            try:
                return Output(read_message(element))
            except WireFormatError as err:
                return Unreadable(str(err))
        return original(element, metadata, clear)

    serializer.deserialize = deserialize
    serializer._mailflow_reader = True
    return serializer

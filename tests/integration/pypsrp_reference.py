"""The reference the collection's CLIXML reader is measured and checked against: pypsrp 0.9.1's generic deserialiser,
with the one fix it needs to read Exchange's shape at all (an unknown ``<LST>``/``<IE>`` read as a Python list, so
the objects inside it are registered and a later ``<Ref>`` resolves; plain pypsrp raises KeyError), and the
flattening the session used on its objects before the reader (``object_to_dict``: property bags, ``ToString``
renderings, a ``MultiValuedProperty`` whose ``<LST>`` pypsrp left as raw XML text in ``property_sets``, ``<Ref>``
inside it resolved through ``ref_map``). The collection itself never uses pypsrp's generic path: an output message
its reader cannot read is an error (``ExchangeSession.record``).

Used by tests/integration/send_connector_info/test_wire_reader.py (equality) and hacking/benchmark_wire.py (the "before" figures).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any, Optional


def reference_serializer():
    """pypsrp's Serializer whose unknown ``<LST>``/``<IE>`` become Python lists (registering their objects)."""
    from pypsrp.serializer import Serializer

    serializer = Serializer()
    original = serializer.deserialize

    def deserialize(element, metadata=None, clear=True):
        if getattr(element, "tag", None) in ("LST", "IE") and getattr(metadata, "object", None) is None \
                and (metadata is None or getattr(metadata, "tag", "*") in ("*", element.tag)):
            if clear:
                serializer._clear()
            return [serializer.deserialize(child, clear=False) for child in element]
        return original(element, metadata, clear)

    serializer.deserialize = deserialize
    return serializer


def reference_record(message: Any) -> dict[str, Any]:
    """One output message through the reference: pypsrp's generic deserialiser, then ``object_to_dict``."""
    obj = reference_serializer().deserialize(message)
    return object_to_dict(obj) if not isinstance(obj, (str, int, bool)) else {"value": obj}


def _type_names(obj: Any) -> list[str]:
    names = getattr(obj, "types", None) or getattr(obj, "_types", None) or []
    return [str(n) for n in names]


def _strip_deserialized(name: str) -> str:
    return name[len("Deserialized."):] if name.startswith("Deserialized.") else name


def _is_multivalued(obj: Any) -> bool:
    for name in _type_names(obj):
        base = _strip_deserialized(name)
        if base.startswith("Microsoft.Exchange.Data.MultiValuedProperty") or base.startswith(
            "System.Collections."
        ) or base.endswith("[]"):
            return True
    return any(_looks_like_raw_list(p) or isinstance(p, list) for p in getattr(obj, "property_sets", []) or [])


def _looks_like_raw_list(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(("<LST", "<IE", "<QUE", "<STK"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_item(element: ET.Element, refs: Optional[dict[str, ET.Element]] = None) -> Any:
    """Plain value of one item inside a raw <LST> (strings, numbers, or an object's ToString).

    ``<Ref RefId="n"/>`` (PowerShell serialises a repeated object as a reference) is resolved
    through ``refs``, the objects of the whole message by RefId.
    """
    tag = _local(element.tag)
    text = element.text
    if tag == "Ref":
        target = (refs or {}).get(element.attrib.get("RefId", ""))
        if target is None or target is element:
            return None
        return _xml_item(target, None)
    if tag == "Nil":
        return None
    if tag == "B":
        return (text or "").strip().lower() == "true"
    if tag in ("I32", "I64", "I16", "U16", "U32", "U64", "By", "SB"):
        return int(text or 0)
    if tag == "Obj":
        for child in element:
            if _local(child.tag) == "ToString":
                return child.text or ""
        for child in element:
            if _local(child.tag) in ("LST", "IE", "QUE", "STK"):
                return [_xml_item(c, refs) for c in child]
        return None
    return text if text is not None else ""


def parse_raw_list(text: str, refs: Optional[dict[str, ET.Element]] = None) -> list[Any]:
    """Items of a ``<LST>...</LST>`` fragment pypsrp left undeserialised."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError:
        return []
    return [_xml_item(child, refs) for child in root]


def ref_map(xml_text: Any) -> dict[str, ET.Element]:
    """Every object of a serialised message by RefId (to resolve ``<Ref>`` inside raw lists)."""
    if not isinstance(xml_text, str):
        return {}
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return {}
    return {el.attrib["RefId"]: el for el in root.iter() if _local(el.tag) == "Obj" and "RefId" in el.attrib}


def _multivalued_items(obj: Any, refs: Optional[dict[str, ET.Element]] = None) -> list[Any]:
    items: list[Any] = []
    for part in getattr(obj, "property_sets", []) or []:
        if _looks_like_raw_list(part):
            items.extend(parse_raw_list(part, refs))
        elif isinstance(part, list):
            items.extend(to_plain(p, refs) for p in part)
    return items


def _credential_username(obj: Any) -> Optional[str]:
    for attr in ("username", "UserName"):
        value = getattr(obj, attr, None)
        if isinstance(value, str):
            return value
    props = {}
    props.update(getattr(obj, "extended_properties", {}) or {})
    props.update(getattr(obj, "adapted_properties", {}) or {})
    value = props.get("UserName")
    return value if isinstance(value, str) else None


def _is_credential(obj: Any) -> bool:
    return any(_strip_deserialized(n) == "System.Management.Automation.PSCredential" for n in _type_names(obj))


def to_plain(value: Any, refs: Optional[dict[str, ET.Element]] = None) -> Any:
    """One property value as plain Python: str/int/bool/None, a list, or a credential dict.

    Exchange value types collapse to their ``ToString`` (what the shell shows), which the
    ``parse_*`` functions understand; multi-valued properties become lists.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        if _looks_like_raw_list(value):
            return parse_raw_list(value, refs)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [to_plain(v, refs) for v in value]
    if isinstance(value, dict):
        return {str(to_plain(k, refs)): to_plain(v, refs) for k, v in value.items()}
    if isinstance(value, ET.Element):  # an undecryptable SecureString
        return None
    if _is_credential(value) or type(value).__name__ == "PSCredential":
        return {"username": _credential_username(value)}
    if _is_multivalued(value):
        return _multivalued_items(value, refs)
    to_string = getattr(value, "to_string", None)
    if to_string is None:
        to_string = getattr(value, "_to_string", None)
    if isinstance(to_string, str):
        return to_string
    props = object_properties(value)
    if props:
        return {k: to_plain(v, refs) for k, v in props.items()}
    return str(value)


def object_properties(obj: Any) -> dict[str, Any]:
    """All properties of a deserialised object (adapted win over extended)."""
    if isinstance(obj, dict):
        return dict(obj)
    props: dict[str, Any] = {}
    props.update(getattr(obj, "extended_properties", {}) or {})
    props.update(getattr(obj, "adapted_properties", {}) or {})
    return props


def object_to_dict(obj: Any) -> dict[str, Any]:
    """A top-level output object (e.g. a Send connector) as {PropertyName: plain value}."""
    refs = ref_map(getattr(obj, "_xml", None))
    return {name: to_plain(value, refs) for name, value in object_properties(obj).items()}

"""The reference the collection's CLIXML reader is measured and checked against: pypsrp 0.9.1's generic deserialiser,
with the one fix it needs to read Exchange's shape at all (an unknown ``<LST>``/``<IE>`` read as a Python list, so
the objects inside it are registered and a later ``<Ref>`` resolves; plain pypsrp raises KeyError).

Used by tests/integration/send_connector_info/test_wire_reader.py (equality) and hacking/benchmark_wire.py (the "before" figures).
"""

from __future__ import annotations


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

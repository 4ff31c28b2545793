# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

Make pypsrp's deserialiser read the lists inside Exchange objects.

pypsrp 0.9.1 leaves the ``<LST>`` of an object it does not know (every Exchange
``MultiValuedProperty``) as raw XML text. Objects inside that list are then never registered,
so a later ``<Ref>`` or ``<TNRef>`` that points to one of them fails (a ``<TNRef>`` even raises
KeyError inside pypsrp). ``read_inner_lists`` makes one serializer instance deserialise such a
list as a Python list, registering what it contains, exactly like the lists it already knows.
"""

from __future__ import annotations

from typing import Any

_LIST_TAGS = ("LST", "IE")


def read_inner_lists(serializer: Any) -> Any:
    """Patch one pypsrp ``Serializer`` instance (idempotent); returns it."""
    if getattr(serializer, "_mailflow_lists", False):
        return serializer
    original = serializer.deserialize

    def deserialize(element: Any, metadata: Any = None, clear: bool = True) -> Any:
        tag = getattr(element, "tag", None)
        if tag in _LIST_TAGS and (metadata is None or getattr(metadata, "tag", "*") in ("*", tag)) \
                and getattr(metadata, "object", None) is None:
            if clear:
                serializer._clear()
            return [serializer.deserialize(child, clear=False) for child in element]
        return original(element, metadata, clear)

    serializer.deserialize = deserialize
    serializer._mailflow_lists = True
    return serializer

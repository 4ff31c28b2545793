"""A small harness to drive an :class:`Organization` directly (unit tests, scripts).

It builds the same :class:`~exchange_lab.api.Invocation` the transport would and returns the
:class:`~exchange_lab.api.PipelineResult`; ``clixml`` serialises an output object with
psrpcore exactly as the transport does, to check shapes.
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET

from exchange_lab.api import CommandCall, Invocation, PipelineResult
from exchange_lab.config import LabConfig
from exchange_lab.metrics import Metrics
from exchange_lab.org.organization import Organization


class OrgHarness:
    def __init__(self, state_dir: str, config: LabConfig | None = None, user: str = "admin") -> None:
        self.state_dir = state_dir
        # the lab's shape tests describe the ``objects`` wire profile; test_wire_profiles.py covers the others
        self.config = config or LabConfig(wire="objects")
        self.metrics = Metrics()
        self.org = Organization(state_dir, self.config, self.metrics)
        self.user = user

    def run(
        self, cmdlet: str, *positional: t.Any, _user: str | None = None, _script: bool = False, **params: t.Any
    ) -> PipelineResult:
        """``run("Set-SendConnector", "X", Port=26)``; a switch is ``Internet=None``."""
        pairs: list[tuple[str | None, t.Any]] = [(None, v) for v in positional]
        pairs += list(params.items())
        call = CommandCall(cmdlet, pairs, is_script=_script)
        return self.org.invoke(
            Invocation(user=_user or self.user, commands=[call], runspace_id="6f2e5d8c-2b0a-4d55-9a53-1d2f6a0b7c11")
        )

    def pipeline(self, *calls: CommandCall, user: str | None = None) -> PipelineResult:
        return self.org.invoke(Invocation(user=user or self.user, commands=list(calls)))

    def connector(self, name: str) -> dict[str, t.Any] | None:
        return next((c for c in self.org.connectors() if c["Name"].lower() == name.lower()), None)


def clixml(value: t.Any) -> ET.Element:
    from psrpcore.types._serializer import serialize

    return serialize(value, None)


def prop(element: ET.Element, name: str) -> ET.Element | None:
    """The serialised property ``name`` of an ``<Obj>`` (adapted or extended)."""
    for section in ("Props", "MS"):
        for child in element.findall(section + "/*"):
            if child.attrib.get("N") == name:
                return child
    return None


def type_names(element: ET.Element, root: ET.Element | None = None) -> list[str]:
    tn = element.find("TN")
    if tn is not None:
        return [e.text or "" for e in tn.findall("T")]
    ref = element.find("TNRef")
    if ref is not None and root is not None:
        for candidate in root.iter("TN"):
            if candidate.attrib.get("RefId") == ref.attrib["RefId"]:
                return [e.text or "" for e in candidate.findall("T")]
    return []


def to_string(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    node = element.find("ToString")
    return None if node is None else (node.text or "")

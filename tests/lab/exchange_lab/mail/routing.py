"""Send connector selection for one recipient domain, as Microsoft's "Mail routing in Exchange Server" page, connector selection describes.

Pure logic on connector dicts as ``Organization.connectors()`` returns them (Exchange property
names, Python-native values). The order of the rules:

1. connectors whose ``MaxMessageSize`` is smaller than the message are dropped;
2. only enabled connectors that are in scope (not scoped, or scoped to a source server in the
   local server's AD site) and have an SMTP address space matching the domain remain;
3. the most specific address space wins (``marketing.contoso.com`` > ``*.contoso.com`` > ``*``);
4. ties: lowest address-space cost, then fewest hops (local server is a source server, then a
   source server in the same site, then a remote site), then the name (case-insensitive).

When nothing matches the recipient is unreachable; when only the size rule removed every
candidate the message is returned with an NDR (``550 5.3.4``).
"""

from __future__ import annotations

import dataclasses
import typing as t

Connector = dict[str, t.Any]

UNREACHABLE = "unreachable"
TOO_LARGE = "too_large"

# Exchange's wording for the two routing outcomes without a connector.
UNREACHABLE_STATUS = "550 5.4.4 ROUTING.NoConnectorForAddressType; unable to route for address type"
TOO_LARGE_STATUS = "550 5.3.4 ROUTING.SizeLimit; message size exceeds fixed maximum size for route"


@dataclasses.dataclass(frozen=True)
class Specificity:
    """How closely an address space matches a domain; bigger compares as more specific."""

    labels: int  # labels of the matched space without its wildcard
    exact: bool  # an exact domain beats a wildcard of the same length

    def key(self) -> tuple[int, int]:
        return (self.labels, 1 if self.exact else 0)


@dataclasses.dataclass(frozen=True)
class Route:
    """The chosen connector for a recipient domain and the server that sends through it."""

    connector: Connector
    address_space: str
    cost: int
    source_server: str  # the transport server that hands the message to the next hop
    relayed: bool  # True when the local server is not a source server and relays to one

    @property
    def name(self) -> str:
        return str(self.connector.get("Name", ""))


@dataclasses.dataclass(frozen=True)
class NoRoute:
    reason: str  # UNREACHABLE | TOO_LARGE
    status: str  # the SMTP status text recorded in tracking / the queue


def match_space(space: str, domain: str) -> Specificity | None:
    """Match one SMTP address space against a recipient domain (both case-insensitive)."""
    space = space.strip().lower().rstrip(".")
    domain = domain.strip().lower().rstrip(".")
    if not space or not domain or space == "--":
        return None
    if space == "*":
        return Specificity(0, False)
    if space.startswith("*."):
        base = space[2:]
        if domain == base or domain.endswith("." + base):
            return Specificity(len(base.split(".")), False)
        return None
    if domain == space:
        return Specificity(len(space.split(".")), True)
    return None


def best_space(connector: Connector, domain: str) -> tuple[Specificity, int, str] | None:
    """The connector's most specific SMTP address space for the domain (then its lowest cost)."""
    best: tuple[Specificity, int, str] | None = None
    for entry in connector.get("AddressSpaces") or []:
        kind = str(entry.get("Type") or "SMTP").upper()
        if kind != "SMTP":
            continue
        spec = match_space(str(entry.get("Address", "")), domain)
        if spec is None:
            continue
        cost = int(entry.get("Cost") or 1)
        if best is None or (spec.key(), -cost) > (best[0].key(), -best[1]):
            best = (spec, cost, str(entry.get("Address")))
    return best


class Router:
    """Chooses connectors the way the local transport server would.

    ``sites`` maps server short names (any case) to AD site names.
    """

    def __init__(self, local_server: str, sites: dict[str, str]) -> None:
        self.local_server = local_server
        self._sites = {name.lower(): site for name, site in sites.items()}

    def site_of(self, server: str) -> str | None:
        return self._sites.get(server.split(".", 1)[0].lower())

    def _sources(self, connector: Connector) -> list[str]:
        return [str(s) for s in connector.get("SourceTransportServers") or []]

    def in_scope(self, connector: Connector) -> bool:
        if not connector.get("IsScopedConnector"):
            return True
        local_site = self.site_of(self.local_server)
        return any(self.site_of(s) == local_site for s in self._sources(connector))

    def hops(self, connector: Connector) -> int:
        sources = [s.lower() for s in self._sources(connector)]
        if self.local_server.lower() in sources:
            return 0
        local_site = self.site_of(self.local_server)
        if any(self.site_of(s) == local_site for s in sources):
            return 1
        return 2

    def source_server(self, connector: Connector) -> tuple[str, bool]:
        """(server, relayed): the local server when it is a source server, else the first one."""
        sources = self._sources(connector)
        for name in sources:
            if name.lower() == self.local_server.lower():
                return name, False
        if not sources:
            return self.local_server, False
        return sources[0], True

    def select(self, connectors: t.Iterable[Connector], domain: str, size: int) -> Route | NoRoute:
        """Pick the connector for ``domain`` and a message of ``size`` bytes."""
        candidates = []
        for connector in connectors:
            if not connector.get("Enabled", True) or not self.in_scope(connector):
                continue
            match = best_space(connector, domain)
            if match is not None:
                candidates.append((connector, match))
        if not candidates:
            return NoRoute(UNREACHABLE, UNREACHABLE_STATUS)
        fitting = [(c, m) for c, m in candidates if _fits(c, size)]
        if not fitting:
            return NoRoute(TOO_LARGE, TOO_LARGE_STATUS)

        def order(item: tuple[Connector, tuple[Specificity, int, str]]) -> tuple[t.Any, ...]:
            connector, (spec, cost, _space) = item
            labels, exact = spec.key()
            return (-labels, -exact, cost, self.hops(connector), str(connector.get("Name", "")).lower())

        connector, (_spec, cost, space) = min(fitting, key=order)
        server, relayed = self.source_server(connector)
        return Route(connector, space, cost, server, relayed)


def _fits(connector: Connector, size: int) -> bool:
    limit = connector.get("MaxMessageSize")
    return limit is None or int(limit) >= size

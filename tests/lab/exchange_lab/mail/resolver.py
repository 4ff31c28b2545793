"""Name resolution for the lab's transport: the config's ``hosts`` map, never the system resolver.

IP literals (with or without brackets) resolve to themselves; a name missing from the map fails
the way a DNS NXDOMAIN does on a transport server.
"""

from __future__ import annotations

import ipaddress


class NameNotFound(Exception):
    """The name has no entry in the lab's hosts map (DNS: nonexistent domain)."""


class HostsResolver:
    def __init__(self, hosts: dict[str, str]) -> None:
        self._hosts = {k.lower().rstrip("."): v for k, v in hosts.items()}

    def resolve(self, name: str) -> str:
        bare = name.strip().strip("[]")
        try:
            return str(ipaddress.ip_address(bare))
        except ValueError:
            pass
        address = self._hosts.get(bare.lower().rstrip("."))
        if address is None:
            raise NameNotFound(bare)
        return address

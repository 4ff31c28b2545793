"""Lab users and their roles: ``admin`` (Organization Management) and ``viewer`` (View-Only).

Generated with random passwords on first start, kept in ``<state>/users.json`` (mode 0600)
and reused on every later start of the same state directory.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets

ADMIN = "admin"
VIEWER = "viewer"
ROLE_ADMIN = "Organization Management"
ROLE_VIEWER = "View-Only Organization Management"


def netbios_name(domain: str) -> str:
    """``contoso.com`` -> ``CONTOSO`` (the NTLM domain)."""
    return domain.split(".", 1)[0].upper()[:15]


class Users:
    def __init__(self, state_dir: str, domain: str) -> None:
        self.path = os.path.join(state_dir, "users.json")
        self.domain = domain
        self.netbios = netbios_name(domain)
        self.users = self._load_or_create()

    def _load_or_create(self) -> dict[str, dict[str, str]]:
        with contextlib.suppress(FileNotFoundError):
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        users = {
            ADMIN: {"password": secrets.token_urlsafe(18), "role": ROLE_ADMIN},
            VIEWER: {"password": secrets.token_urlsafe(18), "role": ROLE_VIEWER},
        }
        tmp = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(users, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        return users

    def canonical(self, username: str) -> str | None:
        """Accept ``admin``, ``CONTOSO\\admin`` and ``admin@contoso.com`` (case-insensitive)."""
        name = username.strip()
        if "\\" in name:
            domain, _, name = name.partition("\\")
            if domain.upper() not in (self.netbios, self.domain.upper()):
                return None
        elif "@" in name:
            name, _, domain = name.partition("@")
            if domain.lower() != self.domain.lower():
                return None
        name = name.lower()
        return name if name in self.users else None

    def authenticate(self, username: str, password: str) -> str | None:
        name = self.canonical(username or "")
        if name is None:
            hmac.compare_digest("x", "y")  # keep the timing roughly even
            return None
        if hmac.compare_digest(self.users[name]["password"].encode(), (password or "").encode()):
            return name
        return None

    def is_read_only(self, user: str) -> bool:
        entry = self.users.get((self.canonical(user) or "").lower()) if user else None
        return entry is None or entry["role"] != ROLE_ADMIN

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        return [(self.netbios, name, entry["password"]) for name, entry in self.users.items()]

    def ready_info(self) -> dict[str, str]:
        return {
            "username": ADMIN,
            "password": self.users[ADMIN]["password"],
            "readonly_username": VIEWER,
            "readonly_password": self.users[VIEWER]["password"],
        }

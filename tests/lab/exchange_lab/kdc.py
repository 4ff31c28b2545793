"""A throwaway MIT Kerberos realm on loopback, for the lab and the tests.

:class:`KerberosRealm` builds a realm (default ``LAB.TEST``) in a directory of its own with
Debian's ``krb5-kdc`` tools, then runs ``krb5kdc -n`` in the foreground on 127.0.0.1 (UDP and
TCP, a free port). Nothing is written outside that directory: clients and the lab find the
realm through the environment variables of :meth:`KerberosRealm.env` (``KRB5_CONFIG``,
``KRB5_KDC_PROFILE``, ``KRB5_KTNAME``, ``KRB5RCACHENAME``), never through ``/etc/krb5.conf``.

Principals: one per lab user (``admin@LAB.TEST``, ``viewer@LAB.TEST``; the lab strips the realm,
so its RBAC sees ``admin`` and ``viewer``) and the lab's service, ``HTTP/<host>@LAB.TEST`` and
``host/<host>@LAB.TEST`` (see :attr:`KerberosRealm.service_principals`), whose keys go into
``lab.keytab``. The host defaults to ``localhost``: pypsrp builds the SPN from
the name it connects to, and ``localhost`` reaches 127.0.0.1 on any machine without DNS or
``/etc/hosts`` changes. Connecting by ``127.0.0.1`` instead asks for ``HTTP/127.0.0.1``, which
the realm does not have: the "no matching SPN" case, as with an IP address against Exchange.

``clock_offset`` preloads libfaketime into the KDC, so its clock is off by that many seconds: the
real "clock skew too great" error. The realm's ``krb5.conf`` sets ``kdc_timesync = 0`` so that
the client does not silently adopt the KDC's clock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import typing as t

DEFAULT_REALM = "LAB.TEST"
DEFAULT_HOST = "localhost"
DEFAULT_USERS = ("admin", "viewer")
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, so a crashed test leaves no KDC."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class KdcError(Exception):
    """The realm could not be created or the KDC did not start; the message says why."""


def find_tool(name: str) -> str | None:
    """Path of a krb5 tool: PATH first, then the sbin directories Debian installs them to."""
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_faketime_library() -> str | None:
    """Path of libfaketime.so.1 (Debian: /usr/lib/<triplet>/faketime/), or None."""
    patterns = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1", "/usr/lib64/faketime/libfaketime.so.1")
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def missing_tools(with_faketime: bool = False) -> list[str]:
    """The krb5 programs (and libfaketime) this module needs that are not installed (empty when all are)."""
    names = ["kdb5_util", "kadmin.local", "krb5kdc", "kinit", "klist"]
    missing = [name for name in names if not find_tool(name)]
    if with_faketime and not find_faketime_library():
        missing.append("libfaketime")
    return missing


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return int(port)
    raise KdcError(f"no port free for both TCP and UDP on {host}")


def krb5_conf_text(realm: str, kdc: str, domains: t.Iterable[str]) -> str:
    """A client krb5.conf: no DNS lookups, no reverse DNS, no host name canonicalisation."""
    domain_lines = "\n".join(f"    {d} = {realm}" for d in domains)
    return f"""[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    qualify_shortname = ""
    kdc_timesync = 0
    forwardable = true
    ticket_lifetime = 10h
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    {realm} = {{
        kdc = {kdc}
    }}

[domain_realm]
{domain_lines}
"""


def kdc_conf_text(realm: str, directory: str, port: int) -> str:
    return f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {realm} = {{
        database_name = {directory}/principal
        key_stash_file = {directory}/stash
        acl_file = {directory}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        max_life = 10h
        max_renewable_life = 1d
    }}

[logging]
    kdc = FILE:{directory}/kdc.log
"""


@dataclasses.dataclass
class Principal:
    name: str  # full principal, e.g. admin@LAB.TEST
    password: str | None  # None for the service (random key, kept in the keytab only)


class KerberosRealm:
    """Create, start and stop a throwaway KDC. Use as a context manager or call start/stop."""

    def __init__(
        self,
        directory: str,
        *,
        realm: str = DEFAULT_REALM,
        host: str = DEFAULT_HOST,
        users: t.Iterable[str] = DEFAULT_USERS,
        passwords: dict[str, str] | None = None,
        port: int | None = None,
        clock_offset: int = 0,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self.realm = realm.upper()
        self.host = host.lower()
        self.users = list(users)
        self.passwords = dict(passwords or {})
        self.port = port
        self.clock_offset = int(clock_offset)
        self.proc: subprocess.Popen[bytes] | None = None
        self.krb5_config = os.path.join(self.directory, "krb5.conf")
        self.kdc_profile = os.path.join(self.directory, "kdc.conf")
        self.keytab = os.path.join(self.directory, "lab.keytab")
        self.log_path = os.path.join(self.directory, "kdc.log")
        self.stdout_path = os.path.join(self.directory, "krb5kdc.out")
        self.info_path = os.path.join(self.directory, "realm.json")

    # --- names ---------------------------------------------------------------------------
    @property
    def service_principal(self) -> str:
        return f"HTTP/{self.host}@{self.realm}"

    @property
    def service_principals(self) -> list[str]:
        """``HTTP/<host>`` and ``host/<host>``, both in the lab keytab.

        Active Directory answers a ticket request for ``HTTP/server`` with the computer account
        that holds ``HOST/server`` (its sPNMappings), and pypsrp asks for ``host/<server>``
        unless told otherwise; the realm has both names so either works, as against Exchange.
        """
        return [self.service_principal, f"host/{self.host}@{self.realm}"]

    def principal(self, user: str) -> str:
        return f"{user}@{self.realm}"

    @property
    def principals(self) -> list[Principal]:
        users = [Principal(self.principal(u), self.passwords[u]) for u in self.users]
        return users + [Principal(name, None) for name in self.service_principals]

    # --- environment -----------------------------------------------------------------------
    def env(self, ccache: str | None = None) -> dict[str, str]:
        """Variables that point libkrb5 (clients, the lab, the tools) at this realm only."""
        variables = {
            "KRB5_CONFIG": self.krb5_config,
            "KRB5_KDC_PROFILE": self.kdc_profile,
            "KRB5_KTNAME": f"FILE:{self.keytab}",
            "KRB5RCACHENAME": f"file2:{os.path.join(self.directory, 'lab.rcache')}",
            "KRB5CCNAME": ccache or f"FILE:{os.path.join(self.directory, 'ccache')}",
        }
        return variables

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        env = dict(os.environ)
        env.update(self.env())
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False)
        if result.returncode != 0:
            raise KdcError(f"{os.path.basename(argv[0])} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    @staticmethod
    def _faketime_library() -> str:
        path = find_faketime_library()
        if not path:
            raise KdcError("libfaketime is not installed (Debian package: faketime); it is needed for clock_offset")
        return path

    def _tool(self, name: str) -> str:
        path = find_tool(name)
        if not path:
            raise KdcError(f"{name} is not installed (Debian packages: krb5-kdc krb5-admin-server krb5-user)")
        return path

    # --- life cycle --------------------------------------------------------------------------
    def create(self) -> None:
        """Write the configuration, create the database, the principals and the lab keytab."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        for user in self.users:
            self.passwords.setdefault(user, f"Krb-{user}-{secrets.token_urlsafe(9)}")
        domains = sorted({self.host, ".lab.test", "lab.test", "localhost"})
        self._write(self.krb5_config, krb5_conf_text(self.realm, f"127.0.0.1:{self.port}", domains))
        self._write(self.kdc_profile, kdc_conf_text(self.realm, self.directory, self.port))
        self._write(os.path.join(self.directory, "kadm5.acl"), f"*/admin@{self.realm} *\n")
        if os.path.exists(os.path.join(self.directory, "principal")):
            raise KdcError(f"a realm database already exists in {self.directory}")
        master = secrets.token_urlsafe(18)
        self._run([self._tool("kdb5_util"), "create", "-s", "-r", self.realm, "-P", master, "-W"])
        kadmin = self._tool("kadmin.local")
        for principal in self.principals:
            if principal.password is None:
                self._run([kadmin, "-r", self.realm, "-q", f"addprinc -randkey {principal.name}"])
            else:
                # -pw on the command line would show in `ps`; kadmin.local reads it from stdin.
                self._run([kadmin, "-r", self.realm, "-q", f"addprinc +requires_preauth {principal.name}"], stdin=f"{principal.password}\n{principal.password}\n")
        for name in self.service_principals:
            self._run([kadmin, "-r", self.realm, "-q", f"ktadd -k {self.keytab} {name}"])
        os.chmod(self.keytab, 0o600)

    def start(self, timeout: float = 15.0) -> None:
        """Start ``krb5kdc -n`` (creating the realm first if needed) and wait until it answers."""
        if not os.path.exists(os.path.join(self.directory, "principal")):
            self.create()
        assert self.port is not None
        argv = [self._tool("krb5kdc"), "-n", "-r", self.realm, "-P", os.path.join(self.directory, "krb5kdc.pid")]
        env = dict(os.environ)
        env.update(self.env())
        if self.clock_offset:
            # libfaketime preloaded into krb5kdc itself (not the faketime wrapper, which would fork
            # and leave the KDC behind when stopped): its clock runs clock_offset seconds off.
            env["LD_PRELOAD"] = self._faketime_library()
            env["FAKETIME"] = f"{self.clock_offset:+d}s"
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        out = open(self.stdout_path, "ab")  # noqa: SIM115 - kept open for the process lifetime
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KdcError(f"krb5kdc exited with {self.proc.returncode}: {self._tail()}")
            if self._listening():
                self._write(self.info_path, json.dumps(self.info(), indent=2) + "\n")
                return
            time.sleep(0.05)
        self.stop()
        raise KdcError(f"krb5kdc did not listen on 127.0.0.1:{self.port} within {timeout}s: {self._tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the KDC and nothing else
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self) -> "KerberosRealm":
        self.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()

    # --- helpers -------------------------------------------------------------------------------
    def kinit(self, user: str, ccache: str, password: str | None = None) -> None:
        """Get a ticket for ``user`` into ``ccache`` (as a user would with ``kinit``)."""
        env = dict(os.environ)
        env.update(self.env(ccache))
        secret = self.passwords[user] if password is None else password
        result = subprocess.run(
            [self._tool("kinit"), self.principal(user)], input=f"{secret}\n", capture_output=True, text=True, env=env, timeout=30, check=False
        )
        if result.returncode != 0:
            raise KdcError(f"kinit {self.principal(user)} failed: {result.stderr.strip()}")

    def info(self) -> dict[str, t.Any]:
        """What a caller needs to use the realm (the JSON ``python -m exchange_lab kdc`` prints)."""
        return {
            "realm": self.realm,
            "host": self.host,
            "kdc": f"127.0.0.1:{self.port}",
            "kdc_port": self.port,
            "krb5_config": self.krb5_config,
            "keytab": self.keytab,
            "service_principal": self.service_principal,
            "service_principals": self.service_principals,
            "clock_offset": self.clock_offset,
            "env": self.env(),
            "principals": {u: {"principal": self.principal(u), "password": self.passwords[u]} for u in self.users},
            "pid": self.proc.pid if self.proc else None,
        }

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(self.port or 0)), timeout=0.2):
            return True
        return False

    def _tail(self, lines: int = 20) -> str:
        text = ""
        for path in (self.stdout_path, self.log_path):
            with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as handle:
                text += "".join(handle.readlines()[-lines:])
        return text.strip()

    @staticmethod
    def _write(path: str, text: str) -> None:
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

"""A real Postfix as the smart host: ``python -m exchange_lab postfix --state DIR ...`` or :class:`Postfix`.

Nothing is installed here: it uses Debian's ``postfix``, ``sasl2-bin`` and ``libsasl2-modules``
(``hacking/apt-packages.txt``) and writes a private instance under ``state_dir``:

* its own ``config_directory`` (``<state>/conf``: main.cf, master.cf), ``queue_directory`` and
  ``data_directory``, every daemon with ``chroot = n``, logging to ``<state>/maillog``
  (``maillog_file`` through postlogd);
* one smtpd listener per entry of ``listeners`` on ``host`` and a free port each, every one with
  STARTTLS and a certificate from ``trustme`` (the CA is ``<state>/ca.pem``) and its own ``-o``
  overrides: ``default`` (AUTH only after TLS), ``auth_before_tls`` (``smtpd_tls_auth_only = no``),
  ``expired`` (an expired certificate from the same CA), ``defer`` (``451 4.7.1`` to every recipient),
  ``stall`` (answers RCPT only after ``STALL_SECONDS``: a session that connected, authenticated, then hangs);
* Cyrus SASL (``smtpd_sasl_type = cyrus``) from a sasldb written with ``saslpasswd2 -f`` and an
  ``smtpd.conf`` in ``cyrus_sasl_config_path``; only authenticated clients may relay
  (``smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination``; others get
  Postfix's own ``554 5.7.1 ... Relay access denied``);
* every accepted message, whatever its domain, goes to the Maildir ``<state>/mail/maildir``
  through Postfix's ``virtual`` delivery agent.

The master daemon runs in the foreground (``master -s -c <conf>``) as a child of this process and
is stopped by its PID. Postfix runs its daemons as the ``postfix`` user, so ``state_dir`` must be
reachable by that user (``make_state_dir`` creates a 0755 directory under /tmp).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime
import email
import email.policy
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import typing as t

from exchange_lab.kdc import _die_with_parent  # the one copy of the PR_SET_PDEATHSIG helper

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
PACKAGES = ("postfix", "sasl2-bin", "libsasl2-modules")
DEFAULT_NAME = "smarthost.lab.test"
STALL_SECONDS = 20
DEFER_REPLY = "451 4.7.1 Service temporarily unavailable, try again later (lab Postfix)"

# Per-listener overrides (master.cf -o); the names are what tests and the CLI ask for.
LISTENER_KINDS: dict[str, dict[str, str]] = {
    "default": {},
    "auth_before_tls": {"smtpd_tls_auth_only": "no"},
    "expired": {"smtpd_tls_chain_files": "$lab_expired_chain_files"},
    "defer": {"smtpd_recipient_restrictions": "$lab_defer_restrictions"},
    "stall": {"smtpd_recipient_restrictions": "$lab_stall_restrictions"},
}

# The daemons a relay needs; every one outside a chroot (the private instance has no chroot tree).
_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixError(Exception):
    """Postfix could not be set up or started (the message says what to do)."""


def missing_packages() -> list[str]:
    """The Debian packages this helper needs that are not installed (empty when all are)."""
    if not shutil.which("dpkg-query"):  # not Debian (bindep.txt names the RPM packages): check the programs
        return [path for path in (POSTFIX, POSTCONF, SASLPASSWD2) if not os.access(path, os.X_OK)]
    missing = []
    for package in PACKAGES:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
        if "install ok installed" not in proc.stdout:
            missing.append(package)
    return missing


def reachable_by_postfix(path: str) -> bool:
    """Can the unprivileged postfix user traverse every directory above ``path``?"""
    parent = os.path.dirname(os.path.abspath(path))
    while parent and parent != "/":
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(parent)
    return True


def make_state_dir(prefix: str = "lab-postfix-") -> str:
    """A fresh directory under /tmp that Postfix's unprivileged daemons can traverse (0755)."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class PostfixConfig:
    state_dir: str
    host: str = "127.0.0.1"
    hostname: str = DEFAULT_NAME  # myhostname, the banner and the certificate's first name
    cert_names: list[str] | None = None  # default: hostname, localhost, the listen address
    cert_valid_days: int = 365
    users: dict[str, str] = dataclasses.field(default_factory=dict)  # sasldb users (realm = hostname)
    listeners: dict[str, int] = dataclasses.field(default_factory=lambda: {"default": 0})  # kind -> port (0 = free)
    message_size_limit: int = 36700160

    def validate(self) -> None:
        unknown = sorted(set(self.listeners) - set(LISTENER_KINDS))
        if unknown:
            raise PostfixError(f"listeners: unknown kind(s) {', '.join(unknown)}; use {', '.join(LISTENER_KINDS)}")
        for name in self.users:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
                raise PostfixError(f"users: {name!r} is not a plain user name (letters, digits, . _ -)")


@dataclasses.dataclass
class Delivered:
    path: str
    message: email.message.EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", "")).strip()

    @property
    def received(self) -> str:
        return str(self.message.get("Received", ""))


class Postfix:
    """One private Postfix instance; ``start()`` writes the configuration and runs the master daemon."""

    def __init__(self, config: PostfixConfig) -> None:
        config.validate()
        self.config = config
        base = config.state_dir
        self.conf_dir = os.path.join(base, "conf")
        self.queue_dir = os.path.join(base, "queue")
        self.data_dir = os.path.join(base, "data")
        self.mail_base = os.path.join(base, "mail")
        self.maildir = os.path.join(self.mail_base, "maildir")
        self.maillog = os.path.join(base, "maillog")
        # Debian's build reads <config_directory>/sasl/<smtpd_sasl_path>.conf whatever
        # cyrus_sasl_config_path says (seen with strace on 3.7.11); upstream reads cyrus_sasl_config_path.
        # Both point at the same directory here.
        self.sasl_dir = os.path.join(self.conf_dir, "sasl")
        self.sasldb = os.path.join(self.sasl_dir, "sasldb2")
        self.ca_cert = os.path.join(base, "ca.pem")
        self.master_log = os.path.join(base, "master.log")
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._written = False

    # -- configuration ------------------------------------------------------------------

    def _write(self, path: str, text: str | bytes, mode: int = 0o644) -> None:
        data = text.encode() if isinstance(text, str) else text
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)

    def _certificates(self) -> None:
        import trustme

        cfg = self.config
        names = cfg.cert_names or [cfg.hostname, "localhost", cfg.host]
        ca = trustme.CA(organization_name="exchange_lab Postfix test CA")
        now = datetime.datetime.now(datetime.timezone.utc)
        good = ca.issue_cert(*names, common_name=names[0], organization_name="exchange_lab Postfix",
                             not_before=now - datetime.timedelta(days=1), not_after=now + datetime.timedelta(days=cfg.cert_valid_days))
        expired = ca.issue_cert(*names, common_name=names[0], organization_name="exchange_lab Postfix",
                                not_before=now - datetime.timedelta(days=400), not_after=now - datetime.timedelta(days=2))
        tls = os.path.join(self.config.state_dir, "tls")
        os.makedirs(tls, exist_ok=True)
        self._write(self.ca_cert, ca.cert_pem.bytes())
        for label, leaf in (("server", good), ("expired", expired)):
            # Postfix reads the key as root before dropping privileges: 0600 root-owned is right.
            self._write(os.path.join(tls, f"{label}-key.pem"), leaf.private_key_pem.bytes(), 0o600)
            self._write(os.path.join(tls, f"{label}-chain.pem"), b"".join(b.bytes() for b in leaf.cert_chain_pems))

    def _sasl(self) -> None:
        os.chmod(self.sasl_dir, 0o755)
        self._write(
            os.path.join(self.sasl_dir, "smtpd.conf"),
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: LOGIN PLAIN\nsasldb_path: {self.sasldb}\n",
        )
        for user, password in self.config.users.items():
            proc = subprocess.run(
                [SASLPASSWD2, "-f", self.sasldb, "-c", "-p", "-u", self.config.hostname, user],
                input=password + "\n", capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise PostfixError(f"saslpasswd2 could not add {user!r}: {proc.stderr.strip()}")
        if os.path.exists(self.sasldb):
            # smtpd reads the sasldb as the postfix user.
            postfix = pwd.getpwnam("postfix")
            os.chown(self.sasldb, 0, postfix.pw_gid)
            os.chmod(self.sasldb, 0o640)

    def main_cf(self) -> str:
        cfg = self.config
        owner = pwd.getpwnam("postfix")
        tls = os.path.join(cfg.state_dir, "tls")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": cfg.hostname,
            "mydomain": cfg.hostname.split(".", 1)[-1],
            "myorigin": "$myhostname",
            "mydestination": "",
            # Nobody is trusted by address: relaying needs AUTH (192.0.2.1 is TEST-NET-1, never a client).
            "mynetworks": "192.0.2.1/32",
            "inet_interfaces": cfg.host,
            "inet_protocols": "ipv4",
            "smtp_bind_address": cfg.host,
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "smtputf8_enable": "no",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": cfg.state_dir,
            "message_size_limit": str(cfg.message_size_limit),
            "smtpd_banner": "$myhostname ESMTP Postfix (lab)",
            # Every accepted message, whatever its domain, ends in one Maildir the tests read.
            "default_transport": "virtual",
            "relay_transport": "virtual",
            "virtual_mailbox_base": self.mail_base,
            "virtual_mailbox_maps": "static:maildir/",
            # No domain is local (the default, $virtual_mailbox_maps, would make every domain one and
            # let anyone relay): recipients are remote, so reject_unauth_destination applies to all.
            "virtual_mailbox_domains": "",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "virtual_minimum_uid": "1",
            # STARTTLS with the trustme certificate; AUTH only after TLS unless a listener says otherwise.
            "smtpd_tls_security_level": "may",
            "smtpd_tls_chain_files": f"{tls}/server-key.pem, {tls}/server-chain.pem",
            "lab_expired_chain_files": f"{tls}/expired-key.pem, {tls}/expired-chain.pem",
            "smtpd_tls_auth_only": "yes",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": self.sasl_dir,
            "smtpd_sasl_local_domain": cfg.hostname,
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_sasl_authenticated_header": "no",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "lab_defer_restrictions": f"check_recipient_access regexp:{self.conf_dir}/defer.regexp",
            "lab_stall_restrictions": f"sleep {STALL_SECONDS}",
            # Quick retries and no long waits: this is a test instance.
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "100",
            "smtpd_hard_error_limit": "200",
            "smtpd_client_connection_rate_limit": "0",
            "anvil_rate_time_unit": "60s",
        }
        return "".join(f"{key} = {value}\n" for key, value in settings.items())

    def master_cf(self) -> str:
        lines = []
        for kind, port in self.ports.items():
            overrides = "".join(f" -o {key}={value}" for key, value in LISTENER_KINDS[kind].items())
            lines.append(f"{self.config.host}:{port} inet n - n - - smtpd -o syslog_name=postfix/{kind}{overrides}\n")
        return "".join(lines) + _SERVICES

    def write(self) -> None:
        """The whole instance: certificates, sasldb, main.cf, master.cf, directories."""
        cfg = self.config
        os.makedirs(cfg.state_dir, exist_ok=True)
        os.chmod(cfg.state_dir, 0o755)
        if not reachable_by_postfix(cfg.state_dir):
            raise PostfixError(f"state directory {cfg.state_dir}: Postfix's daemons (user postfix) cannot reach it "
                               "(a parent directory has no search permission for others); use a directory under /tmp")
        for path in (self.conf_dir, self.queue_dir, self.data_dir, self.sasl_dir):
            os.makedirs(path, exist_ok=True)
        postfix = pwd.getpwnam("postfix")
        os.chown(self.data_dir, postfix.pw_uid, postfix.pw_gid)
        os.makedirs(self.mail_base, exist_ok=True)
        os.chown(self.mail_base, postfix.pw_uid, postfix.pw_gid)
        self.ports = {kind: port or free_port(cfg.host) for kind, port in cfg.listeners.items()}
        self._certificates()
        self._sasl()
        self._write(os.path.join(self.conf_dir, "main.cf"), self.main_cf())
        self._write(os.path.join(self.conf_dir, "master.cf"), self.master_cf())
        # The "defer" listener answers every recipient with a temporary refusal (regexp: is built in).
        self._write(os.path.join(self.conf_dir, "defer.regexp"), f"/./ {DEFER_REPLY}\n")
        # postfix check creates the queue's subdirectories with their owners and modes.
        code, output = _run_on_tty([POSTFIX, "-c", self.conf_dir, "check"])
        if code != 0:
            raise PostfixError(f"postfix check failed for {self.conf_dir}: {output.strip()}")
        self._written = True

    # -- process ------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> dict[str, t.Any]:
        if os.geteuid() != 0:
            raise PostfixError("Postfix's master daemon must run as root (it drops to the postfix user itself)")
        missing = missing_packages()
        if missing:
            raise PostfixError(f"Debian packages missing: {' '.join(missing)} (make system-packages installs hacking/apt-packages.txt)")
        if not self._written:
            self.write()
        daemon_dir = subprocess.run([POSTCONF, "-c", self.conf_dir, "-h", "daemon_directory"], capture_output=True, text=True, check=True).stdout.strip()
        log = open(self.master_log, "ab")  # noqa: SIM115 - kept for the process lifetime
        env = dict(os.environ, MAIL_CONFIG=self.conf_dir)
        # -s: stay in the foreground (start-fg's mode outside a container's PID 1), -c: our instance only.
        # die_with_parent: a caller killed without running atexit (SIGKILL) still takes the master down with it
        self.proc = subprocess.Popen([os.path.join(daemon_dir, "master"), "-s", "-c", self.conf_dir],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=_die_with_parent)
        log.close()
        atexit.register(self.stop)  # never leave a master behind when the caller dies without stop()
        deadline = time.monotonic() + timeout
        waiting = dict(self.ports)
        while waiting:
            if self.proc.poll() is not None:
                raise PostfixError(f"Postfix's master exited with {self.proc.returncode}:\n{self.log_tail()}")
            for kind, port in list(waiting.items()):
                if _banner(self.config.host, port):
                    del waiting[kind]
            if time.monotonic() > deadline:
                self.stop()
                raise PostfixError(f"Postfix not answering on {waiting} after {timeout}s:\n{self.log_tail()}")
            if waiting:
                time.sleep(0.05)
        return self.ready

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the master (it stops its children), then wait; by PID only."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self) -> "Postfix":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> dict[str, t.Any]:
        return {
            "kind": "postfix",
            "host": self.config.host,
            "port": self.ports.get("default", next(iter(self.ports.values()), 0)),
            "ports": dict(self.ports),
            "mode": "starttls",
            "ca_cert": self.ca_cert,
            "cert_names": self.config.cert_names or [self.config.hostname, "localhost", self.config.host],
            "banner_name": self.config.hostname,
            "maildir": self.maildir,
            "maillog": self.maillog,
            "config_directory": self.conf_dir,
            "users": sorted(self.config.users),
            "pid": self.proc.pid if self.proc else None,  # the master daemon (the CLI puts its own PID here)
            "master_pid": self.proc.pid if self.proc else None,
        }

    # -- what happened ------------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.master_log, self.maillog):
            with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as handle:
                text += "".join(handle.readlines()[-lines:])
        return text

    def log(self) -> str:
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def messages(self) -> list[Delivered]:
        found = []
        new = os.path.join(self.maildir, "new")
        for name in sorted(os.listdir(new)) if os.path.isdir(new) else []:
            path = os.path.join(new, name)
            with open(path, "rb") as handle:
                found.append(Delivered(path, t.cast(email.message.EmailMessage, email.message_from_binary_file(handle, policy=email.policy.default))))
        return found

    def wait_for_message(self, message_id: str, timeout: float = 20.0) -> Delivered:
        """The delivered copy of ``message_id`` (polls the Maildir; Postfix delivers asynchronously)."""
        wanted = message_id.strip().strip("<>")
        deadline = time.monotonic() + timeout
        while True:
            for delivered in self.messages():
                if delivered.message_id.strip("<>") == wanted:
                    return delivered
            if time.monotonic() > deadline:
                raise AssertionError(f"{message_id} not in {self.maildir} after {timeout}s; Postfix log:\n{self.log_tail(60)}")
            time.sleep(0.1)

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in the maillog (postlogd writes asynchronously)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log())
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in {self.maillog} after {timeout}s:\n{self.log_tail(60)}")
            time.sleep(0.1)


def _run_on_tty(argv: list[str]) -> tuple[int, str]:
    """Run a Postfix command with stderr on a pseudo-terminal: only then does it print its errors
    (otherwise they go to syslog, which a test machine may not have)."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, check=False)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side is closed, all read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.returncode, b"".join(chunks).decode("utf-8", "replace")
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)


def _banner(host: str, port: int) -> bool:
    """True once an smtpd answers 220 on host:port (Postfix's readiness, no fixed sleep)."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(5)
            data = sock.recv(512)
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
            return data.startswith(b"220")
    except OSError:
        return False


# -- command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, help="state directory (the instance goes to a /tmp directory when the postfix user cannot reach it)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    parser.add_argument("--port", type=int, default=0, help="port of the default listener (0 = any free port)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="myhostname, banner and certificate name")
    parser.add_argument("--cert-names", default="", help="comma-separated certificate names (default: name, localhost, host)")
    parser.add_argument("--user", action="append", default=[], help="a sasldb user; its password comes from SMARTHOST_PASSWORD")
    parser.add_argument("--listener", action="append", default=[], choices=[k for k in LISTENER_KINDS if k != "default"],
                        help="an extra listener on its own free port (ports in the ready JSON)")
    parser.add_argument("--ready-file", help="write the ready JSON here too")


def run(args: argparse.Namespace) -> int:
    password = os.environ.get("SMARTHOST_PASSWORD", "")
    if args.user and not password:
        print("postfix: --user needs its password in the SMARTHOST_PASSWORD environment variable", file=sys.stderr)
        return 2
    listeners = {"default": args.port, **{kind: 0 for kind in args.listener}}
    os.makedirs(args.state, exist_ok=True)
    # The instance needs a directory the postfix user can reach; under a private parent (molecule's
    # ~/.cache, a pytest tmp dir) it goes to a fresh /tmp directory, removed again on exit.
    instance = os.path.abspath(args.state) if reachable_by_postfix(args.state) else make_state_dir()
    config = PostfixConfig(
        state_dir=instance, host=args.host, hostname=args.name,
        cert_names=[n for n in args.cert_names.split(",") if n] or None,
        users={user: password for user in args.user}, listeners=listeners,
    )
    stop = {"now": False}

    def _stop(_signum: int, _frame: t.Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server = Postfix(config)
        ready = server.start()
    except (PostfixError, OSError, KeyError, subprocess.SubprocessError) as exc:
        print(f"postfix: {exc}", file=sys.stderr)
        if instance != os.path.abspath(args.state):
            remove_state(instance)
        return 2
    ready["pid"] = os.getpid()  # SIGTERM this process: it stops the master and exits
    text = json.dumps(ready)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, args.ready_file)
    print(text, flush=True)
    try:
        while not stop["now"] and server.running:
            time.sleep(0.2)
    finally:
        server.stop()
        if instance != os.path.abspath(args.state):
            remove_state(instance)
    return 0


def remove_state(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["Postfix", "PostfixConfig", "PostfixError", "Delivered", "make_state_dir", "missing_packages"]

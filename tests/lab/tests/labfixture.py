"""Start and drive an Exchange lab process from tests (and from scripts such as the benchmark).

``LabProcess`` runs ``python -m exchange_lab serve`` in a subprocess exactly as a user would,
waits for its ready file and stops it with SIGTERM. ``ready`` is the JSON the lab wrote.
``run_cmdlet`` drives the lab with plain pypsrp, the same client the modules use. ``exchange_env`` gives a
lab's connection as the EXCHANGE_* variables of the modules, for tests and the scripts under hacking/ alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import typing as t

LAB_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRE_ENV = "EXCHANGE_LAB_WIRE"
DEFAULT_WIRE = "exchange"  # exchange_lab.config.LabConfig.wire


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (PR_SET_PDEATHSIG), so a test run
    that is killed (SIGKILL, a crashed xdist worker, a CI job cancelled) leaves no lab behind; the fixtures'
    finalizers cover failures and pytest-timeout, this covers the deaths that run no finalizer."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LabProcess:
    def __init__(
        self,
        state_dir: str,
        *,
        https: bool = False,
        auth: str = "basic",
        config: dict[str, t.Any] | None = None,
        extra_args: list[str] | None = None,
        wire: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.https = https
        self.auth = auth
        # The wire profile (lab config key ``wire``): the config's own, else ``wire``, else the environment
        # variable EXCHANGE_LAB_WIRE (``make test`` runs the module and role tests once per profile), else the
        # lab's default.
        wire = wire or os.environ.get(WIRE_ENV) or None
        if wire and "wire" not in (config or {}):
            config = dict(config or {}, wire=wire)
        self.config = config
        self.wire = (config or {}).get("wire") or DEFAULT_WIRE
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, t.Any] = {}
        self.log_path = os.path.join(state_dir, "lab.log")

    def start(self, timeout: float = 30.0) -> dict[str, t.Any]:
        os.makedirs(self.state_dir, exist_ok=True)
        ready_file = os.path.join(self.state_dir, "ready.json")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ready_file)
        cmd = [sys.executable, "-m", "exchange_lab", "serve", "--state", self.state_dir, "--ready-file", ready_file, "--auth", self.auth]
        if self.https:
            cmd.append("--https")
        if self.config is not None:
            cfg_path = os.path.join(self.state_dir, "lab-config.json")
            with open(cfg_path, "w", encoding="utf-8") as handle:
                json.dump(self.config, handle)
            cmd += ["--config", cfg_path]
        cmd += self.extra_args
        env = dict(os.environ)
        env["PYTHONPATH"] = LAB_SRC + os.pathsep + env.get("PYTHONPATH", "")
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process lifetime
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lab exited with {self.proc.returncode}; see {self.log_path}:\n{self.log_tail()}")
            if os.path.exists(ready_file):
                with open(ready_file, encoding="utf-8") as handle:
                    self.ready = json.load(handle)
                return self.ready
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"lab not ready after {timeout}s; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.ready:
            end_brokers(session_dir(self.ready))  # while the lab still answers their runspaces' close
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)

    # --- clients -----------------------------------------------------------------------
    def wsman(self, username: str | None = None, password: str | None = None, **kwargs: t.Any):
        from pypsrp.wsman import WSMan

        r = self.ready
        options: dict[str, t.Any] = {
            "port": r["port"],
            "path": r["path"],
            "ssl": r["scheme"] == "https",
            "auth": r["auth"],
            "username": username or r["username"],
            "password": password or r["password"],
            "cert_validation": r.get("ca_cert") or False,
            # pypsrp refuses Basic over plain HTTP unless told not to encrypt (only NTLM, Negotiate
            # and Kerberos can seal messages); every other combination encrypts as it should.
            "encryption": "never" if (r["scheme"] == "http" and r["auth"] == "basic") else "auto",
            "read_timeout": 30,
            "connection_timeout": 10,
        }
        options.update(kwargs)
        return WSMan(r["host"], **options)

    def pool(self, username: str | None = None, password: str | None = None, *, records: bool = False, **kwargs: t.Any):
        """A pypsrp RunspacePool. ``records=True``: its output is read by the collection's reader (as the modules
        read it; plain pypsrp cannot read the ``exchange`` profile's references) and ``run_cmdlet`` returns each
        output object as ``{PropertyName: plain value}``."""
        from pypsrp.powershell import RunspacePool

        pool = RunspacePool(self.wsman(username, password, **kwargs), configuration_name=self.ready["configuration_name"])
        if records:
            collection_reader().read_output(pool._serializer)
        return pool

    def run_cmdlet(self, name: str, parameters: dict[str, t.Any] | None = None, *, pool=None, records: bool = False,
                   **kwargs: t.Any):
        """Run one cmdlet and return the pypsrp PowerShell object (output, streams, had_errors)."""
        from pypsrp.powershell import PowerShell

        def _run(p):
            ps = PowerShell(p)
            ps.add_cmdlet(name)
            for key, value in (parameters or {}).items():
                ps.add_parameter(key, value)
            ps.invoke()
            ps.output = [item.record if type(item).__name__ == "Output" else item for item in ps.output]
            return ps

        if pool is not None:
            return _run(pool)
        with self.pool(records=records, **kwargs) as own:
            return _run(own)

    def counters(self) -> dict[str, int]:
        path = os.path.join(self.state_dir, "counters.json")
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}


def exchange_env(ready: dict[str, t.Any], user: str = "admin") -> dict[str, str]:
    """The lab's connection as the EXCHANGE_* environment variables the modules fall back to (what the AWX
    credential type injects): the one mapping from a lab's ready file to them."""
    env = {
        "EXCHANGE_SERVER": ready["host"],
        "EXCHANGE_PORT": str(ready["port"]),
        "EXCHANGE_PROTOCOL": ready["scheme"],
        "EXCHANGE_PATH": ready["path"],
        "EXCHANGE_AUTH": ready["auth"],
        "EXCHANGE_USERNAME": ready["readonly_username"] if user == "readonly" else ready["username"],
        "EXCHANGE_PASSWORD": ready["readonly_password"] if user == "readonly" else ready["password"],
    }
    if ready.get("ca_cert"):
        env["EXCHANGE_CA_CERT"] = ready["ca_cert"]
    if ready.get("state_dir"):
        env["MAILFLOW_EXCHANGE_SESSION_DIR"] = session_dir(ready)
    return env


def session_dir(ready: dict[str, t.Any]) -> str:
    """Where the modules' kept runspaces (keep_session) for this lab listen: one directory per lab, in its state, so
    that ``LabProcess.stop`` ends them (``end_brokers``) and no test meets another lab's. (A pytest temporary path is
    longer than a Unix socket address may be: the broker binds such a path relative to its directory.)"""
    return os.path.join(ready["state_dir"], "sessions")


def end_brokers(directory: str, timeout: float = 10.0) -> list[int]:
    """End every broker of kept runspaces (plugins/module_utils/_remoting/broker.py) in ``directory``: SIGTERM, which
    makes a broker close its runspace and remove its socket; SIGKILL after ``timeout``. Returns the pids found."""
    pids = broker_pids(directory)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.05)
        if alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return pids


def broker_pids(directory: str) -> list[int]:
    """The process ids of the brokers in ``directory`` (their ``<key>.pid`` files)."""
    import glob

    pids = []
    for path in glob.glob(os.path.join(directory, "*.pid")):
        with contextlib.suppress(OSError, ValueError):
            with open(path, encoding="ascii") as handle:
                pids.append(int(handle.read().strip()))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def running_lab(**kwargs: t.Any) -> t.Iterator[LabProcess]:
    with tempfile.TemporaryDirectory(prefix="exchange-lab-") as state:
        lab = LabProcess(state, **kwargs)
        lab.start()
        try:
            yield lab
        finally:
            lab.stop()


def collection_reader() -> t.Any:
    """The collection's CLIXML reader (plugins/module_utils/_remoting/wire.py), imported from this checkout."""
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire
    except ImportError:
        root = os.path.dirname(os.path.dirname(LAB_SRC))
        link = os.path.join(root, "collections", "ansible_collections", "mailflow", "exchange")
        if not os.path.exists(link):
            raise RuntimeError("the collection is not importable: run make collection-link") from None
        sys.path.insert(0, os.path.join(root, "collections"))
        from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire
    return _wire

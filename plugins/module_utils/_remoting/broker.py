# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

One Exchange runspace for several module runs (the modules' ``keep_session`` option), as SSH's ControlPersist
keeps one SSH connection for several tasks.

Opening a RunspacePool on Exchange's endpoint is the slowest step of most module runs (seconds on a real server:
authentication, the PSRP handshake, Exchange loading its cmdlets for the user), and a role run has several Exchange
tasks. With ``keep_session: N`` a module run that opened its own pool does not close it at the end: it hands it to a
*broker*, a process of the same user forked from the module, which listens on a Unix socket and runs the next module
runs' pipelines on that pool. The broker closes the pool and ends after N seconds without a module run, or at the end
of a module run that found it but asked for ``keep_session: 0``.

Who may use a broker:

* The socket lives in a directory only its user can enter (0700, owned by the user; anything else is not used), and
  both ends check the other's user id (SO_PEERCRED).
* Only a module run with the same connection settings (server, port, path, protocol, configuration, auth, user,
  certificate checks, timeouts) and the same password. The password never crosses the socket: each end proves it
  knows it with an HMAC of the other end's random challenge, and only then does the module send anything, so a
  smart host credential in a pipeline goes only to a broker that proved it holds the same Exchange login.
* One module run at a time (a lock file beside the socket, taken without waiting): a second module run at the same
  moment (another host of the play) opens its own pool, as without ``keep_session``.

What the modules see is the session's interface (``run``, ``run_pipeline``, ``reconnect``, ``warnings``): the broker
runs ``ExchangeSession`` itself and sends back its records, warnings and errors, so every error keeps its sentence.
A broker whose pool died (the server restarted, its idle timeout) answers a module's first read with a transport
error: that module then drops the broker and opens its own pool. Anything but a read is never repeated.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import json
import os
import signal
import socket
import stat
import struct
import tempfile
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import Credential
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session


# The settings a broker must share with a module run (all but the password, which is proven, not sent).
_KEY_SETTINGS = ("server", "port", "protocol", "path", "configuration_name", "auth", "username", "validate_certs",
                 "ca_cert", "connection_timeout", "operation_timeout")
_MAX_LINE = 256 * 1024 * 1024  # one answer of a few thousand connectors fits many times


# Both ends check the other's user with SO_PEERCRED (Linux). Where the platform has no such check (macOS, the BSDs)
# no runspace is kept: each module run opens its own, as with keep_session 0.
SUPPORTED = hasattr(socket, "AF_UNIX") and hasattr(socket, "SO_PEERCRED")


class BrokerUnavailable(Exception):
    """No broker can be used for this module run (none there, busy, other settings, not ours): open a pool."""


def session_dir() -> str:
    """The user's directory of broker sockets (MAILFLOW_EXCHANGE_SESSION_DIR, or one under the temp directory)."""
    return os.environ.get("MAILFLOW_EXCHANGE_SESSION_DIR") or os.path.join(
        tempfile.gettempdir(), "mailflow-exchange-%d" % os.getuid())


def _private_dir(create: bool) -> Optional[str]:
    """The socket directory if it is ours and private (made so when ``create``), else None."""
    path = session_dir()
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def _shared(settings: dict[str, Any]) -> list[Any]:
    """The settings a module run must share with a broker, in order (the password aside)."""
    return [settings.get(name) for name in _KEY_SETTINGS]


def _key(settings: dict[str, Any]) -> str:
    text = json.dumps(_shared(settings), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _proof(settings: dict[str, Any], challenge: str) -> str:
    secret = (settings.get("password") or "").encode("utf-8")
    return hmac.new(secret, ("mailflow.exchange keep_session " + challenge).encode("ascii"), hashlib.sha256).hexdigest()


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _at(sock: socket.socket, path: str, bind: bool) -> None:
    """Bind or connect ``sock`` to ``path``. A Unix socket's address has at most 107 bytes, which a deep temporary
    directory passes: such a path is used relative to its directory, entered for the call (the module is one thread)."""
    call = sock.bind if bind else sock.connect
    if len(os.fsencode(path)) < 100:
        call(path)
        return
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(os.path.dirname(path))
        call(os.path.basename(path))
    finally:
        os.fchdir(here)
        os.close(here)


# ---- messages: one JSON object per line ------------------------------------------------------------------------
class _Channel(object):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(message, default=_encode).encode("utf-8") + b"\n")

    def receive(self) -> Optional[dict[str, Any]]:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > _MAX_LINE:
                raise ValueError("message too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line.decode("utf-8"), object_hook=_decode)


def _encode(value: Any) -> Any:
    if isinstance(value, Credential):
        return {"$credential": [value.username, value.password]}
    raise TypeError("a %s cannot be sent to the shared session" % type(value).__name__)


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$credential" in obj:
        username, password = obj["$credential"]
        return Credential(username, password)
    return obj


def _error_message(err: BaseException) -> dict[str, Any]:
    if isinstance(err, _session.CmdletError):
        return {"type": "CmdletError", "cmdlet": err.cmdlet, "error_message": err.error_message,
                "error_id": err.error_id, "category": err.category, "reason": err.reason, "message": err.message}
    if isinstance(err, _session.ExchangeError):
        return {"type": type(err).__name__ if isinstance(err, _session.TransportError) else "ExchangeError",
                "message": err.message}
    return {"type": "ExchangeError", "message": "the shared Exchange session failed: %s: %s" % (type(err).__name__, err)}


def _error(data: dict[str, Any]) -> _session.ExchangeError:
    if data.get("type") == "CmdletError":
        error = _session.CmdletError(data["cmdlet"], data["error_message"], error_id=data.get("error_id", ""),
                                     category=data.get("category", ""), reason=data.get("reason", ""))
        error.message = data.get("message") or error.message
        return error
    if data.get("type") == "TransportError":
        return _session.TransportError(data.get("message", ""))
    return _session.ExchangeError(data.get("message", ""))


# ---- the module's side -----------------------------------------------------------------------------------------
class SharedSession(object):
    """The session interface of ``ExchangeSession``, run by a broker's pool."""

    def __init__(self, settings: dict[str, Any], channel: _Channel, lock_fd: int) -> None:
        self.settings = settings
        self.url = _session.endpoint_url(settings)
        self.warnings: list[str] = list(_session.transport_warnings(settings))
        self.calls: list[str] = []
        self._channel: Optional[_Channel] = channel
        self._lock_fd: Optional[int] = lock_fd
        self._fresh = True  # nothing was run through it yet
        self._own: Optional[_session.ExchangeSession] = None  # the pool opened when the broker's had died

    def open(self) -> None:
        """Already open (the broker's pool)."""

    def run(self, cmdlet: str, params: Optional[list] = None) -> list[dict[str, Any]]:
        return self.run_pipeline([(cmdlet, params)])

    def run_pipeline(self, commands: list[tuple[str, Optional[list]]], input: Optional[list] = None,
                     errors: Optional[list] = None) -> list[dict[str, Any]]:
        if self._own is not None:
            return self._own.run_pipeline(commands, input=input, errors=errors)
        commands = [(cmdlet, list(params or [])) for cmdlet, params in commands]
        self.calls.append(" | ".join(cmdlet for cmdlet, _params in commands))
        fresh, self._fresh = self._fresh, False
        try:
            answer = self._ask({"op": "run", "commands": commands, "input": input, "errors": errors is not None})
        except _session.TransportError:
            # The broker's pool died since the last module run (server restart, idle limit). A read can be repeated
            # on a pool of our own; nothing else is ever sent twice.
            if not (fresh and all(cmdlet.startswith("Get-") for cmdlet, _params in commands)):
                raise
            self._drop(quit_broker=True)
            own = _session.ExchangeSession(self.settings)
            try:
                own.open()
            except BaseException:
                own.close()  # a pool that did not open is never kept
                raise
            own.warnings = self.warnings  # one list: the module reads (and edits) session.warnings
            self._own = own
            return own.run_pipeline(commands, input=input, errors=errors)
        if errors is not None:
            errors.extend(_error(item) for item in answer.get("errors") or [])
        return answer["records"]

    def reconnect(self) -> None:
        if self._own is not None:
            self._own.reconnect()
            return
        self._ask({"op": "reconnect"})

    def close(self, keep: int = 0) -> None:
        """End this module run's use: the broker keeps the pool ``keep`` more seconds (0: closes it now)."""
        if self._own is not None:
            own, self._own = self._own, None
            own.close()
            return
        if self._channel is not None:
            try:
                self._channel.send({"op": "done", "keep": keep})
                self._channel.receive()
            except (OSError, ValueError):
                pass
        self._drop(quit_broker=False)

    def own_pool(self) -> Optional[_session.ExchangeSession]:
        """The pool this module run opened itself after the broker's had died (None if it did not), now the
        caller's to keep or close."""
        own, self._own = self._own, None
        return own

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._channel is None:
            raise _session.TransportError("the shared Exchange session is closed")
        try:
            self._channel.send(request)
            answer = self._channel.receive()
        except (OSError, ValueError) as err:
            self._drop(quit_broker=False)
            raise _session.TransportError("the shared Exchange session (keep_session) stopped answering: %s" % err)
        if answer is None:
            self._drop(quit_broker=False)
            raise _session.TransportError("the shared Exchange session (keep_session) ended in the middle of a command")
        self.warnings.extend(answer.get("warnings") or [])
        if not answer.get("ok"):
            raise _error(answer.get("error") or {})
        return answer

    def _drop(self, quit_broker: bool) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            if quit_broker:
                try:
                    channel.send({"op": "done", "keep": 0})
                except OSError:
                    pass
            try:
                channel.sock.close()
            except OSError:
                pass
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def connect(settings: dict[str, Any]) -> SharedSession:
    """The broker kept for these settings, proven on both sides and locked for this module run.

    Raises BrokerUnavailable when there is none to use (the caller opens its own pool).
    """
    directory = _private_dir(create=False) if SUPPORTED else None
    if directory is None:
        raise BrokerUnavailable("no private session directory")
    base = os.path.join(directory, _key(settings))
    if not os.path.exists(base + ".sock"):
        raise BrokerUnavailable("no broker")
    try:
        lock_fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        raise BrokerUnavailable("no lock file")
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        raise BrokerUnavailable("in use by another module run")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10)
        _at(sock, base + ".sock", bind=False)
        if _peer_uid(sock) != os.getuid():
            raise BrokerUnavailable("the socket's peer is another user")
        channel = _Channel(sock)
        hello = channel.receive() or {}
        challenge = os.urandom(16).hex()
        channel.send({"op": "hello", "settings": _shared(settings),
                      "proof": _proof(settings, hello.get("challenge", "")), "challenge": challenge})
        answer = channel.receive() or {}
        if not answer.get("ok") or not hmac.compare_digest(str(answer.get("proof", "")), _proof(settings, challenge)):
            raise BrokerUnavailable("the broker holds another login")
        sock.settimeout(None)  # a command may run as long as the operation timeout allows, and a trace waits
    except (OSError, ValueError, BrokerUnavailable) as err:
        sock.close()
        os.close(lock_fd)
        if isinstance(err, OSError) and err.errno in (errno.ECONNREFUSED, errno.ENOENT):
            _unlink(base + ".sock")  # a broker that ended without cleaning up
        raise BrokerUnavailable(str(err))
    return SharedSession(settings, channel, lock_fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---- the broker ------------------------------------------------------------------------------------------------
def hand_over(session: Any, keep: int) -> bool:
    """Give an open ExchangeSession to a new broker for ``keep`` seconds; False (the caller closes the pool) when
    no broker can be made, e.g. one already serves these settings."""
    if keep <= 0 or getattr(session, "_pool", None) is None or not SUPPORTED:
        return False
    directory = _private_dir(create=True)
    if directory is None:
        return False
    base = os.path.join(directory, _key(session.settings))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o177)
        try:
            _at(listener, base + ".sock", bind=True)
        finally:
            os.umask(old_umask)
        listener.listen(8)
    except OSError as err:
        listener.close()
        if err.errno == errno.EADDRINUSE and not _alive(base):
            _unlink(base + ".sock")  # left by a broker that was killed: the next run may hand over again
        return False
    try:
        pid = os.fork()
    except OSError:
        listener.close()
        _unlink(base + ".sock")
        return False
    if pid:  # the module: the pool is the broker's now; forget it without closing it
        listener.close()
        session._pool = None
        os.waitpid(pid, 0)
        return True
    # the first child: a session of its own, and a grandchild that nobody waits for
    try:
        os.setsid()
        grandchild = os.fork()
        if grandchild:
            # the pid file exists before the module run ends, so whoever ran it can end the broker (the tests do)
            try:
                with open(base + ".pid", "w") as handle:
                    handle.write("%d\n" % grandchild)
            except OSError:
                pass
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # Ansible reads the module's output until every copy of these is closed
            os.dup2(null, fd)
        os.close(null)
        os.chdir("/")
        _serve(session, listener, base, keep)
    finally:
        os._exit(0)


def _alive(base: str) -> bool:
    """Whether the broker of ``base`` still runs (its pid file; without one it may be starting: alive). Not by
    connecting: a broker serves one connection at a time, and a probe would be one."""
    try:
        with open(base + ".pid", encoding="ascii") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return os.path.exists(base + ".sock")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _serve(session: Any, listener: socket.socket, base: str, keep: int) -> None:
    """Serve module runs one at a time until none came for ``keep`` seconds or one asked to close."""
    def _stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)  # close the pool on the way out (the tests end brokers so)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the playbook is not for the broker
    try:
        while keep > 0:
            listener.settimeout(keep)
            try:
                conn, _address = listener.accept()
            except socket.timeout:
                break
            try:
                keep = _serve_one(session, conn, keep)
            except (OSError, ValueError):  # that module run went away (killed, or sent nonsense): serve the next
                pass
            finally:
                conn.close()
    finally:
        _unlink(base + ".sock")
        _unlink(base + ".pid")
        listener.close()
        session.close()


def _serve_one(session: Any, conn: socket.socket, keep: int) -> int:
    if _peer_uid(conn) != os.getuid():
        return keep
    channel = _Channel(conn)
    challenge = os.urandom(16).hex()
    channel.send({"challenge": challenge})
    hello = channel.receive()
    if (not hello or hello.get("settings") != _shared(session.settings)
            or not hmac.compare_digest(str(hello.get("proof", "")), _proof(session.settings, challenge))):
        channel.send({"ok": False})
        return keep
    channel.send({"ok": True, "proof": _proof(session.settings, str(hello.get("challenge", "")))})
    while True:
        request = channel.receive()
        if request is None:  # the module run ended without saying so (killed): keep the pool as it asked before
            return keep
        op = request.get("op")
        if op == "done":
            keep = max(0, min(int(request.get("keep") or 0), _session.KEEP_SESSION_MAX))
            try:
                channel.send({"ok": True})
            except OSError:
                pass
            return keep
        seen = len(session.warnings)
        answer: dict[str, Any] = {"ok": True}
        try:
            if op == "run":
                errors: Optional[list] = [] if request.get("errors") else None
                answer["records"] = session.run_pipeline(request["commands"],
                                                         input=request.get("input"), errors=errors)
                answer["errors"] = [_error_message(err) for err in errors or []]
            elif op == "reconnect":
                session.reconnect()
            else:
                raise _session.ExchangeError("the shared Exchange session got an unknown request %r" % op)
        except Exception as err:
            answer = {"ok": False, "error": _error_message(err)}
        answer["warnings"] = session.warnings[seen:]
        del session.warnings[seen:]
        channel.send(answer)

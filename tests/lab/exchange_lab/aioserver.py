"""An asyncio server on a listening socket, in a daemon thread with its own event loop.

The lab's two SMTP servers (the organisation's receive connector and the test smart host) both
run aiosmtpd this way, so that they start and stop from plain threaded code (the lab process,
pytest fixtures) and can be restarted on the same port.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import typing as t


def listening_socket(host: str, port: int, backlog: int = 64) -> socket.socket:
    """Bind and listen on ``host:port`` (0: any free port), non-blocking; raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class ServerThread:
    """Serve ``factory`` protocols on ``sock`` until :meth:`stop`; ``loop`` is the server's loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, sock: socket.socket, factory: t.Callable[[], asyncio.BaseProtocol],
              ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0) -> None:
        """Start serving; raises OSError when the server could not start (the socket is closed)."""
        self._error = None
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, factory, ssl_context, started), name=self.name, daemon=True)
        self._thread.start()
        started.wait(timeout)
        if self._error is not None or self._server is None:
            error = self._error
            self.stop()
            sock.close()
            raise OSError(f"{self.name} failed to start: {error or 'timed out'}")

    def _run(self, sock: socket.socket, factory: t.Callable[[], asyncio.BaseProtocol],
             ssl_context: ssl.SSLContext | None, started: threading.Event) -> None:
        loop = self.loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(loop.create_server(factory, sock=sock, ssl=ssl_context))
        except BaseException as exc:  # reported by start()  # noqa: BLE001
            self._error = exc
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = list(asyncio.all_tasks(loop))
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and close every open session; safe to call twice."""
        if self._thread is None:
            return
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._server = None
        self.loop = None

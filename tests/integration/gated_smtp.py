"""SMTP servers that greet only once every one of them has a client, so that only probes made at the same time
get a banner (a sequential probe cannot pass; no timings asserted). Used by the probe engine's and smtp_probe's
concurrency tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import typing as t


def _gated_server(listener: socket.socket, barrier: threading.Barrier, wait: float) -> None:
    """Greet the one client only once every gated server has a client; then answer EHLO/QUIT."""
    try:
        conn = listener.accept()[0]
    except OSError:  # closed before a client came
        return
    try:
        barrier.wait(timeout=wait)
    except threading.BrokenBarrierError:
        conn.close()
        return
    with conn, conn.makefile("rb") as reader:
        conn.sendall(b"220 gated.test ESMTP\r\n")
        for line in reader:
            if line.upper().startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            conn.sendall(b"250 gated.test\r\n")


@contextlib.contextmanager
def gated_servers(count: int, wait: float = 20) -> t.Iterator[list[int]]:
    """``count`` gated servers on loopback (their ports), closed when the block ends, also on failure. A server
    whose barrier is not complete within ``wait`` seconds hangs up without a greeting."""
    barrier = threading.Barrier(count)
    listeners = []
    try:
        for _index in range(count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            listeners.append(listener)
            threading.Thread(target=_gated_server, args=(listener, barrier, wait), daemon=True).start()
        yield [listener.getsockname()[1] for listener in listeners]
    finally:
        for listener in listeners:
            listener.close()

"""An HTTP endpoint on 127.0.0.1 that answers well, or badly on purpose: a byte at a time,
or 100 MB. Plain sockets, so the bytes on the wire are exactly the ones chosen."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

__all__ = ["Behaviour", "MisbehavingServer"]

Behaviour = Literal["ok", "trickle_head", "trickle_body", "huge_with_length", "huge_unframed"]
HUGE = 100 * 1024 * 1024


class MisbehavingServer:
    """Answers each GET by `behaviour` (changeable mid-test); the first `good_first`
    requests are answered well whatever it says."""

    def __init__(
        self,
        body: bytes = b"{}",
        behaviour: Behaviour = "ok",
        *,
        good_first: int = 0,
        trickle_every: float = 1.0,
    ) -> None:
        self.body = body
        self.behaviour: Behaviour = behaviour
        self.trickle_every = trickle_every
        self.requests = 0
        self.bytes_sent = 0
        self._good_first = good_first
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/") -> str:
        """The URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            with self._lock:
                self.requests += 1
                good = self.requests <= self._good_first
            behaviour = "ok" if good else self.behaviour
            if behaviour == "ok":
                self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
                self._send(conn, self.body)
            elif behaviour == "trickle_head":
                self._send(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self._trickle(conn)
            elif behaviour == "trickle_body":
                self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                self._trickle(conn)
            else:
                announced = behaviour == "huge_with_length"
                length = b"Content-Length: %d\r\n" % HUGE if announced else b""
                self._send(conn, b"HTTP/1.1 200 OK\r\n" + length + b"Connection: close\r\n\r\n")
                block = b"0" * 65536
                for _ in range(HUGE // len(block)):  # until the client hangs up
                    self._send(conn, block)

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def _trickle(self, conn: socket.socket) -> None:
        """A byte every `trickle_every` seconds, until the client hangs up or we stop."""
        while not self._stopped.is_set():
            self._send(conn, b"a")
            self._stopped.wait(self.trickle_every)

    def close(self) -> None:
        """Stop answering (trickles end within one interval)."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone may not)
        self._listener.close()

    def __enter__(self) -> MisbehavingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

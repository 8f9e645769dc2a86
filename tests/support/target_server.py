"""A real HTTP/1.1 target server on 127.0.0.1 that misbehaves on purpose.

Written on raw ``asyncio.Protocol`` + ``httptools`` rather than a framework because the
faults we need (an RST in the middle of the headers, an unparsable status line, a server
that never answers, a stop-the-world stall) are exactly what frameworks refuse to do.

The server runs its own event loop in a daemon thread, so a test (or a subprocess load
run) talks to it through real sockets. Counters are updated on the server thread under a
lock and read from the test thread as snapshots.

Behaviours, chosen by path (query string carries parameters):

==============================  ======================================================
``/ok``                         200, ~200-byte JSON body, keep-alive
``/delay?ms=50``                200 after that many milliseconds
``/serial?ms=5``                one request at a time server-wide, ms each (capacity 1000/ms per s)
``/status?code=503``            that status, small JSON body
``/close``                      200 with ``Connection: close``, then closes
``/reset``                      status line + part of the headers, then RST
``/hang``                       never answers, keeps the connection open
``/eof-body``                   200 with no length: the body ends at the close
``/cut-body``                   Content-Length 1000, 10 bytes sent, then a clean close
``/malformed``                  ``HTTP/1.1 abc garbage``, then keeps the connection
``/big?mb=50``                  200 with a Content-Length body of that many MiB, streamed
``/chunked``                    200, ``Transfer-Encoding: chunked``, a few chunks
``/head-ok``                    200 with Content-Length (no body for HEAD)
``/nocontent``                  204
``/stall?every=3&ms=1000``      holds responses during a ``ms`` window every ``every`` s
``/idle-close?after_ms=200``    200, then closes the connection after that idle time
``/echo``                       200, JSON of the request's method, headers and body
``/trickle?piece=1&ms=2``       200, every byte of head and body trickled in pieces
``/slowloris?ms=10``            a head that never ends, one byte every ``ms``
``/endless-headers?kb=8&ms=1``  header lines, ``kb`` KiB every ``ms``, forever
``/headers?n=150``              200 with ``n`` header lines
``/tiny-chunks?n=1000``         chunked 200 of ``n`` one-byte chunks
``/endless-body?kb=1&ms=5``     200 without a length, then body bytes forever
``/interims?n=3&code=100``      ``n`` interim (1xx) responses, then a 200
``/switch?upgrade=1``           101 Switching Protocols, unasked
``/stray?ms=20``                200, then an unasked response on the idle connection
``/half-close?cut=0``           a response, then the server shuts its sending side
anything else                   404
==============================  ======================================================

(The hostile behaviours are in ``hostile_routes``.) ``greeting=`` makes the server speak
first on every connection, before any request, as an SSH or SMTP server does.

Any behaviour answers a HEAD request without a body (headers unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator

from support.target_protocol import (
    CHUNKED_BODY,
    MALFORMED_RESPONSE,
    MIB,
    OK_BODY,
    RESET_PREFIX,
    ReceivedRequest,
    TargetConnection,
)

__all__ = [
    "CHUNKED_BODY",
    "MALFORMED_RESPONSE",
    "MIB",
    "OK_BODY",
    "RESET_PREFIX",
    "ReceivedRequest",
    "TargetServer",
    "port_blackholed",
    "port_refusing",
]


def port_refusing() -> int:
    """Return a 127.0.0.1 port where nothing listens (connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def port_blackholed() -> Iterator[int]:
    """Yield a 127.0.0.1 port whose connects hang (the SYN is dropped) until they time out.

    A listener with backlog 0 that never accepts: once one connection fills its accept
    queue, Linux drops further SYNs instead of refusing them, so a client's connect
    neither succeeds nor fails until its own connect timeout.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        filler.settimeout(2)
        filler.connect(("127.0.0.1", port))
        yield port
    finally:
        filler.close()
        listener.close()


class TargetServer:
    """An HTTP/1.1 server on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        greeting: bytes = b"",
    ) -> None:
        self.host = host
        self.greeting = greeting  # written on every connection as soon as it is made
        self.ssl_context = ssl_context
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.start_time = time.monotonic()
        # When /stall windows start (monotonic seconds); None means at start_time.
        self.stall_origin: float | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[TargetConnection] = set()
        self._lock = threading.Lock()
        self._requests_seen = 0
        self._messages_complete = 0
        self._by_path: Counter[str] = Counter()
        self._by_method: Counter[str] = Counter()
        self._connections_opened = 0
        # Requests per connection, keyed by a serial number in the order opened.
        self._per_connection: dict[int, int] = {}
        self._serial = 0
        self._idle_closes = 0
        self.serial_free_at = 0.0  # /serial: when the one simulated worker is next free
        self._holds: list[float] = []
        self._peak_write_buffer = 0
        self._echoes: list[ReceivedRequest] = []
        self._requests: deque[ReceivedRequest] = deque(maxlen=1000)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> TargetServer:
        """Bind a free port and start serving; returns once the socket listens."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self._server = self.loop.run_until_complete(
                    self.loop.create_server(
                        lambda: TargetConnection(self),
                        self.host,
                        0,
                        ssl=self.ssl_context,
                        backlog=1024,
                    )
                )
                self.port = self._server.sockets[0].getsockname()[1]
                self.start_time = time.monotonic()
            except BaseException as exc:  # surfaced to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._shutdown())
            self.loop.close()

        self._thread = threading.Thread(target=run, name=f"target-server-{id(self)}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("target server did not start within 10 s")
        if failure:
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await asyncio.sleep(0)

    def stop(self) -> None:
        """Abort every connection, close the listener and join the server thread."""
        if self._thread is None:
            return
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> TargetServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use -------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    def url(self, path: str = "/ok") -> str:
        """The absolute URL of ``path`` on this server."""
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    @property
    def requests_seen(self) -> int:
        """Requests whose headers were parsed (counted even if never answered)."""
        with self._lock:
            return self._requests_seen

    @property
    def messages_complete(self) -> int:
        """Requests whose whole message (body included) was parsed."""
        with self._lock:
            return self._messages_complete

    @property
    def requests_by_path(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_path)

    @property
    def requests_by_method(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_method)

    @property
    def connections_opened(self) -> int:
        with self._lock:
            return self._connections_opened

    @property
    def requests_per_connection(self) -> list[int]:
        """How many requests each connection carried, in the order they were opened."""
        with self._lock:
            return list(self._per_connection.values())

    @property
    def connections_open(self) -> int:
        """Connections open right now."""
        with self._lock:
            return len(self._connections)

    @property
    def idle_closes(self) -> int:
        """Connections /idle-close closed for being idle."""
        with self._lock:
            return self._idle_closes

    @property
    def stall_holds(self) -> list[float]:
        """For each /stall request, how long the server held it (seconds, 0 if not held)."""
        with self._lock:
            return list(self._holds)

    @property
    def peak_write_buffer(self) -> int:
        """The most bytes a streaming (/big) response ever had queued in user space."""
        return self._peak_write_buffer

    @property
    def echoes(self) -> list[ReceivedRequest]:
        """Every /echo request received, in order."""
        with self._lock:
            return list(self._echoes)

    @property
    def last_echo(self) -> ReceivedRequest | None:
        with self._lock:
            return self._echoes[-1] if self._echoes else None

    @property
    def recent_requests(self) -> list[ReceivedRequest]:
        """The last 1000 requests (headers complete), oldest first."""
        with self._lock:
            return list(self._requests)

    def reset_counts(self) -> None:
        """Zero every counter and forget recorded requests."""
        with self._lock:
            self._requests_seen = 0
            self._messages_complete = 0
            self._by_path.clear()
            self._by_method.clear()
            self._connections_opened = 0
            self._per_connection.clear()
            self._idle_closes = 0
            self._holds.clear()
            self._peak_write_buffer = 0
            self._echoes.clear()
            self._requests.clear()

    def wait_for(self, predicate: Callable[[TargetServer], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate(self)`` until true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    def stall_hold(self, every: float, window: float, now: float | None = None) -> float:
        """How long a /stall response arriving at ``now`` is held (0 outside a stall).

        Stall windows open at ``stall_origin`` (the server's start unless a test moves
        it) and every ``every`` seconds after; before ``stall_origin`` nothing stalls.
        """
        if every <= 0 or window <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        origin = self.start_time if self.stall_origin is None else self.stall_origin
        if now < origin:
            return 0.0
        phase = (now - origin) % every
        return window - phase if phase < window else 0.0

    # -- called on the server thread ------------------------------------------------------

    def _connection_made(self, conn: TargetConnection) -> None:
        with self._lock:
            self._connections.add(conn)
            self._connections_opened += 1
            self._serial += 1
            conn.serial = self._serial
            self._per_connection[conn.serial] = 0

    def _connection_lost(self, conn: TargetConnection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _count_request(self, request: ReceivedRequest, conn: TargetConnection) -> None:
        with self._lock:
            self._per_connection[conn.serial] = self._per_connection.get(conn.serial, 0) + 1
            self._requests_seen += 1
            self._by_path[request.path] += 1
            self._by_method[request.method] += 1
            self._requests.append(request)

    def _message_complete(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._messages_complete += 1

    def _record_hold(self, hold: float) -> None:
        with self._lock:
            self._holds.append(hold)

    def _record_echo(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._echoes.append(request)

    def _note_write_buffer(self, size: int) -> None:
        if size > self._peak_write_buffer:
            self._peak_write_buffer = size

    def _count_idle_close(self) -> None:
        with self._lock:
            self._idle_closes += 1

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
``/status?code=503``            that status, small JSON body
``/close``                      200 with ``Connection: close``, then closes
``/reset``                      status line + part of the headers, then RST
``/hang``                       never answers, keeps the connection open
``/malformed``                  ``HTTP/1.1 abc garbage``, then keeps the connection
``/big?mb=50``                  200 with a Content-Length body of that many MiB, streamed
``/chunked``                    200, ``Transfer-Encoding: chunked``, a few chunks
``/head-ok``                    200 with Content-Length (no body for HEAD)
``/nocontent``                  204
``/stall?every=3&ms=1000``      holds responses during a ``ms`` window every ``every`` s
``/idle-close?after_ms=200``    200, then closes the connection after that idle time
``/echo``                       200, JSON of the request's method, headers and body
anything else                   404
==============================  ======================================================

Any behaviour answers a HEAD request without a body (headers unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools

__all__ = [
    "MIB",
    "OK_BODY",
    "ReceivedRequest",
    "TargetServer",
    "port_blackholed",
    "port_refusing",
    "running_server",
]

MIB = 1024 * 1024

# ~200 bytes of JSON, the same for every /ok answer so tests can predict bytes_in.
OK_BODY = json.dumps(
    {
        "status": "ok",
        "service": "loadlens-target",
        "items": [{"id": i, "name": f"item-{i}", "price": 10 + i} for i in range(3)],
        "note": "a small JSON body of about two hundred bytes",
    }
).encode()

CHUNKS = (b'{"chunked": true, ', b'"parts": [1, 2, 3], ', b'"note": "sent in pieces"}')
CHUNKED_BODY = b"".join(CHUNKS)

# The partial response /reset sends before the RST: a status line and half a header block.
RESET_PREFIX = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Le"
MALFORMED_RESPONSE = b"HTTP/1.1 abc garbage\r\n\r\n"

_BIG_CHUNK = b"x" * (256 * 1024)
_ECHO_BODY_LIMIT = 1 * MIB


@dataclass
class ReceivedRequest:
    """One request as the server parsed it (headers complete; body once the message is)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    http_version: str = "1.1"
    body: bytearray = field(default_factory=bytearray)
    body_length: int = 0
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        """Return the first header with this name (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


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


def _qint(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(float(query.get(name, default)))
    except ValueError:
        return default


def _qfloat(query: dict[str, str], name: str, default: float) -> float:
    try:
        return float(query.get(name, default))
    except ValueError:
        return default


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them strictly in order."""

    def __init__(self, server: TargetServer) -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # Pipelined requests wait here; only one is being answered at a time.
        self.pending: deque[ReceivedRequest] = deque()
        self.busy = False
        self.current: ReceivedRequest | None = None
        self._url = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        # Flow control for /big: set while the transport's buffer is over its high mark.
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._writer_task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=256 * 1024, low=64 * 1024)
        self.server._connection_made(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close()
        except httptools.HttpParserError:
            if not self.closed and self.transport is not None:
                self.transport.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self._close()

    def eof_received(self) -> bool:
        # The client half-closed: finish what is queued, then close (returning False
        # would close immediately, which is also fine for every behaviour we have).
        return False

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._writer_task is not None:
            self._writer_task.cancel()
        self._can_write.set()
        self.server._connection_lost(self)

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = bytearray()
        self._headers = []
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        target = self._url.decode("latin-1")
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = ReceivedRequest(
            method=self.parser.get_method().decode("ascii", "replace"),
            target=target,
            path=parts.path or "/",
            query=query,
            headers=self._headers,
            http_version=self.parser.get_http_version(),
        )
        self.current = request
        # Counted here, not when answered, so /hang and /reset requests count too.
        self.server._count_request(request)

    def on_body(self, body: bytes) -> None:
        request = self.current
        if request is None:
            return
        request.body_length += len(body)
        if request.path == "/echo" and len(request.body) < _ECHO_BODY_LIMIT:
            request.body += body

    def on_message_complete(self) -> None:
        request = self.current
        if request is None:
            return
        request.keep_alive = self.parser.should_keep_alive()
        self.current = None
        self.server._message_complete(request)
        self.pending.append(request)
        if not self.busy:
            self._answer_next()

    # -- answering ------------------------------------------------------------------------

    def _answer_next(self) -> None:
        while self.pending and not self.busy and not self.closed:
            request = self.pending.popleft()
            self.busy = True
            self._dispatch(request)

    def _done(self, request: ReceivedRequest, *, close: bool = False) -> None:
        """The response to ``request`` is fully written: close or serve the next one."""
        self.busy = False
        if close or not request.keep_alive:
            self._close()
            return
        self._answer_next()

    def _close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            if not self.closed:
                callback()

        handle = self.loop.call_later(max(0.0, delay), fire)
        holder.append(handle)
        self._timers.add(handle)

    def _respond(
        self,
        request: ReceivedRequest,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        extra_headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        if self.closed or self.transport is None:
            return
        close = close or not request.keep_alive
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", "Server: loadlens-target"]
        if status != 204 and not 100 <= status < 200 and status != 304:
            lines.append(f"Content-Type: {content_type}")
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in extra_headers)
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if request.method == "HEAD" or status == 204 or status == 304:
            body = b""
        self.transport.write(head + body)
        self._done(request, close=close)

    def _dispatch(self, request: ReceivedRequest) -> None:
        handler = _ROUTES.get(request.path)
        if handler is None:
            self._respond(request, 404, b'{"error": "not found"}')
            return
        handler(self, request)

    # -- behaviours -----------------------------------------------------------------------

    def _ok(self, request: ReceivedRequest) -> None:
        self._respond(request, 200, OK_BODY)

    def _delay(self, request: ReceivedRequest) -> None:
        ms = _qfloat(request.query, "ms", 50.0)
        self._later(ms / 1000.0, lambda: self._respond(request, 200, b'{"delayed_ms": %d}' % ms))

    def _status(self, request: ReceivedRequest) -> None:
        code = _qint(request.query, "code", 200)
        if not 200 <= code <= 999:
            # An interim (1xx) status alone would leave the client waiting for a final one.
            code = 500
        self._respond(request, code, b'{"status": %d}' % code)

    def _close_after(self, request: ReceivedRequest) -> None:
        self._respond(request, 200, OK_BODY, close=True)

    def _reset(self, request: ReceivedRequest) -> None:
        assert self.transport is not None
        self.transport.write(RESET_PREFIX)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER (on, 0 s): close() discards the send queue and sends RST, not FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.transport.abort()

    def _hang(self, request: ReceivedRequest) -> None:
        # Never answer, never free the connection: busy stays True.
        pass

    def _malformed(self, request: ReceivedRequest) -> None:
        assert self.transport is not None
        self.transport.write(MALFORMED_RESPONSE)
        # Keep the connection open and answer nothing more on it.

    def _big(self, request: ReceivedRequest) -> None:
        size = int(_qfloat(request.query, "mb", 1.0) * MIB)
        head = (
            "HTTP/1.1 200 OK\r\nServer: loadlens-target\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n"
            + ("Connection: close\r\n" if not request.keep_alive else "")
            + "\r\n"
        ).encode("latin-1")
        assert self.transport is not None
        self.transport.write(head)
        if request.method == "HEAD" or size == 0:
            self._done(request)
            return
        self._writer_task = self.loop.create_task(self._stream(request, size))

    async def _stream(self, request: ReceivedRequest, size: int) -> None:
        # Written in fixed chunks, waiting whenever the transport says pause_writing, so a
        # 50 MiB body never exists in memory at once (here or in the kernel buffers).
        view = memoryview(_BIG_CHUNK)
        remaining = size
        while remaining > 0:
            await self._can_write.wait()
            if self.closed or self.transport is None:
                return
            n = min(remaining, len(view))
            self.transport.write(view[:n])
            remaining -= n
            self.server._note_write_buffer(self.transport.get_write_buffer_size())
        self._writer_task = None
        self._done(request)

    def _chunked(self, request: ReceivedRequest) -> None:
        assert self.transport is not None
        head = (
            b"HTTP/1.1 200 OK\r\nServer: loadlens-target\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n"
            + (b"Connection: close\r\n" if not request.keep_alive else b"")
            + b"\r\n"
        )
        self.transport.write(head)
        if request.method == "HEAD":
            self._done(request)
            return
        for chunk in CHUNKS:
            self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.transport.write(b"0\r\n\r\n")
        self._done(request)

    def _head_ok(self, request: ReceivedRequest) -> None:
        self._respond(request, 200, OK_BODY)

    def _nocontent(self, request: ReceivedRequest) -> None:
        self._respond(request, 204)

    def _stall(self, request: ReceivedRequest) -> None:
        every = _qfloat(request.query, "every", 3.0)
        window = _qfloat(request.query, "ms", 1000.0) / 1000.0
        hold = self.server.stall_hold(every, window)
        self.server._record_hold(hold)
        if hold <= 0:
            self._respond(request, 200, b'{"held_ms": 0}')
            return
        body = b'{"held_ms": %d}' % round(hold * 1000)
        self._later(hold, lambda: self._respond(request, 200, body))

    def _idle_close(self, request: ReceivedRequest) -> None:
        after = _qfloat(request.query, "after_ms", 200.0) / 1000.0
        self._respond(request, 200, OK_BODY)
        if self.closed or self.pending or self.busy:
            return
        self._idle_timer = self.loop.call_later(after, self._close_idle)

    def _close_idle(self) -> None:
        self._idle_timer = None
        if not self.busy and not self.pending and self.current is None:
            self.server._count_idle_close()
            self._close()

    def _echo(self, request: ReceivedRequest) -> None:
        self.server._record_echo(request)
        body = json.dumps(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": {k.lower(): v for k, v in request.headers},
                "body_length": request.body_length,
                "body": request.body.decode("utf-8", "replace"),
            }
        ).encode()
        self._respond(request, 200, body)


_ROUTES: dict[str, Callable[[_Connection, ReceivedRequest], None]] = {
    "/ok": _Connection._ok,
    "/delay": _Connection._delay,
    "/status": _Connection._status,
    "/close": _Connection._close_after,
    "/reset": _Connection._reset,
    "/hang": _Connection._hang,
    "/malformed": _Connection._malformed,
    "/big": _Connection._big,
    "/chunked": _Connection._chunked,
    "/head-ok": _Connection._head_ok,
    "/nocontent": _Connection._nocontent,
    "/stall": _Connection._stall,
    "/idle-close": _Connection._idle_close,
    "/echo": _Connection._echo,
}


class TargetServer:
    """An HTTP/1.1 server on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.start_time = time.monotonic()
        # When /stall windows start (monotonic seconds); None means at start_time.
        self.stall_origin: float | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._requests_seen = 0
        self._messages_complete = 0
        self._by_path: Counter[str] = Counter()
        self._by_method: Counter[str] = Counter()
        self._connections_opened = 0
        self._idle_closes = 0
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
                        lambda: _Connection(self),
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

    def _connection_made(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.add(conn)
            self._connections_opened += 1

    def _connection_lost(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _count_request(self, request: ReceivedRequest) -> None:
        with self._lock:
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


@contextlib.contextmanager
def running_server(ssl_context: ssl.SSLContext | None = None) -> Iterator[TargetServer]:
    """Start a TargetServer for the duration of the ``with`` block."""
    server = TargetServer(ssl_context=ssl_context)
    with server:
        yield server


def describe(server: TargetServer) -> dict[str, Any]:
    """A snapshot of the server's counters, for assertion messages."""
    return {
        "requests_seen": server.requests_seen,
        "by_path": server.requests_by_path,
        "connections_opened": server.connections_opened,
        "connections_open": server.connections_open,
    }

"""The target server's connection protocol: parses requests, misbehaves on purpose.

One ``TargetConnection`` per client connection, on raw ``asyncio.Protocol`` + ``httptools``
(a framework would refuse to send an RST mid-headers or an unparsable status line). The
behaviours are listed in ``target_server``'s docstring; each is one method here, chosen by
path in ``ROUTES``. Responses go out strictly in request order (pipelining is allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httptools

from support.hostile_routes import HOSTILE_ROUTES

EOF_BODY = b"a body that ends when the server closes the connection\n" * 20

if TYPE_CHECKING:
    from support.target_server import TargetServer

__all__ = [
    "CHUNKED_BODY",
    "EOF_BODY",
    "MALFORMED_RESPONSE",
    "MIB",
    "OK_BODY",
    "RESET_PREFIX",
    "ROUTES",
    "ReceivedRequest",
    "TargetConnection",
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


class TargetConnection(asyncio.Protocol):
    """One client connection: parses requests, answers them strictly in order."""

    def __init__(self, server: TargetServer) -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.serial = 0  # set by the server when the connection is made
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
        if self.server.greeting:
            transport.write(self.server.greeting)  # before any request: not HTTP at all

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
        self.server._count_request(request, self)

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
        handler = ROUTES.get(request.path)
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

    def _serial(self, request: ReceivedRequest) -> None:
        # One request at a time across all connections, `ms` each: a server whose capacity
        # is exactly 1000/ms requests per second, and whose latency grows past it.
        ms = _qfloat(request.query, "ms", 5.0)
        now = self.loop.time()
        done = max(now, self.server.serial_free_at) + ms / 1000.0
        self.server.serial_free_at = done
        self._later(done - now, lambda: self._respond(request, 200, b'{"serial": true}'))

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

    def _eof_body(self, request: ReceivedRequest) -> None:
        # No Content-Length, not chunked: the body ends where the connection closes.
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + EOF_BODY)
        self._close()

    def _cut_body(self, request: ReceivedRequest) -> None:
        # Declares 1000 bytes, sends 10, closes cleanly: a truncated response.
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        self._close()

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


ROUTES: dict[str, Callable[[TargetConnection, ReceivedRequest], None]] = {
    "/ok": TargetConnection._ok,
    "/delay": TargetConnection._delay,
    "/serial": TargetConnection._serial,
    "/status": TargetConnection._status,
    "/close": TargetConnection._close_after,
    "/reset": TargetConnection._reset,
    "/hang": TargetConnection._hang,
    "/malformed": TargetConnection._malformed,
    "/eof-body": TargetConnection._eof_body,
    "/cut-body": TargetConnection._cut_body,
    "/big": TargetConnection._big,
    "/chunked": TargetConnection._chunked,
    "/head-ok": TargetConnection._head_ok,
    "/nocontent": TargetConnection._nocontent,
    "/stall": TargetConnection._stall,
    "/idle-close": TargetConnection._idle_close,
    "/echo": TargetConnection._echo,
    **HOSTILE_ROUTES,
}

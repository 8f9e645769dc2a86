"""The target server's hostile behaviours: responses that trickle, never end, flood
headers or interim responses, switch protocols unasked, or speak out of turn.

Each is one function of (connection, request), listed in ``HOSTILE_ROUTES`` and served by
``target_protocol`` beside the well-behaved routes. Writes are paced by the connection's
own timers (cancelled when the client goes), so an endless behaviour ends with its
connection and never outlives the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.target_protocol import ReceivedRequest, TargetConnection

__all__ = ["HOSTILE_ROUTES", "STRAY_RESPONSE"]

# What /stray sends on an idle connection, after its real answer.
STRAY_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"
_CLOSE_DELIMITED_BODY = b"a body that ends where the server shuts its side\n" * 20


def _int(request: ReceivedRequest, name: str, default: int) -> int:
    try:
        return int(float(request.query.get(name, default)))
    except ValueError:
        return default


def _drip(
    conn: TargetConnection, request: ReceivedRequest, pieces: Iterator[bytes], every_ms: int
) -> None:
    """Write one piece now and the next every `every_ms`, until they run out (if ever)."""

    def step() -> None:
        piece = next(pieces, None)
        if piece is None:
            conn._done(request)
            return
        assert conn.transport is not None
        conn.transport.write(piece)
        conn._later(every_ms / 1000.0, step)

    step()


def _trickle(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/trickle?piece=1&ms=2&body=100: a 200 whose every byte, head and body alike, comes
    `piece` bytes at a time, `ms` apart (a head split across reads; a trickled body)."""
    size = _int(request, "body", 100)
    data = (
        b"HTTP/1.1 200 OK\r\nServer-Timing: app;dur=7\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (size, b"t" * size)
    )
    piece = max(1, _int(request, "piece", 1))
    chunks = (data[i : i + piece] for i in range(0, len(data), piece))
    _drip(conn, request, chunks, _int(request, "ms", 2))


def _slowloris(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/slowloris?ms=10: a status line, then one byte of a header every `ms`, forever."""
    assert conn.transport is not None
    conn.transport.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    _drip(conn, request, itertools.repeat(b"z"), _int(request, "ms", 10))


def _endless_headers(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/endless-headers?kb=8&ms=1: a status line, then `kb` KiB of header lines every
    `ms`, forever (the head never ends)."""
    assert conn.transport is not None
    conn.transport.write(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Filler: " + b"f" * 52 + b"\r\n"  # 64 bytes
    block = line * (_int(request, "kb", 8) * 16)
    _drip(conn, request, itertools.repeat(block), _int(request, "ms", 1))


def _headers(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/headers?n=150: a 200 with `n` header lines (Content-Length is one of them)."""
    lines = b"".join(b"X-Header-%d: %d\r\n" % (i, i) for i in range(_int(request, "n", 150) - 1))
    assert conn.transport is not None
    conn.transport.write(b"HTTP/1.1 200 OK\r\n%sContent-Length: 2\r\n\r\nok" % lines)
    conn._done(request)


def _tiny_chunks(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/tiny-chunks?n=1000: a chunked 200 of `n` one-byte chunks (a JSON string's
    characters), written at once."""
    n = _int(request, "n", 1000)
    text = b'"' + b"c" * max(0, n - 2) + b'"'
    chunks = b"".join(b"1\r\n%c\r\n" % byte for byte in text)
    assert conn.transport is not None
    conn.transport.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    conn._done(request)


def _endless_body(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/endless-body?kb=1&ms=5: a 200 without a length (its body ends at the close), then
    `kb` KiB every `ms`, forever."""
    assert conn.transport is not None
    conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    block = b"e" * (_int(request, "kb", 1) * 1024)
    _drip(conn, request, itertools.repeat(block), _int(request, "ms", 5))


def _interims(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/interims?n=3&code=100: `n` interim responses (100 Continue, or 103 Early Hints
    with a Link header), then a 200."""
    if _int(request, "code", 100) == 103:
        interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    else:
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert conn.transport is not None
    conn.transport.write(
        interim * _int(request, "n", 3) + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    conn._done(request)


def _switch(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/switch?upgrade=1: 101 Switching Protocols nobody asked for (with an Upgrade
    header, or without), then a WebSocket frame; the connection is kept open."""
    upgrade = (
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n" if _int(request, "upgrade", 1) else b""
    )
    assert conn.transport is not None
    conn.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n%s\r\n\x81\x05hello" % upgrade)


def _stray(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/stray?ms=20: a 200, then, `ms` later on the idle connection, a response nobody
    asked for."""

    def stray() -> None:
        if conn.transport is not None and not conn.busy:
            conn.transport.write(STRAY_RESPONSE)

    conn._respond(request, 200, b"{}")
    conn._later(_int(request, "ms", 20) / 1000.0, stray)


def _half_close(conn: TargetConnection, request: ReceivedRequest) -> None:
    """/half-close?cut=0: a response, then the server shuts its sending side (FIN) and
    keeps reading: a body that ends there (no length), or, cut=1, one the FIN cuts short
    of its Content-Length."""
    assert conn.transport is not None
    if _int(request, "cut", 0):
        conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    else:
        conn.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + _CLOSE_DELIMITED_BODY
        )
    conn.transport.write_eof()


HOSTILE_ROUTES: dict[str, Callable[[TargetConnection, ReceivedRequest], None]] = {
    "/trickle": _trickle,
    "/slowloris": _slowloris,
    "/endless-headers": _endless_headers,
    "/headers": _headers,
    "/tiny-chunks": _tiny_chunks,
    "/endless-body": _endless_body,
    "/interims": _interims,
    "/switch": _switch,
    "/stray": _stray,
    "/half-close": _half_close,
}

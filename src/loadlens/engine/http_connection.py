"""One keep-alive HTTP/1.1 client connection on httptools (llhttp) over asyncio/uvloop.

Written by hand because it is the engine's hot path: a general-purpose client (aiohttp,
httpx) costs 10-100x more CPU per request, which would make loadlens, not the target, the
bottleneck. Parsing stays in llhttp; this module only moves bytes and counts them.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable

import httptools

from loadlens.engine.request_errors import (
    RequestFailed,
    classify_connect_error,
    classify_lost_connection,
)
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_framing import MAX_HEAD, ends_at_close
from loadlens.metrics.request_result import ErrorKind

__all__ = ["HttpConnection", "ResponseCallback", "open_connection"]


_END_OF_HEAD = b"\r\n\r\n"

ResponseCallback = Callable[["HttpConnection", int, RequestFailed | None], None]


class HttpConnection(asyncio.Protocol):
    """A client connection that carries one request at a time (no pipelining).

    `send()` takes a callback rather than returning a future: the response is handed over
    straight from data_received, with no future, task wake-up or coroutine resumption in
    between (those cost a third of a request's CPU, measured at 1000 users). The callback
    runs exactly once per send: `(connection, status, None)` for a complete response, or
    `(connection, 0, RequestFailed)`; never from inside the parser.
    """

    __slots__ = (
        "_capture",
        "_capture_parsers",
        "_head_open",
        "_loop",
        "_on_response",
        "_parser",
        "_plain_parser",
        "_reset_parser",
        "_status",
        "_timer",
        "_timer_at",
        "_transport",
        "bytes_in",
        "closed",
        "deadline",
        "head",
        "keep_alive",
        "requests_sent",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._transport: asyncio.Transport | None = None
        # Reports to this connection, and only when a message completes: the fast parser.
        self._plain_parser = self._parser = httptools.HttpResponseParser(self)
        self._capture: ResponseCapture | None = None  # the current response's, if kept
        # Parsers reporting to a user's body-keeping capture.
        self._capture_parsers: dict[ResponseCapture, httptools.HttpResponseParser] = {}
        self._on_response: ResponseCallback | None = None
        self._reset_parser = False
        self._status = 0
        self.head = b""  # the current response's head, for ends_at_close and Server-Timing
        self._head_open = False  # the head is not all in `head` yet
        self.deadline = 0.0
        self.bytes_in = 0
        self.keep_alive = True
        self.closed = False
        self.requests_sent = 0

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Feed response bytes to llhttp; every byte counts toward bytes_in."""
        if not self.bytes_in:
            self.head = data  # a reference, not a copy
            # Most heads arrive whole in the first read, with the whole response: whether
            # it is whole is only looked at when another read comes (_gather_head).
            self._head_open = True
        elif self._head_open:
            self._gather_head(data)
        self.bytes_in += len(data)
        if self._on_response is None:
            # Bytes nobody asked for: the server is out of step with us. The connection
            # cannot be trusted for the next request.
            self.close()
            return
        capture = self._capture
        if capture is not None and not capture.head_done:
            capture.feed_head(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self.close()
            if self._status:
                # Junk after a complete response, in the same read: the response stands
                # (as it would had the junk come in the next read), the connection goes.
                self.keep_alive = False
                self._deliver(self._status, None)
            else:
                self._deliver(0, RequestFailed(ErrorKind.PROTOCOL, str(e)))
            return
        if self._reset_parser:
            self._reset_parser = False
            # The HEAD parser expects a body that will never come; the fast parser, idle
            # at a message boundary, takes the next response.
            self._parser = self._plain_parser
        status = self._status
        if status:
            callback = self._on_response  # _deliver, inlined: once per response
            self._on_response = None
            if capture is not None:
                self._capture = None  # (the user keeps it; this connection must not feed it)
            callback(self, status, None)

    def eof_received(self) -> bool | None:
        """Let the transport close; connection_lost decides what the EOF meant."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail (or, if it ends at the close, complete) the pending request."""
        self.closed = True
        self._cancel_timer()
        if self._on_response is None:
            return
        if exc is None and self.bytes_in:
            status = ends_at_close(self.head)
            if status:
                self.keep_alive = False
                self._deliver(status, None)
                return
        # Nothing received on a connection that already served a request: the server
        # closed an idle keep-alive connection as we sent. Safe to retry once.
        retryable = self.bytes_in == 0 and self.requests_sent > 1
        detail = str(exc) if exc else "connection closed before the response completed"
        self._deliver(0, RequestFailed(classify_lost_connection(exc), detail, retryable=retryable))

    # -- llhttp callbacks ---------------------------------------------------------------
    # Only on_message_complete: httptools calls into Python just for the callbacks the
    # protocol defines, so none for headers or body chunks (every byte is already counted
    # in data_received, and no check needs the body yet).
    def on_message_complete(self) -> bool:
        """Note the response as complete; False for an interim 1xx response."""
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:
            # An interim response (100 Continue): the real head follows it.
            self._gather_head(b"", drop_first=True)
            return False
        self.keep_alive = parser.should_keep_alive()
        self._status = status
        return True

    def _gather_head(self, data: bytes, *, drop_first: bool = False) -> None:
        """Keep the current response's head whole in `head` (ends_at_close and the
        Server-Timing read it), up to MAX_HEAD bytes."""
        if data and _END_OF_HEAD in self.head:
            self._head_open = False  # it was whole already: the rest is body
            return
        head = self.head + data if data else self.head
        if drop_first:
            end = head.find(_END_OF_HEAD)
            head = head[end + 4 :] if end >= 0 else b""
        self.head = head[:MAX_HEAD]
        self._head_open = len(head) < MAX_HEAD and _END_OF_HEAD not in head

    def head_complete(self) -> None:
        """A HEAD response ends at its headers (see _HeadResponse)."""
        if self.on_message_complete():
            self._reset_parser = True
            # llhttp, not told the method, reads a HEAD response without a length as
            # running to the close: only the version and the Connection header decide.
            version = self._parser.get_http_version()
            self.keep_alive = _keeps_alive(version, self.head)

    # -- requests -----------------------------------------------------------------------
    def send(
        self,
        payload: bytes,
        head: bool,
        on_response: ResponseCallback,
        timeout: float,
        capture: ResponseCapture | None = None,
    ) -> None:
        """Write one request; `on_response` is called once, when it ends either way.

        `timeout`: seconds for the whole response. With `capture`, the response's headers
        (and body) are kept there for the caller.
        """
        self._on_response = on_response
        self._status = 0
        self.bytes_in = 0
        self.requests_sent += 1
        if self.closed or self._transport is None:
            failure = RequestFailed(
                ErrorKind.RESET, "connection closed", retryable=self.requests_sent > 1
            )
            self._loop.call_soon(self._deliver, 0, failure)  # never re-entrantly
            return
        self._capture = capture
        if capture is None and not head:
            # The common request: between messages a parser holds no state, so the fast
            # one (no Python call per header or body chunk) takes it.
            if self._parser is not self._plain_parser:
                self._parser = self._plain_parser
        else:
            self._pick_parser(capture, head)
        # One lazily re-armed timer per connection instead of a timer per request: sending
        # only moves the deadline; the timer, when it fires, re-arms for the newest one.
        loop = self._loop
        self.deadline = deadline = loop.time() + timeout
        if self._timer is None or deadline < self._timer_at:
            # (A shorter timeout than the armed one needs an earlier timer.)
            self._cancel_timer()
            self._timer_at = deadline
            self._timer = loop.call_at(deadline, self._check_deadline)
        self._transport.write(payload)

    def _pick_parser(self, capture: ResponseCapture | None, head: bool) -> None:
        """The parser for a response to HEAD, or one a capture keeps (headers, body)."""
        if capture is not None:
            capture.reset(self.on_message_complete, self.head_complete, head)
        if capture is not None and capture.keep_body:
            if head:
                self._parser = httptools.HttpResponseParser(capture)  # ends at its headers
            else:
                parser = self._capture_parsers.get(capture)
                if parser is None:
                    parser = self._capture_parsers[capture] = httptools.HttpResponseParser(capture)
                self._parser = parser
            self._reset_parser = False
        # A head-only capture is fed the raw head by data_received: the parsers below, which
        # make no Python call per header or body chunk, do for it.
        elif head:
            self._parser = httptools.HttpResponseParser(_HeadResponse(self))
            self._reset_parser = False
        elif self._parser is not self._plain_parser:
            self._parser = self._plain_parser

    def _check_deadline(self) -> None:
        self._timer = None
        if self._on_response is None or self.closed:
            return  # idle: the next send arms a new timer
        if self._loop.time() >= self.deadline:
            self.expire()
        else:
            self._timer_at = self.deadline
            self._timer = self._loop.call_at(self.deadline, self._check_deadline)

    def expire(self) -> None:
        """The request's time is up: fail it as a read timeout and drop the connection."""
        self.close()
        self._deliver(0, RequestFailed(ErrorKind.READ_TIMEOUT, "no complete response in time"))

    def detach(self) -> None:
        """Forget the pending request's callback (its user has gone)."""
        self._on_response = None
        self._capture = None

    def close(self) -> None:
        """Close the connection at once, discarding anything not yet written."""
        self.closed = True
        self._cancel_timer()
        if self._transport is not None:
            self._transport.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deliver(self, status: int, failure: RequestFailed | None) -> None:
        callback = self._on_response
        if callback is not None:
            self._on_response = None
            self._capture = None
            callback(self, status, failure)


_CONNECTION = re.compile(rb"\r\nconnection:[ \t]*([a-z-]+)", re.IGNORECASE)


def _keeps_alive(version: str, head: bytes) -> bool:
    """Whether a response leaves its connection open, by its version and headers alone."""
    said = {m.group(1).lower() for m in _CONNECTION.finditer(head)}
    if b"close" in said:
        return False
    return version != "1.0" or b"keep-alive" in said


class _HeadResponse:
    """Parser callbacks for a response to HEAD, which ends at its headers.

    A HEAD response carries Content-Length but no body, and llhttp cannot be told the
    request's method; so for HEAD the parser reports to this object, which completes the
    request when the headers end, and the connection then starts a fresh parser.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: HttpConnection) -> None:
        self._conn = conn

    def on_headers_complete(self) -> None:
        """The response is complete."""
        self._conn.head_complete()


async def open_connection(
    loop: asyncio.AbstractEventLoop,
    addresses: tuple[str, ...],
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float,
) -> HttpConnection:
    """Connect (and handshake TLS) within `timeout`, trying each address in turn."""
    failure: RequestFailed | None = None
    for address in addresses:
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    lambda: HttpConnection(loop),
                    address,
                    port,
                    ssl=ssl_context,
                    server_hostname=server_hostname if ssl_context else None,
                )
            return protocol
        except TimeoutError:
            failure = RequestFailed(ErrorKind.CONNECT_TIMEOUT, f"no connection within {timeout}s")
        except OSError as e:
            failure = RequestFailed(classify_connect_error(e), str(e))
            if failure.kind is not ErrorKind.CONNECT_REFUSED:
                break  # only "nothing listens there" is worth the next address
    assert failure is not None, "no address to connect to"
    raise failure

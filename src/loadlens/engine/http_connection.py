"""One keep-alive HTTP/1.1 client connection on httptools (llhttp) over asyncio/uvloop.

Written by hand because it is the engine's hot path: a general-purpose client (aiohttp,
httpx) costs 10-100x more CPU per request, which would make loadlens, not the target, the
bottleneck. Parsing stays in llhttp; this module only moves bytes and counts them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from loadlens.engine.request_errors import RequestFailed, classify_lost_connection
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_framing import (
    END_OF_HEAD,
    MAX_HEAD,
    HeadResponse,
    ends_at_close,
    head_start,
    keeps_alive,
)
from loadlens.metrics.request_result import ErrorKind

__all__ = ["HttpConnection", "ResponseCallback"]


ResponseCallback = Callable[["HttpConnection", int, RequestFailed | None], None]


class HttpConnection(asyncio.Protocol):
    """A client connection that carries one request at a time (no pipelining).

    `send()` takes a callback rather than returning a future: the response is handed over
    straight from data_received, with no future, task wake-up or coroutine resumption in
    between (those cost a third of a request's CPU, measured at 1000 users). The callback
    runs exactly once per send: `(connection, status, None)` for a complete response, or
    `(connection, 0, RequestFailed)`; never from inside the parser.

    However a server splits, trickles or pads its response, the work per response stays
    linear in its bytes and what is held of it bounded: a head must end within MAX_HEAD
    bytes (else a protocol error, and the connection goes), and a body is never held here.
    """

    __slots__ = (
        "_after_parse", "_capture", "_capture_parsers", "_gathered", "_gathering", "_head_at",
        "_head_open", "_head_scan", "_loop", "_on_response", "_parser", "_plain_parser",
        "_reset_parser", "_status", "_timer", "_timer_at", "_transport", "bytes_in", "closed",
        "deadline", "head", "keep_alive", "requests_sent",
    )  # fmt: skip

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
        # The current response's head, for ends_at_close, Server-Timing and captures: its
        # first read as it came (a reference; the body may follow in it), or, once gathered
        # from several reads or behind interim responses, the head alone.
        self.head = b""
        self._head_open = False  # the head may not be all in `head` yet
        # The head is being looked for after each read's parse (_settle_head): it spans
        # reads, interim responses came before it, or its first read was over MAX_HEAD.
        self._gathering = False
        # Slow work is due after this read's parse: a head to settle, or a HEAD response
        # to end (one flag, so the usual response pays one test for both).
        self._after_parse = False
        self._gathered: bytearray | None = None  # the response's bytes, while its head spans reads
        self._head_at = 0  # where the current head starts (past interim responses)
        self._head_scan = 0  # where to look on for its end
        self.deadline = 0.0
        self.bytes_in = 0
        self.keep_alive = True
        self.closed = True  # until connection_made
        self.requests_sent = 0

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]
        self.closed = False

    def data_received(self, data: bytes) -> None:
        """Feed response bytes to llhttp; every byte counts toward bytes_in."""
        size = len(data)
        received = self.bytes_in
        self.bytes_in = received + size
        if not received:
            self.head = data  # a reference, not a copy
            # Most heads arrive whole in the first read, with the whole response: whether
            # it is whole is only looked at when another read comes (_gather_head), an
            # interim response came first, or the read is big enough to break MAX_HEAD.
            self._head_open = True
            if size > MAX_HEAD:
                self._gathering = self._after_parse = True
        elif self._head_open:
            self._gather_head(data)
        if self._on_response is None:
            # Bytes nobody asked for: the server is out of step with us. The connection
            # cannot be trusted for the next request.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self._parse_failed(e)
            return
        if self._after_parse and self._finish_parse():
            return
        status = self._status
        if status:
            capture = self._capture
            if capture is not None:
                self._capture = None  # (the user keeps it; this connection must not feed it)
                # Between messages a parser holds no state: the fast one takes the next.
                self._parser = self._plain_parser
                refused = capture.take_head(self.head)
                if refused is not None:
                    self.close()
                    self._deliver(0, RequestFailed(ErrorKind.PROTOCOL, refused))
                    return
            callback = self._on_response  # _deliver, inlined: once per response
            self._on_response = None
            callback(self, status, None)

    def _finish_parse(self) -> bool:
        """Settle a gathered head, end a response to HEAD; True if the request failed."""
        if self._gathering:
            failure = self._settle_head()
            if failure is not None:
                self.close()
                self._deliver(0, failure)
                return True
        if self._reset_parser:
            self._reset_parser = False
            # A response to HEAD ended at its headers. llhttp, not told the method, reads
            # one without a length as running to the close: only its version and
            # Connection header decide.
            self.keep_alive = keeps_alive(self._parser.get_http_version(), self.head)
            # The HEAD parser expects a body that will never come; the fast parser, idle
            # at a message boundary, takes the next response.
            self._parser = self._plain_parser
        self._after_parse = self._gathering
        return False

    def _parse_failed(self, error: Exception) -> None:
        """llhttp refused the bytes: a protocol failure, unless a response completed first."""
        self.close()
        failure = self._settle_head() if self._gathering else None
        if self._status and failure is None:
            # Junk after a complete response, in the same read: the response stands (as
            # it would had the junk come in the next read), the connection goes.
            self.keep_alive = False
            self._complete(self._status)
        else:
            if self._parser.get_status_code() == 101:
                # (llhttp stops there, and says only "Pause on CONNECT/Upgrade" or the
                # offset where the other protocol begins.)
                error = Exception("101 Switching Protocols: an upgrade nobody asked for")
            self._deliver(0, failure or RequestFailed(ErrorKind.PROTOCOL, str(error)))

    def eof_received(self) -> bool | None:
        """Let the transport close; connection_lost decides what the EOF meant."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail (or, if it ends at the close, complete) the pending request."""
        closed_by_us = self.closed
        self.closed = True
        self._cancel_timer()
        if self._on_response is None or closed_by_us:
            # (Closing, this side told the request it ended; one sent after that is told
            # so by send.)
            return
        if exc is None and self.bytes_in and not self._gathering:
            # (While the head is still being gathered, it is not whole: the close cut it.)
            status = ends_at_close(self.head)
            if status:
                self.keep_alive = False
                self._complete(status)
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
            # An interim response (100 Continue, 103 Early Hints): the real head follows.
            if not self._status:
                self._drop_interim()
            return False
        if self._status:
            # A second response in the read that completed ours: the server answers what
            # was not asked. Ours stands (as when the extra one comes in a later read);
            # the connection is out of step and goes.
            self.keep_alive = False
            return False
        self.keep_alive = parser.should_keep_alive()
        self._status = status
        return True

    # -- the head, however it arrives (the slow path) ---------------------------------
    def _gather_head(self, data: bytes) -> None:
        """Keep every byte of a head that spans reads, in one buffer grown in place."""
        gathered = self._gathered
        if gathered is None:
            if not self._gathering:
                # The first read was never looked at: usually its head was whole.
                head = self.head
                if head.find(END_OF_HEAD, head_start(head, 0)) >= 0:
                    self._head_open = False
                    return
                self._head_scan = max(0, len(head) - 3)
            self._gathering = self._after_parse = True
            gathered = self._gathered = bytearray(self.head)
        gathered += data  # (before the parse: an interim response it ends is in it)

    def _drop_interim(self) -> None:
        """Move past an interim response the parser has just completed."""
        buf = self._gathered if self._gathered is not None else self.head
        end = buf.find(END_OF_HEAD, head_start(buf, self._head_at))
        self._head_at = self._head_scan = end + 4 if end >= 0 else len(buf)
        self._gathering = self._after_parse = True

    def _settle_head(self) -> RequestFailed | None:
        """After a read's parse: find where the head ends, looking on from where the last
        look stopped (linear in the bytes however they were split); a failure if it does
        not end within MAX_HEAD bytes of the response's start."""
        buf: bytes | bytearray = self._gathered if self._gathered is not None else self.head
        start = self._head_at = head_start(buf, self._head_at)
        end = buf.find(END_OF_HEAD, max(start, self._head_scan))
        if end < 0:
            if len(buf) <= MAX_HEAD:
                self._head_scan = max(start, len(buf) - 3)
                return None
        elif end + 4 <= MAX_HEAD:
            if start or self._gathered is not None:
                self.head = bytes(buf[start : end + 4])
            self._head_open = self._gathering = False
            self._gathered = None
            self._head_at = self._head_scan = 0
            return None
        return RequestFailed(
            ErrorKind.PROTOCOL,
            f"response head not ended within {MAX_HEAD} bytes (interim responses included)",
        )

    def head_complete(self) -> None:
        """A HEAD response ends at its headers (see HeadResponse); data_received settles
        its keep-alive once the read's parse is over (and the head is whole)."""
        if self.on_message_complete():
            self._reset_parser = self._after_parse = True

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
        self.requests_sent += 1
        if self.closed:
            self._loop.call_soon(self._deliver, 0, self._closed_failure())  # never re-entrantly
            return
        self.bytes_in = 0
        self._capture = capture
        # The common request keeps the fast parser (no Python call per header or body
        # chunk), which every response hands back to when it completes.
        if capture is not None or head:
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
        self._transport.write(payload)  # type: ignore[union-attr]  # (closed until made)

    def _closed_failure(self) -> RequestFailed:
        """Why a request cannot go on this connection: it was closed before it was sent."""
        if self.requests_sent == 1 and self.bytes_in:
            # It spoke before being asked: an SSH or SMTP server, say, not an HTTP one.
            return RequestFailed(
                ErrorKind.PROTOCOL, f"the server sent {self.bytes_in} bytes before any request"
            )
        self.bytes_in = 0
        return RequestFailed(ErrorKind.RESET, "connection closed", retryable=self.requests_sent > 1)

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
        # A head-only capture is handed the whole head when the response completes: the
        # parsers below, which make no Python call per header or body chunk, do for it.
        elif head:
            self._parser = httptools.HttpResponseParser(HeadResponse(self.head_complete))
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

    def _complete(self, status: int) -> None:
        """Deliver a complete response off the fast path (its head whole in `head`)."""
        capture = self._capture
        if capture is not None:
            refused = capture.take_head(self.head)
            if refused is not None:
                self.close()
                self._deliver(0, RequestFailed(ErrorKind.PROTOCOL, refused))
                return
        self._deliver(status, None)

    def _deliver(self, status: int, failure: RequestFailed | None) -> None:
        callback = self._on_response
        if callback is not None:
            self._on_response = None
            self._capture = None
            callback(self, status, failure)

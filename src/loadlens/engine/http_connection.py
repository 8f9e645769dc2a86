"""One keep-alive HTTP/1.1 client connection on httptools (llhttp) over asyncio/uvloop.

Written by hand because it is the engine's hot path: a general-purpose client (aiohttp,
httpx) costs 10-100x more CPU per request, which would make loadlens, not the target, the
bottleneck. Parsing stays in llhttp; this module only moves bytes and counts them.
"""

from __future__ import annotations

import asyncio
import errno
import ssl

import httptools

__all__ = ["ErrorKind", "HttpConnection", "RequestFailed", "open_connection"]


class ErrorKind:
    """The names under which failed requests are counted (stable: they appear in results)."""

    CONNECT_REFUSED = "connect-refused"
    CONNECT_TIMEOUT = "connect-timeout"
    CONNECT_ERROR = "connect-error"
    READ_TIMEOUT = "read-timeout"
    RESET = "reset"
    PROTOCOL = "protocol"
    TLS = "tls"
    HTTP_4XX = "http-4xx"
    HTTP_5XX = "http-5xx"


class RequestFailed(Exception):
    """A request ended without a complete HTTP response; `kind` says how."""

    def __init__(self, kind: str, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.retryable = retryable


class HttpConnection(asyncio.Protocol):
    """A client connection that carries one request at a time (no pipelining)."""

    __slots__ = (
        "_loop",
        "_parser",
        "_reset_parser",
        "_timeout",
        "_timer",
        "_transport",
        "_waiter",
        "bytes_in",
        "closed",
        "deadline",
        "keep_alive",
        "requests_sent",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float = 10.0) -> None:
        self._loop = loop
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[int] | None = None
        self._reset_parser = False
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
        self.bytes_in += len(data)
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for: the server is out of step with us. The connection
            # cannot be trusted for the next request.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self._fail(RequestFailed(ErrorKind.PROTOCOL, str(e)))
            self.close()
            return
        if self._reset_parser:
            self._reset_parser = False
            self._parser = httptools.HttpResponseParser(self)

    def eof_received(self) -> bool | None:
        """Let the transport close; connection_lost decides what the EOF meant."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the pending request, if any; a silent close of a reused connection may retry."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # Nothing received on a connection that already served a request: the server
            # closed an idle keep-alive connection as we sent. Safe to retry once.
            retryable = self.bytes_in == 0 and self.requests_sent > 1
            detail = str(exc) if exc else "connection closed before the response completed"
            waiter.set_exception(RequestFailed(ErrorKind.RESET, detail, retryable=retryable))

    # -- llhttp callbacks ---------------------------------------------------------------
    # Only on_message_complete: httptools calls into Python just for the callbacks the
    # protocol defines, so none for headers or body chunks (every byte is already counted
    # in data_received, and no check needs the body yet).
    def on_message_complete(self) -> None:
        """Complete the pending request (interim 1xx responses are skipped)."""
        self._complete()

    def head_complete(self) -> None:
        """A HEAD response ends at its headers (see _HeadResponse)."""
        if self._complete():
            self._reset_parser = True

    def _complete(self) -> bool:
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:
            return False
        self.keep_alive = parser.should_keep_alive()
        self._finish(status)
        return True

    # -- requests -----------------------------------------------------------------------
    def send(self, payload: bytes, head: bool = False) -> asyncio.Future[int]:
        """Write one request; the future resolves to the status code or fails RequestFailed."""
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._waiter = waiter
        if head:
            self._parser = httptools.HttpResponseParser(_HeadResponse(self))
            self._reset_parser = False
        self.bytes_in = 0
        self.requests_sent += 1
        # One lazily re-armed timer per connection instead of a timer per request: sending
        # only moves the deadline; the timer, when it fires, re-arms for the newest one.
        loop = self._loop
        self.deadline = loop.time() + self._timeout
        if self._timer is None:
            self._timer = loop.call_at(self.deadline, self._check_deadline)
        if self.closed or self._transport is None:
            waiter.set_exception(
                RequestFailed(
                    ErrorKind.RESET, "connection closed", retryable=self.requests_sent > 1
                )
            )
        else:
            self._transport.write(payload)
        return waiter

    def _check_deadline(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self.closed:
            return  # idle: the next send arms a new timer
        if self._loop.time() >= self.deadline:
            self.expire()
        else:
            self._timer = self._loop.call_at(self.deadline, self._check_deadline)

    def expire(self) -> None:
        """The request's time is up: fail it as a read timeout and drop the connection."""
        self._fail(RequestFailed(ErrorKind.READ_TIMEOUT, "no complete response in time"))
        self.close()

    def close(self) -> None:
        """Close the connection at once, discarding anything not yet written."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.abort()

    def _finish(self, status: int) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _fail(self, error: RequestFailed) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


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
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float,
    request_timeout: float,
) -> HttpConnection:
    """Connect (and handshake TLS) within `timeout`, classifying every way it can fail."""
    try:
        async with asyncio.timeout(timeout):
            _, protocol = await loop.create_connection(
                lambda: HttpConnection(loop, request_timeout),
                host,
                port,
                ssl=ssl_context,
                server_hostname=server_hostname if ssl_context else None,
            )
    except TimeoutError:
        raise RequestFailed(ErrorKind.CONNECT_TIMEOUT, f"no connection within {timeout}s") from None
    except ConnectionRefusedError as e:
        raise RequestFailed(ErrorKind.CONNECT_REFUSED, str(e)) from None
    except ssl.SSLError as e:
        raise RequestFailed(ErrorKind.TLS, str(e)) from None
    except ConnectionResetError as e:
        raise RequestFailed(ErrorKind.RESET, str(e)) from None
    except OSError as e:
        if e.errno == errno.ECONNREFUSED:
            raise RequestFailed(ErrorKind.CONNECT_REFUSED, str(e)) from None
        raise RequestFailed(ErrorKind.CONNECT_ERROR, str(e)) from None
    return protocol

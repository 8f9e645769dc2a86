"""The request cycle of one user: connect, send, read the response, judge it, record it.

The cycle is a chain of callbacks (send, response, record, next send) rather than a
coroutine awaiting a future per request: the same semantics for a fraction of the CPU,
which is what lets one worker drive tens of thousands of requests a second.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Callable
from typing import Any

from loadlens.engine.connecting import open_connection
from loadlens.engine.cookie_jar import CookieJar
from loadlens.engine.data_feeder import Feeder
from loadlens.engine.http_connection import HttpConnection
from loadlens.engine.prepared_request import PreparedFlow, PreparedRequest
from loadlens.engine.request_errors import RequestFailed
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_rules import StepRules
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import ErrorKind, RequestResult
from loadlens.scenario.model import DEFAULT_MAX_BODY

__all__ = ["RequestCycle", "UserCommons"]

_monotonic_ns = time.monotonic_ns  # one global lookup instead of two per call
_HTTP_ERROR = (ErrorKind.HTTP_4XX, ErrorKind.HTTP_5XX)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UserCommons:
    """What every user of a worker shares: its loop, recorder, flows and TLS."""

    __slots__ = (
        "capture_all",
        "connect_timeout",
        "cookies",
        "cum_weights",
        "feeders",
        "flows",
        "loop",
        "max_body",
        "on_start",
        "recorder",
        "requests",
        "ssl_context",
        "variables",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        flows: list[PreparedFlow],
        recorder: IntervalRecorder,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float,
        variables: dict[str, Any] | None = None,
        *,
        cookies: bool = False,
        feeders: list[Feeder] | None = None,
        capture_all: bool = False,
        on_start: PreparedFlow | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.loop = loop
        self.max_body = max_body  # the most of a body a capture keeps
        self.on_start = on_start  # steps each user runs once, before its first iteration
        self.capture_all = capture_all  # a Python scenario reads every response
        self.variables = variables or {}
        self.cookies = cookies
        self.feeders = feeders or []
        self.flows = flows
        self.cum_weights = list(itertools.accumulate(f.weight for f in flows))
        self.requests = [
            step.request for flow in [*flows, *([on_start] if on_start else [])]
            for step in flow.steps
        ]  # fmt: skip
        self.recorder = recorder
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout


class RequestCycle:
    """One user's requests: at most one in flight, one keep-alive connection per origin."""

    __slots__ = (
        "_capture",
        "_capture_head",
        "_capturing",
        "_commons",
        "_connecting",
        "_conns",
        "_on_done",
        "_on_response_cb",
        "_payload",
        "_recorder",
        "_request",
        "_retried",
        "connections_opened",
        "cookies",
        "extract_failed",
        "result",
        "variables",
    )

    def __init__(self, commons: UserCommons) -> None:
        self._commons = commons
        self._recorder = commons.recorder
        origins = 1 + max((r.origin for r in commons.requests), default=0)
        self._conns: list[HttpConnection | None] = [None] * origins
        self._connecting: asyncio.Task[HttpConnection] | None = None
        # (A Python scenario has no flows of steps: set by its first request.)
        self._request: PreparedRequest = commons.requests[0] if commons.requests else None  # type: ignore[assignment]
        self._retried = False
        self._on_done: Callable[[], None] | None = None
        self._on_response_cb = self._on_response  # bound once, not per request
        self._payload = b""
        self.result = RequestResult()  # refilled per request: how the last one ended
        self.connections_opened = 0
        self.variables: dict[str, Any] = dict(commons.variables)  # this user's own copy
        self.cookies = CookieJar() if commons.cookies else None
        # Only steps that read their response (and every step, with a cookie jar) capture.
        reads = (
            commons.cookies
            or commons.capture_all
            or any(r.reads_response for r in commons.requests)
        )
        self._capture = ResponseCapture(True, commons.max_body) if reads else None
        # Head only: the connection feeds it the raw head and keeps its fast parsers.
        self._capture_head = ResponseCapture(keep_body=False) if reads else None
        self._capturing: ResponseCapture | None = None
        self.extract_failed = False  # the last step's extraction did not happen

    def exchange(
        self,
        request: PreparedRequest,
        intended_ns: int | None,
        on_done: Callable[[], None],
        payload: bytes | None = None,
    ) -> None:
        """Send `request` now; record it and call `on_done()` when it ends.

        `intended_ns`: when it should have started (an open model's schedule), else None.
        `payload`: bytes to send instead of the request's own (a Python scenario's).
        """
        start_ns = _monotonic_ns()
        result = self.result
        if intended_ns is None:
            intended_ns = start_ns
        else:
            # Every open-model start is sampled (on time counts as 0), so the lag's
            # percentiles describe all arrivals, not just the late ones.
            if intended_ns > start_ns:
                intended_ns = start_ns  # released a little early: time from the real start
            self._recorder.record_schedule_lag(start_ns, start_ns - intended_ns)
        result.endpoint = request.index
        result.intended_ns = intended_ns
        result.start_ns = start_ns
        self._request = request
        if payload is None:
            # Templated requests are rendered now, with this user's variables.
            payload = request.payload if request.render is None else request.render(self.variables)
        if self.cookies is not None:
            payload = self._with_cookies(request, payload)
        self._payload = payload
        if self._capture is not None:
            self._capturing = self._capture_for(request)
        self.extract_failed = False
        self._retried = False
        self._on_done = on_done
        conn = self._conns[request.origin]
        if conn is not None and not conn.closed:
            # (_send, inlined for the common case: the origin's connection is open.)
            conn.send(payload, request.is_head, self._on_response_cb, request.timeout,
                      self._capturing)  # fmt: skip
        else:
            self._send()

    def _with_cookies(self, request: PreparedRequest, payload: bytes) -> bytes:
        assert self.cookies is not None
        line = self.cookies.header(request.origin)
        if line:
            at = payload.find(b"\r\n\r\n") + 2  # the end of the last header line
            # A Cookie header the step sets itself wins over the jar (one, not two); header
            # names are case-blind.
            if payload[:at].lower().find(b"\r\ncookie:") < 0:
                return payload[:at] + line + payload[at:]
        return payload

    def _capture_for(self, request: PreparedRequest) -> ResponseCapture | None:
        capture_all = self._commons.capture_all
        if self.cookies is None and not request.reads_response and not capture_all:
            return None
        return self._capture if request.keep_body or capture_all else self._capture_head

    def _send(self) -> None:
        """Write the request on the origin's connection, connecting first if need be."""
        request = self._request
        conn = self._conns[request.origin]
        if conn is None or conn.closed:
            self.connections_opened += 1
            commons = self._commons
            self._connecting = task = commons.loop.create_task(
                open_connection(
                    commons.loop,
                    request.addresses,
                    request.port,
                    ssl_context=commons.ssl_context if request.tls else None,
                    server_hostname=request.server_hostname,
                    timeout=commons.connect_timeout,
                )
            )
            task.add_done_callback(self._on_connected)
            return
        conn.send(
            self._payload, request.is_head, self._on_response_cb, request.timeout, self._capturing
        )

    def _on_connected(self, task: asyncio.Task[HttpConnection]) -> None:
        self._connecting = None
        if task.cancelled() or self._on_done is None:
            if not task.cancelled() and task.exception() is None:
                task.result().close()  # the user was closed while it connected
            return
        error = task.exception()
        if error is not None:
            kind = error.kind if isinstance(error, RequestFailed) else ErrorKind.CONNECT_ERROR
            self._no_response()
            self._finish(kind, 0, 0, 0, False, _monotonic_ns())
            return
        conn = self._conns[self._request.origin] = task.result()
        # Sent on this connection even if it has closed already (the server hung up on
        # accepting, or spoke first): the request fails as that, rather than connecting
        # again and again.
        request = self._request
        conn.send(self._payload, request.is_head, self._on_response_cb, request.timeout,
                  self._capturing)  # fmt: skip

    def _on_response(
        self, conn: HttpConnection, status: int, failure: RequestFailed | None
    ) -> None:
        # The response is in: stop the clock before looking inside it.
        end_ns = _monotonic_ns()
        request = self._request
        if failure is not None:
            self._failed(conn, failure)
            return
        if not conn.keep_alive:
            self._conns[request.origin] = None
            conn.close()
        error = None if status < 400 else _HTTP_ERROR[status >= 500]
        recorder = self._recorder
        if recorder.timing_watch[request.index]:
            recorder.record_server_timing(request.index, conn.head)
        rules = request.rules
        capture = self._capturing
        if capture is not None and self.cookies is not None and capture.sets_cookies:
            self.cookies.update(request.origin, capture.all_headers(b"set-cookie"))
        if rules is not None:
            try:
                error = self._judge(rules, capture, status, end_ns - self.result.intended_ns,
                                    error, end_ns)  # fmt: skip
            except Exception:
                # Never out of a protocol callback: that would strand the user mid-request.
                self.extract_failed = bool(rules.extractions)
                error = ErrorKind.CHECK_FAILED
        # (_finish, inlined: this is the way nearly every request ends.)
        result = self.result
        result.status = status
        result.error = error
        result.end_ns = end_ns
        result.bytes_in = conn.bytes_in
        result.bytes_out = len(self._payload)
        result.timed = True
        recorder.add(result)
        on_done = self._on_done
        self._on_done = None
        if on_done is not None:
            on_done()

    def _failed(self, conn: HttpConnection, failure: RequestFailed) -> None:
        request = self._request
        conn.close()
        if self._conns[request.origin] is conn:
            self._conns[request.origin] = None
        # A reused keep-alive connection closed by the server as we sent: nothing reached
        # the application, so one retry on a fresh connection is what every HTTP client
        # does (for idempotent methods).
        if not self._retried and failure.retryable and request.method in _IDEMPOTENT:
            self._retried = True
            self._send()
            return
        # A read timeout is timed (its true latency is at least this long, and leaving it
        # out would flatter the tail); other failures are not.
        self._no_response()
        timed = failure.kind is ErrorKind.READ_TIMEOUT
        self._finish(failure.kind, 0, conn.bytes_in, len(self._payload), timed, _monotonic_ns())

    def _judge(
        self,
        rules: StepRules,
        capture: ResponseCapture | None,
        status: int,
        latency_ns: int,
        error: ErrorKind | None,
        end_ns: int,
    ) -> ErrorKind | None:
        """Run the step's extractions and checks; the request's error kind, if any."""
        if rules.judges_status:
            error = None
        if rules.extractions:
            assert capture is not None
            variables = self.variables
            for extraction in rules.extractions:
                if not extraction.apply(capture, variables):
                    self.extract_failed = True
            if self.extract_failed and error is None:
                error = ErrorKind.EXTRACT_FAILED
        failed = False
        if rules.checks:
            counts = self._recorder.check_counts_at(end_ns)
            variables = self.variables
            for check in rules.checks:
                if check.test(capture, status, latency_ns, variables):
                    counts[check.slot] += 1
                else:
                    counts[check.slot + 1] += 1
                    failed = True
        # A check is the user's own word on what a good response is: it names the failure.
        return ErrorKind.CHECK_FAILED if failed else error

    def _no_response(self) -> None:
        """No response came: extraction cannot happen and every check of the step failed."""
        rules = self._request.rules
        if rules is None:
            return
        self.extract_failed = bool(rules.extractions)
        counts = self._recorder.check_counts_at(_monotonic_ns())
        for check in rules.checks:
            counts[check.slot + 1] += 1

    def _finish(
        self,
        error: ErrorKind | None,
        status: int,
        bytes_in: int,
        bytes_out: int,
        timed: bool,
        end_ns: int,
    ) -> None:
        """Fill in the result, record it, and hand over to whoever waits for it."""
        result = self.result
        result.status = status
        result.error = error
        result.end_ns = end_ns
        result.bytes_in = bytes_in
        result.bytes_out = bytes_out
        result.timed = timed
        self._recorder.add(result)
        on_done = self._on_done
        self._on_done = None
        if on_done is not None:
            on_done()

    @property
    def busy(self) -> bool:
        """A request is in flight."""
        return self._on_done is not None

    def ensure_origin(self, origin: int) -> None:
        """Make room for a connection to `origin` (a Python scenario finds them as it runs)."""
        if origin >= len(self._conns):
            self._conns.extend([None] * (origin + 1 - len(self._conns)))

    @property
    def capture(self) -> ResponseCapture | None:
        """The last response's head and body, when they were kept."""
        return self._capturing

    def close(self) -> None:
        """Abandon any request in flight (unrecorded), and drop the connections."""
        self._on_done = None
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        for i, conn in enumerate(self._conns):
            if conn is not None:
                conn.detach()
                conn.close()
                self._conns[i] = None

"""A virtual user: one keep-alive connection and the requests of one iteration."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine

from loadlens.engine.http_connection import HttpConnection, open_connection
from loadlens.engine.prepared_request import Endpoint
from loadlens.engine.request_errors import ErrorKind, RequestFailed
from loadlens.metrics.recorder import IntervalRecorder

__all__ = ["UserSettings", "VirtualUser"]

_monotonic_ns = time.monotonic_ns  # one global lookup instead of two per call
_HTTP_ERROR = (ErrorKind.HTTP_4XX, ErrorKind.HTTP_5XX)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UserSettings:
    """What every user of a worker shares: endpoints, TLS, timeouts, the recorder."""

    __slots__ = (
        "connect_timeout",
        "endpoints",
        "in_flight",
        "loop",
        "recorder",
        "ssl_context",
        "timeout",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        endpoints: list[Endpoint],
        recorder: IntervalRecorder,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.loop = loop
        self.endpoints = endpoints
        self.recorder = recorder
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.in_flight = 0


class VirtualUser:
    """Runs iterations: each sends every endpoint's request once, in order."""

    __slots__ = ("_conns", "_settings", "connections_opened")

    def __init__(self, settings: UserSettings) -> None:
        self._settings = settings
        origins = 1 + max(e.origin for e in settings.endpoints)
        self._conns: list[HttpConnection | None] = [None] * origins
        self.connections_opened = 0

    def iteration(self, intended_ns: int | None = None) -> Coroutine[None, None, None]:
        """One pass over the endpoints; `intended_ns` is the schedule's start (open models).

        For an open model the first request's latency runs from the intended start, not
        from when we got round to sending it (wrk2's coordinated-omission fix); its service
        time runs from the actual start. Later requests in the iteration start when the
        previous one ended, so for them both clocks agree.
        """
        endpoints = self._settings.endpoints
        if len(endpoints) == 1:
            return self._requests(endpoints[0], intended_ns, None)  # no extra frame
        return self._iterate(endpoints, intended_ns)

    async def loop(self, again: Callable[[], bool]) -> None:
        """Closed model: run iterations back to back, asking `again()` after each."""
        endpoints = self._settings.endpoints
        if len(endpoints) == 1:
            # The request loop itself repeats: no coroutine per iteration on the hot path.
            await self._requests(endpoints[0], None, again)
            return
        while True:
            await self._iterate(endpoints, None)
            if not again():
                return

    async def _iterate(self, endpoints: list[Endpoint], intended_ns: int | None) -> None:
        for endpoint in endpoints:
            await self._requests(endpoint, intended_ns, None)
            intended_ns = None

    async def _requests(
        self, endpoint: Endpoint, intended_ns: int | None, again: Callable[[], bool] | None
    ) -> None:
        """Send `endpoint`'s request, and again while `again()` says so (None: once)."""
        # One flat coroutine: this is the hot path, and every nested coroutine costs a
        # frame and a send/throw round-trip per request.
        settings = self._settings
        recorder = settings.recorder
        conns = self._conns
        origin = endpoint.origin
        while True:
            start_ns = _monotonic_ns()
            if intended_ns is not None:
                # Every open-model start is sampled (on time counts as 0), so the lag's
                # percentiles describe all arrivals, not just the late ones.
                if intended_ns > start_ns:
                    intended_ns = start_ns  # released a little early: time from real start
                recorder.record_schedule_lag(start_ns, start_ns - intended_ns)
            else:
                intended_ns = start_ns
            conn: HttpConnection | None = None
            failure: RequestFailed | None = None
            status = 0
            settings.in_flight += 1
            try:
                for attempt in (0, 1):
                    conn = conns[origin]
                    try:
                        if conn is None or conn.closed:
                            conn = conns[origin] = await self._connect(endpoint)
                        status = await conn.send(endpoint.payload, endpoint.is_head)
                    except RequestFailed as e:
                        if conn is not None:
                            conn.close()
                        conns[origin] = None
                        # A reused keep-alive connection closed by the server as we sent:
                        # nothing reached the application, so one retry on a fresh
                        # connection is what every HTTP client does (idempotent methods).
                        if attempt == 0 and e.retryable and endpoint.method in _IDEMPOTENT:
                            continue
                        failure = e
                    except BaseException:
                        if conn is not None:
                            conn.close()
                        conns[origin] = None
                        raise
                    break
            finally:
                settings.in_flight -= 1
            end_ns = _monotonic_ns()
            if failure is not None:
                # A read timeout is timed (its true latency is at least this long, and
                # leaving it out would flatter the tail); other failures are not.
                recorder.record(
                    endpoint.index,
                    0,
                    end_ns,
                    end_ns - intended_ns,
                    end_ns - start_ns,
                    conn.bytes_in if conn is not None else 0,
                    endpoint.bytes_out if conn is not None else 0,
                    failure.kind,
                    failure.kind is ErrorKind.READ_TIMEOUT,
                )
            else:
                assert conn is not None  # sent on a connection, or failed, or raised
                if not conn.keep_alive:
                    conns[origin] = None
                    conn.close()
                recorder.record(
                    endpoint.index,
                    status,
                    end_ns,
                    end_ns - intended_ns,
                    end_ns - start_ns,
                    conn.bytes_in,
                    endpoint.bytes_out,
                    None if status < 400 else _HTTP_ERROR[status >= 500],
                    True,
                )
            if again is None or not again():
                return
            intended_ns = None

    async def _connect(self, endpoint: Endpoint) -> HttpConnection:
        settings = self._settings
        self.connections_opened += 1
        return await open_connection(
            settings.loop,
            endpoint.addresses,
            endpoint.port,
            ssl_context=settings.ssl_context if endpoint.tls else None,
            server_hostname=endpoint.server_hostname,
            timeout=settings.connect_timeout,
            request_timeout=settings.timeout,
        )

    def close(self) -> None:
        """Drop the user's connections."""
        for i, conn in enumerate(self._conns):
            if conn is not None:
                conn.close()
                self._conns[i] = None

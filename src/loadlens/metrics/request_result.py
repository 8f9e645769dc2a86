"""One request's outcome: the record every sink of a finished request reads."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorKind", "RequestResult"]


class ErrorKind(StrEnum):
    """The kinds failed requests are counted under (stable: they appear in results)."""

    CONNECT_REFUSED = "connect-refused"
    CONNECT_TIMEOUT = "connect-timeout"
    CONNECT_ERROR = "connect-error"
    READ_TIMEOUT = "read-timeout"
    RESET = "reset"
    PROTOCOL = "protocol"
    TLS = "tls"
    HTTP_4XX = "http-4xx"
    HTTP_5XX = "http-5xx"
    CHECK_FAILED = "check-failed"  # a response the scenario's checks did not accept
    EXTRACT_FAILED = "extract-failed"  # a value the scenario extracts was not in it


class RequestResult:
    """How one request ended: what the recorder, checks and Python scenarios read.

    Times are CLOCK_MONOTONIC nanoseconds. `intended_ns` is when the request should have
    started (an open model's schedule; otherwise its real start), so the latency,
    `end_ns - intended_ns`, includes any wait behind a late generator (coordinated
    omission); the service time, `end_ns - start_ns`, does not. `status` 0: no HTTP
    response came. `timed`: its latency is a measurement (a read timeout's is at least the
    timeout; a refused connection's is not a latency at all).

    A user has one request in flight, so it refills one record per request rather than
    allocating one: a sink that keeps a result past the call it was handed in must
    `copy()` it.
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "end_ns",
        "endpoint",
        "error",
        "hops",
        "intended_ns",
        "start_ns",
        "status",
        "timed",
    )

    def __init__(
        self,
        endpoint: int = 0,
        status: int = 0,
        error: ErrorKind | None = None,
        intended_ns: int = 0,
        start_ns: int = 0,
        end_ns: int = 0,
        bytes_in: int = 0,
        bytes_out: int = 0,
        *,
        timed: bool = True,
        hops: int = 0,
    ) -> None:
        self.endpoint = endpoint  # the stats index of the request's name
        self.status = status
        self.error = error
        self.intended_ns = intended_ns
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.bytes_in = bytes_in
        self.bytes_out = bytes_out
        self.timed = timed
        self.hops = hops  # redirects followed on the way (0: the first answer was kept)

    @property
    def latency_ns(self) -> int:
        """From the intended start to the end."""
        return self.end_ns - self.intended_ns

    @property
    def service_ns(self) -> int:
        """From the actual start to the end."""
        return self.end_ns - self.start_ns

    def copy(self) -> RequestResult:
        """A record of its own, for a sink that keeps it."""
        return RequestResult(
            self.endpoint, self.status, self.error, self.intended_ns, self.start_ns,
            self.end_ns, self.bytes_in, self.bytes_out, timed=self.timed, hops=self.hops,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"RequestResult(endpoint={self.endpoint}, status={self.status}, "
            f"error={self.error}, latency_ns={self.latency_ns}, timed={self.timed})"
        )

"""A new TCP connection per request: keep-alive is off somewhere."""

from __future__ import annotations

from loadlens.metrics.request_result import ErrorKind
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["connection_per_request"]

MIN_REQUESTS = 100
SHARE = 0.5  # connections opened per request, at least
# Failures after which loadlens itself drops the connection (and so opens another).
_DROPPING = frozenset(
    kind.value
    for kind in (ErrorKind.READ_TIMEOUT, ErrorKind.RESET, ErrorKind.PROTOCOL, ErrorKind.TLS,
                 ErrorKind.CONNECT_TIMEOUT, ErrorKind.CONNECT_ERROR, ErrorKind.CONNECT_REFUSED)
)  # fmt: skip


def connection_per_request(result: RunResult) -> Finding | None:
    """Most requests needed a connection of their own."""
    opened = result.generator.connections_opened
    requests = result.totals.requests
    dropped = sum(n for kind, n in result.totals.errors.items() if kind in _DROPPING)
    # A connection that timed out or broke is replaced by loadlens: not the server's doing.
    if requests < MIN_REQUESTS or opened - dropped < SHARE * requests:
        return None
    return Finding(
        id="new-connection-per-request",
        severity="medium",
        title="Almost every request opened a new TCP connection",
        evidence=(
            f"{requests:,} requests opened {opened:,} connections "
            f"({opened / requests:.2f} per request); loadlens keeps connections alive, "
            "so the server (or a proxy) closed them"
        ),
        suggestion=(
            "Turn keep-alive on in the server or proxy (no `Connection: close`, "
            "HTTP/1.1, a keep-alive timeout longer than the gap between requests): a "
            "connection per request costs a TCP handshake (and a TLS one) each time, "
            "and fills the server with sockets in TIME_WAIT."
        ),
        data={
            "requests": requests,
            "connections_opened": opened,
            "per_request": round(opened / requests, 3),
        },
    )

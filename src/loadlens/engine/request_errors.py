"""How a request fails without a response, sorted into the ErrorKind it is counted as."""

from __future__ import annotations

import errno
import ssl

from loadlens.metrics.request_result import ErrorKind

__all__ = ["RequestFailed", "classify_connect_error", "classify_lost_connection"]


class RequestFailed(Exception):
    """A request ended without a complete HTTP response; `kind` says how."""

    def __init__(self, kind: ErrorKind, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else str(kind))
        self.kind = kind
        self.retryable = retryable


def classify_connect_error(error: OSError) -> ErrorKind:
    """The kind of a failed connect (or TLS handshake)."""
    if isinstance(error, ssl.SSLError):
        return ErrorKind.TLS
    if isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED:
        return ErrorKind.CONNECT_REFUSED
    if isinstance(error, TimeoutError) or error.errno == errno.ETIMEDOUT:
        return ErrorKind.CONNECT_TIMEOUT
    if isinstance(error, ConnectionResetError):
        return ErrorKind.RESET
    return ErrorKind.CONNECT_ERROR


def classify_lost_connection(error: Exception | None) -> ErrorKind:
    """The kind of a connection lost mid-response."""
    if isinstance(error, ssl.SSLError):
        return ErrorKind.TLS
    if isinstance(error, TimeoutError) or (
        isinstance(error, OSError) and error.errno == errno.ETIMEDOUT
    ):
        return ErrorKind.READ_TIMEOUT
    return ErrorKind.RESET

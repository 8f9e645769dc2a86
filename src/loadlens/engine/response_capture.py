"""A response's headers and body, kept for the steps whose checks or extraction read them.

llhttp calls into Python only for the callbacks its protocol object defines, so the plain
request path (no capture) pays for none of these; a step that reads its response gets a
parser reporting to a ResponseCapture instead.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadlens.engine.http_connection import HttpConnection

__all__ = ["MAX_CAPTURED_BODY", "ResponseCapture"]

# Checks and extraction see at most this much of a body; the rest is still read and counted
# (a huge response must not become a huge allocation per user).
MAX_CAPTURED_BODY = 8 * 1024 * 1024

_NOT_PARSED: Any = object()


class ResponseCapture:
    """Parser callbacks that keep one response's headers and (the start of its) body."""

    __slots__ = ("_body", "_conn", "_head", "_json", "headers", "keep_body", "truncated")

    def __init__(self, keep_body: bool) -> None:
        self.keep_body = keep_body
        self.headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._conn: HttpConnection | None = None
        self._head = False
        self._json: Any = _NOT_PARSED
        self.truncated = False

    def reset(self, conn: HttpConnection, head: bool) -> None:
        """Start collecting a new response on `conn`."""
        self._conn = conn
        self._head = head
        self.headers = []
        self._body = []
        self._json = _NOT_PARSED
        self.truncated = False

    # -- llhttp callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line (httptools hands over whole names and values)."""
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        """A response to HEAD ends here."""
        if self._head and self._conn is not None:
            self._conn.head_complete()

    def on_body(self, chunk: bytes) -> None:
        """Keep body bytes, up to MAX_CAPTURED_BODY."""
        if not self.keep_body or self.truncated:
            return
        self._body.append(chunk)
        if sum(map(len, self._body)) > MAX_CAPTURED_BODY:
            joined = b"".join(self._body)[:MAX_CAPTURED_BODY]
            self._body = [joined]
            self.truncated = True

    def on_message_complete(self) -> bool | None:
        """The response is complete (interim 1xx responses are not)."""
        if self._conn is None:
            return None
        if self._conn.on_message_complete():
            return True
        self.headers = []  # a 1xx: its headers are not the response's
        return False

    # -- what checks and extraction read -----------------------------------------------
    @property
    def body(self) -> bytes:
        """The body (its first MAX_CAPTURED_BODY bytes)."""
        if len(self._body) != 1:
            self._body = [b"".join(self._body)]
        return self._body[0]

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (once); raises ValueError if it is not JSON."""
        if self._json is _NOT_PARSED:
            if self.truncated:
                raise ValueError(f"the body is over {MAX_CAPTURED_BODY} bytes")
            self._json = json.loads(self.body)
        return self._json

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all_headers(self, name: bytes) -> list[bytes]:
        """Every value of header `name` (lower case), e.g. each Set-Cookie."""
        return [value for key, value in self.headers if key == name]

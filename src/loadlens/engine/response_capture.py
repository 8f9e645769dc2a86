"""A response's headers and body, kept for the steps whose checks or extraction read them.

llhttp calls into Python only for the callbacks its protocol object defines, so the plain
request path (no capture) pays for none of these. A capturing parser reports the body
(one call per chunk) but not each header: a callback per header cost more than the rest of
the capture together, so the connection hands over the raw head instead, and headers are
split out of it only when a check, an extraction or the cookie jar asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["MAX_CAPTURED_BODY", "ResponseCapture"]

# Checks and extraction see at most this much of a body; the rest is still read and counted
# (a huge response must not become a huge allocation per user).
MAX_CAPTURED_BODY = 8 * 1024 * 1024
_END_OF_HEAD = b"\r\n\r\n"
_INTERIM = re.compile(rb"HTTP/\d\.\d 1\d\d")
_SET_COOKIE = re.compile(rb"\r\nset-cookie:", re.IGNORECASE)

_NOT_PARSED: Any = object()


class ResponseCapture:
    """Parser callbacks that keep one response's head and (the start of its) body."""

    __slots__ = (
        "_body",
        "_head",
        "_headers",
        "_json",
        "_on_complete",
        "_on_head_complete",
        "head_done",
        "keep_body",
        "raw_head",
        "truncated",
    )

    def __init__(self, keep_body: bool) -> None:
        self.keep_body = keep_body
        self.raw_head = b""
        self.head_done = False
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._body: list[bytes] = []
        self._on_complete: Callable[[], bool] | None = None
        self._on_head_complete: Callable[[], None] | None = None
        self._head = False
        self._json: Any = _NOT_PARSED
        self.truncated = False

    def reset(
        self, on_complete: Callable[[], bool], on_head_complete: Callable[[], None], head: bool
    ) -> None:
        """Start collecting a new response; tell the connection when it is complete.

        `on_complete()` is the connection's own llhttp callback (False: an interim 1xx);
        `on_head_complete()` ends a response to HEAD, which has no body.
        """
        self._on_complete = on_complete
        self._on_head_complete = on_head_complete
        self._head = head
        self.raw_head = b""
        self.head_done = False
        self._headers = None
        self._body = []
        self._json = _NOT_PARSED
        self.truncated = False

    def feed_head(self, data: bytes) -> None:
        """Raw response bytes, until the head (status line and headers) is complete."""
        self.raw_head = data if not self.raw_head else self.raw_head + data
        end = self.raw_head.find(_END_OF_HEAD)
        # "HTTP/1.1 1xx": the status's first digit at offset 9 (a regex costs more)
        while end >= 0 and self.raw_head[9:10] == b"1" and _INTERIM.match(self.raw_head):
            # A 100 Continue (or other 1xx) head comes first: the real one follows it.
            self.raw_head = self.raw_head[end + 4 :]
            end = self.raw_head.find(_END_OF_HEAD)
        if end >= 0:
            self.raw_head = self.raw_head[: end + 2]
            self.head_done = True

    # -- llhttp callbacks ---------------------------------------------------------------
    def on_headers_complete(self) -> None:
        """A response to HEAD ends here."""
        if self._head and self._on_head_complete is not None:
            self._on_head_complete()

    def on_body(self, chunk: bytes) -> None:
        """Keep body bytes, up to MAX_CAPTURED_BODY."""
        if not self.keep_body or self.truncated:
            return
        self._body.append(chunk)
        if len(self._body) > 1 and sum(map(len, self._body)) > MAX_CAPTURED_BODY:
            self._body = [b"".join(self._body)[:MAX_CAPTURED_BODY]]
            self.truncated = True

    def on_message_complete(self) -> bool | None:
        """The response is complete (interim 1xx responses are not)."""
        if self._on_complete is None:
            return None
        return self._on_complete()

    # -- what checks, extraction and the cookie jar read --------------------------------
    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """(lower-case name, value) for each header line, split out on first use."""
        if self._headers is None:
            headers = []
            for line in self.raw_head.split(b"\r\n")[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers.append((name.strip().lower(), value.strip()))
            self._headers = headers
        return self._headers

    @property
    def sets_cookies(self) -> bool:
        """Whether the response has a Set-Cookie header (cheaper than splitting the head)."""
        # The substring test (a memchr-fast scan) spares the regex on most responses.
        return b"ookie" in self.raw_head and _SET_COOKIE.search(self.raw_head) is not None

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
            self._json = orjson.loads(self.body)  # orjson: about half json's time
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

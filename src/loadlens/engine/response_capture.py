"""A response's headers and body, kept for the steps whose checks or extraction read them.

llhttp calls into Python only for the callbacks its protocol object defines, so the plain
request path (no capture) pays for none of these. A capturing parser reports the body
(one call per chunk) but not each header: a callback per header cost more than the rest of
the capture together, so the connection hands over the raw head once it is whole, and
headers are split out of it only when a check, an extraction or the cookie jar asks.

What is kept is bounded: the body up to `max_body` bytes (`--max-body`), the rest counted
and dropped, in time linear in the bytes however the server chunks them. A hostile target
must not make one user's response a huge allocation, nor a slow one that stalls the
worker's loop and every other user's timing with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from loadlens.engine.response_framing import END_OF_HEAD, head_start, too_many_header_lines
from loadlens.scenario.model import DEFAULT_MAX_BODY

__all__ = ["ResponseCapture"]

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
        "body_size",
        "keep_body",
        "max_body",
        "raw_head",
        "truncated",
    )

    def __init__(self, keep_body: bool, max_body: int = DEFAULT_MAX_BODY) -> None:
        if max_body <= 0:
            raise ValueError(f"max_body must be above 0, not {max_body}")
        self.keep_body = keep_body
        self.max_body = max_body
        self.raw_head = b""
        self._headers: list[tuple[bytes, bytes]] | None = None
        # The first chunk is kept by reference; from a second one on, in one buffer.
        self._body: bytes | bytearray = b""
        self.body_size = 0  # every body byte received, kept or not
        self._on_complete: Callable[[], bool] | None = None
        self._on_head_complete: Callable[[], None] | None = None
        self._head = False
        self._json: Any = _NOT_PARSED
        self.truncated = False  # the body was longer than max_body: only its start is kept

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
        self._headers = None
        self._body = b""
        self.body_size = 0
        self._json = _NOT_PARSED
        self.truncated = False

    def take_head(self, head: bytes) -> str | None:
        """Keep the final head (interim responses already dropped), whole in `head`; the
        reason it is refused, if it has too many header lines to split."""
        start = head_start(head, 0)
        end = head.find(END_OF_HEAD, start)
        self.raw_head = head[start : end + 2] if end >= 0 else head[start:]
        return too_many_header_lines(self.raw_head)

    # -- llhttp callbacks ---------------------------------------------------------------
    def on_headers_complete(self) -> None:
        """A response to HEAD ends here."""
        if self._head and self._on_head_complete is not None:
            self._on_head_complete()

    def on_body(self, chunk: bytes) -> None:
        """Keep body bytes up to max_body; count them all."""
        seen = self.body_size
        self.body_size = seen + len(chunk)
        room = self.max_body - seen
        if len(chunk) > room:
            # Past max_body the bytes are only counted (the connection's bytes_in has them).
            self.truncated = True
            if room <= 0:
                return
            chunk = chunk[:room]
        if not seen:
            self._body = chunk  # the usual body: one chunk, no copy
            return
        body = self._body
        if isinstance(body, bytes):
            # (A buffer grown in place: joining a list of 1-byte chunks would cost ~40
            # bytes of objects per byte kept.)
            body = self._body = bytearray(body)
        body += chunk

    def on_message_complete(self) -> bool | None:
        """The response is complete (interim 1xx responses are not)."""
        if self._on_complete is None or self._head:
            # (A response to HEAD was ended at its headers, once: llhttp, not told the
            # method, may call this again for it.)
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
        """The body, or its first max_body bytes when it was longer (see `truncated`)."""
        body = self._body
        if isinstance(body, bytearray):
            body = self._body = bytes(body)
        return body

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON (once); raises ValueError if it is not JSON.

        A body cut at max_body is not JSON either: a JSON check or extraction on it fails
        (counted as a failed check or extraction), it does not crash the user.
        """
        if self._json is _NOT_PARSED:
            if self.truncated:
                raise ValueError(
                    f"the body ({self.body_size} bytes) was cut at {self.max_body} bytes "
                    "(--max-body): not parsed as JSON"
                )
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

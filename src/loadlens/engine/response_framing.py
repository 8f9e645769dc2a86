"""Where a response's head ends, how big it may be, and what a close mid-response means.

The head's end is looked for by hand (not by llhttp, which reports it only through a
Python call per message): a head may arrive split across any number of reads, behind
interim 1xx responses, and a hostile server may never end it. The limits below bound what
one response's head may cost; a head over them is a protocol error.

A response with neither Content-Length nor chunked encoding ends when the server closes
the connection. llhttp knows this, but httptools cannot tell it the connection ended, so
such a response never "completes". The hot-path parser reports only the end of each
message (no Python call per header); when a connection closes mid-response, the headers
are parsed again from the response's first bytes to decide what the close meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httptools

__all__ = [
    "END_OF_HEAD",
    "MAX_HEAD",
    "MAX_HEADER_LINES",
    "HeadResponse",
    "ends_at_close",
    "head_start",
    "keeps_alive",
    "too_many_header_lines",
]

END_OF_HEAD = b"\r\n\r\n"
# The most bytes a response may take to end its head, counted from its first byte (interim
# 1xx responses before it included, so a storm of them is bounded too). curl allows
# 100 KiB per header line; nginx's proxy buffers are 4-8 KiB; 64 KiB passes any real API.
MAX_HEAD = 64 * 1024
# The most header lines of a head that is split into headers (a step's checks, extraction,
# cookies, a Python scenario): Python's http.client's limit.
MAX_HEADER_LINES = 100

_NO_BODY = {204, 304}
# llhttp skips empty lines before a status line (a server's stray CRLF after a body).
_EMPTY_LINES = re.compile(rb"[\r\n]*")
_CONNECTION = re.compile(rb"\r\nconnection:[ \t]*([a-z-]+)", re.IGNORECASE)


def head_start(buf: bytes | bytearray, at: int) -> int:
    """Where the head that begins at or after `at` in `buf` starts, past empty lines."""
    match = _EMPTY_LINES.match(buf, at)
    return match.end() if match else at


def too_many_header_lines(head: bytes) -> str | None:
    """Why a head (status line and header lines) is refused, or None if it is within
    MAX_HEADER_LINES."""
    lines = head.count(b"\n") - 1  # each line ends in CRLF; the first is the status line
    if lines > MAX_HEADER_LINES:
        return f"response has {lines} header lines, over the limit of {MAX_HEADER_LINES}"
    return None


def keeps_alive(version: str, head: bytes) -> bool:
    """Whether a response leaves its connection open, by its version and headers alone
    (for a response to HEAD, which llhttp, not told the method, reads as running to the
    close when it has no length)."""
    said = {m.group(1).lower() for m in _CONNECTION.finditer(head)}
    if b"close" in said:
        return False
    return version != "1.0" or b"keep-alive" in said


class _HeadProbe:
    """Collects what framing the response headers declare."""

    __slots__ = ("complete", "framed")

    def __init__(self) -> None:
        self.framed = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        """Note Content-Length or Transfer-Encoding."""
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        """The head is all here."""
        self.complete = True


def ends_at_close(head: bytes) -> int:
    """The status of a close-delimited response whose first bytes are `head`, else 0.

    0 means the close cut the response short (declared framing, or headers incomplete).
    """
    probe = _HeadProbe()
    parser = httptools.HttpResponseParser(probe)
    try:
        parser.feed_data(head[:MAX_HEAD])
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return 0
    status = int(parser.get_status_code())
    if not probe.complete or probe.framed or status < 200 or status in _NO_BODY:
        return 0
    return status


class HeadResponse:
    """Parser callbacks for a response to HEAD, which ends at its headers.

    A HEAD response carries Content-Length but no body, and llhttp cannot be told the
    request's method; so for HEAD the parser reports to this object, which completes the
    request when the headers end, and the connection then starts a fresh parser.
    """

    __slots__ = ("_on_complete",)

    def __init__(self, on_complete: Callable[[], None]) -> None:
        self._on_complete = on_complete

    def on_headers_complete(self) -> None:
        """The response is complete."""
        self._on_complete()

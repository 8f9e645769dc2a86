"""Telling a response that ends at the connection's close from a truncated one.

A response with neither Content-Length nor chunked encoding ends when the server closes
the connection. llhttp knows this, but httptools cannot tell it the connection ended, so
such a response never "completes". The hot-path parser reports only the end of each
message (no Python call per header); when a connection closes mid-response, the headers
are parsed again from the response's first bytes to decide what the close meant.
"""

from __future__ import annotations

import httptools

__all__ = ["MAX_HEAD", "ends_at_close"]

_NO_BODY = {204, 304}
MAX_HEAD = 64 * 1024  # the most of a head kept (and parsed) to read a status or a header


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

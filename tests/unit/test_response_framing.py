"""What a clean close in the middle of a response means."""

from __future__ import annotations

import pytest

from loadlens.engine.response_framing import ends_at_close


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello", 200),
        (b"HTTP/1.0 404 Not Found\r\n\r\n", 404),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", 0),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0),
        (b"HTTP/1.1 200 OK\r\nContent-Type: te", 0),  # headers cut short
        (b"HTTP/1.1 204 No Content\r\n\r\n", 0),
        (b"garbage", 0),
    ],
)
def test_ends_at_close(head: bytes, status: int) -> None:
    assert ends_at_close(head) == status

"""A request's head is what was asked for and nothing more: no value can end a line early."""

from __future__ import annotations

import re

import pytest

from loadlens.engine.request_head import HeadError, encode_request


@pytest.mark.parametrize(
    ("method", "target", "headers", "problem"),
    [
        ("GET", "/", [("X-A", "a\r\nX-B: b")], "header 'X-A' has a line break"),
        ("GET", "/", [("X-A", "a\nb")], "header 'X-A' has a line break"),
        ("GET", "/", [("X-A", "a\x00")], "header 'X-A' has a line break"),
        ("GET", "/", [("X A", "a")], "'X A' is not a header name"),
        ("GET", "/", [("X-A:", "a")], "'X-A:' is not a header name"),
        ("GET / HTTP/1.1\r\nX: y\r\n\r\nGET", "/", [], "is not an HTTP method"),
        ("GET", "/a b", [], "must be percent-encoded"),
        ("GET", "/a\r\nX: y", [], "must be percent-encoded"),
    ],
)
def test_a_head_that_would_carry_more_than_asked_is_refused(
    method: str, target: str, headers: list[tuple[str, str]], problem: str
) -> None:
    with pytest.raises(HeadError, match=re.escape(problem)):
        encode_request(method, "h", target, headers, None)


def test_an_ordinary_head_is_encoded_as_given() -> None:
    sent = encode_request("PATCH", "h:8080", "/a%20b?q=1&r=%0D", [("X-Token", "a b\tc")], b"x")
    assert sent.startswith(b"PATCH /a%20b?q=1&r=%0D HTTP/1.1\r\nHost: h:8080\r\n")
    assert b"\r\nX-Token: a b\tc\r\n" in sent and sent.endswith(b"\r\n\r\nx")

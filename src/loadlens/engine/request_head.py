"""A request's head as bytes: the request line, default headers, the user's, and nothing
more (no value may end a line early and smuggle in a header or a request of its own)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from loadlens import __version__

__all__ = ["HeadError", "check_head", "encode_request", "head_lines", "needs_length"]


class HeadError(ValueError):
    """A method, URL or header that would break the request's head (or smuggle another)."""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token: methods, names
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")


def check_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> None:
    """Raise HeadError for anything that would end a line of the head early: a CR or LF in
    a value sent as-is would let it carry a header (or a request) of its own."""
    if not _TOKEN.fullmatch(method):
        raise HeadError(f"{method!r} is not an HTTP method")
    if _NOT_IN_TARGET.search(target):
        raise HeadError(f"{target!r}: spaces and control characters in a URL must be "
                        "percent-encoded")  # fmt: skip
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise HeadError(f"{name!r} is not a header name")
        if _LINE_BREAK.search(value):
            raise HeadError(f"header {name!r} has a line break (or NUL) in its value")


def head_lines(
    method: str, host_header: str, target: str, headers: Iterable[tuple[str, str]]
) -> list[str]:
    """The request line and headers, without Content-Length."""
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host_header}")
    if "user-agent" not in names:
        lines.append(f"User-Agent: loadlens/{__version__}")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return lines


def needs_length(method: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> bool:
    explicit = any(name.lower() == "content-length" for name, _ in headers)
    return not explicit and bool(body or method in ("POST", "PUT", "PATCH"))


def encode_request(
    method: str,
    host_header: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes | None,
) -> bytes:
    """One HTTP/1.1 request's bytes; raises HeadError for a method, URL or header that
    would break the head, UnicodeEncodeError for a non-Latin-1 one."""
    headers = list(headers)
    check_head(method, target, headers)
    lines = head_lines(method, host_header, target, headers)
    body = body or b""
    if needs_length(method, headers, body):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

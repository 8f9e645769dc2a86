"""However a response's bytes are split into reads, the connection and the capture make
the same of them: the same status or error kind, bytes_in, keep-alive, kept head and body.

Property-based (hypothesis): responses are drawn with interim 1xx responses before them,
empty lines, any headers (sometimes more than the limits allow), any framing (length,
chunks, the close) and any body, then fed whole and in arbitrary splits to HttpConnection
on a fake transport.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadlens.engine.http_connection import HttpConnection
from loadlens.engine.request_errors import RequestFailed
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_framing import MAX_HEAD, MAX_HEADER_LINES
from loadlens.metrics.request_result import ErrorKind
from support.fake_transport import FakeNetworkLoop, FakeTransport

pytestmark = pytest.mark.timeout(60)

GET = b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: example.test\r\n\r\n"
SPLITS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

_TOKEN = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).map(str.encode)
_VALUE = st.text("abcdefghijklmnopqrstuvwxyz0123456789 ;=/.,", max_size=24).map(
    lambda v: v.strip().encode()
)
_INTERIM = st.sampled_from(
    [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"]
)


@st.composite
def responses(draw: st.DrawFn, *, for_head: bool = False) -> bytes:
    """One response's bytes, as a server may send them."""
    status = draw(st.sampled_from([200, 201, 301, 404, 503]))
    headers = draw(st.lists(st.tuples(_TOKEN, _VALUE), max_size=8))
    if draw(st.integers(0, 9)) == 0:  # now and then, more lines than a capture allows
        headers += [(b"x-many", b"%d" % i) for i in range(MAX_HEADER_LINES)]
    if draw(st.integers(0, 19)) == 0:  # now and then, a head too long to accept
        headers.append((b"x-pad", b"p" * MAX_HEAD))
    body = draw(st.binary(max_size=300))
    framing = "length" if for_head else draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        headers.append((b"content-length", b"%d" % len(body)))
    elif framing == "chunked":
        headers.append((b"transfer-encoding", b"chunked"))
    head = b"HTTP/1.1 %d Whatever\r\n" % status
    head += b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers) + b"\r\n"
    before = b"".join(draw(st.lists(_INTERIM, max_size=3))) + b"\r\n" * draw(st.integers(0, 2))
    if for_head:
        return before + head
    if framing == "chunked":
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(body))), max_size=6))))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
    return before + head + body


@dataclass(frozen=True)
class Outcome:
    """What one request came to, as the caller and its capture see it."""

    status: int
    kind: ErrorKind | None
    bytes_in: int | None  # (at a failure, only what was read before it: not compared)
    keep_alive: bool | None
    head: bytes  # the connection's head, to its blank line (Server-Timing reads it)
    raw_head: bytes
    body: bytes
    body_size: int
    truncated: bool


def _outcome(
    data: bytes, cuts: list[int], *, method: bytes = GET, capture: ResponseCapture | None = None
) -> Outcome:
    """Send one request and answer it with `data`, read in pieces cut at `cuts`."""
    loop = FakeNetworkLoop()
    try:
        conn = HttpConnection(loop)
        server = FakeTransport(loop, conn)
        told: list[tuple[int, RequestFailed | None, int, bool]] = []

        def tell(conn: HttpConnection, status: int, failure: RequestFailed | None) -> None:
            told.append((status, failure, conn.bytes_in, conn.keep_alive))

        conn.send(method, method == HEAD, tell, 10.0, capture)
        edges = [0, *sorted(set(cuts)), len(data)]
        server.feed(*(data[a:b] for a, b in itertools.pairwise(edges) if b > a))
        server.hang_up()  # (a body that runs to the close ends here)
        loop.run_until_complete(loop.wait_idle())
    finally:
        loop.close()
    [(status, failure, bytes_in, keep_alive)] = told
    head = conn.head.lstrip(b"\r\n")  # (empty lines before it, which llhttp skips)
    end = head.find(b"\r\n\r\n")
    return Outcome(
        status,
        failure.kind if failure else None,
        None if failure else bytes_in,
        None if failure else keep_alive,
        b"" if failure else head[: end + 4],
        b"" if failure or capture is None else capture.raw_head,
        b"" if failure or capture is None else capture.body,
        0 if failure or capture is None else capture.body_size,
        False if failure or capture is None else capture.truncated,
    )


_CUTS = st.lists(st.integers(0, 70_000), max_size=24)


@SPLITS
@given(data=responses(), cuts=_CUTS)
def test_a_plain_request_reads_a_response_the_same_however_it_is_split(
    data: bytes, cuts: list[int]
) -> None:
    whole = _outcome(data, [])
    assert _outcome(data, [c for c in cuts if c < len(data)]) == whole
    if whole.kind is None:
        assert whole.bytes_in == len(data)


@SPLITS
@given(data=responses(), cuts=_CUTS, max_body=st.integers(1, 400), keep_body=st.booleans())
def test_a_capture_keeps_the_same_head_and_body_however_the_response_is_split(
    data: bytes, cuts: list[int], max_body: int, keep_body: bool
) -> None:
    def captured(cuts: list[int]) -> Outcome:
        return _outcome(data, cuts, capture=ResponseCapture(keep_body, max_body))

    whole = captured([])
    assert captured([c for c in cuts if c < len(data)]) == whole
    if whole.kind is None:
        assert whole.raw_head.startswith(b"HTTP/1.1 ") and b" 1" not in whole.raw_head[8:10]
        if keep_body:
            assert len(whole.body) == min(max_body, whole.body_size)
            assert whole.truncated is (whole.body_size > max_body)


@SPLITS
@given(data=responses(for_head=True), cuts=_CUTS)
def test_a_response_to_head_ends_at_its_head_however_it_is_split(
    data: bytes, cuts: list[int]
) -> None:
    whole = _outcome(data, [], method=HEAD, capture=ResponseCapture(False))
    assert _outcome(data, [c for c in cuts if c < len(data)], method=HEAD,
                    capture=ResponseCapture(False)) == whole  # fmt: skip


@settings(max_examples=40, deadline=None, database=None)
@given(data=responses())
def test_a_response_read_one_byte_at_a_time_is_read_as_one(data: bytes) -> None:
    if len(data) > 2_000:
        return  # (a padded head byte by byte is the slow-loris test's business)
    assert _outcome(data, list(range(1, len(data)))) == _outcome(data, [])

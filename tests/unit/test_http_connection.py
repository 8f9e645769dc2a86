"""HttpConnection on a fake transport: bytes in, one (status, failure) out, no sockets.

Time is the FakeNetworkLoop's virtual clock, so a 10 s timeout expires at exactly 10 s
without waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadlens.engine.http_connection import HttpConnection
from loadlens.engine.request_errors import RequestFailed
from loadlens.engine.response_capture import ResponseCapture
from loadlens.engine.response_framing import MAX_HEAD
from loadlens.metrics.request_result import ErrorKind
from support.fake_transport import FakeNetworkLoop, FakeTransport

pytestmark = pytest.mark.timeout(10)  # a broken chain must fail fast, not hang the run

GET = b"GET /items HTTP/1.1\r\nHost: example.test\r\n\r\n"
HEAD = b"HEAD /items HTTP/1.1\r\nHost: example.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CLOSE_DELIMITED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close"


@pytest.fixture
def loop() -> Iterator[FakeNetworkLoop]:
    loop = FakeNetworkLoop()
    yield loop
    loop.close()


class Responses:
    """The connection's callback: what it was told, and when (virtual seconds)."""

    def __init__(self, loop: FakeNetworkLoop) -> None:
        self._loop = loop
        self.calls: list[tuple[int, RequestFailed | None]] = []
        self.times: list[float] = []

    def __call__(self, conn: HttpConnection, status: int, failure: RequestFailed | None) -> None:
        self.calls.append((status, failure))
        self.times.append(self._loop.time())

    @property
    def kinds(self) -> list[ErrorKind | int]:
        """Each call as its status, or its failure's kind."""
        return [failure.kind if failure else status for status, failure in self.calls]

    @property
    def failure(self) -> RequestFailed:
        """The one failure reported."""
        [(status, failure)] = self.calls
        assert status == 0 and failure is not None
        return failure


def connect(loop: FakeNetworkLoop) -> tuple[HttpConnection, FakeTransport, Responses]:
    conn = HttpConnection(loop)
    return conn, FakeTransport(loop, conn), Responses(loop)


def settle(loop: FakeNetworkLoop) -> None:
    """Run what the loop has ready (connection_lost, say) without moving the clock."""
    loop.run_until_complete(loop.wait_idle())


def let_pass(loop: FakeNetworkLoop, seconds: float) -> None:
    loop.run_until_complete(loop.sleep(seconds))


def test_a_complete_response_is_delivered_once_and_the_connection_kept(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    assert server.writes == [GET]  # the payload, exactly, in one write
    server.feed(OK)
    assert responses.calls == [(200, None)]
    assert conn.keep_alive and not conn.closed and conn.bytes_in == len(OK)
    assert conn.head == OK  # the response's first bytes, as read for Server-Timing
    let_pass(loop, 60.0)  # its deadline passes: nothing more is said
    assert responses.calls == [(200, None)] and not server.aborted


@pytest.mark.parametrize(
    ("response", "status"),
    [(OK, 200), (CHUNKED, 201), (CONTINUE + OK, 200)],
    ids=["content-length", "chunked", "100-continue"],
)
def test_a_response_split_at_every_byte_completes_once(
    loop: FakeNetworkLoop, response: bytes, status: int
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed_bytewise(response[:-1])
    assert responses.calls == []  # one byte short is not complete
    server.feed(response[-1:])
    assert responses.calls == [(status, None)]
    assert conn.bytes_in == len(response) and conn.keep_alive
    settle(loop)
    assert len(responses.calls) == 1


def test_a_keep_alive_connection_carries_request_after_request(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    for i in range(3):
        conn.send(GET, False, responses, 10.0)
        server.feed(CHUNKED if i % 2 else OK)
        assert conn.bytes_in == len(CHUNKED if i % 2 else OK)  # per request, not cumulative
    assert server.sent == GET * 3
    assert responses.kinds == [200, 201, 200] and conn.requests_sent == 3


def test_the_next_request_can_be_sent_from_inside_the_callback(loop: FakeNetworkLoop) -> None:
    # The request cycle chains its next request from the response callback.
    conn, server, responses = connect(loop)

    def and_again(c: HttpConnection, status: int, failure: RequestFailed | None) -> None:
        responses(c, status, failure)
        if len(responses.calls) < 3:
            c.send(GET, False, and_again, 10.0)

    conn.send(GET, False, and_again, 10.0)
    for _ in range(3):
        server.feed(OK)
    assert responses.kinds == [200, 200, 200] and server.sent == GET * 3


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_keep_alive_is_what_the_response_says(
    loop: FakeNetworkLoop, head: bytes, keep_alive: bool
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(head)
    assert responses.kinds == [200]
    assert conn.keep_alive is keep_alive
    assert not conn.closed  # closing it is the caller's business


def test_an_interim_100_continue_is_not_the_response(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(CONTINUE)
    assert responses.calls == []
    server.feed(OK)
    assert responses.calls == [(200, None)]
    assert conn.bytes_in == len(CONTINUE) + len(OK)


def test_a_head_response_ends_at_its_headers_and_the_next_response_parses(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(HEAD, True, responses, 10.0)
    head_only = OK[: OK.index(b"\r\n\r\n") + 4]  # Content-Length: 5, and no body
    server.feed(head_only)
    assert responses.calls == [(200, None)] and conn.keep_alive
    # The next response on the connection is read from its first byte, not as HEAD's body.
    conn.send(GET, False, responses, 10.0)
    server.feed(CHUNKED)
    assert responses.kinds == [200, 201]
    assert not conn.closed


@pytest.mark.parametrize(
    ("head", "keeps"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_a_head_response_without_a_length_keeps_the_connection_unless_it_says_close(
    loop: FakeNetworkLoop, head: bytes, keeps: bool
) -> None:
    conn, server, responses = connect(loop)
    conn.send(HEAD, True, responses, 10.0)
    server.feed(head)
    assert responses.calls == [(200, None)]
    assert conn.keep_alive is keeps


@pytest.mark.parametrize("before_any_request", [True, False])
def test_bytes_nobody_asked_for_close_the_connection(
    loop: FakeNetworkLoop, before_any_request: bool
) -> None:
    conn, server, responses = connect(loop)
    if not before_any_request:
        conn.send(GET, False, responses, 10.0)
        server.feed(OK)
    server.feed(b"HTTP/1.1 200 OK\r\n")
    assert conn.closed and server.aborted
    settle(loop)
    assert server.lost_calls == 1
    assert responses.kinds == ([] if before_any_request else [200])


def test_junk_after_a_complete_response_counts_the_same_however_it_arrives(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK + b"JUNK")
    assert responses.calls == [(200, None)]
    assert conn.closed and not conn.keep_alive  # out of step: not used again


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"SMTP ready\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ],
    ids=["bad-status", "not-http", "two-lengths", "bad-chunk", "upgrade"],
)
def test_a_malformed_response_is_a_protocol_failure(loop: FakeNetworkLoop, response: bytes) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(response)
    assert responses.failure.kind is ErrorKind.PROTOCOL
    assert not responses.failure.retryable
    assert conn.closed and server.aborted
    settle(loop)  # connection_lost after the close reports nothing more
    assert len(responses.calls) == 1 and server.lost_calls == 1


def test_a_connection_lost_mid_body_is_a_reset(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK[:-2])
    server.hang_up()
    assert responses.calls == []  # connection_lost comes from the loop
    settle(loop)
    assert responses.failure.kind is ErrorKind.RESET
    assert not responses.failure.retryable  # the server had begun to answer
    assert conn.closed and conn.bytes_in == len(OK) - 2


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (None, ErrorKind.RESET),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.RESET),
        (TimeoutError(110, "Connection timed out"), ErrorKind.READ_TIMEOUT),
    ],
)
def test_how_the_connection_was_lost_names_the_failure(
    loop: FakeNetworkLoop, error: Exception | None, kind: ErrorKind
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK[:20])
    if error is None:
        server.hang_up()
    else:
        server.reset(error)
    settle(loop)
    assert responses.failure.kind is kind


@pytest.mark.parametrize(
    ("served_before", "received", "retryable"),
    [(1, b"", True), (0, b"", False), (1, b"HTTP/1.1 2", False)],
    ids=["reused-silent", "fresh-silent", "reused-partial"],
)
def test_a_lost_request_is_retryable_only_if_a_reused_connection_said_nothing(
    loop: FakeNetworkLoop, served_before: int, received: bytes, retryable: bool
) -> None:
    conn, server, responses = connect(loop)
    for _ in range(served_before):
        conn.send(GET, False, responses, 10.0)
        server.feed(OK)
    conn.send(GET, False, responses, 10.0)
    server.feed(received)
    server.hang_up()
    settle(loop)
    failure = responses.calls[-1][1]
    assert failure is not None and failure.kind is ErrorKind.RESET
    assert failure.retryable is retryable


def test_a_send_on_a_closed_connection_fails_from_the_loop_not_inside_send(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK)
    server.hang_up()  # an idle keep-alive connection closed by the server
    settle(loop)
    assert conn.closed and responses.kinds == [200]
    conn.send(GET, False, responses, 10.0)
    assert responses.kinds == [200]  # never re-entrantly
    assert server.writes == [GET]
    settle(loop)
    assert responses.kinds == [200, ErrorKind.RESET]
    assert responses.calls[-1][1] is not None and responses.calls[-1][1].retryable


@pytest.mark.parametrize(
    "chunks",
    [[CLOSE_DELIMITED], [CLOSE_DELIMITED[:-5], CLOSE_DELIMITED[-5:]]],
    ids=["one-segment", "body-in-two"],
)
def test_a_body_that_ends_at_the_close_completes_with_its_status(
    loop: FakeNetworkLoop, chunks: list[bytes]
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(*chunks)
    assert responses.calls == []  # no length: only the close can end it
    server.hang_up()
    settle(loop)
    assert responses.calls == [(200, None)]
    assert not conn.keep_alive and conn.bytes_in == len(CLOSE_DELIMITED)


@pytest.mark.parametrize(
    "chunks",
    [
        [CLOSE_DELIMITED[:17], CLOSE_DELIMITED[17:]],  # the status line, then the rest
        [CONTINUE, CLOSE_DELIMITED],  # a 100 Continue first, on its own
    ],
    ids=["head-in-two", "after-100-continue"],
)
def test_a_body_that_ends_at_the_close_completes_however_its_head_arrived(
    loop: FakeNetworkLoop, chunks: list[bytes]
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(*chunks)
    server.hang_up()
    settle(loop)
    assert responses.calls == [(200, None)]


def test_a_close_cutting_a_declared_body_short_is_not_a_completion(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(CHUNKED[:-5])
    server.hang_up()
    settle(loop)
    assert responses.failure.kind is ErrorKind.RESET


def test_no_complete_response_in_time_is_a_read_timeout_at_the_deadline(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    sent_at = loop.time()
    conn.send(GET, False, responses, 10.0)
    server.feed(OK[:10])
    let_pass(loop, 9.999)
    assert responses.calls == []
    let_pass(loop, 60.0)
    assert responses.failure.kind is ErrorKind.READ_TIMEOUT
    assert responses.times == [sent_at + 10.0]
    assert conn.closed and server.aborted
    server.feed(OK[10:])  # too late: the connection is gone
    assert len(responses.calls) == 1


def test_the_timer_follows_the_newest_request_deadline(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK)
    let_pass(loop, 6.0)
    # The first request's timer is still armed (for t0 + 10); this one's deadline is t0 + 16.
    started = loop.time()
    conn.send(GET, False, responses, 10.0)
    let_pass(loop, 60.0)
    assert responses.kinds == [200, ErrorKind.READ_TIMEOUT]
    assert responses.times[1] == started + 10.0


def test_a_shorter_timeout_than_the_armed_timer_expires_on_time(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 30.0)
    server.feed(OK)
    started = loop.time()
    conn.send(GET, False, responses, 0.5)
    let_pass(loop, 60.0)
    assert responses.kinds == [200, ErrorKind.READ_TIMEOUT]
    assert responses.times[1] == started + 0.5


def test_a_detached_request_is_never_reported(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 1.0)
    conn.detach()
    server.feed(OK)
    let_pass(loop, 5.0)
    server.hang_up()
    settle(loop)
    assert responses.calls == []


def test_close_aborts_the_transport_and_connection_lost_comes_once(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 1.0)
    conn.detach()
    conn.close()
    conn.close()
    assert server.aborted and server.is_closing()
    settle(loop)
    assert server.lost_calls == 1 and responses.calls == []


def test_bytes_in_counts_every_byte_of_the_response(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    response = CONTINUE + CHUNKED
    server.feed(response[:3], response[3:40], response[40:])
    assert responses.kinds == [201]
    assert conn.bytes_in == len(response)


def test_a_head_split_across_reads_is_kept_whole_for_its_headers(loop: FakeNetworkLoop) -> None:
    # A Server-Timing header (or a close-delimited status) may come in a later segment.
    timed = b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=12\r\nContent-Length: 2\r\n\r\n{}"
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(CONTINUE, timed[:20], timed[20:40], timed[40:])
    settle(loop)
    assert responses.calls == [(200, None)]
    # The interim response dropped, the real head gathered whole (and no more of the body).
    assert conn.head == timed[: timed.index(b"\r\n\r\n") + 4]


# -- limits and hostile servers -----------------------------------------------------------
def _head_of(size: int) -> bytes:
    """A response head of exactly `size` bytes (its blank line included)."""
    start, end = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"p" * (size - len(start) - len(end)) + end


@pytest.mark.parametrize(
    ("size", "reads"),
    [(MAX_HEAD, 1), (MAX_HEAD + 1, 1), (MAX_HEAD, 7), (MAX_HEAD + 1, 7), (MAX_HEAD + 1, 1000)],
)
def test_a_head_must_end_within_max_head_however_it_is_read(
    loop: FakeNetworkLoop, size: int, reads: int
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    head = _head_of(size)
    step = -(-len(head) // reads)
    server.feed(*(head[i : i + step] for i in range(0, len(head), step)))
    if size <= MAX_HEAD:
        assert responses.calls == [(200, None)] and not conn.closed
    else:
        assert responses.failure.kind is ErrorKind.PROTOCOL
        assert str(MAX_HEAD) in str(responses.failure)
        assert conn.closed and server.aborted


def test_endless_headers_fail_once_past_the_limit_not_at_the_timeout(
    loop: FakeNetworkLoop,
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Filler: " + b"f" * 52 + b"\r\n"
    fed = 0
    while not responses.calls and fed < 4 * MAX_HEAD:
        server.feed(line * 16)
        fed += len(line) * 16
    assert responses.failure.kind is ErrorKind.PROTOCOL
    assert MAX_HEAD < conn.bytes_in <= MAX_HEAD + len(line) * 16  # no further than needed
    assert loop.time() == 1000.0  # not by the clock


@pytest.mark.parametrize(("interims", "fails"), [(3, False), (MAX_HEAD // len(CONTINUE) + 1, True)])
def test_interim_responses_count_towards_the_head_limit(
    loop: FakeNetworkLoop, interims: int, fails: bool
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(CONTINUE * interims + OK)
    if fails:
        assert responses.failure.kind is ErrorKind.PROTOCOL
    else:
        assert responses.calls == [(200, None)]
        assert conn.head.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("extra", [OK, CHUNKED])
def test_a_second_response_in_the_same_read_does_not_replace_ours(
    loop: FakeNetworkLoop, extra: bytes
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK + extra.replace(b"201 Created", b"503 Busy"))
    assert responses.calls == [(200, None)]
    assert not conn.keep_alive  # out of step: the caller drops it


def test_one_response_alone_keeps_the_connection(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(OK)
    assert responses.calls == [(200, None)] and conn.keep_alive


@pytest.mark.parametrize("before_the_send", [True, False])
def test_a_server_that_speaks_first_is_a_protocol_error_either_way(
    loop: FakeNetworkLoop, before_the_send: bool
) -> None:
    conn, server, responses = connect(loop)
    greeting = b"SSH-2.0-OpenSSH_9.6\r\n"
    if before_the_send:
        server.feed(greeting)
        conn.send(GET, False, responses, 10.0)
    else:
        conn.send(GET, False, responses, 10.0)
        server.feed(greeting)
    settle(loop)
    assert responses.failure.kind is ErrorKind.PROTOCOL
    assert not responses.failure.retryable
    assert len(responses.calls) == 1  # connection_lost after our close says nothing more


def test_a_fresh_connection_closed_before_its_request_is_a_reset(loop: FakeNetworkLoop) -> None:
    conn, server, responses = connect(loop)
    server.hang_up()
    settle(loop)
    conn.send(GET, False, responses, 10.0)
    settle(loop)
    assert responses.failure.kind is ErrorKind.RESET and not responses.failure.retryable


@pytest.mark.parametrize("upgrade", [b"Upgrade: websocket\r\nConnection: Upgrade\r\n", b""])
def test_an_unasked_101_is_a_protocol_error_that_says_so(
    loop: FakeNetworkLoop, upgrade: bytes
) -> None:
    conn, server, responses = connect(loop)
    conn.send(GET, False, responses, 10.0)
    server.feed(b"HTTP/1.1 101 Switching Protocols\r\n%s\r\n\x81\x05hello" % upgrade)
    assert responses.failure.kind is ErrorKind.PROTOCOL
    assert "101" in str(responses.failure)


@pytest.mark.parametrize("blank", [b"\r\n", b"\r\n\r\n\r\n"])
def test_empty_lines_before_a_status_line_are_skipped(loop: FakeNetworkLoop, blank: bytes) -> None:
    # (llhttp skips them too: a server's stray CRLF after a body.)
    conn, server, responses = connect(loop)
    capture = ResponseCapture(keep_body=False)
    conn.send(GET, False, responses, 10.0, capture)
    server.feed(blank, OK[:20], OK[20:])
    assert responses.calls == [(200, None)]
    assert capture.header(b"content-type") == b"text/plain"

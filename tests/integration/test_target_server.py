"""The target server itself: each behaviour, checked with plain sockets and http.client."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time

import httptools
import pytest
import trustme

from support.target_server import (
    CHUNKED_BODY,
    MALFORMED_RESPONSE,
    MIB,
    OK_BODY,
    RESET_PREFIX,
    TargetServer,
    port_blackholed,
    port_refusing,
)

pytestmark = pytest.mark.timeout(30)


def _conn(server: TargetServer, timeout: float = 5.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def _get(server: TargetServer, path: str, method: str = "GET") -> http.client.HTTPResponse:
    conn = _conn(server)
    conn.request(method, path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def _raw(server: TargetServer, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def _request(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


class _Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def _read_response(sock: socket.socket) -> _Response:
    """Read exactly one response from a raw socket (no pipelining behind it)."""
    resp = _Response()
    parser = httptools.HttpResponseParser(resp)
    while not resp.complete:
        data = sock.recv(65536)
        assert data, "connection closed before the response was complete"
        parser.feed_data(data)
    resp.status = parser.get_status_code()
    return resp


def test_ok_keeps_the_connection_alive(target_server: TargetServer) -> None:
    conn = _conn(target_server)
    for _ in range(3):
        conn.request("GET", "/ok")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "application/json"
        assert body == OK_BODY
        assert json.loads(body)["status"] == "ok"
    conn.close()
    assert 150 <= len(OK_BODY) <= 260
    assert target_server.connections_opened == 1
    assert target_server.requests_seen == 3
    assert target_server.requests_by_path == {"/ok": 3}
    _get(target_server, "/ok")
    assert target_server.requests_per_connection == [3, 1]


def test_pipelined_requests_are_answered_in_order(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.sendall(_request("/delay?ms=100") + _request("/status?code=201"))
        data = b""
        deadline = time.monotonic() + 3
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
            assert time.monotonic() < deadline, data
            data += sock.recv(65536)
    first, second = data.index(b"HTTP/1.1 200"), data.index(b"HTTP/1.1 201")
    assert first < second
    assert target_server.requests_seen == 2
    assert target_server.connections_opened == 1


def test_request_body_with_content_length_is_read(target_server: TargetServer) -> None:
    payload = b'{"name": "widget", "qty": 3}'
    conn = _conn(target_server)
    conn.request(
        "POST",
        "/echo?x=1",
        body=payload,
        headers={"Content-Type": "application/json", "X-Test": "abc"},
    )
    resp = conn.getresponse()
    echoed = json.loads(resp.read())
    conn.request("GET", "/ok")  # the connection is still usable after a body
    assert conn.getresponse().read() == OK_BODY
    conn.close()
    assert echoed["method"] == "POST"
    assert echoed["query"] == {"x": "1"}
    assert echoed["headers"]["x-test"] == "abc"
    assert echoed["body_length"] == len(payload)
    assert json.loads(echoed["body"]) == {"name": "widget", "qty": 3}
    last = target_server.last_echo
    assert last is not None and last.header("content-type") == "application/json"
    assert bytes(last.body) == payload


def test_delay_answers_after_the_given_time(target_server: TargetServer) -> None:
    start = time.monotonic()
    resp = _get(target_server, "/delay?ms=150")
    elapsed = time.monotonic() - start
    assert resp.status == 200
    assert 0.14 <= elapsed < 0.6


@pytest.mark.parametrize("code", [200, 404, 429, 500, 503, 599])
def test_status_returns_the_requested_code(target_server: TargetServer, code: int) -> None:
    assert _get(target_server, f"/status?code={code}").status == code


def test_close_sends_connection_close_and_closes(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.sendall(_request("/close"))
        resp = _read_response(sock)
        assert resp.status == 200
        assert resp.headers["connection"] == "close"
        assert bytes(resp.body) == OK_BODY
        assert sock.recv(1024) == b""  # EOF: the server closed


def test_reset_aborts_with_rst_after_partial_headers(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.sendall(_request("/reset"))
        received = b""
        with pytest.raises(ConnectionResetError):
            while True:
                data = sock.recv(65536)
                if not data:
                    pytest.fail(f"clean EOF instead of RST after {received!r}")
                received += data
    # Linux delivers what arrived before the RST; either way no complete header block.
    assert RESET_PREFIX.startswith(received)
    assert target_server.requests_by_path == {"/reset": 1}


def test_hang_never_answers_but_counts(target_server: TargetServer) -> None:
    with _raw(target_server, timeout=0.5) as sock:
        sock.sendall(_request("/hang"))
        with pytest.raises(TimeoutError):
            sock.recv(1024)
        assert target_server.requests_by_path == {"/hang": 1}
        assert target_server.connections_open == 1


def test_malformed_writes_an_unparsable_status_line(target_server: TargetServer) -> None:
    with _raw(target_server, timeout=0.5) as sock:
        sock.sendall(_request("/malformed"))
        data = b""
        while len(data) < len(MALFORMED_RESPONSE):
            data += sock.recv(1024)
        assert data == MALFORMED_RESPONSE
        with pytest.raises(httptools.HttpParserError):
            httptools.HttpResponseParser(_Response()).feed_data(data)
        with pytest.raises(TimeoutError):  # and the connection stays open
            sock.recv(1024)


def test_big_streams_the_whole_body(target_server: TargetServer) -> None:
    conn = _conn(target_server)
    conn.request("GET", "/big?mb=8")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Length") == str(8 * MIB)
    total = 0
    while chunk := resp.read(1 << 20):
        total += len(chunk)
    assert total == 8 * MIB
    conn.request("GET", "/ok")  # keep-alive still works after the stream
    assert conn.getresponse().read() == OK_BODY
    conn.close()


def test_big_respects_flow_control_with_a_slow_reader(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(_request("/big?mb=50"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, first = data.partition(b"\r\n\r\n")
        assert f"Content-Length: {50 * MIB}".encode() in head
        time.sleep(0.5)  # the server must stop writing, not queue 50 MiB for us
        assert target_server.peak_write_buffer < 2 * MIB
        total = len(first)
        deadline = time.monotonic() + 20
        while total < 50 * MIB:
            assert time.monotonic() < deadline
            data = sock.recv(1 << 20)
            assert data
            total += len(data)
    assert target_server.peak_write_buffer < 2 * MIB


def test_chunked_uses_transfer_encoding(target_server: TargetServer) -> None:
    conn = _conn(target_server)
    conn.request("GET", "/chunked")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Length") is None
    assert resp.read() == CHUNKED_BODY
    conn.close()


def test_head_has_content_length_but_no_body(target_server: TargetServer) -> None:
    with _raw(target_server, timeout=0.5) as sock:
        sock.sendall(_request("/head-ok", "HEAD"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert f"Content-Length: {len(OK_BODY)}".encode() in head
        assert rest == b""
        with pytest.raises(TimeoutError):
            sock.recv(1024)  # no body follows
    assert target_server.requests_by_method == {"HEAD": 1}


def test_nocontent_is_204_without_body(target_server: TargetServer) -> None:
    conn = _conn(target_server)
    conn.request("GET", "/nocontent")
    resp = conn.getresponse()
    assert resp.status == 204
    assert resp.read() == b""
    conn.request("GET", "/ok")
    assert conn.getresponse().read() == OK_BODY
    conn.close()


def test_stall_holds_responses_inside_the_window(target_server: TargetServer) -> None:
    every, window = 1.0, 0.3
    path = f"/stall?every={every}&ms={window * 1000:.0f}"
    # Wait for the phase to be just past a window (0.5 s into the cycle): answered at once.
    phase = (time.monotonic() - target_server.start_time) % every
    time.sleep((0.5 - phase) % every)
    start = time.monotonic()
    assert _get(target_server, path).status == 200
    assert time.monotonic() - start < 0.15
    # Now just inside the next window: held until it ends (~0.28 s).
    phase = (time.monotonic() - target_server.start_time) % every
    time.sleep((every - phase + 0.02) % every)
    start = time.monotonic()
    resp = _get(target_server, path)
    held = time.monotonic() - start
    assert resp.status == 200
    assert 0.2 <= held <= 0.45
    holds = target_server.stall_holds
    assert holds[0] == 0.0
    assert 0.2 <= holds[1] <= 0.3


def test_idle_close_closes_only_idle_connections(target_server: TargetServer) -> None:
    with _raw(target_server, timeout=2) as sock:
        sock.sendall(_request("/idle-close?after_ms=200"))
        _read_response(sock)
        time.sleep(0.05)  # a new request before the timeout keeps the connection
        sock.sendall(_request("/idle-close?after_ms=200"))
        _read_response(sock)
        start = time.monotonic()
        assert sock.recv(1024) == b""
        assert 0.15 <= time.monotonic() - start < 1.0
    assert target_server.idle_closes == 1
    assert target_server.requests_by_path == {"/idle-close": 2}


def test_unknown_path_is_404(target_server: TargetServer) -> None:
    assert _get(target_server, "/nope").status == 404
    assert target_server.requests_by_path == {"/nope": 1}


def test_client_asking_to_close_is_honoured(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.sendall(_request("/ok", extra="Connection: close\r\n"))
        resp = _read_response(sock)
        assert resp.headers["connection"] == "close"
        assert sock.recv(1024) == b""


def test_garbage_request_gets_400_and_close(target_server: TargetServer) -> None:
    with _raw(target_server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        while chunk := sock.recv(1024):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")


def test_counters_reset(target_server: TargetServer) -> None:
    _get(target_server, "/ok")
    _get(target_server, "/nope")
    assert target_server.requests_seen == 2
    assert target_server.connections_opened == 2
    target_server.reset_counts()
    assert target_server.requests_seen == 0
    assert target_server.requests_by_path == {}
    assert target_server.connections_opened == 0
    _get(target_server, "/ok")
    assert target_server.requests_by_path == {"/ok": 1}


def test_url_and_port(target_server: TargetServer) -> None:
    assert target_server.port > 0
    assert target_server.url("/ok") == f"http://127.0.0.1:{target_server.port}/ok"
    assert target_server.url("delay?ms=5").endswith("/delay?ms=5")


def test_stop_closes_open_connections() -> None:
    server = TargetServer().start()
    sock = _raw(server, timeout=2)
    sock.sendall(_request("/hang"))
    server.wait_for(lambda s: s.requests_seen == 1)
    server.stop()
    try:
        assert sock.recv(1024) == b""
    except ConnectionResetError:
        pass  # aborted: also closed
    finally:
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_port_refusing_refuses() -> None:
    port = port_refusing()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_tls_server_with_trustme() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with TargetServer(ssl_context=server_ctx) as server:
        assert server.url("/ok").startswith("https://127.0.0.1:")
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=client_ctx, timeout=5)
        conn.request("GET", "/ok")
        assert conn.getresponse().read() == OK_BODY
        conn.close()
        # An untrusting client fails the handshake.
        with pytest.raises(ssl.SSLCertVerificationError):
            conn = http.client.HTTPSConnection(
                "127.0.0.1", server.port, context=ssl.create_default_context(), timeout=5
            )
            conn.request("GET", "/ok")
        assert server.requests_seen == 1


def test_port_blackholed_makes_connects_hang() -> None:
    with port_blackholed() as port:
        sock = socket.socket()
        sock.settimeout(0.3)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.connect(("127.0.0.1", port))
        assert time.monotonic() - start >= 0.25
        sock.close()

"""The engine against hostile targets: every way a server can misbehave on a connection
ends as the exact ErrorKind (or the response it was), without a crash, and without
harming the other users of the same worker.

Each case runs the engine's own users (tests/support/engine_users.py) on one real event
loop against the target server on 127.0.0.1: one user on the hostile path, and a healthy
user on /ok beside it, whose median latency must stay low (a quadratic read, or a
stalled loop, shows there first: a review once measured a p50 of ~1 s behind a trickled
94 KB body).
"""

from __future__ import annotations

import socket
import ssl
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from loadlens.engine.response_framing import MAX_HEAD
from loadlens.scenario.model import CheckKind, CheckSpec, RequestSpec
from support.cli import LoadlensRunner, check_result
from support.engine_users import UserPlan, UserResults, run_users
from support.target_server import MIB, TargetServer

pytestmark = pytest.mark.timeout(60)

HEALTHY_P50_MS = 50.0  # /ok alone answers in well under 1 ms


def _request(server: TargetServer, path: str, *checks: CheckSpec) -> RequestSpec:
    return RequestSpec(name=path, url=server.url(path), checks=checks)


def _check(kind: CheckKind, target: str = "", value: Any = None) -> CheckSpec:
    return CheckSpec(name=f"{kind} {target} {value}", kind=kind, target=target, value=value)


def _beside_healthy(
    server: TargetServer, plan: UserPlan, *, seconds: float = 0.3, **options: Any
) -> UserResults:
    """Run `plan` and a healthy user at once; the healthy one must not notice."""
    healthy = UserPlan(_request(server, "/ok"), pause=0.005)
    hostile, ok = run_users(plan, healthy, seconds=seconds, **options)
    assert ok.outcomes == {"ok": len(ok.results)} and len(ok.results) >= 5, ok.outcomes
    assert ok.p50_ms < HEALTHY_P50_MS, f"healthy p50 {ok.p50_ms:.1f} ms beside {plan}"
    return hostile


# -- the head -----------------------------------------------------------------------------
def test_a_head_that_never_ends_slowly_is_a_read_timeout(target_server: TargetServer) -> None:
    plan = UserPlan(_request(target_server, "/slowloris?ms=5"), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=0.3)
    assert hostile.outcomes == {"read-timeout": 2}
    assert hostile.connections_opened == 2  # a timed-out connection is never reused


def test_a_head_trickled_byte_by_byte_is_gathered_whole(target_server: TargetServer) -> None:
    # Every byte in its own read: the head (and its late Server-Timing header) is still
    # read whole, and the body after it.
    checks = (
        _check("header-contains", "server-timing", "app;dur=7"),
        _check("body-contains", value="tttt"),
    )
    plan = UserPlan(_request(target_server, "/trickle?piece=1&ms=1&body=20", *checks), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=5.0)
    assert hostile.outcomes == {"ok": 2} and hostile.statuses == [200, 200]
    assert hostile.connections_opened == 1


def test_endless_headers_are_a_protocol_error_at_the_head_limit(
    target_server: TargetServer,
) -> None:
    plan = UserPlan(_request(target_server, "/endless-headers?kb=8&ms=1"), requests=3)
    hostile = _beside_healthy(target_server, plan, timeout=5.0)
    assert hostile.outcomes == {"protocol": 3}
    assert hostile.connections_opened == 3  # each one dropped
    # Refused in the read that took the head past the limit (a read holds at most 256
    # KiB), not after the megabytes the server sends until the 5 s timeout.
    for result in hostile.results:
        assert MAX_HEAD < result.bytes_in < MAX_HEAD + 256 * 1024, result.bytes_in


@pytest.mark.parametrize(("lines", "outcome"), [(150, "protocol"), (100, "ok")])
def test_too_many_header_lines_fail_a_step_that_reads_headers(
    target_server: TargetServer, lines: int, outcome: str
) -> None:
    check = _check("header-equals", "content-length", "2")
    plan = UserPlan(_request(target_server, f"/headers?n={lines}", check), requests=2)
    hostile = _beside_healthy(target_server, plan)
    assert hostile.outcomes == {outcome: 2}


def test_many_header_lines_pass_a_request_that_reads_nothing(target_server: TargetServer) -> None:
    # Without checks the headers are never split: the 64 KiB head limit alone bounds them.
    plan = UserPlan(_request(target_server, "/headers?n=150"), requests=2)
    assert _beside_healthy(target_server, plan).outcomes == {"ok": 2}


# -- the body -----------------------------------------------------------------------------
def test_a_trickled_body_is_read_whole(target_server: TargetServer) -> None:
    check = _check("body-contains", value="t" * 4000)
    plan = UserPlan(_request(target_server, "/trickle?piece=16&ms=1&body=4000", check), requests=1)
    hostile = _beside_healthy(target_server, plan, timeout=5.0)
    assert hostile.outcomes == {"ok": 1}


@pytest.mark.parametrize("chunks", [1_000, 100_000])
def test_tiny_chunks_are_read_in_linear_time(target_server: TargetServer, chunks: int) -> None:
    # 100,000 one-byte chunks (~600 KB on the wire) into a kept body: summing the chunks
    # kept at every new one took minutes; the healthy user beside it would have waited.
    check = _check("json-exists", "$", True)
    plan = UserPlan(_request(target_server, f"/tiny-chunks?n={chunks}", check), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=5.0)
    assert hostile.outcomes == {"ok": 2}


def test_a_json_check_on_a_body_cut_at_max_body_fails_as_a_check(
    target_server: TargetServer,
) -> None:
    checks = (_check("json-exists", "$", True), _check("body-contains", value="ccc"))
    plan = UserPlan(_request(target_server, "/tiny-chunks?n=5000", *checks), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=5.0, max_body=1024)
    assert hostile.outcomes == {"check-failed": 2}  # not a crash, not a protocol error
    assert hostile.statuses == [200, 200]
    # Every byte was still read and counted.
    assert all(r.bytes_in > 5000 * 6 for r in hostile.results)


def test_a_body_that_never_ends_is_a_read_timeout(target_server: TargetServer) -> None:
    check = _check("body-contains", value="eee")
    plan = UserPlan(_request(target_server, "/endless-body?kb=64&ms=2", check), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=0.3, max_body=64 * 1024)
    assert hostile.outcomes == {"read-timeout": 2}
    assert all(r.bytes_in > 64 * 1024 for r in hostile.results)


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "unread"])
def test_a_50_mb_body_is_counted_not_kept(
    target_server: TargetServer, traced: None, checked: bool
) -> None:
    checks = (_check("body-contains", value="xxxx"),) if checked else ()
    plan = UserPlan(_request(target_server, "/big?mb=50", *checks), requests=1)
    tracemalloc.reset_peak()
    hostile = _beside_healthy(target_server, plan, timeout=10.0)
    _, peak = tracemalloc.get_traced_memory()
    assert hostile.outcomes == {"ok": 1}
    [result] = hostile.results
    assert 50 * MIB < result.bytes_in < 50 * MIB + 512  # every byte, and the head
    # At most the 4 MiB kept (twice, as it becomes bytes) and the reads in flight.
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB traced"


# -- out of turn --------------------------------------------------------------------------
def test_a_server_that_speaks_before_the_request_is_a_protocol_error() -> None:
    with TargetServer(greeting=b"SSH-2.0-OpenSSH_9.6\r\n") as server:
        plan = UserPlan(_request(server, "/ok"), requests=3)
        [hostile] = run_users(plan)
    assert hostile.outcomes == {"protocol": 3}
    assert hostile.connections_opened == 3


def test_a_response_nobody_asked_for_drops_the_idle_connection(
    target_server: TargetServer,
) -> None:
    # The stray bytes come 20 ms after each answer, while the user pauses: its next
    # request goes out on a fresh connection, and succeeds.
    plan = UserPlan(_request(target_server, "/stray?ms=20"), requests=3, pause=0.1)
    hostile = _beside_healthy(target_server, plan)
    assert hostile.outcomes == {"ok": 3}
    assert hostile.connections_opened == 3


def test_without_stray_bytes_the_idle_connection_is_kept(target_server: TargetServer) -> None:
    plan = UserPlan(_request(target_server, "/ok"), requests=3, pause=0.1)
    hostile = _beside_healthy(target_server, plan)
    assert hostile.outcomes == {"ok": 3}
    assert hostile.connections_opened == 1


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/interims?n=5&code=100", "ok"),
        ("/interims?n=5&code=103", "ok"),
        (f"/interims?n={MAX_HEAD // 25 + 1}&code=100", "protocol"),  # 25 bytes each
        ("/switch?upgrade=1", "protocol"),
        ("/switch?upgrade=0", "protocol"),
    ],
    ids=["a-few-100s", "a-few-103s", "a-storm-of-100s", "101-upgrade", "101-bare"],
)
def test_interim_responses_and_an_unasked_101(
    target_server: TargetServer, path: str, outcome: str
) -> None:
    plan = UserPlan(_request(target_server, path), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=2.0)
    assert hostile.outcomes == {outcome: 2}


# -- half-closed sockets ------------------------------------------------------------------
@pytest.mark.parametrize(("cut", "outcome"), [(0, "ok"), (1, "reset")])
def test_a_server_that_shuts_its_sending_side(
    target_server: TargetServer, cut: int, outcome: str
) -> None:
    # The server's FIN ends a body without a length (a response), or cuts one with a
    # Content-Length short (a reset); it keeps its side open for reading either way.
    plan = UserPlan(_request(target_server, f"/half-close?cut={cut}"), requests=2)
    hostile = _beside_healthy(target_server, plan, timeout=2.0)
    assert hostile.outcomes == {outcome: 2}
    assert hostile.connections_opened == 2


# -- TLS ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, *names: str) -> TargetServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return TargetServer(ssl_context=context)


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.parametrize(
    ("names", "trusted", "outcome"),
    [
        (("127.0.0.1",), True, "ok"),
        (("127.0.0.1",), False, "tls"),  # a certificate from a CA nobody trusts
        (("elsewhere.test",), True, "tls"),  # trusted, but for another host
    ],
    ids=["trusted", "untrusted-ca", "wrong-host"],
)
def test_tls_certificates(
    ca: trustme.CA, names: tuple[str, ...], trusted: bool, outcome: str
) -> None:
    with _tls_server(ca, *names) as tls, TargetServer() as plain:
        plan = UserPlan(_request(tls, "/ok"), requests=2)
        client = _trusting(ca) if trusted else ssl.create_default_context()
        hostile = _beside_healthy(plain, plan, ssl_context=client)
    assert hostile.outcomes == {outcome: 2}


def test_a_stalled_tls_handshake_is_a_connect_timeout(
    ca: trustme.CA, target_server: TargetServer
) -> None:
    # A listener that never accepts: the kernel completes TCP, and nobody answers the
    # ClientHello.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        request = RequestSpec(name="stalled", url=f"https://127.0.0.1:{port}/ok")
        plan = UserPlan(request, requests=2)
        hostile = _beside_healthy(target_server, plan, connect_timeout=0.25,
                                  ssl_context=_trusting(ca))  # fmt: skip
    assert hostile.outcomes == {"connect-timeout": 2}


# -- --max-body, end to end ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "errors"), [((), {}), (("--max-body", "1KiB"), {"check-failed": 2})]
)
def test_max_body_reaches_the_users_of_a_run(
    loadlens: LoadlensRunner,
    target_server: TargetServer,
    tmp_path: Path,
    flags: tuple[str, ...],
    errors: dict[str, int],
) -> None:
    # A 5,000-byte JSON string: whole, it is JSON; cut at 1 KiB, it is not.
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"base_url: {target_server.url('')}\n"
        "requests: [{path: '/tiny-chunks?n=5000', checks: {json: ['$']}}]\n"
    )
    run = loadlens.run(str(scenario), "-u", "1", "-i", "2", *flags, timeout=45)
    assert run.returncode in (0, 1), run.describe()  # (1: the checks failed)
    totals = check_result(run.result)["totals"]
    assert totals["errors"] == errors, run.describe()
    assert totals["status_codes"] == {"200": 2}

"""Virtual users on fake transports: requests written, responses fed, RequestResults out.

Users connect through the engine's real open_connection; the FakeNetworkLoop hands them
FakeTransports and runs think times, pacing and timeouts on its virtual clock. Latencies
themselves are real CLOCK_MONOTONIC readings (the engine takes them from time.monotonic_ns,
not the loop), so tests only compare them, never pin them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadlens.engine.prepared_request import (
    PreparedFlow,
    PreparedRequest,
    PreparedStep,
    prepare,
    prepare_flows,
)
from loadlens.engine.virtual_user import UserCommons, VirtualUser
from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.request_result import ErrorKind, RequestResult
from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.model import RequestSpec, Scenario
from support.fake_transport import FakeNetworkLoop, FakeTransport

BASE = "http://api.test"

pytestmark = pytest.mark.timeout(10)  # a broken chain must fail fast, not hang the run


def response(
    status: int = 200, body: bytes = b"ok", headers: bytes = b"", reason: bytes = b"Whatever"
) -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status, reason, len(body), headers, body,
    )  # fmt: skip


@pytest.fixture
def loop() -> Iterator[FakeNetworkLoop]:
    loop = FakeNetworkLoop()
    yield loop
    loop.close()


@dataclass
class Folded:
    """Everything the recorder counted, all seconds added up."""

    counts: list[Counts]
    latency: list[LatencyHistogram]
    service: list[LatencyHistogram]
    schedule_lag: LatencyHistogram
    checks: list[int]


class KeepingRecorder(IntervalRecorder):
    """The real recorder, also keeping a copy of each result it is handed (in order)."""

    def __init__(self, endpoints: int, checks: int = 0) -> None:
        super().__init__(endpoints, time.monotonic_ns(), checks=checks)
        self.results: list[RequestResult] = []

    def add(self, result: RequestResult) -> None:
        self.results.append(result.copy())  # the engine refills its record per request
        super().add(result)

    def fold(self) -> Folded:
        """Close the current second and add up every second recorded."""
        self.close()
        seconds = self.drain()
        endpoints = len(seconds[0][1])
        folded = Folded(
            [Counts() for _ in range(endpoints)],
            [LatencyHistogram() for _ in range(endpoints)],
            [LatencyHistogram() for _ in range(endpoints)],
            LatencyHistogram(),
            [0] * len(seconds[0][4]),
        )
        for _, snapshots, lag, _, checks in seconds:
            for i, snapshot in enumerate(snapshots):
                folded.counts[i].merge(snapshot.counts)
                if snapshot.latency is not None:
                    folded.latency[i].merge(snapshot.latency)
                if snapshot.service_time is not None:
                    folded.service[i].merge(snapshot.service_time)
            folded.schedule_lag.merge(lag)
            folded.checks = [a + b for a, b in zip(folded.checks, checks, strict=True)]
        return folded


class Done:
    """An on_done callback that counts its calls and notes their virtual times."""

    def __init__(self, loop: FakeNetworkLoop) -> None:
        self._loop = loop
        self.times: list[float] = []

    def __call__(self) -> None:
        self.times.append(self._loop.time())

    @property
    def count(self) -> int:
        return len(self.times)


def requests_user(
    loop: FakeNetworkLoop, *specs: RequestSpec, **variables: str
) -> tuple[VirtualUser, KeepingRecorder, list[PreparedRequest]]:
    """A user whose one flow is `specs`, as steps without pauses."""
    prepared = prepare(specs, timeout=10.0, resolve=False, known=variables)
    flow = PreparedFlow("flow", 1.0, tuple(PreparedStep(r, None) for r in prepared), None)
    recorder = KeepingRecorder(1 + max(r.index for r in prepared))
    commons = UserCommons(loop, [flow], recorder, None, 5.0, dict(variables))
    user = VirtualUser(commons)
    recorder.gauges = lambda: (1, int(user.busy))  # as a worker wires it
    return user, recorder, prepared


def load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"base_url: {BASE}\n" + text)
    return load_scenario_file(path)


def scenario_user(loop: FakeNetworkLoop, scenario: Scenario) -> tuple[VirtualUser, KeepingRecorder]:
    """A user of `scenario`, wired as a worker wires one (hosts left unresolved)."""
    flows, on_start = prepare_flows(scenario, resolve=False)
    recorder = KeepingRecorder(len(scenario.endpoints), checks=len(scenario.checks))
    commons = UserCommons(
        loop, flows, recorder, None, scenario.connect_timeout, dict(scenario.variables),
        cookies=scenario.cookies, on_start=on_start,
    )  # fmt: skip
    user = VirtualUser(commons)
    recorder.gauges = lambda: (1, int(user.busy))
    return user, recorder


def check_tallies(recorder: KeepingRecorder, scenario: Scenario) -> dict[str, tuple[int, int]]:
    """(passes, fails) by check name."""
    counts = recorder.fold().checks
    return {name: (counts[2 * i], counts[2 * i + 1]) for i, name in enumerate(scenario.checks)}


def accept(loop: FakeNetworkLoop) -> FakeTransport:
    """The user's next connection, its request written."""
    return loop.run_until_complete(loop.accept())


def settle(loop: FakeNetworkLoop) -> None:
    loop.run_until_complete(loop.wait_idle())


def let_pass(loop: FakeNetworkLoop, seconds: float) -> None:
    loop.run_until_complete(loop.sleep(seconds))


# -- one request ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error"),
    [(200, None), (301, None), (404, ErrorKind.HTTP_4XX), (503, ErrorKind.HTTP_5XX)],
)
def test_each_response_is_one_result_with_its_status_and_error_kind(
    loop: FakeNetworkLoop, status: int, error: ErrorKind | None
) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    done = Done(loop)
    user.exchange(get, None, done)
    assert user.busy and user.connections_opened == 1 and recorder.gauges() == (1, 1)
    server = accept(loop)
    assert loop.connect_calls == [("api.test", 80)]
    assert server.writes == [get.payload]
    assert server.sent.startswith(b"GET /items HTTP/1.1\r\nHost: api.test\r\n")
    reply = response(status)
    server.feed(reply)
    [result] = recorder.results
    assert (result.status, result.error, result.timed) == (status, error, True)
    assert result.endpoint == get.index
    assert result.bytes_in == len(reply) and result.bytes_out == len(get.payload)
    assert result.intended_ns == result.start_ns <= result.end_ns  # closed model: no lag
    assert done.count == 1 and not user.busy and recorder.gauges() == (1, 0)
    counts = recorder.fold().counts[get.index]
    assert counts.requests == 1 and counts.status_codes == {status: 1}
    assert counts.failures == (error is not None)


def test_bytes_out_is_the_payload_as_rendered_for_this_user(loop: FakeNetworkLoop) -> None:
    user, recorder, [post, get] = requests_user(
        loop,
        RequestSpec(name="add", method="POST", url=BASE + "/items", body=b'{"n":1}'),
        RequestSpec(name="one", url=BASE + "/items/{{ id }}?q={{ id }}"),
        id="42",
    )
    user.exchange(post, None, Done(loop))
    server = accept(loop)
    server.feed(response(201))
    user.exchange(get, None, Done(loop))
    assert len(server.writes) == 2  # the same keep-alive connection
    assert server.writes[0].endswith(b'Content-Length: 7\r\n\r\n{"n":1}')
    assert server.writes[1].startswith(b"GET /items/42?q=42 HTTP/1.1\r\n")
    server.feed(response(200))
    assert [r.bytes_out for r in recorder.results] == [len(w) for w in server.writes]
    assert [r.endpoint for r in recorder.results] == [0, 1]
    assert user.connections_opened == 1


def test_a_late_start_counts_against_latency_not_service_time(loop: FakeNetworkLoop) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    late_ns = 10 * 1_000_000_000  # far more than the test itself can take
    intended_ns = time.monotonic_ns() - late_ns
    user.exchange(get, intended_ns, Done(loop))
    accept(loop).feed(response())
    [result] = recorder.results
    assert result.intended_ns == intended_ns
    assert result.start_ns - result.intended_ns >= late_ns
    assert result.latency_ns == result.service_ns + (result.start_ns - result.intended_ns)
    assert result.latency_ns >= late_ns > result.service_ns >= 0
    folded = recorder.fold()
    assert folded.latency[0].min_ns >= late_ns > folded.service[0].max_ns
    assert folded.schedule_lag.count == 1
    assert folded.schedule_lag.max_ns == result.start_ns - intended_ns


def test_an_arrival_released_early_is_timed_from_its_real_start(loop: FakeNetworkLoop) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    user.exchange(get, time.monotonic_ns() + 1_000_000_000, Done(loop))
    accept(loop).feed(response())
    [result] = recorder.results
    assert result.intended_ns == result.start_ns
    assert recorder.fold().schedule_lag.max_ns == 0  # sampled, as on time


# -- connections ------------------------------------------------------------------------
def test_a_keep_alive_connection_is_reused_and_a_closing_one_replaced(
    loop: FakeNetworkLoop,
) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    user.exchange(get, None, Done(loop))
    first = accept(loop)
    first.feed(response())
    user.exchange(get, None, Done(loop))
    first.feed(response(headers=b"Connection: close\r\n"))
    assert first.aborted  # the user let it go at once
    user.exchange(get, None, Done(loop))
    second = accept(loop)
    second.feed(response())
    assert (len(first.writes), len(second.writes)) == (2, 1)
    assert user.connections_opened == 2 and len(loop.transports) == 2
    assert [r.status for r in recorder.results] == [200, 200, 200]


def test_a_get_lost_on_a_reused_connection_is_retried_once_on_a_fresh_one(
    loop: FakeNetworkLoop,
) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    done = Done(loop)
    user.exchange(get, None, done)
    first = accept(loop)
    first.feed(response())
    user.exchange(get, None, done)
    first.hang_up()  # the server closed the idle connection as the request went out
    second = accept(loop)
    assert len(recorder.results) == 1 and done.count == 1  # the lost try is not a result
    assert second.writes == [get.payload]
    second.feed(response())
    assert [(r.status, r.error) for r in recorder.results] == [(200, None), (200, None)]
    assert done.count == 2 and user.connections_opened == 2


def test_a_retry_that_fails_too_is_recorded_and_not_retried_again(
    loop: FakeNetworkLoop,
) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    user.exchange(get, None, Done(loop))
    first = accept(loop)
    first.feed(response())
    user.exchange(get, None, Done(loop))
    first.hang_up()
    accept(loop).hang_up()
    settle(loop)
    assert [(r.status, r.error) for r in recorder.results] == [(200, None), (0, ErrorKind.RESET)]
    assert len(loop.transports) == 2 and not user.busy


def test_a_post_lost_on_a_reused_connection_is_not_retried(loop: FakeNetworkLoop) -> None:
    user, recorder, [post] = requests_user(
        loop, RequestSpec(name="add", method="POST", url=BASE + "/items", body=b"x")
    )
    done = Done(loop)
    user.exchange(post, None, done)
    first = accept(loop)
    first.feed(response(201))
    user.exchange(post, None, done)
    first.hang_up()
    settle(loop)
    assert len(loop.transports) == 1  # the server may have acted on it: no second try
    assert done.count == 2
    lost = recorder.results[1]
    assert (lost.status, lost.error, lost.timed) == (0, ErrorKind.RESET, False)
    assert lost.bytes_out == len(post.payload)


def test_a_response_too_slow_is_a_timed_read_timeout(loop: FakeNetworkLoop) -> None:
    user, recorder, [get] = requests_user(
        loop, RequestSpec(name="items", url=BASE + "/items", timeout=2.0)
    )
    done = Done(loop)
    user.exchange(get, None, done)
    server = accept(loop)
    server.feed(b"HTTP/1.1 200 OK\r\n")
    let_pass(loop, 1.99)
    assert recorder.results == []
    let_pass(loop, 0.01)
    [result] = recorder.results
    assert (result.status, result.error, result.timed) == (0, ErrorKind.READ_TIMEOUT, True)
    assert result.bytes_in == len(b"HTTP/1.1 200 OK\r\n")
    assert server.aborted and done.count == 1


@pytest.mark.parametrize(
    ("refuse", "error", "after"),
    [(True, ErrorKind.CONNECT_REFUSED, 0.0), (False, ErrorKind.CONNECT_TIMEOUT, 5.0)],
    ids=["refused", "hangs"],
)
def test_a_failed_connect_is_an_untimed_failure(
    loop: FakeNetworkLoop, refuse: bool, error: ErrorKind, after: float
) -> None:
    loop.refuse_connections, loop.connects_hang = refuse, not refuse
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    started = loop.time()
    done = Done(loop)
    user.exchange(get, None, done)
    let_pass(loop, 60.0)
    [result] = recorder.results
    assert (result.status, result.error, result.timed) == (0, error, False)
    assert result.bytes_out == 0 and loop.transports == []
    assert done.times == [started + after]  # the connect timeout, on the virtual clock


# -- flows ------------------------------------------------------------------------------
CHAIN = """
flows:
  - name: shop
    steps:
      - name: login
        method: POST
        path: /login
        json: {user: ann}
        timeout: 3s
        extract:
          token: {json: $.token}
        checks:
          status: 200
          json: [{path: $.token, exists: true}]
      - name: item
        path: /items/{{ token }}
        headers: {X-Token: "{{ token }}"}
        checks:
          status: 200
          body_contains: "{{ token }}"
"""


def test_checks_are_counted_and_an_extracted_value_feeds_the_next_step(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    scenario = load(tmp_path, CHAIN)
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    user.start_iteration(None, False, done)
    server = accept(loop)
    assert server.sent.startswith(b"POST /login HTTP/1.1\r\n")
    assert server.sent.endswith(b'\r\n\r\n{"user":"ann"}')
    server.feed(response(body=b'{"token":"t-42"}'))
    # The next step went out at once, on the same connection, with the value in it.
    item = server.writes[1]
    assert item.startswith(b"GET /items/t-42 HTTP/1.1\r\n") and b"\r\nX-Token: t-42\r\n" in item
    server.feed(response(body=b'{"id":"t-42"}'))
    assert done.count == 1
    assert [(r.endpoint, r.status, r.error) for r in recorder.results] == [
        (0, 200, None), (1, 200, None),
    ]  # fmt: skip
    assert recorder.results[1].bytes_out == len(item)

    # No token this time: the extraction and its check fail, and the chain stops there.
    user.start_iteration(None, False, done)
    server.feed(response(body=b'{"error":"who?"}'))
    assert done.count == 2 and len(server.writes) == 3
    assert recorder.results[2].error is ErrorKind.CHECK_FAILED  # a check names the failure
    assert "token" not in user.variables  # no stale value from the first login

    # No response at all: every check of the step fails.
    user.start_iteration(None, False, done)
    let_pass(loop, 3.0)
    assert done.count == 3 and recorder.results[3].error is ErrorKind.READ_TIMEOUT

    assert check_tallies(recorder, scenario) == {
        "login: status 200": (2, 1),
        "login: $.token exists": (1, 2),
        "item: status 200": (1, 0),
        "item: body contains '{{ token }}'": (1, 0),
    }


@pytest.mark.parametrize(
    ("status", "error", "passed"),
    [(404, None, True), (503, ErrorKind.CHECK_FAILED, False), (200, None, True)],
)
def test_a_status_check_decides_which_statuses_are_failures(
    loop: FakeNetworkLoop, tmp_path: Path, status: int, error: ErrorKind | None, passed: bool
) -> None:
    scenario = load(tmp_path, "requests: [{path: /a, checks: {status: [200, 404]}}]\n")
    user, recorder = scenario_user(loop, scenario)
    user.start_iteration(None, False, Done(loop))
    accept(loop).feed(response(status))
    [result] = recorder.results
    assert (result.status, result.error) == (status, error)
    assert check_tallies(recorder, scenario) == {
        "GET /a: status 200, 404": (1, 0) if passed else (0, 1)
    }


def test_a_failed_extraction_without_checks_is_an_extract_failure(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    scenario = load(
        tmp_path,
        "flows:\n  - name: f\n    steps:\n"
        "      - {path: /a, extract: {id: {regex: 'id=(\\d+)'}}}\n"
        "      - {path: '/b/{{ id }}'}\n",
    )
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    user.start_iteration(None, False, done)
    server = accept(loop)
    server.feed(response(body=b"no id here"))
    assert done.count == 1 and len(server.writes) == 1
    [result] = recorder.results
    assert (result.status, result.error) == (200, ErrorKind.EXTRACT_FAILED)


@pytest.mark.parametrize(
    "name",
    [
        "Cookie",
        "cookie",
    ],
)
def test_a_cookie_set_by_one_step_goes_back_with_the_next_unless_the_step_sets_one(
    loop: FakeNetworkLoop, tmp_path: Path, name: str
) -> None:
    scenario = load(
        tmp_path,
        "flows:\n  - name: f\n    steps:\n      - {path: /a}\n      - {path: /b}\n"
        f"      - {{path: /c, headers: {{{name}: theme=dark}}}}\n",
    )
    assert scenario.cookies  # a scenario file keeps a jar unless told not to
    user, _ = scenario_user(loop, scenario)
    user.start_iteration(None, False, Done(loop))
    server = accept(loop)
    assert b"Cookie:" not in server.writes[0]
    server.feed(response(headers=b"Set-Cookie: sid=abc; Path=/; HttpOnly\r\n"))
    assert b"\r\nCookie: sid=abc\r\n" in server.writes[1]
    server.feed(response())
    assert server.writes[2].lower().count(b"\r\ncookie:") == 1  # the step's own wins


def test_capturing_and_plain_steps_share_a_connection_however_responses_are_split(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    scenario = load(
        tmp_path,
        "defaults: {cookies: false}\n"
        "flows:\n  - name: f\n    steps:\n"
        "      - {path: /a, extract: {id: {json: $.id}}}\n"  # a body-keeping parser
        "      - {path: '/b/{{ id }}'}\n"  # the connection's plain parser
        "      - {path: /c, method: HEAD, checks: {headers: {x-n: {equals: '1'}}}}\n",
    )
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    server: FakeTransport | None = None
    for i in range(2):
        user.start_iteration(None, False, done)
        if server is None:
            server = accept(loop)
        server.feed_bytewise(response(body=b'{"id": %d}' % (40 + i)))
        assert server.writes[-1].startswith(b"GET /b/%d HTTP/1.1\r\n" % (40 + i))
        server.feed_bytewise(response(body=b"plain"))
        head = response(body=b"no body for HEAD", headers=b"X-N: 1\r\n")
        server.feed_bytewise(head[: head.index(b"\r\n\r\n") + 4])
        assert done.count == i + 1
    assert [(r.status, r.error) for r in recorder.results] == [(200, None)] * 6
    assert len(loop.transports) == 1
    assert check_tallies(recorder, scenario) == {"HEAD /c: x-n == '1'": (2, 0)}


def test_think_time_and_pacing_run_on_the_loop_clock(loop: FakeNetworkLoop, tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "flows:\n  - name: f\n    pacing: 10s\n    steps:\n"
        "      - {path: /a, think_time: 2s}\n      - {path: /b}\n",
    )
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    started = loop.time()
    user.start_iteration(None, True, done)
    server = accept(loop)
    server.feed(response())
    let_pass(loop, 1.999)
    assert len(server.writes) == 1  # thinking
    let_pass(loop, 0.001)
    assert len(server.writes) == 2
    server.feed(response())
    assert len(recorder.results) == 2 and done.count == 0  # held by the pacing
    let_pass(loop, 60.0)
    assert done.times == [started + 10.0]


def test_on_start_runs_until_it_succeeds_once(loop: FakeNetworkLoop, tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "on_start: [{path: /login, checks: {status: 200}}]\nrequests: [{path: /work}]\n",
    )
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    user.start_iteration(None, False, done)
    server = accept(loop)
    server.feed(response(401))  # refused: no flow this iteration
    assert done.count == 1 and not user.started
    user.start_iteration(None, False, done)
    server.feed(response(200))
    server.feed(response(200))
    user.start_iteration(None, False, done)
    server.feed(response(200))
    assert done.count == 3 and user.started
    paths = [w.split(b" ", 2)[1] for w in server.writes]
    assert paths == [b"/login", b"/login", b"/work", b"/work"]
    assert [r.error for r in recorder.results] == [ErrorKind.CHECK_FAILED, None, None, None]


PACED_AFTER_LOGIN = (
    "on_start: [{path: /login, checks: {status: 200}}]\n"
    "flows:\n  - name: f\n    pacing: 10s\n    steps: [{path: /work}]\n"
)


def test_pacing_after_a_refused_on_start_counts_from_the_iteration_start(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    user, _ = scenario_user(loop, load(tmp_path, PACED_AFTER_LOGIN))
    done = Done(loop)
    started = loop.time()
    user.start_iteration(None, True, done)
    server = accept(loop)
    let_pass(loop, 1.0)  # the login takes a second, and is refused
    server.feed(response(401))
    let_pass(loop, 60.0)
    assert done.times == [started + 10.0]


def test_pacing_after_on_start_counts_from_the_iteration_start(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    user, _ = scenario_user(loop, load(tmp_path, PACED_AFTER_LOGIN))
    done = Done(loop)
    started = loop.time()
    user.start_iteration(None, True, done)
    server = accept(loop)
    let_pass(loop, 1.0)
    server.feed(response(200))
    server.feed(response(200))
    let_pass(loop, 60.0)
    assert done.times == [started + 10.0]


# -- closing ----------------------------------------------------------------------------
def test_close_mid_request_abandons_it_unrecorded(loop: FakeNetworkLoop) -> None:
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    done = Done(loop)
    user.exchange(get, None, done)
    server = accept(loop)
    user.close()
    assert server.aborted and not user.busy and recorder.gauges() == (1, 0)
    server.feed(response())  # (a closed transport passes nothing on)
    let_pass(loop, 60.0)  # past the request's timeout
    assert recorder.results == [] and done.count == 0
    assert server.lost_calls == 1


def test_close_while_connecting_abandons_the_connect(loop: FakeNetworkLoop) -> None:
    loop.connects_hang = True
    user, recorder, [get] = requests_user(loop, RequestSpec(name="items", url=BASE + "/items"))
    done = Done(loop)
    user.exchange(get, None, done)
    settle(loop)
    assert len(loop.connect_calls) == 1
    user.close()
    let_pass(loop, 60.0)
    assert recorder.results == [] and done.count == 0 and recorder.gauges() == (1, 0)


def test_close_while_thinking_ends_the_iteration_silently(
    loop: FakeNetworkLoop, tmp_path: Path
) -> None:
    scenario = load(
        tmp_path, "flows:\n  - name: f\n    steps:\n      - {path: /a, think_time: 2s}\n"
        "      - {path: /b}\n",
    )  # fmt: skip
    user, recorder = scenario_user(loop, scenario)
    done = Done(loop)
    user.start_iteration(None, False, done)
    server = accept(loop)
    server.feed(response())
    user.close()
    let_pass(loop, 60.0)
    assert len(server.writes) == 1 and len(recorder.results) == 1 and done.count == 0

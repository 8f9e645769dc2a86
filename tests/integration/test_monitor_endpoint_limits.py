"""Monitor endpoints read within bounds: a trickling or a 100 MB answer costs a sample
(noted), never the run, nor the end of it. Real misbehaving servers on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from loadlens.monitoring.agent_probe import AgentClient, AgentSection
from loadlens.monitoring.db_stats_probe import DbStatsProbe
from loadlens.monitoring.endpoint_reader import MAX_BODY_BYTES, ReadLimits, read_endpoint
from loadlens.monitoring.monitor_set import MonitorSet
from loadlens.monitoring.probe import ProbeGone, SampleSkipped
from loadlens.monitoring.prometheus_probe import PrometheusProbe
from support.cli import LoadlensRunner, check_result
from support.misbehaving_server import Behaviour, MisbehavingServer
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(60)

METRICS = b"# TYPE app_queue_depth gauge\napp_queue_depth 3\n"
STATS = json.dumps({"sessions": 1, "statements": [], "tables": []}).encode()
AGENT = json.dumps({"host": {"cpu_percent": 5.0}}).encode()
FAST = ReadLimits(connect_s=0.3, total_s=0.4)


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    with MisbehavingServer(METRICS) as s:
        yield s


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    began = time.monotonic()
    try:
        call()
    except Exception as e:
        return e, time.monotonic() - began
    return None, time.monotonic() - began


def test_a_whole_answer_is_read(server: MisbehavingServer) -> None:
    answer = read_endpoint(server.url("/metrics"))
    assert (answer.status, answer.body) == (200, METRICS)


def test_an_answer_at_the_size_bound_is_kept_and_one_byte_more_is_skipped(
    server: MisbehavingServer,
) -> None:
    server.body = b"x" * 1000
    assert read_endpoint(server.url(), limits=ReadLimits(max_bytes=1000)).body == server.body
    with pytest.raises(SampleSkipped, match="over"):
        read_endpoint(server.url(), limits=ReadLimits(max_bytes=999))


@pytest.mark.parametrize("behaviour", ["huge_with_length", "huge_unframed"])
def test_a_100_mb_answer_is_skipped_after_at_most_the_bound(
    server: MisbehavingServer, behaviour: Behaviour
) -> None:
    server.behaviour = behaviour
    error, elapsed = _timed(lambda: read_endpoint(server.url()))
    assert isinstance(error, SampleSkipped), error
    assert f"over {MAX_BODY_BYTES // 2**20} MiB" in str(error)
    assert elapsed < 0.8
    time.sleep(0.05)  # the server notices the hang-up at its next send
    # Read no further than the bound (and what the sockets' buffers held): not 100 MB.
    assert server.bytes_sent < MAX_BODY_BYTES + 16 * 2**20


@pytest.mark.parametrize(
    ("behaviour", "every", "limits"),
    [("trickle_body", 1.0, ReadLimits()),  # a byte a second: default bounds
     ("trickle_head", 1.0, ReadLimits()),
     # A byte every 50 ms would never trip a timeout on each read: the deadline is total.
     ("trickle_body", 0.05, FAST),
     ("trickle_head", 0.05, FAST)],
)  # fmt: skip
def test_a_trickling_answer_is_given_up_at_the_deadline(
    server: MisbehavingServer, behaviour: Behaviour, every: float, limits: ReadLimits
) -> None:
    server.behaviour, server.trickle_every = behaviour, every
    error, elapsed = _timed(lambda: read_endpoint(server.url(), limits=limits))
    assert isinstance(error, SampleSkipped), error
    assert f"no complete answer within {limits.total_s:g} s" in str(error)
    assert limits.total_s - 0.05 <= elapsed < limits.total_s + 0.3


def test_a_refused_connection_is_gone_not_a_skipped_sample(server: MisbehavingServer) -> None:
    port = server.port
    server.close()
    error, elapsed = _timed(lambda: read_endpoint(f"http://127.0.0.1:{port}/"))
    assert isinstance(error, ProbeGone) and not isinstance(error, SampleSkipped), error
    assert "unreachable" in str(error) and elapsed < 0.5


def _prometheus(url: str) -> PrometheusProbe:
    return PrometheusProbe(url.replace("http://", "prometheus://") + "?series=app_queue_depth",
                           limits=FAST)  # fmt: skip


def _dbstats(url: str) -> DbStatsProbe:
    return DbStatsProbe(f"dbstats+{url}", limits=FAST)


def _agent(url: str) -> AgentSection:
    client = AgentClient(url.removeprefix("http://").rstrip("/"), "t" * 16, limits=FAST)
    return AgentSection(client, "host", "this host")


PROBES = {"prometheus": (_prometheus, METRICS), "dbstats": (_dbstats, STATS),
          "agent": (_agent, AGENT)}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(PROBES))
@pytest.mark.parametrize("behaviour", ["huge_unframed", "trickle_body"])
def test_each_http_probe_skips_a_sample_it_cannot_read_in_bounds(
    kind: str, behaviour: Behaviour
) -> None:
    make, body = PROBES[kind]
    with MisbehavingServer(body, trickle_every=0.05) as server:
        probe = make(server.url("/"))
        probe.start()
        assert probe.sample() is not None  # well answered: a sample
        time.sleep(0.6)  # the agent client shares one fetch per half second
        server.behaviour = behaviour
        error, elapsed = _timed(probe.sample)
        assert isinstance(error, SampleSkipped), error
        assert elapsed < FAST.total_s + 0.3


def test_a_monitor_notes_skipped_samples_once_and_samples_on(server: MisbehavingServer) -> None:
    probe = _prometheus(server.url("/metrics"))
    monitors = MonitorSet([probe])
    server.behaviour = "huge_unframed"
    monitors.start(time.monotonic_ns() - 900_000_000)  # the first sample is due in 0.1 s
    time.sleep(0.5)
    server.behaviour = "ok"
    time.sleep(1.0)  # the second sample, answered well
    monitors.stop()
    monitor = monitors.results()["prometheus"]
    assert [p["app_queue_depth"] for p in monitor["timeline"]] == [3.0], monitor
    assert monitor["notes"] == [
        f"{probe.target}: the answer is over 4 MiB; sample skipped at 0 s and 1 more time"
    ]


def test_stopping_beside_a_trickling_endpoint_takes_one_deadline_at_most(
    server: MisbehavingServer,
) -> None:
    monitors = MonitorSet([_prometheus(server.url("/metrics"))])
    monitors.start(time.monotonic_ns() - 950_000_000)  # the first sample is due in 0.05 s
    server.behaviour, server.trickle_every = "trickle_body", 0.05
    time.sleep(0.15)  # the sample is waiting on the trickle
    error, elapsed = _timed(monitors.stop)
    assert error is None and elapsed < FAST.total_s + 0.2
    notes = monitors.results()["prometheus"]["notes"]
    assert any("no complete answer within 0.4 s; sample skipped" in n for n in notes), notes


@pytest.mark.slow
def test_a_run_beside_a_trickling_statistics_endpoint_ends_on_time(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    # Answered well while the monitors are set up, then a byte a second: the samples, and
    # the summary at the end (which used to wait for ever), each give up at the deadline.
    with MisbehavingServer(STATS, "trickle_body", good_first=2) as stats:
        run = loadlens.run(target_server.url("/ok"), "-u", "1", "-d", "1s",
                           "--monitor", f"dbstats+{stats.url('/stats')}", timeout=30)  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert run.elapsed < 15, run.describe()
    notes = check_result(run.result)["monitors"]["database"]["notes"]
    assert any("no complete answer within 0.8 s; sample skipped" in n for n in notes), notes

"""Executors on a virtual clock: schedules, ramps and exact splits, without sleeping."""

from __future__ import annotations

import time
from array import array

import pytest

from loadlens.engine.capacity_judge import CapacityJudge
from loadlens.engine.executors import EXECUTORS, capacity, ramping_vus
from loadlens.engine.executors.arrivals import ArrivalSchedule
from loadlens.engine.executors.base import share
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.scenario.load import (
    Capacity,
    ConstantArrivalRate,
    ConstantVUs,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    RateStage,
    VUStage,
)
from support.fake_context import FakeContext, run


@pytest.mark.parametrize(("total", "count"), [(1000, 2), (1001, 2), (7, 3), (1, 4), (0, 2)])
def test_share_splits_exactly(total: int, count: int) -> None:
    parts = [share(total, i, count) for i in range(count)]
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1


def test_thousand_users_on_two_workers_are_500_each() -> None:
    assert [share(1000, i, 2) for i in range(2)] == [500, 500]


def test_constant_vus_starts_its_share_and_holds_for_the_duration() -> None:
    config = ConstantVUs(users=1001, duration=200)
    contexts = [FakeContext(i, 2) for i in range(2)]
    started = time.monotonic()
    for ctx in contexts:
        run(EXECUTORS["constant-vus"](config, ctx))
        assert ctx.clock.now() == 200
    assert time.monotonic() - started < 1.0  # virtual time: no real sleeping
    assert [len(c.users) for c in contexts] == [501, 500]


def test_constant_arrival_rate_801_per_second_totals_801_per_second() -> None:
    config = ConstantArrivalRate(rate=801, duration=10, max_users=100)
    contexts = [FakeContext(i, 2) for i in range(2)]
    for ctx in contexts:
        run(EXECUTORS["constant-arrival-rate"](config, ctx))
    merged = sorted(t for c in contexts for t in c.arrivals)
    assert len(merged) == 8010
    assert [len(c.arrivals) for c in contexts] == [4005, 4005]
    # Evenly spaced, interleaved between workers: arrival k is due at k/801 s.
    assert merged == pytest.approx([k / 801 for k in range(8010)])


def test_arrivals_keep_their_intended_time_when_released_late() -> None:
    # A virtual clock that is already past the schedule releases every due arrival at once,
    # each with its own intended time (latency will count the lateness).
    config = ConstantArrivalRate(rate=100, duration=1, max_users=10)
    ctx = FakeContext()
    ctx.clock._now = 0.5
    run(EXECUTORS["constant-arrival-rate"](config, ctx))
    assert ctx.arrivals[:51] == pytest.approx([k / 100 for k in range(51)])
    assert len(ctx.arrivals) == 100


def test_ramping_arrival_rate_follows_the_integral_of_the_rate() -> None:
    config = RampingArrivalRate(
        start_rate=0,
        stages=(RateStage(duration=10, target=100), RateStage(duration=10, target=100)),
        max_users=10,
    )
    contexts = [FakeContext(i, 3) for i in range(3)]
    for ctx in contexts:
        run(EXECUTORS["ramping-arrival-rate"](config, ctx))
    merged = sorted(t for c in contexts for t in c.arrivals)
    assert len(merged) == 500 + 1000
    # During the ramp, the number due by t is rate(t) * t / 2 = 5 t^2.
    assert sum(1 for t in merged if t < 4) == pytest.approx(80, abs=1)
    assert sum(1 for t in merged if 10 <= t < 20) == 1000


def test_arrival_schedule_handles_rampdown_and_zero_duration_stages() -> None:
    schedule = ArrivalSchedule(100, [(0, 200), (1, 200), (2, 0)])
    times = []
    k = 0
    while (t := schedule.time_of(k)) is not None:
        times.append(t)
        k += 1
    assert len(times) == 200 + 200
    assert times == sorted(times)
    assert times[-1] < 3


def test_ramping_vus_follows_the_stages() -> None:
    config = RampingVUs(
        stages=(
            VUStage(duration=10, target=100),
            VUStage(duration=10, target=100),
            VUStage(duration=10, target=0),
        )
    )
    assert ramping_vus.users_at(config, 5) == pytest.approx(50)
    assert ramping_vus.users_at(config, 15) == pytest.approx(100)
    assert ramping_vus.users_at(config, 25) == pytest.approx(50)

    contexts = [FakeContext(i, 2) for i in range(2)]
    for ctx in contexts:
        run(ramping_vus.run(config, ctx))
    # Both workers together reached exactly the peak, and everyone retired at the end.
    assert sum(len(c.users) for c in contexts) == 100
    assert all(c.active_users() == 0 for c in contexts)
    assert all(c.clock.now() == 30 for c in contexts)


def test_ramping_vus_adds_users_gradually() -> None:
    config = RampingVUs(stages=(VUStage(duration=10, target=10),))
    ctx = FakeContext()
    run(ramping_vus.run(config, ctx))
    starts = [u.started for u in ctx.users]
    assert len(starts) == 10
    # user k starts when the target reaches k: at k seconds (within one tick)
    for k, t in enumerate(starts, start=1):
        assert t == pytest.approx(k, abs=ramping_vus.TICK + 1e-9)


def test_per_vu_iterations_gives_each_user_its_budget() -> None:
    config = PerVUIterations(users=3, iterations=5, max_duration=60)
    contexts = [FakeContext(i, 2) for i in range(2)]
    for ctx in contexts:
        run(EXECUTORS["per-vu-iterations"](config, ctx))
    assert [len(c.users) for c in contexts] == [2, 1]
    assert all(u.iterations == 5 for c in contexts for u in c.users)
    assert all(c.waited_until == 60 for c in contexts)


def test_capacity_steps_the_rate() -> None:
    config = Capacity(start_rate=10, step_rate=10, step_duration=2, max_steps=3, max_users=10)
    ctx = FakeContext()
    run(capacity.run(config, ctx))
    per_step = [sum(1 for t in ctx.arrivals if 2 * s <= t < 2 * (s + 1)) for s in range(3)]
    assert per_step == [20, 40, 60]


def test_every_model_is_registered() -> None:
    assert set(EXECUTORS) == {
        "constant-vus",
        "ramping-vus",
        "constant-arrival-rate",
        "ramping-arrival-rate",
        "per-vu-iterations",
        "capacity",
    }


def test_a_capacity_step_counts_good_responses_over_its_whole_seconds() -> None:
    """Throughput is good responses per second of the step; N is from Little's law."""
    judge = CapacityJudge(Capacity(start_rate=100, step_rate=100, step_duration=2, max_users=50))
    latency = LatencyHistogram()
    latency.record_many(array("q", [20_000_000] * 100))  # 20 ms each
    assert judge.add_second(0, latency, requests=100, failures=10, dropped=0) is None
    verdict = judge.add_second(1, latency, requests=100, failures=10, dropped=0)
    assert verdict is not None
    assert verdict.throughput == 90.0  # (200 - 20) / 2 s
    assert verdict.concurrency == pytest.approx(90.0 * 0.020, rel=1e-3)

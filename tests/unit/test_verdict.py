"""The verdict says when the generator, not the target, set the numbers."""

from __future__ import annotations

from loadlens.analysis.verdict import judge_generator


def _judge(**overrides: object) -> tuple[str, list[str]]:
    args: dict[str, object] = dict(
        requests=1000,
        timed=990,
        cpu_by_worker={0: [30.0] * 10},
        loop_lag_p99_ms=1.0,
        schedule_lag_p99_ms=0.5,
        schedule_lag_p99_by_second=[0.5] * 10,
        dropped=0,
        open_model=False,
        max_users=None,
    )
    args.update(overrides)
    v = judge_generator(**args)  # type: ignore[arg-type]
    return v.verdict, v.reasons


def test_healthy_generator_is_valid() -> None:
    assert _judge() == ("valid", [])


def test_sustained_cpu_is_generator_bound() -> None:
    verdict, reasons = _judge(cpu_by_worker={0: [50, 95, 96, 97, 40], 1: [20] * 5})
    assert verdict == "generator-bound"
    assert "worker 0" in reasons[0]


def test_a_single_busy_second_is_not() -> None:
    assert _judge(cpu_by_worker={0: [50, 95, 40, 96, 40, 30]})[0] == "valid"


def test_loop_lag_dropped_and_late_arrivals() -> None:
    assert "lag" in _judge(loop_lag_p99_ms=25.0)[1][0]
    verdict, reasons = _judge(open_model=True, dropped=12, max_users=5)
    assert verdict == "generator-bound" and "12 arrivals" in reasons[0]
    late = [0.5, 40.0, 0.5, 35.0, 0.5]
    reasons = _judge(open_model=True, schedule_lag_p99_ms=40.0, schedule_lag_p99_by_second=late)[1]
    assert "late" in reasons[0]
    # One hiccup in one second of a longer run is not sustained lateness.
    once = [0.5, 40.0, 0.5, 0.5]
    assert _judge(open_model=True, schedule_lag_p99_ms=16.0, schedule_lag_p99_by_second=once)[
        0
    ] == ("valid")


def test_nothing_measured_is_inconclusive() -> None:
    assert _judge(requests=0, timed=0)[0] == "inconclusive"
    verdict, reasons = _judge(timed=0)
    assert verdict == "inconclusive" and "no request got a response" in reasons[0]


def test_one_loop_lag_hiccup_in_a_short_run_is_not_a_bound_generator() -> None:
    common = dict(requests=100, timed=100, cpu_by_worker={0: [20.0, 20.0, 20.0]},
                  schedule_lag_p99_ms=0.0, schedule_lag_p99_by_second=[], dropped=0,
                  open_model=False, max_users=None)  # fmt: skip
    once = judge_generator(loop_lag_p99_ms=13.0, loop_lag_max_by_second=[1.0, 13.0, 2.0],
                           **common)  # type: ignore[arg-type]  # fmt: skip
    assert once.verdict == "valid", once.reasons
    twice = judge_generator(loop_lag_p99_ms=13.0, loop_lag_max_by_second=[12.0, 13.0, 2.0],
                            **common)  # type: ignore[arg-type]  # fmt: skip
    assert twice.verdict == "generator-bound"

"""The verdict: whose numbers these are (the target's, loadlens's, or a crowded machine's),
and the timing error stated on every run."""

from __future__ import annotations

from typing import Any

from loadlens.analysis.verdict import GeneratorEvidence, Verdict, judge_generator
from loadlens.metrics.run_result import GeneratorPoint

HOG = {"name": "python (hog.py)", "pid": 4242, "cpu_percent": 97.0}


def _seconds(n: int = 10, **point: Any) -> list[GeneratorPoint]:
    """`n` seconds of a healthy worker; keyword values (a list: one per second) override."""
    out = []
    for t in range(n):
        values = {k: (v[t] if isinstance(v, list) else v) for k, v in point.items()}
        cpu = values.pop("cpu", 30.0)
        fields: dict[str, Any] = {
            "t": t, "cpu_percent": cpu, "cpu_percent_by_worker": [cpu], "loop_lag_ms": 1.0,
            "schedule_lag_ms": 0.5, "run_delay_ms": 2.0, "others_cpu_percent": 5.0,
        }  # fmt: skip
        fields.update(values)
        out.append(GeneratorPoint.model_validate(fields))
    return out


def _judge(seconds: list[GeneratorPoint] | None = None, **overrides: Any) -> Verdict:
    fields: dict[str, Any] = {
        "requests": 1000, "responses": 990, "latency_p50_ms": 2.0,
        "seconds": seconds if seconds is not None else _seconds(),
        "loop_lag_p99_ms": 1.0, "contenders": [HOG],
    }  # fmt: skip
    fields.update(overrides)
    return judge_generator(GeneratorEvidence(**fields))


def test_healthy_generator_is_valid_with_its_timing_error_stated() -> None:
    verdict = _judge(loop_lag_p99_ms=1.4)
    assert (verdict.verdict, verdict.reasons, verdict.timing_error_ms) == ("valid", [], 1.4)


def test_sustained_cpu_is_generator_bound_and_a_single_busy_second_is_not() -> None:
    busy = _judge(_seconds(5, cpu=[50, 95, 96, 97, 40]))
    assert busy.verdict == "generator-bound" and "worker 0" in busy.reasons[0]
    assert _judge(_seconds(6, cpu=[50, 95, 40, 96, 40, 30])).verdict == "valid"


def test_lag_that_is_small_next_to_the_latency_is_an_error_bound_not_a_broken_run() -> None:
    """62 ms of lag on 780 ms responses (the issue's laptop): 8%, the run stands."""
    crowded = _seconds(loop_lag_ms=70.0, run_delay_ms=400.0, others_cpu_percent=95.0)
    verdict = _judge(crowded, loop_lag_p99_ms=62.0, latency_p50_ms=780.0)
    assert verdict.verdict == "valid" and verdict.timing_error_ms == 62.0
    # The same lag on 40 ms responses is most of what was measured.
    verdict = _judge(crowded, loop_lag_p99_ms=62.0, latency_p50_ms=40.0)
    assert verdict.verdict == "contended"


def test_a_late_loop_that_waited_for_a_cpu_is_contended_and_names_who_held_it() -> None:
    crowded = _seconds(loop_lag_ms=30.0, run_delay_ms=600.0, cpu=8.0, others_cpu_percent=96.0)
    verdict = _judge(crowded, loop_lag_p99_ms=28.0)
    assert verdict.verdict == "contended", verdict.reasons
    first = verdict.reasons[0]
    assert "python (hog.py) pid 4242 used 97%" in first and "waited up to 600 ms" in first
    assert "28.0 ms" in verdict.reasons[1] and "taskset" in verdict.reasons[-1]
    assert "--workers" in verdict.reasons[-1] and "add --workers" not in verdict.reasons[-1]


def test_a_late_loop_with_the_cpu_to_itself_is_the_generator() -> None:
    """Nothing waited for a CPU: the loop was late through loadlens's own doing."""
    alone = _seconds(loop_lag_ms=30.0, run_delay_ms=3.0)
    verdict = _judge(alone, loop_lag_p99_ms=28.0)
    assert verdict.verdict == "generator-bound" and "no other process" in verdict.reasons[0]


def test_workers_crowding_each_other_are_the_generator_not_contention() -> None:
    """More workers than cores: they wait for a CPU, but behind one another."""
    own = _seconds(loop_lag_ms=30.0, run_delay_ms=500.0, others_cpu_percent=3.0)
    verdict = _judge(own, loop_lag_p99_ms=28.0)
    assert verdict.verdict == "generator-bound", verdict.reasons


def test_lateness_under_10_ms_is_never_material_whoever_caused_it() -> None:
    """7 ms of lag on sub-ms responses, with the worker waiting for a CPU: stated, not
    judged (below it, a loaded VM's normal jitter and a crowded core look the same)."""
    crowded = _seconds(loop_lag_ms=7.0, run_delay_ms=450.0, others_cpu_percent=60.0)
    verdict = _judge(crowded, loop_lag_p99_ms=7.0, latency_p50_ms=0.1)
    assert verdict.verdict == "valid" and verdict.timing_error_ms == 7.0
    late = _seconds(loop_lag_ms=12.0, run_delay_ms=450.0, others_cpu_percent=60.0)
    assert _judge(late, loop_lag_p99_ms=12.0, latency_p50_ms=0.1).verdict == "contended"


def test_without_schedstat_preemptions_and_a_busy_machine_stand_in() -> None:
    crowded = _seconds(loop_lag_ms=30.0, run_delay_ms=None, preemptions=400,
                       others_cpu_percent=90.0)  # fmt: skip
    assert _judge(crowded, loop_lag_p99_ms=28.0).verdict == "contended"
    quiet = _seconds(loop_lag_ms=30.0, run_delay_ms=None, preemptions=400, others_cpu_percent=5.0)
    assert _judge(quiet, loop_lag_p99_ms=28.0).verdict == "generator-bound"


def test_dropped_arrivals_are_the_generator_unless_the_machine_crowded_it() -> None:
    dropped = _judge(open_model=True, dropped=12, max_users=5)
    assert dropped.verdict == "generator-bound" and "12 arrivals" in dropped.reasons[0]
    assert "raise --max-users" in dropped.reasons[0]
    crowded = _seconds(loop_lag_ms=40.0, schedule_lag_ms=40.0, run_delay_ms=800.0,
                       others_cpu_percent=90.0)  # fmt: skip
    verdict = _judge(crowded, open_model=True, dropped=12, max_users=5, loop_lag_p99_ms=40.0)
    assert verdict.verdict == "contended"
    assert any("12 arrivals" in r for r in verdict.reasons)


def test_late_arrivals_in_an_open_model_and_one_hiccup_that_is_not() -> None:
    late = _seconds(5, schedule_lag_ms=[0.5, 40.0, 0.5, 35.0, 0.5])
    verdict = _judge(late, open_model=True, schedule_lag_p99_ms=40.0)
    assert verdict.verdict == "generator-bound" and verdict.timing_error_ms == 40.0
    once = _seconds(4, schedule_lag_ms=[0.5, 40.0, 0.5, 0.5])
    assert _judge(once, open_model=True, schedule_lag_p99_ms=16.0).verdict == "valid"
    # A closed model has no schedule: its schedule lag is no error.
    assert _judge(late, schedule_lag_p99_ms=40.0).timing_error_ms == 1.0


def test_one_loop_lag_hiccup_in_a_short_run_is_not_a_bound_generator() -> None:
    once = _seconds(3, loop_lag_ms=[1.0, 13.0, 2.0], cpu=20.0)
    assert _judge(once, loop_lag_p99_ms=13.0).verdict == "valid"
    twice = _seconds(3, loop_lag_ms=[12.0, 13.0, 2.0], cpu=20.0)
    assert _judge(twice, loop_lag_p99_ms=13.0).verdict == "generator-bound"


def test_a_target_never_reached_is_inconclusive_never_the_generator() -> None:
    """Refused at 23k/s keeps a worker at 100%: still the target's absence, not loadlens."""
    busy = _seconds(cpu=100.0, loop_lag_ms=15.0)
    verdict = _judge(busy, responses=0, errors={"connect-refused": 230_000}, loop_lag_p99_ms=15.0)
    assert verdict.verdict == "inconclusive"
    assert verdict.reasons == ["the target was never reached: every connection was refused"]
    hang = _judge(responses=0, errors={"read-timeout": 40})
    assert "no request got a response in time" in hang.reasons[0]
    # TLS or protocol errors: something answered, only not in HTTP; still nothing to judge.
    tls = _judge(responses=0, errors={"tls": 40})
    assert tls.verdict == "inconclusive" and "no request got a response" in tls.reasons[0]


def test_nothing_measured_is_inconclusive() -> None:
    assert _judge(requests=0, responses=0).verdict == "inconclusive"

"""Can the run's numbers be trusted? Judges the load generator's own health."""

from __future__ import annotations

from dataclasses import dataclass

from loadlens.metrics.run_result import VerdictKind

__all__ = ["CPU_LIMIT", "LAG_LIMIT_MS", "Verdict", "judge_generator"]

CPU_LIMIT = 90.0  # percent of one core, per worker
CPU_SUSTAINED_S = 3  # consecutive seconds
LAG_LIMIT_MS = 10.0  # event-loop lag p99, and open-model schedule lag p99


@dataclass(frozen=True, slots=True)
class Verdict:
    """`valid`, `generator-bound` or `inconclusive`, with the reasons in plain words."""

    verdict: VerdictKind
    reasons: list[str]


def _longest_run_at_or_above(values: list[float], limit: float) -> int:
    best = current = 0
    for v in values:
        current = current + 1 if v >= limit else 0
        best = max(best, current)
    return best


def judge_generator(
    *,
    requests: int,
    timed: int,
    cpu_by_worker: dict[int, list[float]],
    loop_lag_p99_ms: float,
    schedule_lag_p99_ms: float,
    loop_lag_max_by_second: list[float] | None = None,
    schedule_lag_p99_by_second: list[float],
    dropped: int,
    open_model: bool,
    max_users: int | None,
) -> Verdict:
    """Decide whether the generator, not the target, limited the run."""
    reasons: list[str] = []
    for worker, series in sorted(cpu_by_worker.items()):
        # The last second is partial and the first includes start-up: judge the middle,
        # unless the run is too short to have one.
        middle = series[1:-1] if len(series) > 2 else series
        needed = min(CPU_SUSTAINED_S, len(middle))
        if needed and _longest_run_at_or_above(middle, CPU_LIMIT) >= needed:
            reasons.append(
                f"worker {worker} used >= {CPU_LIMIT:.0f}% of a core for {needed}+ seconds in a "
                "row: loadlens was busy and may have delayed sends and reads; "
                "add --workers or cores"
            )
    # Sustained too: in a short run one OS pause can be the p99 on its own, so the lag must
    # also have passed the limit in two seconds (or every second of a shorter run).
    by_second = loop_lag_max_by_second
    sustained = by_second is None or (
        sum(1 for lag in by_second if lag > LAG_LIMIT_MS) >= min(2, len(by_second))
    )
    if loop_lag_p99_ms > LAG_LIMIT_MS and sustained:
        reasons.append(
            f"event-loop lag p99 was {loop_lag_p99_ms:.1f} ms (limit {LAG_LIMIT_MS:.0f} ms): "
            "responses waited for loadlens before they were timed"
        )
    if open_model and dropped:
        reasons.append(
            f"{dropped} arrivals found every user busy (max users {max_users}) and were dropped: "
            "the percentiles do not cover them; raise --max-users"
        )
    # Sustained, as for CPU: one scheduling hiccup (an OS pause of 20 ms delays the few
    # arrivals due in it) is not a generator that cannot keep up. Late in two seconds, or
    # in every second of a shorter run, is.
    late_seconds = sum(1 for p99 in schedule_lag_p99_by_second if p99 > LAG_LIMIT_MS)
    if open_model and late_seconds and late_seconds >= min(2, len(schedule_lag_p99_by_second)):
        reasons.append(
            f"iterations started late: schedule lag p99 above {LAG_LIMIT_MS:.0f} ms in "
            f"{late_seconds} seconds (whole run p99 {schedule_lag_p99_ms:.1f} ms)"
        )
    if reasons:
        return Verdict(VerdictKind.GENERATOR_BOUND, reasons)
    if requests == 0:
        return Verdict(
            VerdictKind.INCONCLUSIVE, ["no request completed, so there is nothing to judge"]
        )
    if timed == 0:
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            ["no request got a response, so there is no latency to judge"],
        )
    return Verdict(VerdictKind.VALID, [])

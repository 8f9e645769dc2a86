"""Can the run's numbers be trusted? Judges the generator's health against what it measured.

Every time loadlens measures ends when its event loop gets to the response, so a late loop
adds its lateness to the times it takes: loop lag (and, in open models, schedule lag) is a
bound on the timing error of every latency. The verdict states that bound on every run and
judges it against the latencies measured: 5 ms of lag on 800 ms responses is a 0.6% error,
not a broken run. Only when the error is material does it ask why the loop was late:

- `generator-bound`: loadlens's own work was the limit (a worker near its core, arrivals
  dropped for lack of users, or a loop late while nothing else wanted the CPU);
- `contended`: the loop waited for a CPU that other processes held (the workers' run-queue
  delay, from Linux schedstat), as when the target shares the machine; the reasons name
  the busiest other processes;
- `inconclusive`: nothing to judge (no request got a response, or the target was never
  reached at all);
- `valid`: the numbers describe the target, within the stated timing error.

The thresholds and why they were chosen are in docs/verdict.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadlens.metrics.run_result import GeneratorPoint, VerdictKind

__all__ = [
    "CPU_LIMIT",
    "ERROR_SHARE",
    "LAG_LIMIT_MS",
    "WAIT_LIMIT_MS",
    "GeneratorEvidence",
    "Verdict",
    "judge_generator",
]

CPU_LIMIT = 90.0  # percent of one core, per worker
CPU_SUSTAINED_S = 3  # consecutive seconds
LAG_LIMIT_MS = 10.0  # lateness under this is never material, whatever its cause
ERROR_SHARE = 0.10  # lateness under this share of the median latency is never material
WAIT_LIMIT_MS = 50.0  # ms per second a worker waited for a CPU: 5% of its time crowded out
PREEMPTED_PER_S = 100  # without schedstat: involuntary switches per second, per worker
OTHERS_BUSY = 50.0  # without schedstat: other processes' share of the machine, percent
OTHERS_PRESENT = 10.0  # below this share of the machine, others cannot have crowded us
UNREACHABLE_KINDS = frozenset(
    {"connect-refused", "connect-timeout", "connect-error", "read-timeout", "reset"}
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The run's verdict, the reasons in plain words, and the timing error bound (ms)."""

    verdict: VerdictKind
    reasons: list[str]
    timing_error_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class GeneratorEvidence:
    """What the verdict reads: the run's counts and, per second, the generator's health."""

    requests: int
    responses: int  # requests that got an HTTP response (any status)
    latency_p50_ms: float
    seconds: list[GeneratorPoint]
    loop_lag_p99_ms: float
    schedule_lag_p99_ms: float = 0.0
    dropped: int = 0
    open_model: bool = False
    max_users: int | None = None
    errors: dict[str, int] = field(default_factory=dict)  # failures by kind
    contenders: list[dict[str, Any]] = field(default_factory=list)  # name, pid, cpu_percent
    steal_percent: float = 0.0  # of one core, over the run

    @property
    def timing_error_ms(self) -> float:
        """The most the generator's lateness can have added to a measured time (p99)."""
        schedule = self.schedule_lag_p99_ms if self.open_model else 0.0
        return max(self.loop_lag_p99_ms, schedule)


def _longest_run_at_or_above(values: list[float], limit: float) -> int:
    best = current = 0
    for v in values:
        current = current + 1 if v >= limit else 0
        best = max(best, current)
    return best


def _busy_workers(seconds: list[GeneratorPoint]) -> list[str]:
    """Workers that used nearly all of a core for several seconds in a row."""
    by_worker: dict[int, list[float]] = {}
    for point in seconds:
        for worker, cpu in enumerate(point.cpu_percent_by_worker or [point.cpu_percent]):
            by_worker.setdefault(worker, []).append(cpu)
    reasons = []
    for worker, series in sorted(by_worker.items()):
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
    return reasons


def _late(point: GeneratorPoint, open_model: bool) -> bool:
    return point.loop_lag_ms > LAG_LIMIT_MS or (open_model and point.schedule_lag_ms > LAG_LIMIT_MS)


def _crowded(point: GeneratorPoint) -> bool:
    """In this second a worker waited for a CPU that another process held."""
    if point.others_cpu_percent is not None and point.others_cpu_percent < OTHERS_PRESENT:
        return False  # it waited behind loadlens's own processes: more workers than cores
    if point.run_delay_ms is not None:
        return point.run_delay_ms >= WAIT_LIMIT_MS
    workers = max(len(point.cpu_percent_by_worker), 1)
    return (point.preemptions / workers >= PREEMPTED_PER_S
            and (point.others_cpu_percent or 0.0) >= OTHERS_BUSY)  # fmt: skip


def _contenders(evidence: GeneratorEvidence) -> str:
    named = [
        f"{c['name']} pid {c['pid']} used {c['cpu_percent']:.0f}%" for c in evidence.contenders[:3]
    ]
    if evidence.steal_percent >= 5:
        named.append(f"the hypervisor took {evidence.steal_percent:.0f}% (steal)")
    return "; ".join(named) if named else "no single process stood out"


def _unreachable(evidence: GeneratorEvidence) -> str | None:
    """Why no request got a response, when the target was never reached at all."""
    if evidence.requests == 0 or evidence.responses:
        return None
    kinds = {k: n for k, n in evidence.errors.items() if n}
    if not kinds or not set(kinds) <= UNREACHABLE_KINDS:
        return None
    worst = max(kinds, key=lambda k: kinds[k])
    return {
        "connect-refused": "every connection was refused",
        "connect-timeout": "no connection was accepted within the connect timeout",
        "connect-error": "no connection could be made",
        "read-timeout": "connections were accepted but no request got a response in time",
        "reset": "every connection was reset before a response",
    }[worst]


def _sustained(late: list[GeneratorPoint], evidence: GeneratorEvidence) -> bool:
    """Lateness that is material: past the limit, in two seconds (or every second of a
    shorter run: one OS pause can be a short run's p99 on its own), and a real share of the
    median latency (5 ms of lag on 800 ms responses is not a broken run)."""
    error = evidence.timing_error_ms
    return (
        bool(late)
        and len(late) >= min(2, len(evidence.seconds))
        and error > LAG_LIMIT_MS
        and error > ERROR_SHARE * evidence.latency_p50_ms
    )


def _error_size(evidence: GeneratorEvidence) -> str:
    error, median = evidence.timing_error_ms, evidence.latency_p50_ms
    if median <= 0:
        return f"the timing error was up to {error:.1f} ms"
    return (f"the timing error was up to {error:.1f} ms, {error / median:.0%} of the median "
            f"latency ({median:.1f} ms)")  # fmt: skip


def judge_generator(evidence: GeneratorEvidence) -> Verdict:
    """Decide whether the run's numbers describe the target, and within what error."""
    error = evidence.timing_error_ms
    unreachable = _unreachable(evidence)
    if unreachable is not None:
        # Connection errors at full speed keep a worker busy; that is not the generator's
        # limit but a target that is not there, so it is judged before anything else.
        return Verdict(VerdictKind.INCONCLUSIVE,
                       [f"the target was never reached: {unreachable}"], error)  # fmt: skip
    seconds, open_model = evidence.seconds, evidence.open_model
    # Late seconds, and those in which a worker waited for a CPU that others held: the
    # kernel's account of why the loop was late.
    late = [p for p in seconds if _late(p, open_model)]
    crowded = [p for p in late if _crowded(p)]
    material = _sustained(late, evidence)
    crowded_out = material and len(crowded) * 2 >= len(late)
    dropped = (
        f"{evidence.dropped} arrivals found every user busy (max users {evidence.max_users}) "
        "and were dropped: the percentiles do not cover them"
        if open_model and evidence.dropped
        else ""
    )
    busy = _busy_workers(seconds)
    if busy or (dropped and not crowded_out):
        reasons = [*busy, *([f"{dropped}; raise --max-users"] if dropped else [])]
        if crowded_out:
            reasons.append(f"other processes also took CPU it needed: {_contenders(evidence)}")
        return Verdict(VerdictKind.GENERATOR_BOUND, reasons, error)
    if crowded_out:
        waited = max((p.run_delay_ms or 0.0) for p in crowded)
        wait = f" (a worker waited up to {waited:.0f} ms a second for a CPU)" if waited else ""
        return Verdict(
            VerdictKind.CONTENDED,
            [
                f"loadlens was late in {len(late)} of {len(seconds)} seconds because other "
                f"processes held the CPU it needed{wait}: {_contenders(evidence)}",
                _error_size(evidence),
                *([f"{dropped}, as users waited on a late loop"] if dropped else []),
                "give the target other cores (taskset -c) or another machine, or run fewer "
                "--workers; more workers only crowd the machine further",
            ],
            error,
        )
    if material:
        return Verdict(
            VerdictKind.GENERATOR_BOUND,
            [
                f"the event loop was late in {len(late)} of {len(seconds)} seconds while no "
                "other process was crowding it: loadlens's own work (or a blocking call in a "
                "scenario) delayed the responses it timed",
                _error_size(evidence),
            ],
            error,
        )
    if evidence.requests == 0:
        return Verdict(VerdictKind.INCONCLUSIVE,
                       ["no request completed, so there is nothing to judge"], error)  # fmt: skip
    if evidence.responses == 0:
        return Verdict(VerdictKind.INCONCLUSIVE,
                       ["no request got a response, so there is no latency to judge"],
                       error)  # fmt: skip
    return Verdict(VerdictKind.VALID, [], error)

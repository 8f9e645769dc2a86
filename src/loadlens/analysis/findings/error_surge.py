"""Errors that grew with the load: the target starts failing when it is pushed."""

from __future__ import annotations

from loadlens.analysis.findings.series import middle, target_monitor
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["error_surge"]

MIN_RATE = 0.05  # of the requests in the last third
GROWTH = 5.0  # times the first third's rate


def _rate(points: list[dict[str, object]]) -> float:
    requests = sum(int(p["requests"]) for p in points)  # type: ignore[call-overload]
    failures = sum(int(p["failures"]) for p in points)  # type: ignore[call-overload]
    return failures / requests if requests else 0.0


def error_surge(result: RunResult) -> Finding | None:
    """The error rate of the last third far above the first third's."""
    points = [p for p in middle([p.model_dump() for p in result.timeline]) if p["requests"]]
    if len(points) < 6:
        return None
    third = len(points) // 3
    first, last = _rate(points[:third]), _rate(points[-third:])
    if last < MIN_RATE or last < GROWTH * first:
        return None
    errors = ", ".join(f"{kind} {n:,}" for kind, n in result.totals.errors.items())
    waiting = ""
    found = target_monitor(result)
    if found is not None:
        samples = middle(found[1]["timeline"])
        cpu = max((p.get("cpu_percent", 0.0) for p in samples), default=0.0)
        busiest = max((p.get("busiest_cores", 0.0) for p in samples), default=0.0)
        if cpu < 50 and busiest < 0.5:
            waiting = (
                f" The target's CPU stayed low (peak {cpu:.0f}% of the machine), so it ran out "
                "of something else: a pool or queue that is full, or a downstream that times out."
            )
    return Finding(
        id="error-surge",
        severity="high",
        title="Errors surged as the load grew",
        evidence=(
            f"the error rate went from {first:.1%} in the first third of the run to "
            f"{last:.1%} in the last ({errors})"
        ),
        suggestion=(
            "The target fails under this load rather than slowing down: look at its "
            "limits (connection and worker pools, queue sizes, timeouts, rate "
            "limits) and at its logs for the first errors." + waiting
        ),
        data={
            "error_rate_first_third": round(first, 4),
            "error_rate_last_third": round(last, 4),
            "errors": dict(result.totals.errors),
        },
    )

"""The run's own timing cannot be read: loadlens was the bottleneck, or was crowded out."""

from __future__ import annotations

from typing import Any

from loadlens.metrics.run_result import Finding, RunResult, VerdictKind

__all__ = ["contended", "generator_bound"]


def _data(result: RunResult) -> dict[str, Any]:
    seconds = result.generator.timeline
    waits = [p.run_delay_ms for p in seconds if p.run_delay_ms is not None]
    others = [p.others_cpu_percent for p in seconds if p.others_cpu_percent is not None]
    return {
        "timing_error_ms": result.timing_error_ms,
        "latency_p50_ms": result.totals.latency.p50,
        "worker_cpu_percent_max": max((p.cpu_percent for p in seconds), default=0.0),
        "run_delay_ms_max": max(waits, default=None),
        "others_cpu_percent_max": max(others, default=None),
        "contenders": [c.model_dump() for c in result.generator.contenders],
        "dropped_iterations": result.totals.dropped_iterations,
    }


def generator_bound(result: RunResult) -> Finding | None:
    """A finding when the verdict is generator-bound (it outranks every other)."""
    if result.verdict is not VerdictKind.GENERATOR_BOUND:
        return None
    return Finding(
        id="generator-bound",
        severity="critical",
        title="loadlens itself was the bottleneck, so the target's figures cannot be read",
        evidence="; ".join(result.verdict_reasons),
        suggestion="Run again with more --workers or on more cores (or a second machine), "
        "or ask for less load; no finding about the target is made from this run.",
        data=_data(result),
    )


def contended(result: RunResult) -> Finding | None:
    """A finding when other processes took the CPU loadlens needed (it outranks the rest)."""
    if result.verdict is not VerdictKind.CONTENDED:
        return None
    contenders = result.generator.contenders
    top = ""
    if contenders:
        top = f" (most of all {contenders[0].name}, pid {contenders[0].pid})"
    return Finding(
        id="contended",
        severity="critical",
        title=f"Other processes took the CPU loadlens needed{top}, so its timing is off",
        evidence="; ".join(result.verdict_reasons[:2]),
        suggestion=(
            "Keep the generator and the target apart: pin them to different cores "
            "(`taskset -c 0 SERVER ...` and `taskset -c 1 loadlens run ...`), run the target "
            "on another machine, or use fewer --workers. Findings read from the target's own "
            "counts still stand; those made from loadlens's timing are left out."
        ),
        data=_data(result),
    )

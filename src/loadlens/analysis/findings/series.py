"""Reading per-second series out of a run for the rules."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

from loadlens.metrics.run_result import RunResult
from loadlens.metrics.thresholds import ThresholdError, parse_threshold

__all__ = [
    "ERROR_RATE_LIMIT",
    "SLOW_P95_MS",
    "error_rate_limit",
    "is_slow",
    "middle",
    "slow_limit_ms",
    "target_monitor",
]

T = TypeVar("T")
SLOW_P95_MS = 100.0  # the mission's "under 100 ms"; a crossed latency threshold also counts
ERROR_RATE_LIMIT = 0.05  # a share of failures worth a finding; a crossed threshold lowers it


def middle(points: list[T]) -> list[T]:
    """Without the first second (start-up) and the last (partial, draining)."""
    return points[1:-1] if len(points) > 3 else points


def _crossed_limits(result: RunResult, *metrics: str) -> list[float]:
    """The limits of the thresholds on these metrics (or families, `latency.`) it crossed."""
    limits = []
    for threshold in result.thresholds:
        if not threshold.ok:
            with contextlib.suppress(ThresholdError):
                parsed = parse_threshold(threshold.expression)
                if parsed.metric.startswith(metrics):
                    limits.append(parsed.limit)
    return limits


def _crossed_latency_limits(result: RunResult) -> list[float]:
    """The limits (ms) of the latency thresholds the run crossed."""
    return _crossed_limits(result, "latency.", "service.")


def error_rate_limit(result: RunResult) -> float:
    """The error rate from which failures are a finding: 5%, or a crossed threshold's."""
    return min([ERROR_RATE_LIMIT, *_crossed_limits(result, "error_rate")])


def slow_limit_ms(result: RunResult) -> float:
    """The p95 from which a second is slow: 100 ms, or a crossed latency threshold's limit."""
    return min([SLOW_P95_MS, *_crossed_latency_limits(result)])


def target_monitor(result: RunResult) -> tuple[str, dict[str, Any]] | None:
    """The first monitored target process, if any: (its name, its monitor)."""
    for name, monitor in result.monitors.items():
        if monitor.get("kind") == "process" and monitor.get("timeline"):
            return name, monitor
    return None


def is_slow(result: RunResult) -> bool:
    """Requests were slow: p95 over 100 ms, or a latency threshold crossed."""
    return result.totals.latency.p95 >= SLOW_P95_MS or bool(_crossed_latency_limits(result))

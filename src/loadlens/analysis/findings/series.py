"""Reading per-second series out of a run for the rules."""

from __future__ import annotations

from typing import Any

from loadlens.metrics.run_result import RunResult

__all__ = ["middle", "target_monitor"]


def middle(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the first second (start-up) and the last (partial, draining)."""
    return points[1:-1] if len(points) > 3 else points


def target_monitor(result: RunResult) -> tuple[str, dict[str, Any]] | None:
    """The first monitored target process, if any: (its name, its monitor)."""
    for name, monitor in result.monitors.items():
        if monitor.get("kind") == "process" and monitor.get("timeline"):
            return name, monitor
    return None

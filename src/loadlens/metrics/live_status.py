"""What a person watching the run sees after each merged second."""

from __future__ import annotations

from dataclasses import dataclass

from loadlens.metrics.run_result import TimelinePoint

__all__ = ["LiveStatus"]


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the live view shows after each merged second."""

    elapsed: float
    planned: float
    second: TimelinePoint
    requests: int
    failures: int
    cpu_percent: float
    p50: float
    p95: float
    p99: float

"""What a worker ships to the coordinator each second: plain, picklable records."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import HistogramData

__all__ = ["EndpointSnapshot", "HealthSample", "Snapshot"]


@dataclass(slots=True)
class EndpointSnapshot:
    """One endpoint's results during one second on one worker."""

    counts: Counts = field(default_factory=Counts)
    latency: HistogramData | None = None
    service_time: HistogramData | None = None


@dataclass(slots=True)
class HealthSample:
    """How the worker itself fared during one second."""

    cpu_percent: float = 0.0
    loop_lag: HistogramData | None = None
    schedule_lag: HistogramData | None = None
    run_delay_ms: float | None = None  # runnable but waiting for a CPU (None: unknown)
    preemptions: int = 0  # involuntary context switches


@dataclass(slots=True)
class Snapshot:
    """One worker's second `second` (0-based from the run's start)."""

    worker: int
    second: int
    endpoints: list[EndpointSnapshot]
    users: int = 0
    in_flight: int = 0
    iterations: int = 0
    dropped: int = 0
    health: HealthSample = field(default_factory=HealthSample)
    checks: list[int] = field(default_factory=list)  # check i: passes at 2i, fails at 2i + 1
    # What `endpoints[i]` and check i are: a Python scenario names them as it runs, so
    # workers number them in their own order and the coordinator matches them by name.
    endpoint_names: list[tuple[str, str, str]] | None = None  # (name, method, url)
    check_names: list[str] | None = None
    script_errors: dict[str, int] = field(default_factory=dict)  # Python scenario exceptions
    final: bool = False

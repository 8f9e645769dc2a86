"""What the coordinator learnt of a run, as plain records, before it is judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loadlens.metrics.aggregate import RunAggregator
from loadlens.metrics.run_result import CapacityStep, RunStatus
from loadlens.metrics.thresholds import Threshold

__all__ = ["MachineReport", "MachineSecond", "RunOutcome"]


@dataclass(frozen=True, slots=True)
class MachineSecond:
    """Second `t` of the run: the machine's CPU use and other processes' share, in percent
    of the whole machine (all cores)."""

    t: int
    host_cpu_percent: float
    others_cpu_percent: float


@dataclass
class MachineReport:
    """What the probe saw over the run."""

    seconds: list[MachineSecond] = field(default_factory=list)
    contenders: list[dict[str, Any]] = field(default_factory=list)  # name, pid, cpu_percent
    steal_percent: float = 0.0  # of one core: CPU the hypervisor gave other machines
    cpu_ms: float = 0.0  # what watching cost loadlens

    @classmethod
    def from_monitor(cls, monitor: dict[str, Any]) -> MachineReport:
        """From `MonitorSet.results()`'s entry for a MachineProbe."""
        summary = monitor.get("summary") or {}
        return cls(
            seconds=[MachineSecond(int(p["t"]), float(p["host_cpu_percent"]),
                                   float(p["others_cpu_percent"]))
                     for p in monitor.get("timeline", [])],
            contenders=list(summary.get("contenders", [])),
            steal_percent=float(summary.get("steal_percent", 0.0)),
            cpu_ms=float(monitor.get("cpu_ms", 0.0)),
        )  # fmt: skip


@dataclass
class RunOutcome:
    """What the coordinator learnt besides the merged seconds."""

    status: RunStatus = RunStatus.COMPLETED
    started: datetime | None = None
    duration_s: float = 0.0
    workers: int = 1
    connections_opened: int = 0
    interrupted_iterations: int = 0
    failures: list[str] = field(default_factory=list)  # workers lost, watchdog stops
    notes: list[str] = field(default_factory=list)
    capacity_steps: list[CapacityStep] = field(default_factory=list)
    monitors: dict[str, Any] = field(default_factory=dict)  # target-side samples, by monitor
    machine: MachineReport | None = None  # the generator's machine: its CPU, other processes
    aggregator: RunAggregator | None = None  # the merged seconds
    thresholds: list[Threshold] = field(default_factory=list)

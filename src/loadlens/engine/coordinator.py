"""The coordinator: starts the workers, merges their seconds, stops them, builds the result."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import platform
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import cast

from loadlens import __version__
from loadlens.analysis.verdict import judge_generator
from loadlens.engine.capacity_judge import CapacityJudge
from loadlens.engine.executors import OPEN_MODELS
from loadlens.engine.worker import Ready, Start, Stop, WorkerDone, worker_process
from loadlens.metrics.aggregate import EndpointInfo, RunAggregator
from loadlens.metrics.run_result import RunResult, ThresholdResult, TimelinePoint
from loadlens.metrics.snapshot import Snapshot
from loadlens.metrics.thresholds import Threshold, parse_threshold
from loadlens.scenario.load import Capacity
from loadlens.scenario.model import Scenario

__all__ = ["InterruptedBeforeStart", "LiveStatus", "RunStatus", "run_scenario"]

_START_DELAY_S = 0.02  # workers are ready; give the start message time to reach them
_READY_TIMEOUT_S = 30.0
_WATCHDOG_SLACK_S = 30.0


class RunStatus:
    """How a run ended."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"


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


class InterruptedBeforeStart(Exception):
    """Ctrl-C came before the workers started: nothing was measured."""


class _Interrupts:
    """Counts Ctrl-C (and SIGTERM) instead of raising KeyboardInterrupt mid-merge."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0
        self._previous: list[object] = []

    def __enter__(self) -> _Interrupts:
        self._previous = [signal.signal(sig, self._on_signal) for sig in self._SIGNALS]
        return self

    def __exit__(self, *_: object) -> None:
        for sig, previous in zip(self._SIGNALS, self._previous, strict=True):
            signal.signal(sig, previous)  # type: ignore[arg-type]

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1


def _planned_duration(scenario: Scenario) -> float:
    load = scenario.load
    if load.executor == "per-vu-iterations":
        return 0.0  # unknown in advance
    return float(load.total_duration)


def _default_workers(scenario: Scenario) -> int:
    cpus = os.cpu_count() or 1
    load = scenario.load
    users = getattr(load, "users", None) or getattr(load, "max_users", None) or cpus
    return max(1, min(cpus, int(users)))


def run_scenario(
    scenario: Scenario,
    *,
    workers: int | None = None,
    on_second: Callable[[LiveStatus], None] | None = None,
) -> RunResult:
    """Run the scenario on `workers` processes and return what was measured."""
    count = workers or _default_workers(scenario)
    thresholds = [parse_threshold(t) for t in scenario.thresholds]
    return _Run(scenario, count, thresholds, on_second).execute()


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        workers: int,
        thresholds: list[Threshold],
        on_second: Callable[[LiveStatus], None] | None,
    ) -> None:
        self.scenario = scenario
        self.workers = workers
        self.thresholds = thresholds
        self.on_second = on_second
        self.aggregator = RunAggregator(
            [EndpointInfo(r.name, r.method, r.url) for r in scenario.requests], workers
        )
        self.status = RunStatus.COMPLETED
        self.stop_sent = False
        self.connections_opened = 0
        self.interrupted_iterations = 0
        self.worker_errors: list[str] = []
        self.last_end_ns = 0
        self.notes: list[str] = []
        self.capacity_steps: list[dict[str, float | bool]] = []
        load = scenario.load
        self.capacity_judge = CapacityJudge(load) if isinstance(load, Capacity) else None

    def execute(self) -> RunResult:
        # fork: workers start in milliseconds (the first request leaves well within 1 s);
        # the coordinator has no threads yet, so forking is safe.
        context = mp.get_context("fork")
        pipes: list[Connection] = []
        processes = []
        scenario_json = self.scenario.model_dump_json()
        for index in range(self.workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_process,
                args=(child, index, self.workers, scenario_json),
                name=f"loadlens-worker-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            pipes.append(parent)
            processes.append(process)
        with _Interrupts() as interrupts:
            try:
                self._wait_ready(pipes, interrupts)
                t0_ns = time.monotonic_ns() + int(_START_DELAY_S * 1e9)
                started = datetime.now(UTC) + timedelta(seconds=_START_DELAY_S)
                for pipe in pipes:
                    pipe.send(Start(t0_ns))
                self._collect(pipes, t0_ns, interrupts)
            finally:
                for process in processes:
                    process.join(timeout=5)
                    if process.is_alive():
                        process.kill()
                        process.join()
        # The run lasts until its last iteration ended, not until processes exited.
        ended_ns = self.last_end_ns or time.monotonic_ns()
        for point in self.aggregator.finish():
            self._after_second(point, t0_ns)
        duration = max((ended_ns - t0_ns) / 1e9, 1e-9)
        return self._result(started, started + timedelta(seconds=duration), duration)

    def _wait_ready(self, pipes: list[Connection], interrupts: _Interrupts) -> None:
        waiting = set(range(len(pipes)))
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while waiting:
            if interrupts.count:
                raise InterruptedBeforeStart
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start within {_READY_TIMEOUT_S:.0f} s")
            for ready in wait([pipes[i] for i in waiting], timeout=0.2):
                message = cast(Connection, ready).recv()
                if isinstance(message, Ready):
                    waiting.discard(message.worker)
                elif isinstance(message, WorkerDone) and message.error:
                    raise RuntimeError(f"worker {message.worker} failed: {message.error}")

    def _stop_all(self, pipes: list[Connection], reason: str, interrupt: bool) -> None:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(Stop(reason, interrupt))
        self.stop_sent = True

    def _collect(self, pipes: list[Connection], t0_ns: int, interrupts: _Interrupts) -> None:
        live = {i: pipe for i, pipe in enumerate(pipes)}
        planned = _planned_duration(self.scenario)
        budget = (planned or self.scenario.load.total_duration) + self.scenario.graceful_stop
        watchdog = t0_ns / 1e9 + budget + self.scenario.timeout + _WATCHDOG_SLACK_S
        seen_interrupts = 0
        while live:
            if interrupts.count > seen_interrupts:
                seen_interrupts = interrupts.count
                self.status = RunStatus.INTERRUPTED
                if seen_interrupts == 1:
                    self._stop_all(list(live.values()), "interrupted", interrupt=True)
                else:
                    return  # a second Ctrl-C: stop waiting; workers are killed on the way out
            if time.monotonic() > watchdog:
                self.notes.append("workers did not finish in time and were stopped")
                return
            for ready in wait(list(live.values()), timeout=0.2):
                pipe = cast(Connection, ready)
                worker = next(i for i, p in live.items() if p is pipe)
                try:
                    message = pipe.recv()
                except (EOFError, OSError):
                    self.worker_errors.append(f"worker {worker} exited unexpectedly")
                    del live[worker]
                    for point in self.aggregator.worker_done(worker):
                        self._after_second(point, t0_ns, list(live.values()))
                    continue
                if isinstance(message, Snapshot):
                    for point in self.aggregator.add(message):
                        self._after_second(point, t0_ns, list(live.values()))
                elif isinstance(message, WorkerDone):
                    if message.error:
                        self.worker_errors.append(f"worker {worker}: {message.error}")
                    self.connections_opened += message.connections_opened
                    self.interrupted_iterations += message.interrupted_iterations
                    self.last_end_ns = max(self.last_end_ns, message.ended_ns)
                    del live[worker]
                    for point in self.aggregator.worker_done(worker):
                        self._after_second(point, t0_ns, list(live.values()))

    def _after_second(
        self, point: TimelinePoint, t0_ns: int, pipes: list[Connection] | None = None
    ) -> None:
        totals = self.aggregator.totals(max(point.t + 1, 1))
        if pipes and not self.stop_sent:
            if self.scenario.abort_on_fail:
                for threshold in self.thresholds:
                    if threshold.depends_on_elapsed_time or totals.requests == 0:
                        continue
                    if not threshold.judge(totals).ok:
                        self.status = RunStatus.ABORTED
                        self.notes.append(
                            f"aborted: threshold {threshold.expression} crossed "
                            f"at second {point.t + 1}"
                        )
                        self._stop_all(pipes, "threshold crossed", interrupt=True)
                        break
            if self.scenario.load.executor == "capacity":
                self._judge_capacity_step(point, pipes)
        if self.on_second is not None:
            generator = self.aggregator.generator[-1] if self.aggregator.generator else None
            self.on_second(
                LiveStatus(
                    elapsed=(time.monotonic_ns() - t0_ns) / 1e9,
                    planned=_planned_duration(self.scenario),
                    second=point,
                    requests=totals.requests,
                    failures=totals.failures,
                    cpu_percent=generator.cpu_percent if generator else 0.0,
                    p50=totals.latency.p50,
                    p95=totals.latency.p95,
                    p99=totals.latency.p99,
                )
            )

    def _judge_capacity_step(self, point: TimelinePoint, pipes: list[Connection]) -> None:
        if self.capacity_judge is None:
            return
        verdict = self.capacity_judge.add_second(
            point.t,
            self.aggregator.last_second_latency,
            point.requests,
            point.failures,
            point.dropped,
        )
        if verdict is None:
            return
        self.capacity_steps.append(verdict)
        if not verdict["ok"]:
            self.notes.append(f"capacity: step at {verdict['rate']:.0f}/s broke the SLO")
            self._stop_all(pipes, "capacity found", interrupt=False)

    def _result(self, started: datetime, ended: datetime, duration: float) -> RunResult:
        scenario = self.scenario
        load = scenario.load
        totals = self.aggregator.totals(duration, self.interrupted_iterations)
        thresholds: list[ThresholdResult] = [t.judge(totals) for t in self.thresholds]
        verdict = judge_generator(
            requests=totals.requests,
            cpu_by_worker=self.aggregator.cpu_by_worker,
            loop_lag_p99_ms=self.aggregator.loop_lag.percentiles_ns(99.0)[99.0] / 1e6,
            schedule_lag_p99_ms=self.aggregator.schedule_lag.percentiles_ns(99.0)[99.0] / 1e6,
            dropped=totals.dropped_iterations,
            open_model=load.executor in OPEN_MODELS,
            max_users=getattr(load, "max_users", None),
        )
        timeline = self.aggregator.timeline
        if timeline and 0 < duration - timeline[-1].t < 1:
            # The last second is partial: its rate is over the part that was run.
            timeline[-1].rps = timeline[-1].requests / (duration - timeline[-1].t)
        notes = [*self.notes, *self.worker_errors]
        notes.append(f"connections opened: {self.connections_opened}")
        capacity = None
        if load.executor == "capacity":
            held = [s["rate"] for s in self.capacity_steps if s["ok"]]
            capacity = {
                "highest_rate_within_slo": max(held, default=0.0),
                "steps": self.capacity_steps,
            }
        return RunResult(
            id=uuid.uuid4().hex[:12],
            name=scenario.name,
            started_at=started.isoformat(timespec="milliseconds"),
            ended_at=ended.isoformat(timespec="milliseconds"),
            duration_s=duration,
            status=self.status,
            verdict=verdict.verdict,
            verdict_reasons=verdict.reasons,
            environment={
                "loadlens": __version__,
                "python": platform.python_version(),
                "platform": sys.platform,
                "cpus": os.cpu_count(),
                "workers": self.workers,
            },
            load=load.model_dump(),
            totals=totals,
            endpoints=self.aggregator.endpoint_results(duration),
            thresholds=thresholds,
            timeline=self.aggregator.timeline,
            generator={
                "timeline": [g.model_dump() for g in self.aggregator.generator],
                "loop_lag_p99_ms": self.aggregator.loop_lag.percentiles_ns(99.0)[99.0] / 1e6,
                "schedule_lag_p99_ms": self.aggregator.schedule_lag.percentiles_ns(99.0)[99.0]
                / 1e6,
                "notes": notes,
            },
            capacity=capacity,
            histograms=self.aggregator.histograms(),
        )

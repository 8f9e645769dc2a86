"""The coordinator: forks the workers, merges their seconds, stops them, ends the run."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType, TracebackType
from typing import cast

from loadlens.engine.capacity_judge import CapacityJudge
from loadlens.engine.machine_watch import MachineProbe, watch_machine
from loadlens.engine.prepared_request import prepare_flows
from loadlens.engine.run_context import ScriptFactory
from loadlens.engine.worker import Prepared, Ready, Start, Stop, WorkerDone, worker_process
from loadlens.metrics.aggregate import EndpointInfo, RunAggregator
from loadlens.metrics.histogram import SMALL_BATCH, numpy_module
from loadlens.metrics.live_status import LiveStatus
from loadlens.metrics.run_outcome import MachineReport, RunOutcome
from loadlens.metrics.run_result import RunStatus, TimelinePoint, Totals
from loadlens.metrics.snapshot import Snapshot
from loadlens.metrics.thresholds import parse_threshold
from loadlens.monitoring.monitor_set import MonitorSet
from loadlens.scenario.load import Capacity, PerVUIterations
from loadlens.scenario.model import Scenario

__all__ = ["Coordinator", "InterruptedBeforeStart", "may_fold_big_batches"]

_START_DELAY_S = 0.02  # workers are ready; give the start message time to reach them
_READY_TIMEOUT_S = 30.0
_WATCHDOG_SLACK_S = 30.0


class InterruptedBeforeStart(Exception):
    """Ctrl-C came before the workers started: nothing was measured."""


class _Interrupts:
    """Counts Ctrl-C (and SIGTERM) instead of raising KeyboardInterrupt mid-merge."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0
        self._previous: list[object] = []

    def install(self) -> None:
        self._previous = [signal.signal(sig, self._on_signal) for sig in self._SIGNALS]

    def restore(self) -> None:
        if not self._previous:
            return
        for sig, previous in zip(self._SIGNALS, self._previous, strict=True):
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous = []

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1


def planned_duration(scenario: Scenario) -> float:
    """How long the load model runs (0 when it ends by iteration count)."""
    load = scenario.load
    if load.executor == "per-vu-iterations":
        return 0.0
    return float(load.total_duration)


def may_fold_big_batches(scenario: Scenario, prepared: Prepared) -> bool:
    """Whether a second of this run can hold more requests than the histogram folds
    inline: then numpy must be loaded before the start (by the coordinator, before it
    forks: one import for every worker), never mid-run, where it would stall a worker's
    loop for ~0.2 s."""
    load = scenario.load
    if scenario.script is not None or not isinstance(load, PerVUIterations):
        return True
    flows, on_start = prepared
    steps = max((len(f.steps) for f in flows), default=0) + (len(on_start.steps) if on_start else 0)
    return load.users * load.iterations * steps > SMALL_BATCH


def default_workers(scenario: Scenario) -> int:
    """One worker per core, never more workers than users."""
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, scenario.load.max_users))


class Coordinator:
    """Runs a scenario on worker processes: `start()` forks them, `run()` drives the load.

    Fork before any thread exists (the live view starts one), so `start()` comes first;
    as a context manager, anything still running is killed on the way out.
    """

    def __init__(
        self,
        scenario: Scenario,
        workers: int | None = None,
        monitors: MonitorSet | None = None,
        scripted: ScriptFactory | None = None,
    ) -> None:
        self.scenario = scenario
        self._scripted = scripted  # a Python scenario's iterations, built in each worker
        self._monitors = monitors
        self.workers = workers or default_workers(scenario)
        self.thresholds = [parse_threshold(t) for t in scenario.thresholds]
        self.aggregator = RunAggregator(
            [EndpointInfo(r.name, r.method, r.url) for r in scenario.endpoints],
            self.workers,
            scenario.checks,
        )
        self.outcome = RunOutcome(
            workers=self.workers, aggregator=self.aggregator, thresholds=self.thresholds
        )
        load = scenario.load
        self._capacity = CapacityJudge(load) if isinstance(load, Capacity) else None
        self._interrupts = _Interrupts()
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        self._stop_sent = False
        self._last_end_ns = 0
        self._t0_ns = 0
        self._on_second: Callable[[LiveStatus], None] | None = None

    def __enter__(self) -> Coordinator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._reap(force=exc is not None)

    def start(self) -> None:
        """Fork the workers; they set up and wait for `run()`."""
        # fork: workers are ready in milliseconds (the first request leaves well within
        # 1 s), and they inherit the imports instead of repeating them.
        context = mp.get_context("fork")
        self._interrupts.install()
        # Prepared once, here: forked workers inherit the scenario and its encoded requests
        # (resolved hosts, compiled templates) instead of validating and preparing again.
        prepared = prepare_flows(self.scenario)
        if may_fold_big_batches(self.scenario, prepared):
            numpy_module()  # (loaded once, here, for every worker to inherit)
        # Freeze everything alive now, right before forking (as the gc docs advise): the
        # workers' collector never walks it, and its pages stay shared, not copied. (No
        # collection first: a full one over the imports costs ~60 ms of start-up, for
        # the little garbage start-up leaves.)
        gc.freeze()
        for index in range(self.workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_process,
                args=(child, index, self.workers, self.scenario, prepared, self._scripted),
                name=f"loadlens-worker-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            self._pipes.append(parent)
            self._processes.append(process)
        gc.unfreeze()

    def run(self, on_second: Callable[[LiveStatus], None] | None = None) -> RunOutcome:
        """Start the load, merge every second until the workers finish; what was measured."""
        self._on_second = on_second
        started = False
        machine: MonitorSet | None = None
        try:
            self._wait_ready()
            self._t0_ns = time.monotonic_ns() + int(_START_DELAY_S * 1e9)
            self.outcome.started = datetime.now(UTC) + timedelta(seconds=_START_DELAY_S)
            for pipe in self._pipes:
                pipe.send(Start(self._t0_ns))
            started = True
            machine = watch_machine([p.pid for p in self._processes if p.pid is not None])
            machine.start(self._t0_ns)
            if self._monitors:
                self._monitors.start(self._t0_ns)
            self._collect()
        finally:
            if machine is not None:
                machine.stop()
                self.outcome.machine = MachineReport.from_monitor(
                    machine.results()[MachineProbe.name]
                )
            if self._monitors and started:
                self._monitors.stop()
                self.outcome.monitors = self._monitors.results()
            # Workers never started wait for a Start that will not come: kill them now.
            self._reap(force=not started or self._interrupts.count > 1)
        for point in self.aggregator.finish():
            self._after_second(point, [])
        # The run lasts until its last iteration ended, not until processes exited.
        ended_ns = self._last_end_ns or time.monotonic_ns()
        self.outcome.duration_s = (ended_ns - self._t0_ns) / 1e9
        return self.outcome

    def _reap(self, *, force: bool) -> None:
        if force:
            # A second Ctrl-C, or an error: kill every worker first, then collect them.
            for process in self._processes:
                if process.is_alive():
                    process.kill()
        deadline = time.monotonic() + 5
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self._processes = []
        self._interrupts.restore()

    def _wait_ready(self) -> None:
        waiting = set(range(len(self._pipes)))
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while waiting:
            if self._interrupts.count:
                raise InterruptedBeforeStart
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start within {_READY_TIMEOUT_S:.0f} s")
            for ready in wait([self._pipes[i] for i in waiting], timeout=0.2):
                try:
                    message = cast(Connection, ready).recv()
                except (EOFError, OSError):
                    raise RuntimeError("a worker exited while setting up") from None
                if isinstance(message, Ready):
                    waiting.discard(message.worker)
                elif isinstance(message, WorkerDone) and message.error:
                    raise RuntimeError(f"worker {message.worker} failed: {message.error}")

    def _stop_all(self, pipes: list[Connection], reason: str, interrupt: bool) -> None:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(Stop(reason, interrupt))
        self._stop_sent = True

    def _collect(self) -> None:
        live = dict(enumerate(self._pipes))
        scenario = self.scenario
        budget = scenario.load.total_duration + scenario.graceful_stop + scenario.timeout
        watchdog = self._t0_ns / 1e9 + budget + _WATCHDOG_SLACK_S
        seen_interrupts = 0
        while live:
            if self._interrupts.count > seen_interrupts:
                seen_interrupts = self._interrupts.count
                self.outcome.status = RunStatus.INTERRUPTED
                if seen_interrupts > 1:
                    return  # a second Ctrl-C: stop waiting; the workers are killed
                self._stop_all(list(live.values()), "interrupted", interrupt=True)
            if time.monotonic() > watchdog:
                self.outcome.failures.append(
                    f"workers {sorted(live)} did not finish within {budget:.0f} s and were killed"
                )
                return
            for ready in wait(list(live.values()), timeout=0.2):
                pipe = cast(Connection, ready)
                worker = next(i for i, p in live.items() if p is pipe)
                try:
                    message = pipe.recv()
                except (EOFError, OSError):
                    message = WorkerDone(worker, 0, 0, error="exited unexpectedly")
                if isinstance(message, Snapshot):
                    for point in self.aggregator.add(message):
                        self._after_second(point, list(live.values()))
                elif isinstance(message, WorkerDone):
                    if message.error:
                        self.outcome.failures.append(f"worker {worker} failed: {message.error}")
                    if message.note and message.note not in self.outcome.notes:
                        self.outcome.notes.append(message.note)
                    self.outcome.connections_opened += message.connections_opened
                    self.outcome.interrupted_iterations += message.interrupted_iterations
                    self._last_end_ns = max(self._last_end_ns, message.ended_ns)
                    del live[worker]
                    for point in self.aggregator.worker_done(worker):
                        self._after_second(point, list(live.values()))

    def _after_second(self, point: TimelinePoint, pipes: list[Connection]) -> None:
        # Running totals cost a few percentile walks: computed only when someone reads them.
        totals: Totals | None = None
        if pipes and not self._stop_sent:
            if self.scenario.abort_on_fail:
                totals = self.aggregator.totals(max(point.t + 1, 1))
                self._abort_if_crossed(point, totals, pipes)
            if self._capacity is not None and not self._stop_sent:
                self._judge_capacity_step(point, pipes)
        if self._on_second is not None:
            totals = totals or self.aggregator.totals(max(point.t + 1, 1))
            generator = self.aggregator.generator[-1] if self.aggregator.generator else None
            self._on_second(
                LiveStatus(
                    elapsed=(time.monotonic_ns() - self._t0_ns) / 1e9,
                    planned=planned_duration(self.scenario),
                    second=point,
                    requests=totals.requests,
                    failures=totals.failures,
                    cpu_percent=generator.cpu_percent if generator else 0.0,
                    p50=totals.latency.p50,
                    p95=totals.latency.p95,
                    p99=totals.latency.p99,
                )
            )

    def _abort_if_crossed(
        self, point: TimelinePoint, totals: Totals, pipes: list[Connection]
    ) -> None:
        for threshold in self.thresholds:
            # Throughput is only judged at the end; and nothing is judged before a request.
            if threshold.depends_on_elapsed_time or totals.requests == 0:
                continue
            if threshold.metric == "checks" and not totals.checks_passed + totals.checks_failed:
                continue  # checks may only come with a later step: nothing judged yet
            if not threshold.judge(totals).ok:
                self.outcome.status = RunStatus.ABORTED
                self.outcome.notes.append(
                    f"aborted: threshold {threshold.expression} crossed at second {point.t + 1}"
                )
                self._stop_all(pipes, "threshold crossed", interrupt=True)
                return

    def _judge_capacity_step(self, point: TimelinePoint, pipes: list[Connection]) -> None:
        assert self._capacity is not None
        verdict = self._capacity.add_second(
            point.t,
            self.aggregator.last_second_latency,
            point.requests,
            point.failures,
            point.dropped,
        )
        if verdict is None:
            return
        self.outcome.capacity_steps.append(verdict)
        if not verdict.ok:
            self.outcome.notes.append(f"capacity: the step at {verdict.rate:.0f}/s broke the SLO")
            # The search is over, not cut short: in-flight requests finish and count.
            self._stop_all(pipes, "capacity found", interrupt=False)

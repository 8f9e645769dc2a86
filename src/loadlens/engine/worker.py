"""A worker process: one uvloop event loop running this worker's share of the users."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvloop

from loadlens.engine.clock import MonotonicClock
from loadlens.engine.data_feeder import Feeder
from loadlens.engine.executors import EXECUTORS
from loadlens.engine.executors.base import ExecutorContext, share
from loadlens.engine.health import CpuMeter, LoopLagProbe, RunQueueMeter
from loadlens.engine.prepared_request import PreparedFlow, make_ssl_context
from loadlens.engine.run_context import RunContext, ScriptedIterations, ScriptFactory
from loadlens.engine.virtual_user import UserCommons
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.recorder import IntervalRecorder
from loadlens.metrics.snapshot import HealthSample, Snapshot
from loadlens.scenario.model import LoadSpec, Scenario

__all__ = [
    "Ready",
    "Start",
    "Stop",
    "WorkerDone",
    "raise_open_file_limit",
    "worker_process",
]

# What a worker runs: the scenario's flows and its on_start, requests ready to send.
Prepared = tuple[list[PreparedFlow], PreparedFlow | None]


@dataclass(frozen=True, slots=True)
class Ready:
    """Worker → coordinator: set up and waiting for the start time."""

    worker: int


@dataclass(frozen=True, slots=True)
class Start:
    """Coordinator → worker: run time 0 is this CLOCK_MONOTONIC instant."""

    t0_ns: int


@dataclass(frozen=True, slots=True)
class Stop:
    """Coordinator → worker: stop now; `interrupt` means don't wait for in-flight requests."""

    reason: str
    interrupt: bool


@dataclass(frozen=True, slots=True)
class WorkerDone:
    """Worker → coordinator: every second has been shipped."""

    worker: int
    connections_opened: int
    interrupted_iterations: int
    ended_ns: int = 0  # when its last iteration ended (CLOCK_MONOTONIC)
    error: str | None = None
    note: str | None = None  # something the user should read, e.g. a data file ran out


def raise_open_file_limit() -> None:
    """Each user holds a socket; lift the soft fd limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_process(
    conn: Connection,
    index: int,
    count: int,
    scenario: Scenario,
    prepared: Prepared,
    scripted: ScriptFactory | None = None,
) -> None:
    """Process entry point (forked): run the worker's loop until the coordinator's plan is
    done. `prepared` is the scenario's flows and on_start, ready to send; `scripted` builds
    a Python scenario's iterations (the engine does not know how)."""
    # Ctrl-C reaches the whole process group; only the coordinator decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_open_file_limit()
    try:
        uvloop.run(_Worker(conn, index, count, scenario, prepared, scripted).run())
    except Exception as e:  # reported, so the coordinator can tell the user
        with contextlib.suppress(OSError):
            conn.send(WorkerDone(index, 0, 0, error=f"{type(e).__name__}: {e}"))


async def _drive(load: LoadSpec, ctx: ExecutorContext) -> None:
    """Run the executor that the load model names (the explicit registry)."""
    await EXECUTORS[load.executor](load, ctx)


class _Worker:
    def __init__(
        self,
        conn: Connection,
        index: int,
        count: int,
        scenario: Scenario,
        prepared: Prepared,
        scripted: ScriptFactory | None,
    ) -> None:
        self.conn = conn
        self.prepared = prepared
        self.index = index
        self.count = count
        self.scenario = scenario
        self.control: asyncio.Queue[Start | Stop] = asyncio.Queue()
        self.cut_short = asyncio.Event()  # set by an interrupting Stop, even mid-drain
        self.cpu = CpuMeter()
        self.run_queue = RunQueueMeter()
        self._scripted = scripted
        self.script: ScriptedIterations | None = None

    def _on_control(self) -> None:
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            # The coordinator is gone: stop at once rather than load a target unattended.
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            message = Stop("coordinator lost", interrupt=True)
        self.control.put_nowait(message)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        scenario = self.scenario
        flows, on_start = self.prepared
        # (A Python scenario's URLs are only known as it runs.)
        tls = scenario.script is not None or any(
            step.request.tls for flow in [*flows, *([on_start] if on_start else [])]
            for step in flow.steps
        )  # fmt: skip
        ssl_context = make_ssl_context(scenario.insecure) if tls else None
        loop.add_reader(self.conn.fileno(), self._on_control)
        # The hot path allocates by the hundred thousand a second and frees by reference
        # counting; the cyclic collector walking every live user and connection cost ~8%
        # of a worker's CPU (profiled at 1000 users). What the coordinator had is frozen
        # before the fork; young objects are collected far less often.
        gc.set_threshold(50_000, 50, 100)
        self.conn.send(Ready(self.index))
        start = await self.control.get()
        if not isinstance(start, Start):
            self.conn.send(WorkerDone(self.index, 0, 0))
            return
        clock = MonotonicClock(start.t0_ns)
        recorder = IntervalRecorder(
            len(scenario.endpoints), start.t0_ns, checks=len(scenario.checks)
        )
        commons = UserCommons(
            loop,
            flows,
            recorder,
            ssl_context,
            scenario.connect_timeout,
            dict(scenario.variables),
            cookies=scenario.cookies,
            feeders=[Feeder(source, self.index, self.count) for source in scenario.data],
            capture_all=scenario.script is not None,
            on_start=on_start,
            max_body=scenario.max_body,
        )
        if scenario.script is not None:
            if self._scripted is None:
                raise RuntimeError("a Python scenario needs the coordinator's script factory")
            self.script = self._scripted(scenario, recorder, self.index, self.count)
        load = scenario.load
        # An open model's arrivals find at most its max_users (this worker's share) free.
        max_users = share(load.max_users, self.index, self.count) if load.is_open else None
        await clock.sleep_until(0.0)
        async with asyncio.TaskGroup() as tasks:
            ctx = RunContext(clock, self.index, self.count, commons, tasks, max_users, self.script)
            recorder.gauges = lambda: (ctx.users, ctx.in_flight)
            lag = LoopLagProbe()
            shipper = tasks.create_task(self._ship_every_second(clock, recorder, ctx, lag))
            prober = tasks.create_task(lag.run())
            driver = tasks.create_task(_drive(load, ctx))
            listener = tasks.create_task(self._listen(driver))
            exhausted = tasks.create_task(ctx.data_exhausted.wait())
            await asyncio.wait({driver, exhausted}, return_when=asyncio.FIRST_COMPLETED)
            note = None
            if exhausted.done():
                driver.cancel()  # a data file ran out and said stop: no new iterations
                note = (
                    f"data {ctx.exhausted_source!r} ran out (on_exhausted: stop), "
                    "so the run ended early"
                )
                with contextlib.suppress(asyncio.CancelledError):
                    await driver
            exhausted.cancel()
            interrupted = await ctx.drain(scenario.graceful_stop, self.cut_short)
            ended_ns = time.monotonic_ns()
            for task in (shipper, prober, listener):
                task.cancel()
        recorder.close()
        self._ship(recorder, ctx, lag, self.cpu, final=True)
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(self.conn.fileno())
        self.conn.send(
            WorkerDone(self.index, ctx.connections_opened, interrupted, ended_ns, note=note)
        )

    async def _listen(self, driver: asyncio.Task[None]) -> None:
        while True:
            message = await self.control.get()
            if isinstance(message, Stop):
                driver.cancel()
                if message.interrupt:
                    self.cut_short.set()

    async def _ship_every_second(
        self, clock: MonotonicClock, recorder: IntervalRecorder, ctx: RunContext, lag: LoopLagProbe
    ) -> None:
        cpu = self.cpu
        second = 1
        while True:
            # Just after each second's boundary, so requests ending on it are in.
            await clock.sleep_until(second + 0.005)
            recorder.rotate(time.monotonic_ns())
            self._ship(recorder, ctx, lag, cpu)
            second = int(clock.now()) + 1

    def _ship(
        self,
        recorder: IntervalRecorder,
        ctx: RunContext,
        lag: LoopLagProbe,
        cpu: CpuMeter,
        final: bool = False,
    ) -> None:
        closed = recorder.drain()
        if not closed:
            return
        lag_hist = LatencyHistogram()
        lag_hist.record_many(lag.drain())
        # Rates over every second shipped now, so each gets them.
        cpu_percent = cpu.read()
        run_delay_ms, preemptions = self.run_queue.read()
        health = HealthSample(cpu_percent=cpu_percent, loop_lag=lag_hist.to_data(),
                              run_delay_ms=run_delay_ms, preemptions=preemptions)  # fmt: skip
        for i, (second, endpoints, schedule_lag, (users, in_flight), checks) in enumerate(closed):
            last = i == len(closed) - 1
            snapshot = Snapshot(
                worker=self.index,
                second=second,
                endpoints=endpoints,
                users=users,
                in_flight=in_flight,
                health=health if last else HealthSample(cpu_percent, run_delay_ms=run_delay_ms),
                checks=checks,
                final=final and last,
            )
            snapshot.health.schedule_lag = schedule_lag.to_data()
            if self.script is not None:
                snapshot.endpoint_names = self.script.endpoint_names[: len(endpoints)]
                snapshot.check_names = self.script.check_names[: len(checks) // 2]
                if last:
                    snapshot.script_errors = self.script.take_errors()
            if last:
                snapshot.iterations, ctx.iterations = ctx.iterations, 0
                snapshot.dropped, ctx.dropped = ctx.dropped, 0
            self.conn.send(snapshot)

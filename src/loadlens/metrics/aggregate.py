"""The coordinator's merge: worker snapshots become one timeline and exact run totals.

Seconds are merged in order, and only once every active worker has reported the second,
so a timeline point always covers all workers. Histograms merge exactly (HDR add), so the
run's percentiles are those of every request, not averages of per-worker percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadlens.metrics.counts import Counts
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.run_result import (
    CheckResult,
    EndpointPoint,
    EndpointResult,
    GeneratorPoint,
    LatencyStats,
    ServerTimingStats,
    TimelinePoint,
    Totals,
)
from loadlens.metrics.snapshot import EndpointSnapshot, Snapshot

__all__ = ["EndpointInfo", "RunAggregator"]


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """How an endpoint is named in results."""

    name: str
    method: str
    url: str


@dataclass(slots=True)
class _Tally:
    """Counts and the two latency histograms: one endpoint, one second, or the whole run."""

    counts: Counts = field(default_factory=Counts)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)

    def merge(self, other: _Tally) -> None:
        self.counts.merge(other.counts)
        self.latency.merge(other.latency)
        self.service.merge(other.service)

    def add_part(self, part: EndpointSnapshot) -> None:
        self.counts.merge(part.counts)
        if part.latency is not None:
            self.latency.merge(part.latency)
        if part.service_time is not None:
            self.service.merge(part.service_time)

    def server_timing_stats(self) -> dict[str, ServerTimingStats]:
        """Each Server-Timing metric over the run, and its share of the service time."""
        # Over the service time of every response, with or without the metric: a metric
        # that only cache misses report must not look like the whole of each request.
        service_ms = self.service.sum_ns / 1e6
        out = {}
        for name, (count, total, peak) in sorted(
            self.counts.server_timing.items(), key=lambda kv: -kv[1][1]
        ):
            mean = total / count
            out[name] = ServerTimingStats(
                count=int(count), mean_ms=mean, max_ms=peak, total_ms=total,
                share=total / service_ms if service_ms else 0.0,
            )  # fmt: skip
        return out

    def to_totals(self, duration_s: float) -> dict[str, object]:
        c = self.counts
        return {
            "requests": c.requests,
            "failures": c.failures,
            "error_rate": c.failures / c.requests if c.requests else 0.0,
            "rps": c.requests / duration_s if duration_s > 0 else 0.0,
            "bytes_in": c.bytes_in,
            "bytes_out": c.bytes_out,
            "status_codes": {str(k): v for k, v in sorted(c.status_codes.items())},
            "errors": dict(sorted(c.errors.items())),
            "latency": LatencyStats.model_validate(self.latency.summary_ms()),
            "service_time": LatencyStats.model_validate(self.service.summary_ms()),
            "clamped_values": self.latency.clamped + self.service.clamped,
        }


def _ms(ns: int | float) -> float:
    return ns / 1e6


def _second_stats(latency: LatencyHistogram) -> dict[str, float]:
    p = latency.percentiles_ns(50.0, 95.0, 99.0)
    return {
        "mean": _ms(latency.sum_ns / latency.count) if latency.count else 0.0,
        "p50": _ms(p[50.0]),
        "p95": _ms(p[95.0]),
        "p99": _ms(p[99.0]),
        "max": _ms(latency.max_ns) if latency.count else 0.0,
    }


class RunAggregator:
    """Merges per-second snapshots from every worker into timeline and totals."""

    def __init__(
        self, endpoints: list[EndpointInfo], workers: int, checks: tuple[str, ...] = ()
    ) -> None:
        self.endpoints = list(endpoints)
        self._endpoint_index = {info.name: i for i, info in enumerate(self.endpoints)}
        self.check_names = list(checks)
        self._check_index = {name: i for i, name in enumerate(self.check_names)}
        self.check_counts = [0] * (2 * len(checks))  # passes at 2i, fails at 2i + 1
        self.script_errors: dict[str, int] = {}
        self._pending: dict[int, list[Snapshot]] = {}
        self._active = set(range(workers))
        self._per_endpoint = [_Tally() for _ in endpoints]
        self._endpoint_timelines: list[list[EndpointPoint]] = [[] for _ in endpoints]
        self.overall = _Tally()
        self.loop_lag = LatencyHistogram()
        self.schedule_lag = LatencyHistogram()
        self.timeline: list[TimelinePoint] = []
        self.generator: list[GeneratorPoint] = []
        self.iterations = 0
        self.dropped = 0
        self.last_second_latency = LatencyHistogram()

    def add(self, snapshot: Snapshot) -> list[TimelinePoint]:
        """Take one worker's second; return the seconds this completed, in order."""
        self._pending.setdefault(snapshot.second, []).append(snapshot)
        return self._complete()

    def worker_done(self, worker: int) -> list[TimelinePoint]:
        """A worker has shipped its last second; stop waiting for it."""
        self._active.discard(worker)
        return self._complete()

    def finish(self) -> list[TimelinePoint]:
        """Merge whatever is still pending (a worker died or was killed)."""
        return [self._merge(s, self._pending.pop(s)) for s in sorted(self._pending)]

    def _complete(self) -> list[TimelinePoint]:
        done = []
        for second in sorted(self._pending):
            reporters = {s.worker for s in self._pending[second]}
            if not self._active <= reporters:
                break
            done.append(self._merge(second, self._pending.pop(second)))
        return done

    def _endpoint(self, name: str, method: str, url: str) -> int:
        """The index of endpoint `name`, registering it when first seen."""
        index = self._endpoint_index.get(name)
        if index is None:
            index = self._endpoint_index[name] = len(self.endpoints)
            self.endpoints.append(EndpointInfo(name, method, url))
            self._per_endpoint.append(_Tally())
            self._endpoint_timelines.append([])
        return index

    def _check(self, name: str) -> int:
        index = self._check_index.get(name)
        if index is None:
            index = self._check_index[name] = len(self.check_names)
            self.check_names.append(name)
            self.check_counts += [0, 0]
        return index

    def _parts(self, snap: Snapshot) -> list[tuple[int, EndpointSnapshot]]:
        """(run-wide endpoint index, its part) for each endpoint of a worker's second."""
        if snap.endpoint_names is None:
            return list(enumerate(snap.endpoints))
        return [
            (self._endpoint(*info), part)
            for info, part in zip(snap.endpoint_names, snap.endpoints, strict=True)
        ]

    def _merge(self, second: int, snapshots: list[Snapshot]) -> TimelinePoint:
        this_second = _Tally()
        named = any(snap.endpoint_names is not None for snap in snapshots)
        by_endpoint: dict[int, list[EndpointSnapshot]] = {}
        for snap in snapshots:
            for index, part in self._parts(snap):
                by_endpoint.setdefault(index, []).append(part)
        for index, tally in enumerate(self._per_endpoint):
            ep_second = _Tally()
            for part in by_endpoint.get(index, ()):
                ep_second.add_part(part)
            tally.merge(ep_second)
            # With one endpoint it would repeat the run's own; a Python scenario may name a
            # second one any time, so its endpoints always keep their own from the start.
            if len(self._per_endpoint) > 1 or named:
                self._endpoint_timelines[index].append(
                    EndpointPoint(
                        t=second,
                        requests=ep_second.counts.requests,
                        failures=ep_second.counts.failures,
                        latency=_second_stats(ep_second.latency),
                    )
                )
            this_second.merge(ep_second)
        self.last_second_latency = this_second.latency
        self.overall.merge(this_second)

        second_lag = LatencyHistogram()
        second_schedule = LatencyHistogram()
        cpu: list[float] = []
        waited: list[float] = []  # run-queue delay, ms per second, of the workers that know it
        preemptions = 0
        for snap in sorted(snapshots, key=lambda s: s.worker):
            if snap.health.loop_lag is not None:
                second_lag.merge(snap.health.loop_lag)
            if snap.health.schedule_lag is not None:
                second_schedule.merge(snap.health.schedule_lag)
            cpu.append(round(snap.health.cpu_percent, 1))
            if snap.health.run_delay_ms is not None:
                waited.append(round(snap.health.run_delay_ms, 2))
            preemptions += snap.health.preemptions
            self.iterations += snap.iterations
            self.dropped += snap.dropped
            for error, n in snap.script_errors.items():
                self.script_errors[error] = self.script_errors.get(error, 0) + n
            names = snap.check_names
            for i, n in enumerate(snap.checks):
                slot = i if names is None else 2 * self._check(names[i // 2]) + i % 2
                self.check_counts[slot] += n
        self.loop_lag.merge(second_lag)
        self.schedule_lag.merge(second_schedule)
        self.generator.append(
            GeneratorPoint(
                t=second,
                cpu_percent=max(cpu, default=0.0),
                cpu_percent_by_worker=cpu,
                loop_lag_ms=_ms(second_lag.max_ns) if second_lag.count else 0.0,
                schedule_lag_ms=_ms(second_schedule.percentiles_ns(99.0)[99.0]),
                run_delay_ms=max(waited) if waited else None,
                run_delay_ms_by_worker=waited,
                preemptions=preemptions,
            )
        )

        point = TimelinePoint(
            t=second,
            users=sum(s.users for s in snapshots),
            rps=float(this_second.counts.requests),
            requests=this_second.counts.requests,
            failures=this_second.counts.failures,
            in_flight=sum(s.in_flight for s in snapshots),
            dropped=sum(s.dropped for s in snapshots),
            latency=_second_stats(this_second.latency),
            service_time_p99=_ms(this_second.service.percentiles_ns(99.0)[99.0]),
        )
        self.timeline.append(point)
        return point

    def checks(self) -> list[CheckResult]:
        """Each check's passes and fails over the run."""
        counts = self.check_counts
        return [
            CheckResult(name=name, passes=counts[2 * i], fails=counts[2 * i + 1])
            for i, name in enumerate(self.check_names)
        ]

    def totals(self, duration_s: float, interrupted_iterations: int = 0) -> Totals:
        """Whole-run totals."""
        return Totals.model_validate(
            {
                **self.overall.to_totals(duration_s),
                "checks_passed": sum(self.check_counts[0::2]),
                "checks_failed": sum(self.check_counts[1::2]),
                "iterations": self.iterations,
                "dropped_iterations": self.dropped,
                "interrupted_iterations": interrupted_iterations,
            }
        )

    def endpoint_results(self, duration_s: float) -> list[EndpointResult]:
        """Per-endpoint totals."""
        return [
            EndpointResult.model_validate(
                {
                    "name": info.name,
                    "method": info.method,
                    "url": info.url,
                    **counts.to_totals(duration_s),
                    "timeline": timeline,
                    "server_timing": counts.server_timing_stats(),
                }
            )
            for info, counts, timeline in zip(
                self.endpoints, self._per_endpoint, self._endpoint_timelines, strict=True
            )
        ]

    def histograms(self) -> dict[str, str]:
        """Encoded HDR latency histograms: overall and per endpoint."""
        out = {"overall": self.overall.latency.encode()}
        for info, counts in zip(self.endpoints, self._per_endpoint, strict=True):
            out[info.name] = counts.latency.encode()
        return out

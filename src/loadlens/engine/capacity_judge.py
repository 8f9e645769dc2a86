"""Judges each step of a capacity run against its SLO, from the merged seconds."""

from __future__ import annotations

import math

from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.run_result import CapacityStep
from loadlens.scenario.load import Capacity

__all__ = ["CapacityJudge"]


class CapacityJudge:
    """Accumulates whole seconds into steps; a step is judged once its last second is in."""

    def __init__(self, config: Capacity) -> None:
        self.config = config
        self._step = 0
        self._latency = LatencyHistogram()
        self._requests = 0
        self._failures = 0
        self._dropped = 0
        self._seconds = 0

    def add_second(
        self, second: int, latency: LatencyHistogram, requests: int, failures: int, dropped: int
    ) -> CapacityStep | None:
        """Add one merged second; return the step's verdict when the step is complete."""
        self._latency.merge(latency)
        self._requests += requests
        self._failures += failures
        self._dropped += dropped
        self._seconds += 1
        step_end = (self._step + 1) * self.config.step_duration
        if second + 1 < math.floor(step_end + 1e-9):
            return None
        p95 = self._latency.percentiles_ns(95.0)[95.0] / 1e6
        latency = self._latency
        mean_s = latency.sum_ns / latency.count / 1e9 if latency.count else 0.0
        # Good responses over the whole seconds the step was merged from (a step of 2.5 s
        # holds 2 or 3 of them): errors answered fast must not pass for throughput.
        throughput = (self._requests - self._failures) / max(self._seconds, 1)
        error_rate = self._failures / self._requests if self._requests else 0.0
        ok = (
            p95 < self.config.slo_p95_ms
            and error_rate <= self.config.slo_error_rate
            and self._dropped == 0
            and self._requests > 0
        )
        verdict = CapacityStep(
            step=self._step,
            rate=self.config.rate_of_step(self._step),
            requests=self._requests,
            throughput=throughput,
            # Little's law: requests in the system (queued or served), for the USL fit.
            concurrency=throughput * mean_s,
            p95_ms=p95,
            error_rate=error_rate,
            dropped=self._dropped,
            ok=ok,
        )
        self._step += 1
        self._latency = LatencyHistogram()
        self._requests = self._failures = self._dropped = self._seconds = 0
        return verdict

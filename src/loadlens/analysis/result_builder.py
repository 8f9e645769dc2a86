"""Judges a measured run and writes it up as the RunResult document."""

from __future__ import annotations

import os
import platform
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any

from loadlens import __version__
from loadlens.analysis.findings import diagnose
from loadlens.analysis.verdict import GeneratorEvidence, Verdict, judge_generator
from loadlens.metrics.histogram import LatencyHistogram
from loadlens.metrics.run_outcome import MachineReport, RunOutcome
from loadlens.metrics.run_result import (
    CapacityFit,
    CapacityReport,
    CapacityStep,
    Contender,
    GeneratorReport,
    RunResult,
    RunStatus,
    VerdictKind,
)
from loadlens.redaction import Redactor
from loadlens.scenario.model import Scenario

__all__ = ["build_result"]


def _p99_ms(histogram: LatencyHistogram) -> float:
    return histogram.percentiles_ns(99.0)[99.0] / 1e6


def build_result(scenario: Scenario, outcome: RunOutcome) -> RunResult:
    """Totals, thresholds, verdict, findings and the generator's health, as one document."""
    load = scenario.load
    aggregator, thresholds = outcome.aggregator, outcome.thresholds
    assert aggregator is not None, "a run that was never started has no result"
    duration = max(outcome.duration_s, 1e-9)
    totals = aggregator.totals(duration, outcome.interrupted_iterations)
    machine = outcome.machine or MachineReport()
    by_second = {m.t: m for m in machine.seconds}
    for point in aggregator.generator:
        seen = by_second.get(point.t)
        if seen is not None:
            point.host_cpu_percent = seen.host_cpu_percent
            point.others_cpu_percent = seen.others_cpu_percent
    verdict = judge_generator(
        GeneratorEvidence(
            requests=totals.requests,
            responses=sum(totals.status_codes.values()),
            latency_p50_ms=totals.latency.p50,
            seconds=aggregator.generator,
            loop_lag_p99_ms=_p99_ms(aggregator.loop_lag),
            schedule_lag_p99_ms=_p99_ms(aggregator.schedule_lag),
            dropped=totals.dropped_iterations,
            open_model=load.is_open,
            max_users=load.max_users if load.is_open else None,
            errors=totals.errors,
            contenders=machine.contenders,
            steal_percent=machine.steal_percent,
        )
    )
    status = outcome.status
    if outcome.failures:
        # Part of the load vanished with a worker: whatever was merged is not the run asked for.
        status = RunStatus.ABORTED
        verdict = Verdict(
            VerdictKind.INCONCLUSIVE, [*outcome.failures, *verdict.reasons], verdict.timing_error_ms
        )
    timeline = aggregator.timeline
    if timeline and 0 < duration - timeline[-1].t < 1:
        # The last second is partial: its rate is over the part that was run.
        timeline[-1].rps = timeline[-1].requests / (duration - timeline[-1].t)
    capacity = None
    if load.executor == "capacity":
        capacity = _capacity(outcome.capacity_steps)
    started = outcome.started or datetime.now().astimezone()
    result = RunResult(
        id=uuid.uuid4().hex[:12],
        name=scenario.name,
        tags=dict(scenario.tags),
        started_at=started.isoformat(timespec="milliseconds"),
        ended_at=(started + timedelta(seconds=duration)).isoformat(timespec="milliseconds"),
        duration_s=duration,
        status=status,
        verdict=verdict.verdict,
        verdict_reasons=verdict.reasons,
        timing_error_ms=round(verdict.timing_error_ms, 3),
        environment={
            "loadlens": __version__,
            "python": platform.python_version(),
            "platform": sys.platform,
            "cpus": os.cpu_count(),
            "workers": outcome.workers,
        },
        load=load.model_dump(),
        totals=totals,
        endpoints=aggregator.endpoint_results(duration),
        checks=aggregator.checks(),
        monitors=outcome.monitors,
        script_errors=aggregator.script_errors,
        thresholds=[t.judge(totals) for t in thresholds],
        timeline=timeline,
        generator=GeneratorReport(
            timeline=aggregator.generator,
            loop_lag_p99_ms=_p99_ms(aggregator.loop_lag),
            schedule_lag_p99_ms=_p99_ms(aggregator.schedule_lag),
            connections_opened=outcome.connections_opened,
            contenders=[Contender.model_validate(c) for c in machine.contenders],
            steal_percent=machine.steal_percent,
            machine_watch_cpu_ms=machine.cpu_ms,
            notes=[*outcome.notes, *outcome.failures],
        ),
        capacity=capacity,
        histograms=aggregator.histograms(),
    )
    result.findings = diagnose(result)
    if scenario.show_secrets:
        result.secrets_shown = True
        result.generator.notes.append(SECRETS_SHOWN)
        return result
    return _redacted(result, Redactor.with_params(scenario.secret_params))


SECRETS_SHOWN = ("--show-secrets: URL credentials, secret query values and auth headers are "
                 "kept as given in this result")  # fmt: skip


def _redacted(result: RunResult, redactor: Redactor) -> RunResult:
    """The result with every secret masked: the one place they are taken out, so every
    view, file and the store get the same masked document."""
    # Endpoints whose names differ only in a secret would merge under one masked name
    # (and one histogram key): each keeps a name of its own.
    names: dict[str, str] = {}
    for endpoint in result.endpoints:
        shown = base = redactor.text(endpoint.name)
        while shown in names.values():
            shown = f"{base} #{len(names) + 1}"
        names[endpoint.name] = shown
    # Every text is masked, but the per-second series hold only numbers (and the
    # histograms encoded bytes): they are the bulk of a long run, and pass as they are.
    document = redactor.document(result.model_dump(mode="json", exclude=_NUMBERS_ONLY))
    document["timeline"] = result.timeline
    document["generator"]["timeline"] = result.generator.timeline
    for shown, endpoint in zip(document["endpoints"], result.endpoints, strict=True):
        shown["name"] = names[endpoint.name]
        shown["timeline"] = endpoint.timeline
    document["histograms"] = {
        names.get(key, redactor.text(key)): encoded for key, encoded in result.histograms.items()
    }
    return RunResult.model_validate(document)


_NUMBERS_ONLY: dict[str, Any] = {
    "timeline": True,
    "histograms": True,
    "generator": {"timeline"},
    "endpoints": {"__all__": {"timeline"}},
}


POOR_FIT = 0.8  # R² below which the USL's peak is not worth much


def _capacity(steps: list[CapacityStep]) -> CapacityReport:
    """The highest rate that held, and the Universal Scalability Law fitted to the steps."""
    # Only a capacity run gets here: the fit's numpy (~0.2 s to import) is loaded for it.
    from loadlens.analysis.scalability import MIN_POINTS, describe, fit_usl

    held = [s.rate for s in steps if s.ok]
    capacity = CapacityReport(highest_rate_within_slo=max(held, default=0.0), steps=steps)
    points = [(s.concurrency, s.throughput) for s in steps if s.requests]
    fit = fit_usl(points)
    if fit is not None:
        capacity.usl = CapacityFit.model_validate(fit.as_dict())
        best = max(steps, key=lambda s: s.throughput)
        poor = "a poor fit, read with care: " if fit.r_squared < POOR_FIT else ""
        # The model's peak is an interpolation: the measured best stands beside it.
        capacity.usl_summary = (f"{poor}{describe(fit, max(n for n, _ in points))}; the most "
                                f"measured was {best.throughput:,.0f} req/s, at the "
                                f"{best.rate:,.0f}/s step")  # fmt: skip
    elif len({n for n, _ in points if n > 0}) < MIN_POINTS:
        capacity.usl_summary = (f"not fitted: {len(points)} steps with requests; the fit "
                                f"needs {MIN_POINTS} at different concurrency")  # fmt: skip
    else:
        capacity.usl_summary = "not fitted: the steps do not fit the model"
    return capacity

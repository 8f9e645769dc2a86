"""Before and after: two runs compared metric by metric, overall and per endpoint.

Each metric's before and after figures are the runs' exact totals (from the merged HDR
histograms). Whether a difference is a change or noise is judged from the per-second
samples: a Mann-Whitney test between the two runs' seconds (the first and the last second
are left out, being ramp-up and a partial second), and the change must also be at least
`min_change` of the before figure, so a long run cannot call a 0.5% shift significant.
Error rates are judged with a two-proportion test on the request counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loadlens.analysis.significance import mann_whitney_p, two_proportion_p
from loadlens.metrics.run_result import EndpointResult, RunResult, Totals

__all__ = ["MIN_SECONDS", "Change", "Comparison", "MetricChange", "compare_runs"]

ALPHA = 0.01  # how unlikely under "no change" a difference must be to count
# Per-second samples each run needs: with 5 and 5, Mann-Whitney cannot reach p < 0.01.
MIN_SECONDS = 6


class Change(StrEnum):
    """A metric's verdict."""

    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "no significant change"
    TOO_SHORT = "too few seconds to judge"


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One metric of one scope (the run, or an endpoint), before and after."""

    metric: str
    label: str
    unit: str
    before: float
    after: float
    change: Change
    p_value: float | None
    higher_is_better: bool

    @property
    def change_pct(self) -> float | None:
        """(after - before) / before, in percent; None when before is 0."""
        if self.before == 0:
            return None if self.after else 0.0
        return (self.after - self.before) / abs(self.before) * 100


@dataclass
class Comparison:
    """Run A (before) against run B (after)."""

    before: RunResult
    after: RunResult
    overall: list[MetricChange]
    endpoints: dict[str, list[MetricChange]]
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The comparison as plain data (`compare --json`)."""

        def run(r: RunResult) -> dict[str, Any]:
            return {"id": r.id, "name": r.name, "started_at": r.started_at,
                    "duration_s": r.duration_s, "verdict": str(r.verdict),
                    "timing_error_ms": r.timing_error_ms}  # fmt: skip

        def metrics(changes: list[MetricChange]) -> list[dict[str, Any]]:
            return [{"metric": m.metric, "label": m.label, "unit": m.unit, "before": m.before,
                     "after": m.after, "change_pct": m.change_pct, "verdict": str(m.change),
                     "p_value": m.p_value, "higher_is_better": m.higher_is_better}
                    for m in changes]  # fmt: skip

        return {
            "before": run(self.before),
            "after": run(self.after),
            "overall": metrics(self.overall),
            "endpoints": {name: metrics(changes) for name, changes in self.endpoints.items()},
            "only_before": self.only_before,
            "only_after": self.only_after,
            "warnings": self.warnings,
        }

    def regressions(self, tolerance_pct: float) -> list[tuple[str, MetricChange]]:
        """(scope, metric) that regressed by more than `tolerance_pct`."""
        out = []
        scopes = [("run", self.overall), *self.endpoints.items()]
        for scope, metrics in scopes:
            for m in metrics:
                if "." in m.metric:
                    continue  # the target's CPU and memory inform; they follow the load
                pct = m.change_pct
                big = pct is None or abs(pct) > tolerance_pct
                if m.change is Change.REGRESSED and big:
                    out.append((scope, m))
        return out


# A sample series: one value per second, from the run timeline or an endpoint's.
_Series = list[dict[str, Any]]


def _trim(points: _Series) -> _Series:
    return points[1:-1] if len(points) > 2 else []


def _judge(
    before: float,
    after: float,
    samples: tuple[Sequence[float], Sequence[float]] | None,
    higher_is_better: bool,
    min_change: float,
    p_value: float | None = None,
) -> tuple[Change, float | None]:
    if samples is not None:
        a, b = samples
        if min(len(a), len(b)) < MIN_SECONDS:
            return Change.TOO_SHORT, None
        p_value = mann_whitney_p(a, b)
    assert p_value is not None
    relative = abs(after - before) / abs(before) if before else (1.0 if after else 0.0)
    if p_value >= ALPHA or relative < min_change:
        return Change.UNCHANGED, p_value
    better = after > before if higher_is_better else after < before
    return (Change.IMPROVED if better else Change.REGRESSED), p_value


def _metrics(
    totals_a: Totals,
    totals_b: Totals,
    series_a: _Series,
    series_b: _Series,
    min_change: float,
) -> list[MetricChange]:
    a, b = _trim(series_a), _trim(series_b)
    # Seconds that timed nothing (every request failed) have no latency, not a 0 ms one.
    timed_a = [p for p in a if p["latency"].get("max", 0) > 0]
    timed_b = [p for p in b if p["latency"].get("max", 0) > 0]

    def seconds(points: _Series, read: Callable[[dict[str, Any]], float]) -> list[float]:
        return [read(p) for p in points]

    out = []
    rows: list[tuple[str, str, str, float, float, Callable[[dict[str, Any]], float], bool, bool]]
    rows = [
        ("rps", "throughput", "req/s", totals_a.rps, totals_b.rps,
         lambda p: float(p["requests"]), True, False),
        ("mean", "average", "ms", totals_a.latency.mean, totals_b.latency.mean,
         lambda p: p["latency"]["mean"], False, True),
        ("p50", "p50", "ms", totals_a.latency.p50, totals_b.latency.p50,
         lambda p: p["latency"]["p50"], False, True),
        ("p95", "p95", "ms", totals_a.latency.p95, totals_b.latency.p95,
         lambda p: p["latency"]["p95"], False, True),
        ("p99", "p99", "ms", totals_a.latency.p99, totals_b.latency.p99,
         lambda p: p["latency"]["p99"], False, True),
        ("max", "peak", "ms", totals_a.latency.max, totals_b.latency.max,
         lambda p: p["latency"]["max"], False, True),
    ]  # fmt: skip
    for metric, label, unit, before, after, read, higher, latency in rows:
        pa, pb = (timed_a, timed_b) if latency else (a, b)
        change, p = _judge(before, after, (seconds(pa, read), seconds(pb, read)), higher,
                           min_change)  # fmt: skip
        out.append(MetricChange(metric, label, unit, before, after, change, p, higher))
    p_errors = two_proportion_p(totals_a.failures, totals_a.requests,
                                totals_b.failures, totals_b.requests)  # fmt: skip
    change, p = _judge(totals_a.error_rate, totals_b.error_rate, None, False, min_change,
                       p_errors)  # fmt: skip
    out.append(MetricChange("error_rate", "error rate", "%", totals_a.error_rate * 100,
                            totals_b.error_rate * 100, change, p, False))  # fmt: skip
    return out


def _monitor_metrics(a: RunResult, b: RunResult, min_change: float) -> list[MetricChange]:
    """Target CPU and memory, when both runs monitored the same target."""
    out = []
    for name in sorted(set(a.monitors) & set(b.monitors)):
        ta = _trim(list(a.monitors[name].get("timeline", [])))
        tb = _trim(list(b.monitors[name].get("timeline", [])))
        for key, label, unit in (("cpu_percent", "CPU", "%"), ("rss_mb", "memory", "MB")):
            sa = [float(p[key]) for p in ta if key in p]
            sb = [float(p[key]) for p in tb if key in p]
            if not sa or not sb:
                continue
            before, after = sum(sa) / len(sa), sum(sb) / len(sb)
            change, p = _judge(before, after, (sa, sb), False, min_change)
            out.append(MetricChange(f"{name}.{key}", f"{name} {label}", unit, before, after,
                                    change, p, False))  # fmt: skip
    return out


def _endpoint_series(run: RunResult, endpoint: EndpointResult) -> _Series:
    if endpoint.timeline:
        return [p.model_dump() for p in endpoint.timeline]
    # A single-endpoint run keeps no separate series: the run's own is the endpoint's.
    return [p.model_dump() for p in run.timeline] if len(run.endpoints) == 1 else []


def compare_runs(before: RunResult, after: RunResult, min_change: float = 0.03) -> Comparison:
    """Compare two runs: `before` (A) against `after` (B)."""
    series_a = [p.model_dump() for p in before.timeline]
    series_b = [p.model_dump() for p in after.timeline]
    overall = _metrics(before.totals, after.totals, series_a, series_b, min_change)
    overall += _monitor_metrics(before, after, min_change)
    by_name_a = {e.name: e for e in before.endpoints}
    by_name_b = {e.name: e for e in after.endpoints}
    endpoints = {}
    if len(by_name_a) > 1 or len(by_name_b) > 1:
        for name in [n for n in by_name_a if n in by_name_b]:
            ea, eb = by_name_a[name], by_name_b[name]
            endpoints[name] = _metrics(ea, eb, _endpoint_series(before, ea),
                                       _endpoint_series(after, eb), min_change)  # fmt: skip
    warnings = []
    load_a = {k: v for k, v in before.load.items() if k != "max_duration"}
    load_b = {k: v for k, v in after.load.items() if k != "max_duration"}
    if load_a != load_b:
        warnings.append(
            "the runs had different loads, so their figures answer different questions: "
            f"{_describe(load_a)} vs {_describe(load_b)}"
        )
    for run, label in ((before, "before"), (after, "after")):
        if run.verdict != "valid":
            warnings.append(f"the {label} run's verdict is {run.verdict}: "
                            + "; ".join(run.verdict_reasons))  # fmt: skip
    return Comparison(
        before=before,
        after=after,
        overall=overall,
        endpoints=endpoints,
        only_before=[n for n in by_name_a if n not in by_name_b],
        only_after=[n for n in by_name_b if n not in by_name_a],
        warnings=warnings,
    )


def _describe(load: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in load.items() if not isinstance(v, list | tuple))

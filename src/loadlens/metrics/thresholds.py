"""Thresholds: `p95<100ms`, `error_rate<1%`, `checks>99%`, `rps>800`, judged on totals."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from loadlens.metrics.run_result import ThresholdResult, Totals

__all__ = ["Threshold", "ThresholdError", "measured_text", "parse_threshold"]


class ThresholdError(ValueError):
    """A threshold expression that cannot be read; the message says why."""


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}
_LATENCY = {
    "min": "min",
    "avg": "mean",
    "mean": "mean",
    "med": "p50",
    "p50": "p50",
    "p75": "p75",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p999",
    "p999": "p999",
    "max": "max",
}
_EXPR = re.compile(r"^\s*([a-z_.0-9]+)\s*(<=|>=|==|<|>)\s*([0-9.]+)\s*([a-z%/]*)\s*$")
_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "": 1.0}


@dataclass(frozen=True, slots=True)
class Threshold:
    """A parsed threshold: which figure, compared how, against what (ms, fraction or /s)."""

    expression: str
    metric: str
    op: str
    limit: float

    @property
    def depends_on_elapsed_time(self) -> bool:
        """Throughput figures are only meaningful at the end, never for an early abort."""
        return self.metric in ("rps", "requests", "iterations")

    def measure(self, totals: Totals) -> float:
        """The figure this threshold looks at."""
        if self.metric == "error_rate":
            return totals.error_rate
        if self.metric == "checks":
            judged = totals.checks_passed + totals.checks_failed
            return totals.checks_passed / judged if judged else 0.0
        if self.metric in ("rps", "requests", "failures", "iterations", "dropped_iterations"):
            return float(getattr(totals, self.metric))
        family, _, stat = self.metric.partition(".")
        stats = totals.service_time if family == "service" else totals.latency
        return float(getattr(stats, stat))

    def judge(self, totals: Totals) -> ThresholdResult:
        """Whether the threshold held for these totals (no data never holds)."""
        family = self.metric.partition(".")[0]
        if family == "checks" and not totals.checks_passed + totals.checks_failed:
            return ThresholdResult(
                expression=self.expression,
                value=0.0,
                ok=False,
                note="no check was judged, so nothing held",
            )
        if family in ("latency", "service"):
            stats = totals.service_time if family == "service" else totals.latency
            if not stats.count:
                return ThresholdResult(
                    expression=self.expression,
                    value=0.0,
                    ok=False,
                    note="no request was timed (none got a response), so nothing held",
                )
        value = self.measure(totals)
        return ThresholdResult(
            expression=self.expression, value=value, ok=_OPS[self.op](value, self.limit)
        )


def parse_threshold(expression: str) -> Threshold:
    """Read `p95<100ms`, `avg<=0.2s`, `service.p99<50ms`, `error_rate<1%`, `rps>800`."""
    m = _EXPR.match(expression.lower())
    if not m:
        raise ThresholdError(
            f"threshold {expression!r}: expected METRIC OP VALUE, e.g. 'p95<100ms', "
            "'error_rate<1%', 'rps>800'"
        )
    name, op, number, unit = m.groups()
    try:
        value = float(number)
    except ValueError:
        raise ThresholdError(f"threshold {expression!r}: {number!r} is not a number") from None
    if name in ("error_rate", "checks"):
        if unit == "%":
            value /= 100
        elif unit:
            raise ThresholdError(f"threshold {expression!r}: {name} takes a % or a fraction")
        return Threshold(expression, name, op, value)
    if name in ("rps", "requests", "failures", "iterations", "dropped_iterations"):
        if unit not in ("", "/s") or (unit == "/s" and name != "rps"):
            raise ThresholdError(f"threshold {expression!r}: {name} takes a plain number")
        return Threshold(expression, name, op, value)
    family, _, stat = name.partition(".")
    if family not in ("latency", "service", "service_time"):
        family, stat = "", name
    if stat not in _LATENCY:
        raise ThresholdError(
            f"threshold {expression!r}: unknown metric {name!r}; expected one of "
            f"{', '.join(sorted(_LATENCY))}, error_rate, checks, rps, requests, failures"
        )
    if unit not in _TIME_UNITS:
        raise ThresholdError(f"threshold {expression!r}: latency takes us, ms or s, not {unit!r}")
    prefix = "service." if family.startswith("service") else "latency."
    return Threshold(expression, prefix + _LATENCY[stat], op, value * _TIME_UNITS[unit])


def measured_text(expression: str, value: float) -> str:
    """A threshold's measured value in its own unit: `24.85%`, `0.36 ms`, `812.0/s`."""
    try:
        metric = parse_threshold(expression).metric
    except ThresholdError:
        return f"{value:.4g}"
    if metric in ("error_rate", "checks"):
        return f"{value * 100:.2f}%"
    if metric.startswith(("latency.", "service.")):
        return f"{value:.2f} ms"
    if metric == "rps":
        return f"{value:,.1f}/s"
    return f"{value:,.0f}"

"""Self-contained HTML reports: one file, charts included, that opens offline.

Charts are drawn by uPlot (bundled in `assets/`, inlined into each report): 51 KB
minified, made for time series, drawing on a canvas (no DOM node per point, as SVG
libraries need). The data goes in as JSON; the page draws from it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from loadlens import __version__
from loadlens.analysis.comparison import MIN_SECONDS, Change, Comparison, MetricChange
from loadlens.analysis.monitor_data import top_statements
from loadlens.metrics.run_result import RunResult, VerdictKind
from loadlens.metrics.thresholds import measured_text
from loadlens.private_files import write_private
from loadlens.reporting.case_study_view import StageRow, timing_text
from loadlens.reporting.verdict_text import VERDICT_MEANING, timing_error_text
from loadlens.scenario.load import describe_load, is_open_executor

__all__ = ["compare_html", "run_html", "write_html"]

_env = Environment(
    loader=PackageLoader("loadlens.reporting", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _asset(name: str) -> str:
    return (resources.files("loadlens.reporting") / "assets" / name).read_text(encoding="utf-8")


def _json(data: Any) -> str:
    # Inside <script>, "</script" or "<!--" would change how the page parses: no "<" at
    # all (\u003c is the same character to JSON).
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _banner(result: RunResult) -> dict[str, str]:
    """What a reader should see first: were the targets met, and can the numbers be trusted."""
    crossed = [t.expression for t in result.thresholds if not t.ok]
    if result.verdict is VerdictKind.GENERATOR_BOUND:
        return {"kind": "warn", "title": "Not trustworthy: the load generator was the bottleneck",
                "detail": "; ".join(result.verdict_reasons)}  # fmt: skip
    if result.verdict is VerdictKind.CONTENDED:
        return {"kind": "warn",
                "title": "Not trustworthy: other processes took the CPU loadlens needed",
                "detail": "; ".join(result.verdict_reasons)}  # fmt: skip
    if result.verdict is VerdictKind.INCONCLUSIVE:
        return {
            "kind": "warn",
            "title": "Inconclusive",
            "detail": "; ".join(result.verdict_reasons),
        }
    if crossed:
        title = f"Targets missed: {len(crossed)} of {len(result.thresholds)} thresholds crossed"
        return {"kind": "bad", "title": title, "detail": ", ".join(crossed)}
    if result.thresholds:
        return {"kind": "ok", "title": f"Targets met: all {len(result.thresholds)} thresholds held",
                "detail": ", ".join(t.expression for t in result.thresholds)}  # fmt: skip
    return {"kind": "neutral", "title": "No targets set",
            "detail": "the run is valid; add --threshold 'p95<100ms' to judge it"}  # fmt: skip


_MONITOR_TITLES = {"process": "Target CPU and memory", "host": "Host CPU and memory",
                   "postgresql": "Database",
                   "prometheus": "Prometheus series"}  # fmt: skip


def run_html(result: RunResult) -> str:
    """The report of one run."""
    totals = result.totals
    stat_rows = [("latency", totals.latency.model_dump())]
    if is_open_executor(result.load.get("executor")):
        stat_rows.append(("service time", totals.service_time.model_dump()))
    data = {
        "timeline": [p.model_dump() for p in result.timeline],
        "generator": [g.model_dump() for g in result.generator.timeline],
        "monitors": result.monitors,
    }
    return _env.get_template("run_report.html.j2").render(
        r=result, t=totals, ms=_ms, measured=measured_text, banner=_banner(result),
        stat_rows=stat_rows, monitor_titles=_MONITOR_TITLES,
        timing_rows=[(e, n, st) for e in result.endpoints for n, st in e.server_timing.items()],
        statements=top_statements(result)[:10],
        load_text=describe_load(result.load), notes=result.generator.notes,
        meaning=VERDICT_MEANING[result.verdict], timing_error=timing_error_text(result),
        version=__version__, uplot_js=_asset("uPlot.iife.min.js"),
        uplot_css=_asset("uPlot.min.css"), data_json=_json(data),
    )  # fmt: skip


def _series(run: RunResult, length: int) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {"rps": [], "p95": [], "p99": [], "failures": []}
    for point in run.timeline:
        out["rps"].append(point.rps)
        out["p95"].append(point.latency.get("p95"))
        out["p99"].append(point.latency.get("p99"))
        out["failures"].append(float(point.failures))
    for values in out.values():
        values.extend([None] * (length - len(values)))
    return out


def _compare_banner(comparison: Comparison) -> dict[str, str]:
    metrics = comparison.overall
    worse = [m.label for m in metrics if m.change is Change.REGRESSED]
    better = [m.label for m in metrics if m.change is Change.IMPROVED]
    if worse:
        return {"kind": "bad", "title": f"Regressed: {', '.join(worse)}",
                "detail": f"improved: {', '.join(better) or 'nothing'}"}  # fmt: skip
    if better:
        return {"kind": "ok", "title": f"Improved: {', '.join(better)}",
                "detail": "nothing regressed"}  # fmt: skip
    short = [m.label for m in metrics if m.change is Change.TOO_SHORT]
    if short:
        detail = (
            f"{', '.join(short)}: each run needs at least {MIN_SECONDS + 2} seconds (the first "
            "and the last are left out) for a verdict"
        )
        return {"kind": "warn", "title": "Too short to judge", "detail": detail}
    return {"kind": "neutral", "title": "No significant change",
            "detail": "every difference is within the runs' own noise"}  # fmt: skip


def _case_study_banner(stages: list[StageRow]) -> dict[str, str]:
    """Where the case study met its target (p95 under 100 ms, errors under 1%), if it did."""
    first, last = stages[0], stages[-1]
    trend = (f"{first.stage} → {last.stage}: {first.qps:,.0f} → {last.qps:,.0f} QPS, average "
             f"{_ms(first.avg_ms)} → {_ms(last.avg_ms)}, errors {first.error_rate:.2%} → "
             f"{last.error_rate:.2%}")  # fmt: skip
    met = [s.p95_ms < 100 and s.error_rate < 0.01 and s.verdict == "valid" for s in stages]
    if any(met):
        first = stages[met.index(True)]
        when = (
            f"met from the {first.stage} stage on"
            if all(met[met.index(True) :])
            else f"first met at the {first.stage} stage, though not at every later one"
        )
        return {"kind": "ok", "title": f"Target {when}: p95 {_ms(first.p95_ms)} at "
                f"{first.qps:,.0f} QPS", "detail": trend}  # fmt: skip
    return {"kind": "bad", "title": "Target not met at any stage (p95 < 100 ms, errors < 1%)",
            "detail": trend}  # fmt: skip


def _format(metric: MetricChange, value: float) -> str:
    if metric.unit == "ms":
        return _ms(value)
    if metric.unit == "%":
        return f"{value:.2f}%"
    return f"{value:,.1f} {metric.unit}"


def _pct(metric: MetricChange) -> str:
    pct = metric.change_pct
    return "n/a" if pct is None else f"{pct:+.1f}%"


def compare_html(comparison: Comparison, stages: list[StageRow] | None = None) -> str:
    """The before/after report of two runs, their charts overlaid (after a table of the
    case study's stages, when given)."""
    a, b = comparison.before, comparison.after
    length = max(len(a.timeline), len(b.timeline))
    data = {"xs": list(range(1, length + 1)), "before": _series(a, length),
            "after": _series(b, length)}  # fmt: skip
    scopes = [("Overall", comparison.overall), *comparison.endpoints.items()]
    return _env.get_template("compare_report.html.j2").render(
        a=a, b=b, c=comparison, scopes=scopes, fmt=_format, pct=_pct, ms=_ms,
        banner=_case_study_banner(stages) if stages else _compare_banner(comparison),
        load_a=describe_load(a.load), stages=stages or [], timing=timing_text,
        load_b=describe_load(b.load), version=__version__,
        uplot_js=_asset("uPlot.iife.min.js"), uplot_css=_asset("uPlot.min.css"),
        data_json=_json(data),
    )  # fmt: skip


def write_html(html: str, path: Path) -> None:
    """Write a report (0600, never through a link), creating parent folders."""
    write_private(path, html)

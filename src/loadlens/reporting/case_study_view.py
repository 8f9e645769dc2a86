"""The case study's before/after: one row per stage, in the terminal and the HTML report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from rich.table import Table

from loadlens.analysis.findings.series import middle, target_monitor
from loadlens.metrics.run_result import RunResult
from loadlens.reporting.terminal_text import Text

__all__ = ["StageRow", "stage_findings", "stage_row", "stage_table", "timing_text"]


@dataclass(frozen=True, slots=True)
class StageRow:
    """What one stage's run measured, as the before/after table shows it."""

    stage: str
    change: str
    run_id: str
    qps: float
    avg_ms: float
    p95_ms: float
    peak_ms: float
    error_rate: float
    cpu_percent: float | None  # the API's processes, mean % of the machine
    cpu_cores_peak: float | None
    memory_mb: float | None  # the API's processes, peak RSS
    findings: tuple[str, ...]
    verdict: str
    timing_error_ms: float | None = None  # the bound on every time this run measured


def stage_row(stage: str, change: str, result: RunResult) -> StageRow:
    """The row of one stage's run."""
    latency = result.totals.latency
    cpu = cores = memory = None
    found = target_monitor(result)
    samples = middle(found[1]["timeline"]) if found is not None else []
    if samples:
        cpu = statistics.fmean(float(p.get("cpu_percent", 0.0)) for p in samples)
        cores = max(float(p.get("cores", 0.0)) for p in samples)
        memory = max(float(p.get("rss_mb", 0.0)) for p in samples)
    return StageRow(
        stage=stage, change=change, run_id=result.id, qps=result.totals.rps,
        avg_ms=latency.mean, p95_ms=latency.p95, peak_ms=latency.max,
        error_rate=result.totals.error_rate, cpu_percent=cpu, cpu_cores_peak=cores,
        memory_mb=memory, findings=tuple(f.id for f in result.findings),
        verdict=str(result.verdict), timing_error_ms=result.timing_error_ms,
    )  # fmt: skip


def _ms(value: float) -> str:
    return f"{value / 1000:,.2f} s" if value >= 1000 else f"{value:,.0f} ms"


def timing_text(row: StageRow) -> str:
    """`≤ 1.2 ms`: the timing error bound, '' for a run stored before it was kept."""
    if row.timing_error_ms is None:
        return ""
    value = row.timing_error_ms
    return f"≤ {value:,.0f} ms" if value >= 10 else f"≤ {value:.1f} ms"


def stage_table(rows: list[StageRow]) -> Table:
    """Every stage side by side: throughput, latency, errors, the API's CPU and memory, and
    whether the numbers can be trusted (the verdict, and the timing error bound)."""
    table = Table(title="before and after, stage by stage", title_justify="left")
    for column in ("stage", "QPS", "avg", "p95", "peak", "errors", "server CPU", "server mem",
                   "verdict", "timing error"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("stage", "verdict") else "right")
    for row in rows:
        error_style = "red" if row.error_rate > 0.01 else ""
        table.add_row(
            Text(row.stage, style="bold"),
            f"{row.qps:,.0f}",
            Text(_ms(row.avg_ms), style="green" if row.avg_ms < 100 else ""),
            Text(_ms(row.p95_ms), style="green" if row.p95_ms < 100 else ""),
            _ms(row.peak_ms),
            Text(f"{row.error_rate:.2%}", style=error_style),
            "-" if row.cpu_percent is None else f"{row.cpu_percent:.0f}%",
            "-" if row.memory_mb is None else f"{row.memory_mb:,.0f} MB",
            Text(row.verdict, style="green" if row.verdict == "valid" else "yellow"),
            timing_text(row),
        )
    return table


def stage_findings(rows: list[StageRow]) -> list[Text]:
    """Which findings each stage had: the fixed ones disappear stage by stage."""
    lines = [Text("findings by stage", style="bold")]
    for row in rows:
        lines.append(Text.assemble((f"  {row.stage}: ", "bold"),
                                   (", ".join(row.findings) or "none", "dim")))  # fmt: skip
    return lines

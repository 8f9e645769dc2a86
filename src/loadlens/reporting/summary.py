"""The end-of-run summary in the terminal: the figures a developer reads first."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from loadlens.analysis.monitor_data import statements_source, top_statements
from loadlens.metrics.run_result import CapacityReport, LatencyStats, RunResult, VerdictKind
from loadlens.metrics.thresholds import measured_text
from loadlens.reporting.terminal_text import Text
from loadlens.reporting.verdict_text import VERDICT_MEANING, timing_error_text
from loadlens.scenario.load import is_open_executor

__all__ = ["render_summary"]


def _ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 10:
        return f"{v:.1f} ms"
    return f"{v:.2f} ms"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _num(v: float) -> str:
    return f"{v:,.1f}" if v >= 100 else f"{v:.2f}"


def _latency_row(table: Table, label: str, s: LatencyStats) -> None:
    if not s.count:  # no response was timed: zeros would read as instant answers
        table.add_row(label, *(["-"] * 7))
        return
    table.add_row(label, *(_num(v) for v in (s.mean, s.p50, s.p90, s.p95, s.p99, s.p999, s.max)))


def _series(monitor: dict[str, Any], key: str) -> list[float]:
    return [float(p[key]) for p in monitor.get("timeline", []) if key in p]


def _monitor_table(result: RunResult) -> Table:
    """The target side: CPU and memory of each monitored process tree and host."""
    table = Table(title="target (sampled each second)", title_justify="left", show_edge=False)
    for col in ("monitor", "CPU avg", "CPU peak", "memory start", "memory end", "detail"):
        table.add_column(col, justify="left" if col in ("monitor", "detail") else "right")
    for name, monitor in result.monitors.items():
        cpu = _series(monitor, "cpu_percent")
        memory = _series(
            monitor, "rss_mb" if monitor.get("kind") == "process" else "memory_used_mb"
        )
        if monitor.get("kind") == "postgresql":
            sessions = _series(monitor, "sessions_per_s")
            backends = _series(monitor, "backends")
            hits = _series(monitor, "cache_hit_percent")
            detail = (f"{monitor.get('target', '')}; new sessions {_avg(sessions):.1f}/s, "
                      f"backends peak {max(backends, default=0):.0f}, cache hit "
                      f"{min(hits, default=100):.1f}% at worst")  # fmt: skip
            table.add_row(Text(name), "-", "-", "-", "-", Text(detail))
            continue
        if monitor.get("kind") == "app-database":
            sessions = _series(monitor, "sessions_per_s")
            statements = _series(monitor, "statements_per_s")
            detail = (f"{monitor.get('target', '')}; new connections {_avg(sessions):.1f}/s, "
                      f"statements {_avg(statements):.1f}/s")  # fmt: skip
            table.add_row(Text(name), "-", "-", "-", "-", Text(detail))
            continue
        if monitor.get("kind") == "process":
            cores = _series(monitor, "cores")
            established = [p.get("tcp", {}).get("ESTABLISHED", 0) for p in monitor["timeline"]]
            detail = (f"{monitor.get('target', '')}; peak {max(cores, default=0):.2f} cores, "
                      f"{max(established, default=0)} TCP connections")  # fmt: skip
        else:
            iowait = _series(monitor, "cpu_iowait")
            detail = f"{monitor.get('target', '')}; iowait avg {_avg(iowait):.1f}%"
            own = _series(monitor, "loadlens_cpu_percent")
            if own:
                detail += f"; loadlens itself {_avg(own):.1f}% of the CPU"
        table.add_row(
            Text(name), f"{_avg(cpu):.1f}%" if cpu else "-", f"{max(cpu):.1f}%" if cpu else "-",
            f"{memory[0]:,.0f} MB" if memory else "-", f"{memory[-1]:,.0f} MB" if memory else "-",
            Text(detail),
        )  # fmt: skip
    return table


def _monitoring_cost(result: RunResult) -> str:
    """What sampling the monitors cost loadlens in CPU."""
    if not any("cpu_ms" in m for m in result.monitors.values()):
        return ""  # (a result stored before monitors accounted for themselves)
    spent_ms = sum(float(m.get("cpu_ms", 0.0)) for m in result.monitors.values())
    # Against one core over the run: the same figure whatever the load (the benchmark
    # judges it against the generator's own CPU at full speed).
    share = f" ({spent_ms / 1000 / result.duration_s:.1%} of one core)" if result.duration_s else ""
    return f"monitoring cost loadlens {spent_ms:,.0f} ms of CPU over the run{share}"


def _server_timing_table(result: RunResult) -> Table | None:
    """Where the server says each endpoint's time went (its Server-Timing header)."""
    rows = [(e, name, st) for e in result.endpoints for name, st in e.server_timing.items()]
    if not rows:
        return None
    table = Table(title="server timing (from the target's Server-Timing header)",
                  title_justify="left", show_edge=False)  # fmt: skip
    for col in ("endpoint", "part", "avg", "peak", "of service time", "responses"):
        table.add_column(col, justify="left" if col in ("endpoint", "part") else "right")
    for endpoint, name, st in rows:
        table.add_row(Text(endpoint.name), Text(name), _ms(st.mean_ms), _ms(st.max_ms),
                      f"{st.share:.0%}", f"{st.count:,}")  # fmt: skip
    return table


def _statements_table(result: RunResult) -> Table | None:
    """The database statements that took the most time during the run."""
    statements = top_statements(result)
    if not statements:
        return None
    table = Table(title=Text(f"top statements during the run ({statements_source(result)})"),
                  title_justify="left", show_edge=False)  # fmt: skip
    for col in ("total", "calls", "avg", "rows", "blocks read/hit", "statement"):
        table.add_column(col, justify="left" if col == "statement" else "right")
    for st in statements[:5]:
        blocks = (f"{st['blocks_read']:,}/{st['blocks_hit']:,}" if "blocks_read" in st
                  else "-")  # fmt: skip
        table.add_row(_ms(float(st["total_ms"])), f"{st['calls']:,}", _ms(float(st["mean_ms"])),
                      f"{st['rows']:,}", blocks, Text(str(st["query"])[:70]))  # fmt: skip
    return table


def _capacity_parts(capacity: CapacityReport) -> list[Table | Text]:
    """The capacity search: each step's verdict, the highest rate held, the USL fit."""
    steps = Table(title="capacity steps", title_justify="left", show_edge=False)
    for col in ("rate", "throughput", "in flight", "p95", "errors", "SLO"):
        steps.add_column(col, justify="right")
    for step in capacity.steps:
        steps.add_row(
            f"{step.rate:,.0f}/s",
            f"{step.throughput:,.1f}/s",
            f"{step.concurrency:,.1f}",
            _ms(step.p95_ms),
            f"{step.error_rate:.2%}",
            Text("held", style="green") if step.ok else Text("broke", style="red"),
        )
    parts: list[Table | Text] = [
        steps,
        Text(
            f"capacity: highest rate within the SLO {capacity.highest_rate_within_slo:.0f}/s",
            style="bold",
        ),
    ]
    if capacity.usl_summary:
        parts.append(Text(f"scalability (USL): {capacity.usl_summary}"))
    return parts


def _avg(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def render_summary(result: RunResult, console: Console) -> None:
    """Print QPS, average, peak, percentiles, errors, status codes, bytes and the verdict."""
    t = result.totals
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    targets = ", ".join(dict.fromkeys(e.url for e in result.endpoints))
    if result.name not in (targets, ""):
        head.add_row("run", Text(result.name))  # names and URLs are text, never markup
    head.add_row("target", Text(targets))
    head.add_row(
        "load",
        Text(
            ", ".join(f"{k}={v}" for k, v in result.load.items() if not isinstance(v, list | tuple))
        ),
    )
    head.add_row("status", f"{result.status} after {result.duration_s:.1f} s")
    head.add_row(
        "throughput", f"{t.rps:,.1f} req/s  ({t.requests:,} requests, {t.iterations:,} iterations)"
    )
    err_style = "red" if t.error_rate > 0.01 else ("yellow" if t.failures else "green")
    head.add_row("errors", Text(f"{t.error_rate:.2%}  ({t.failures:,} failed)", style=err_style))
    if t.errors:
        head.add_row("  by kind", ", ".join(f"{k} {v:,}" for k, v in t.errors.items()))
    if t.status_codes:
        head.add_row("status codes", ", ".join(f"{k}: {v:,}" for k, v in t.status_codes.items()))
    head.add_row("bytes", f"in {_bytes(t.bytes_in)}, out {_bytes(t.bytes_out)}")
    if t.dropped_iterations:
        head.add_row(
            "dropped", Text(f"{t.dropped_iterations:,} arrivals found no free user", style="red")
        )
    if t.interrupted_iterations:
        head.add_row("interrupted", f"{t.interrupted_iterations:,} iterations cut short")

    lat = Table(title="response time (ms)", title_justify="left", show_edge=False)
    lat.add_column("", no_wrap=True)
    for col in ("avg", "p50", "p90", "p95", "p99", "p99.9", "peak"):
        lat.add_column(col, justify="right", no_wrap=True)
    _latency_row(lat, "latency", t.latency)
    if is_open_executor(result.load.get("executor")):
        _latency_row(lat, "service time", t.service_time)

    parts: list[Table | Text] = [head, Text(), lat]
    if len(result.endpoints) > 1:
        ep = Table(title="endpoints", title_justify="left", show_edge=False)
        for col in ("endpoint", "req/s", "errors", "avg", "p95", "p99", "peak"):
            ep.add_column(col, justify="left" if col == "endpoint" else "right")
        for e in result.endpoints:
            ep.add_row(
                Text(e.name),
                f"{e.rps:,.1f}",
                f"{e.error_rate:.2%}",
                _ms(e.latency.mean),
                _ms(e.latency.p95),
                _ms(e.latency.p99),
                _ms(e.latency.max),
            )
        parts += [Text(), ep]
    timing = _server_timing_table(result)
    if timing is not None:
        parts += [Text(), timing]
    if result.checks:
        checks = Table(title="checks", title_justify="left", show_edge=False)
        for col in ("check", "passed", "failed", "rate"):
            checks.add_column(col, justify="left" if col == "check" else "right")
        for c in result.checks:
            judged = c.passes + c.fails
            rate = c.passes / judged if judged else 0.0
            mark = Text("✓ ", style="green") if not c.fails else Text("✗ ", style="red")
            checks.add_row(
                Text.assemble(mark, c.name),
                f"{c.passes:,}",
                Text(f"{c.fails:,}", style="red" if c.fails else ""),
                f"{rate:.2%}" if judged else "-",
            )
        parts += [Text(), checks]
    if result.script_errors:
        parts += [Text(), Text("errors in the scenario script (each ended an iteration)",
                               style="bold red")]  # fmt: skip
        for error, count in result.script_errors.items():
            parts.append(Text(f"  {count:,} × {error}", style="red"))
    if result.monitors:
        parts += [Text(), _monitor_table(result)]
        for monitor in result.monitors.values():
            parts += [Text(f"note: {n}", style="yellow") for n in monitor.get("notes", [])]
        cost = _monitoring_cost(result)
        if cost:
            parts.append(Text(cost, style="dim"))
        statements = _statements_table(result)
        if statements is not None:
            parts += [Text(), statements]
    if result.findings:
        parts += [Text(), Text("findings", style="bold")]
        style = {"critical": "bold red", "high": "red", "medium": "yellow"}
        for finding in result.findings:
            parts += [
                Text(f"● {finding.title}", style=style.get(finding.severity, "")),
                Text(f"  {finding.evidence}"),
                Text(f"  → {finding.suggestion}", style="dim"),
            ]
    if result.capacity:
        parts += [Text(), *_capacity_parts(result.capacity)]
    if result.thresholds:
        parts.append(Text())
        for th in result.thresholds:
            mark = Text("✓ ", style="green") if th.ok else Text("✗ ", style="red")
            measured = measured_text(th.expression, th.value)
            parts.append(Text.assemble(mark, f"{th.expression}  (measured {measured})"))
    notes = [n for n in result.generator.notes if not str(n).startswith("worker ")]
    if notes:
        parts.append(Text())
        parts += [Text(f"note: {note}", style="yellow") for note in notes]
    verdict_style = {VerdictKind.VALID: "green", VerdictKind.GENERATOR_BOUND: "red",
                     VerdictKind.CONTENDED: "red"}.get(result.verdict, "yellow")  # fmt: skip
    error = timing_error_text(result)
    parts += [
        Text(),
        Text.assemble(
            (f"verdict: {result.verdict}", f"bold {verdict_style}"), f"  ({error})" if error else ""
        ),
    ]
    if result.verdict is not VerdictKind.VALID:
        meaning = VERDICT_MEANING[result.verdict]
        parts.append(Text(f"{meaning[0].upper()}{meaning[1:]}.", style=verdict_style))
    for reason in result.verdict_reasons:
        parts.append(Text(f"  - {reason}"))
    console.print(Panel(Group(*parts), title=f"loadlens run {result.id}", expand=False))

"""The before/after table in the terminal."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from loadlens.analysis.comparison import Change, Comparison, MetricChange
from loadlens.reporting.terminal_text import Text

__all__ = ["render_comparison"]

_STYLE = {Change.IMPROVED: "green", Change.REGRESSED: "bold red", Change.UNCHANGED: "dim",
          Change.TOO_SHORT: "yellow"}  # fmt: skip


def _value(m: MetricChange, v: float) -> str:
    if m.unit == "ms":
        return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"
    if m.unit == "%":
        return f"{v:.2f}%"
    return f"{v:,.1f} {m.unit}"


def _table(title: str, metrics: list[MetricChange]) -> Table:
    table = Table(title=Text(title), title_justify="left", show_edge=False)
    for col in ("metric", "before", "after", "change", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    for m in metrics:
        pct = m.change_pct
        change = "n/a" if pct is None else f"{pct:+.1f}%"
        table.add_row(
            m.label, _value(m, m.before), _value(m, m.after), change,
            Text(str(m.change), style=_STYLE[m.change]),
        )  # fmt: skip
    return table


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Print the overall table, one per endpoint, and what makes the comparison shaky."""
    a, b = comparison.before, comparison.after
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("before", Text(f"{a.id}  {a.name}  {a.started_at}  ({a.duration_s:.0f} s)"))
    head.add_row("after", Text(f"{b.id}  {b.name}  {b.started_at}  ({b.duration_s:.0f} s)"))
    parts: list[Table | Text] = [head, Text(), _table("overall", comparison.overall)]
    for name, metrics in comparison.endpoints.items():
        parts += [Text(), _table(name, metrics)]
    for name in comparison.only_before:
        parts.append(Text(f"only before: {name}", style="yellow"))
    for name in comparison.only_after:
        parts.append(Text(f"only after: {name}", style="yellow"))
    if comparison.warnings:
        parts.append(Text())
        parts += [Text(f"note: {w}", style="yellow") for w in comparison.warnings]
    method = (
        "verdicts: per-second samples, Mann-Whitney p < 0.01 and a change of at least 3%; "
        "error rate: two-proportion test"
    )
    parts += [Text(), Text(method, style="dim")]
    console.print(Panel(Group(*parts), title="loadlens compare", expand=False))

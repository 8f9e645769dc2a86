"""The stored runs, newest first, as a table."""

from __future__ import annotations

from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from loadlens.reporting.terminal_text import Text
from loadlens.storage.run_store import RunRow

__all__ = ["history_data", "render_history"]


def render_history(rows: list[RunRow], console: Console) -> None:
    """One line per run: id, name, when, load, rps, p95, errors, verdict."""
    if not rows:
        console.print("no stored runs (every `loadlens run` is stored; see --db)")
        return
    table = Table(show_edge=False)
    for col in ("id", "name", "started", "load", "requests", "rps", "avg", "p95", "errors",
                "thresholds", "verdict"):  # fmt: skip
        # Ids are what a reader copies into `report` and `compare`: never cut, never wrapped.
        table.add_column(col, no_wrap=col != "name", overflow="fold",
                         min_width=len(rows[0].id) if col == "id" else None,
                         justify="right" if col in ("requests", "rps", "avg", "p95",
                                                    "errors") else "left")  # fmt: skip
    for row in rows:
        held: dict[bool | None, Text] = {
            None: Text(""),
            True: Text("held", style="green"),
            False: Text("crossed", style="red"),
        }
        verdict_style = {"valid": "green", "generator-bound": "red", "contended": "red"}.get(
            row.verdict, "yellow"
        )
        name = row.name + "".join(f" {k}={v}" for k, v in row.tags.items())
        table.add_row(
            row.id, Text(name), row.started_at.strftime("%Y-%m-%d %H:%M:%S"), Text(row.load),
            f"{row.requests:,}", f"{row.rps:,.1f}", f"{row.mean_ms:.1f} ms",
            f"{row.p95_ms:.1f} ms", f"{row.error_rate:.2%}", held[row.thresholds_ok],
            Text(row.verdict if row.status == "completed" else f"{row.verdict} ({row.status})",
                 style=verdict_style),
        )  # fmt: skip
    console.print(table)


def history_data(rows: list[RunRow]) -> list[dict[str, object]]:
    """The stored runs as plain data, full ids and UTC-offset times (`history --json`)."""
    return [{**asdict(row), "started_at": row.started_at.isoformat()} for row in rows]

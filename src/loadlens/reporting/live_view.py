"""The live terminal view while a run goes on (rich), refreshed once a merged second lands."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from loadlens.metrics.live_status import LiveStatus

__all__ = ["LiveView"]


class LiveView:
    """Progress bar with elapsed/remaining, users, rps, p50/p95/p99, errors and generator CPU."""

    def __init__(self, console: Console, planned_s: float) -> None:
        self._progress = Progress(
            TextColumn("[bold]running"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left"),
            console=console,
        )
        self._task = self._progress.add_task("run", total=planned_s or None)
        self._stats = Table.grid(padding=(0, 2))
        self._live = Live(
            Group(self._progress, self._stats),
            console=console,
            refresh_per_second=4,
            transient=False,
        )

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def update(self, status: LiveStatus) -> None:
        """Show one more merged second."""
        self._progress.update(self._task, completed=min(status.elapsed, status.planned or 1e9))
        s = status.second
        error_rate = status.failures / status.requests if status.requests else 0.0
        grid = Table.grid(padding=(0, 3))
        for _ in range(7):
            grid.add_column()
        grid.add_row(
            f"users [bold]{s.users}[/]",
            f"rps [bold]{s.rps:,.0f}[/]",
            f"p50 [bold]{status.p50:.1f}[/] ms",
            f"p95 [bold]{status.p95:.1f}[/] ms",
            f"p99 [bold]{status.p99:.1f}[/] ms",
            f"errors [bold]{error_rate:.2%}[/]",
            f"loadlens cpu [bold]{status.cpu_percent:.0f}%[/]",
        )
        detail = f"in flight {s.in_flight}    requests {status.requests:,}"
        if s.dropped:
            detail += f"    [red]dropped {s.dropped} in the last second[/]"
        self._live.update(Group(self._progress, grid, detail))

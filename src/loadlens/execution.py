"""Running a scenario and keeping its result: what `loadlens run` and `loadlens demo` share."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from loadlens.metrics.run_result import RunResult
from loadlens.scenario.model import Scenario

if TYPE_CHECKING:
    from rich.console import Console

    from loadlens.monitoring.monitor_set import MonitorSet

__all__ = ["execute", "store"]


def execute(
    scenario: Scenario,
    console: Console | None,
    *,
    workers: int | None,
    quiet: bool,
    monitors: MonitorSet | None = None,
) -> RunResult:
    """Run the scenario, with the live view when a person is watching a terminal (no
    `console`: nobody is)."""
    from loadlens.analysis.result_builder import build_result
    from loadlens.engine.coordinator import Coordinator, planned_duration

    scripted = None
    if scenario.script is not None:
        from loadlens.scripting.script_runner import plan_script

        scripted = plan_script
    # Workers fork before the live view starts its refresh thread.
    with Coordinator(scenario, workers, monitors, scripted) as coordinator:
        if quiet or console is None or not console.is_terminal:
            return build_result(scenario, coordinator.run())
        from loadlens.reporting.live_view import LiveView

        with LiveView(console, planned_duration(scenario)) as view:
            return build_result(scenario, coordinator.run(view.update))


def store(result: RunResult, db: str | None) -> str | None:
    """Keep the run in the store; a store that fails is a warning (the run is not lost)."""
    from loadlens.redaction import safe_url
    from loadlens.storage.run_store import RunStore, StoreError, store_url

    url = store_url(db)
    try:
        RunStore(url).save(result)
    except StoreError as e:
        print(f"loadlens: warning: the run was not stored: {e}", file=sys.stderr)
        return None
    return safe_url(url).removeprefix("sqlite:///")

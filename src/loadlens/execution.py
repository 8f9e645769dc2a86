"""Running a scenario and keeping its result: what `loadlens run` and `loadlens demo` share."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loadlens.metrics.run_result import RunResult
from loadlens.scenario.model import Scenario

if TYPE_CHECKING:
    from rich.console import Console

    from loadlens.monitoring.monitor_set import MonitorSet

__all__ = ["Kept", "execute", "keep", "store"]


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


@dataclass(frozen=True, slots=True)
class Kept:
    """Where a run's result went: --out, the store, or a fallback file in their place."""

    out: Path | None = None  # --out, written
    stored_in: str | None = None  # the store, as shown (no password)
    fallback: Path | None = None  # written because nothing that was asked for kept it
    failed: bool = False  # --out or the store could not be written (stderr said why)


def keep(result: RunResult, *, out: Path | None, db: str | None, to_store: bool) -> Kept:
    """Write --out and store the run, each whatever became of the other; when neither
    that was asked for holds the result, write it to a fallback file. Each failure is
    said on stderr, with where the result is instead."""
    from loadlens.reporting.result_file import write_result

    written, out_error = None, None
    if out is not None:
        try:
            write_result(result, out)
            written = out
        except Exception as e:  # whatever it was, the other places still get their turn
            out_error = f"--out {out}: the result was not written: {_why(e)}"
    stored_in, store_error = _store(result, db) if to_store else (None, None)
    fallback = None
    if (out_error or store_error) and written is None and stored_in is None:
        fallback = _keep_elsewhere(result)
    if fallback is not None:
        instead = f"its result is kept in {fallback} (`loadlens report {fallback}`)"
    elif written is not None:
        instead = f"its result is in {written}"
    elif stored_in is not None:
        instead = f"the run is stored as {result.id} in {stored_in}"
    else:
        instead = "its result could not be written anywhere"
    for error in filter(None, (out_error, store_error)):
        _warn(f"{error}; {instead}")
    return Kept(written, stored_in, fallback, failed=bool(out_error or store_error))


def store(result: RunResult, db: str | None) -> str | None:
    """Keep the run in the store (where, as shown); when the store fails, stderr says so
    and names the fallback file that keeps the result instead."""
    return keep(result, out=None, db=db, to_store=True).stored_in


def _store(result: RunResult, db: str | None) -> tuple[str | None, str | None]:
    """(where the run was stored, as shown), or (None, why it was not)."""
    from loadlens.redaction import safe_url
    from loadlens.storage.run_store import RunStore, StoreError, store_url

    url = store_url(db)
    try:
        RunStore(url).save(result)
    except StoreError as e:
        return None, f"the run was not stored: {e}"
    except KeyboardInterrupt:  # a Ctrl-C while a slow store waits: keep the result anyway
        return None, f"the run was not stored: interrupted while saving to {safe_url(url)}"
    except Exception as e:  # a driver's unforeseen error must not lose what was measured
        return None, f"the run was not stored in {safe_url(url)}: {safe_url(_why(e))}"
    return safe_url(url).removeprefix("sqlite:///"), None


def _keep_elsewhere(result: RunResult) -> Path | None:
    """Write the result to ~/.loadlens/unsaved/ID.json, else to the temporary folder."""
    from loadlens.private_files import loadlens_home, private_folder, why_not_written
    from loadlens.reporting.result_file import write_result

    try:
        path = private_folder(loadlens_home() / "unsaved") / f"{result.id}.json"
        write_result(result, path)
        return path
    except OSError as e:
        first = why_not_written(e)
    try:
        # mkstemp: a new file of our own (0600, O_EXCL) in a folder others share.
        fd, name = tempfile.mkstemp(prefix=f"loadlens-unsaved-{result.id}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(result.to_json() + "\n")
        return Path(name)
    except OSError as e:
        _warn(f"the result could not be kept: {first}; {why_not_written(e)}")
        return None


def _why(error: Exception) -> str:
    from loadlens.private_files import why_not_written

    if isinstance(error, OSError):
        return why_not_written(error)
    return f"{type(error).__name__}: {error}"


def _warn(message: str) -> None:
    print(f"loadlens: {message}", file=sys.stderr)

"""The report files a run or a stored run is asked to write: HTML, JUnit XML, CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadlens.metrics.run_result import RunResult
from loadlens.private_files import why_not_written

__all__ = ["ReportFiles", "write_reports"]


@dataclass
class ReportFiles:
    """What writing the reports did: the files written, and a message per one that failed."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def write_reports(
    result: RunResult, html: Path | None, junit: Path | None, csv_dir: Path | None
) -> ReportFiles:
    """Write each report asked for (None: not asked), each whatever became of the others."""
    # Imported here: each writer loads only when its report is asked for (Jinja2 for HTML).
    from loadlens.reporting.csv_export import write_csv
    from loadlens.reporting.junit_report import write_junit

    files = ReportFiles()

    def attempt(option: str, path: Path, write: Callable[[], list[Path] | None]) -> None:
        try:
            written = write()
        except OSError as e:
            files.failed.append(f"{option} {path}: not written: {why_not_written(e)}")
            return
        files.written += [path] if written is None else written

    if html is not None:
        from loadlens.reporting.html_report import run_html, write_html

        attempt("--html", html, lambda: write_html(run_html(result), html))
    if junit is not None:
        attempt("--junit", junit, lambda: write_junit(result, junit))
    if csv_dir is not None:
        attempt("--csv", csv_dir, lambda: write_csv(result, csv_dir))
    return files

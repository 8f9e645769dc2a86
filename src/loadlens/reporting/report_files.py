"""The report files a run or a stored run is asked to write: HTML, JUnit XML, CSV."""

from __future__ import annotations

from pathlib import Path

from loadlens.metrics.run_result import RunResult

__all__ = ["write_reports"]


def write_reports(
    result: RunResult, html: Path | None, junit: Path | None, csv_dir: Path | None
) -> list[Path]:
    """Write each report asked for (None: not asked); the files written, in that order."""
    # Imported here: each writer loads only when its report is asked for (Jinja2 for HTML).
    from loadlens.reporting.csv_export import write_csv
    from loadlens.reporting.junit_report import write_junit

    written = []
    if html is not None:
        from loadlens.reporting.html_report import run_html, write_html

        write_html(run_html(result), html)
        written.append(html)
    if junit is not None:
        write_junit(result, junit)
        written.append(junit)
    if csv_dir is not None:
        written += write_csv(result, csv_dir)
    return written

"""`loadlens report`: a stored run's summary, and its report files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadlens.cli.exits import ExitCode, fail_input
from loadlens.cli.options import db_option, json_option, report_options

__all__ = ["report"]


@click.command()
@click.argument("run_ref", metavar="RUN")
@report_options(also=False)
@db_option
@click.option("-q", "--quiet", is_flag=True, help="Write the files, print nothing.")
@json_option
def report(
    run_ref: str,
    html: Path | None,
    junit: Path | None,
    csv_dir: Path | None,
    db: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Print a stored run's summary (RUN: an id, an id prefix, or a result .json file)."""
    from rich.console import Console

    from loadlens.reporting.report_files import write_reports
    from loadlens.reporting.run_source import RunSourceError, load_run
    from loadlens.reporting.summary import render_summary

    try:
        result = load_run(run_ref, db)
    except RunSourceError as e:
        fail_input(str(e))
    reports = write_reports(result, html, junit, csv_dir)
    for failure in reports.failed:
        click.echo(f"loadlens: {failure}", err=True)
    if as_json:
        click.echo(result.to_json())
    elif not quiet:
        console = Console()
        render_summary(result, console)
        for path in reports.written:
            console.print(f"written: {path}")
    if reports.failed:
        sys.exit(ExitCode.NOT_KEPT)

"""`loadlens compare`: two runs side by side, and whether the second regressed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadlens.cli.exits import ExitCode, fail_input
from loadlens.cli.options import db_option, json_option
from loadlens.cli.terminal import wide_console

__all__ = ["compare"]


@click.command()
@click.argument("before_ref", metavar="BEFORE")
@click.argument("after_ref", metavar="AFTER")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 99 when a metric regressed by more than --tolerance.")  # fmt: skip
@click.option("--tolerance", default="5%", show_default=True,
              help="With --fail-on-regression: a regression smaller than this passes.")  # fmt: skip
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the comparison report here, the two runs' charts overlaid.")  # fmt: skip
@db_option
@json_option
def compare(
    before_ref: str,
    after_ref: str,
    fail_on_regression: bool,
    tolerance: str,
    html: Path | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Compare two runs (ids, id prefixes or result files): BEFORE, then AFTER."""
    import json

    from loadlens.analysis.comparison import compare_runs
    from loadlens.reporting.compare_view import render_comparison
    from loadlens.reporting.run_source import RunSourceError, load_run

    try:
        limit = float(tolerance.strip().removesuffix("%"))
    except ValueError:
        raise click.UsageError(
            f"--tolerance {tolerance!r}: expected a percentage, e.g. 5%"
        ) from None
    try:
        before, after = load_run(before_ref, db), load_run(after_ref, db)
    except RunSourceError as e:
        fail_input(str(e))
    comparison = compare_runs(before, after)
    console = wide_console()
    regressions = comparison.regressions(limit)
    if as_json:
        crossed = [{"scope": scope, "metric": m.metric} for scope, m in regressions]
        data = {**comparison.as_dict(), "tolerance_pct": limit, "regressions": crossed}
        click.echo(json.dumps(data, indent=2))
    else:
        render_comparison(comparison, console)
    if html is not None:
        from loadlens.reporting.html_report import compare_html, write_html

        write_html(compare_html(comparison), html)
        if not as_json:
            console.print(f"written: {html}")
    if fail_on_regression and regressions:
        listed = ", ".join(f"{scope} {m.label}" for scope, m in regressions)
        print(f"loadlens: regressed by more than {limit:g}%: {listed}", file=sys.stderr)
        sys.exit(ExitCode.THRESHOLD_CROSSED)

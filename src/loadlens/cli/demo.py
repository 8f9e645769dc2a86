"""`loadlens demo`: the case study, and one of its stages served for your own scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadlens.cli.exits import ExitCode, fail_input
from loadlens.cli.options import check_writable, db_option
from loadlens.cli.terminal import wide_console
from loadlens.demo.stages import STAGES  # plain data: light enough for `loadlens --help`
from loadlens.extras import missing

__all__ = ["demo"]

_STAGE_NAMES = tuple(stage.name for stage in STAGES)


@click.group(invoke_without_command=True)
@click.option("--database", metavar="URL|postgres",
              help="PostgreSQL instead of SQLite: a postgresql:// URL, or `postgres` for a "
                   "throwaway local cluster (needs PostgreSQL's server installed).")  # fmt: skip
@click.option("-u", "--users", type=int, help="Concurrent users.  [default: 1000; --quick 100]")
@click.option("-d", "--duration", help="Each stage's run.  [default: 20s; --quick 5s]")
@click.option("--rows", type=int, help="Users in the table.  [default: 200000; --quick 50000]")
@click.option("--stages", "stage_names", metavar="A,B,...",
              help="Only these stages (baseline, index, pool, cache, balanced).")  # fmt: skip
@click.option("--quick", is_flag=True, help="A short run, for CI and the impatient.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("loadlens-case-study.html"), show_default=True,
              help="The before/after report.")  # fmt: skip
@click.option("--workers", type=int, help="Load generator processes (default: one per core).")
@db_option
@click.pass_context
def demo(
    ctx: click.Context,
    database: str | None,
    users: int | None,
    duration: str | None,
    rows: int | None,
    stage_names: str | None,
    quick: bool,
    html: Path,
    workers: int | None,
    db: str | None,
) -> None:
    """The case study: a slow API, its bottlenecks found, fixed one by one, compared."""
    if ctx.invoked_subcommand is not None:
        return
    _require_demo_extra(database)
    from loadlens.demo.case_study import CaseStudyOptions, DemoError, run_case_study

    names = tuple(n.strip() for n in stage_names.split(",")) if stage_names else ()
    for name in names:
        if name not in _STAGE_NAMES:
            raise click.UsageError(f"--stages: {name!r} is not one of {', '.join(_STAGE_NAMES)}")
    check_writable(html)
    options = CaseStudyOptions(
        database=database,
        users=users or (100 if quick else 1000),
        duration=duration or ("5s" if quick else "20s"),
        ramp_up="1s" if quick else "5s",
        rows=rows or (50_000 if quick else 200_000),
        stages=names or _STAGE_NAMES,
        html=html,
        store_db=db,
        workers=workers,
    )
    try:
        # Piped, wide enough for the stage table's ten columns (its rules span the width).
        run_case_study(options, wide_console(width=132))
    except DemoError as e:
        fail_input(str(e))
    except KeyboardInterrupt:
        print("loadlens: demo interrupted; its servers are stopped", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)


@demo.command("serve")
@click.option("--stage", type=click.Choice(_STAGE_NAMES), default="baseline", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--database", metavar="URL|postgres", help="As for `loadlens demo`.")
@click.option("--rows", type=int, default=200_000, show_default=True)
def demo_serve(stage: str, port: int, database: str | None, rows: int) -> None:
    """Run one stage of the demo API on 127.0.0.1 until Ctrl-C, for your own scenarios."""
    _require_demo_extra(database)
    from rich.console import Console

    from loadlens.demo.case_study import CaseStudyOptions, DemoError, serve_stage
    from loadlens.demo.stages import stage_named

    options = CaseStudyOptions(database=database, rows=rows)
    try:
        serve_stage(stage_named(stage), port, options, Console())
    except DemoError as e:
        fail_input(str(e))


def _require_demo_extra(database: str | None) -> None:
    """The demo's API needs Flask, gunicorn and cachetools (and psycopg for PostgreSQL)."""
    needed = ["flask", "gunicorn", "cachetools"]
    if database:
        needed += ["psycopg", "psycopg_pool"]
    absent = missing(*needed)
    if absent:
        fail_input(f"the demo needs {', '.join(absent)}, not installed here: "
                   "pip install 'loadlens[demo]' (or run `make demo`)")  # fmt: skip

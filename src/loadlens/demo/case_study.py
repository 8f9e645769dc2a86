"""`loadlens demo`: the article's story, end to end, on this machine.

An API must answer in under 100 ms for 1000 concurrent users and does not. The demo
builds the users table, starts the API in its baseline form (Flask under gunicorn),
load-tests it while watching its processes and its database, prints the numbers and the
findings, then applies the article's fixes one at a time (index, pool and query, cache,
load balancing) and runs the same test after each. It ends with the before/after table
and an HTML report, and every run is in `loadlens history`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.text import Text

from loadlens.cli.interrupts import sigterm_as_interrupt
from loadlens.demo import users_data
from loadlens.demo.stage_server import StageError, StageServers, find_nginx, run_stage
from loadlens.demo.stages import STAGES, Stage
from loadlens.engine.coordinator import InterruptedBeforeStart
from loadlens.execution import execute, store
from loadlens.metrics.run_result import RunResult, RunStatus
from loadlens.monitoring.managed_server import ServerError
from loadlens.monitoring.monitor_set import MonitorSet
from loadlens.redaction import safe_url
from loadlens.reporting.case_study_view import (
    StageRow,
    stage_findings,
    stage_row,
    stage_table,
    timing_text,
)
from loadlens.scenario.file_loader import load_scenario_file
from loadlens.scenario.from_flags import RunFlags
from loadlens.scenario.model import Scenario

__all__ = [
    "CaseStudyOptions",
    "DemoError",
    "demo_database",
    "run_case_study",
    "serve_stage",
]

SCENARIO = "case-study.yaml"


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CaseStudyOptions:
    """What `loadlens demo` was asked for."""

    database: str | None = None  # None: SQLite; "postgres": a throwaway cluster; or a URL
    users: int = 1000
    duration: str = "20s"
    ramp_up: str = "5s"  # the users arrive over this long, as in the scenario file
    rows: int = 200_000
    stages: tuple[str, ...] = tuple(stage.name for stage in STAGES)
    html: Path = Path("loadlens-case-study.html")
    data_dir: Path = Path.home() / ".loadlens" / "demo"
    store_db: str | None = None
    workers: int | None = None


def check_requirements(postgres: bool) -> None:
    """The demo's own libraries are installed, or a DemoError says how to install them."""
    missing = []
    for module in (
        "flask",
        "gunicorn",
        "cachetools",
        *(("psycopg", "psycopg_pool") if postgres else ()),
    ):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise DemoError(f"the demo needs {', '.join(missing)}: pip install 'loadlens[demo]'")


@contextlib.contextmanager
def demo_database(options: CaseStudyOptions, console: Console) -> Iterator[str]:
    """The database the API uses, its users table built: a SQLite file or a PostgreSQL URL."""
    check_requirements(postgres=options.database is not None)
    with contextlib.ExitStack() as stack:
        if options.database is None:
            path = options.data_dir / f"users-{options.rows}.sqlite"
            _built(
                console,
                f"SQLite {path}",
                lambda: users_data.build_sqlite(path, options.rows),
                options.rows,
            )
            yield str(path)
            return
        if options.database == "postgres":
            from loadlens.demo.local_postgres import LocalPostgresError, local_postgres

            try:
                url = stack.enter_context(local_postgres())
            except LocalPostgresError as e:
                raise DemoError(str(e)) from None
            # (its password stays out of the terminal: the URL is for the demo's own use)
            console.print(f"started a throwaway PostgreSQL cluster: {safe_url(url)}")
        elif options.database.startswith(("postgresql://", "postgres://", "postgresql+")):
            # (a SQLAlchemy-style URL, as the run store takes, is welcome too)
            rest = options.database.split("://", 1)[1]
            url = f"postgresql://{rest}"
        else:
            raise DemoError(
                f"--database {options.database!r}: expected postgres (a throwaway "
                "local cluster) or a postgresql:// URL; without it, SQLite"
            )
        import psycopg

        try:
            _built(
                console,
                f"PostgreSQL, schema {users_data.SCHEMA}",
                lambda: users_data.build_postgres(url, options.rows),
                options.rows,
            )
        except psycopg.Error as e:
            raise DemoError(f"--database: {str(e).strip().splitlines()[0]}") from None
        yield users_data.in_demo_schema(url)
        if options.database != "postgres":
            console.print(f"the demo's table stays in your database for the next run; to drop "
                          f"it: DROP SCHEMA {users_data.SCHEMA} CASCADE")  # fmt: skip


def _built(console: Console, where: str, build: Callable[[], bool], rows: int) -> None:
    started = time.monotonic()
    made = build()
    took = time.monotonic() - started
    verb = f"built {rows:,} users in {took:.1f} s" if made else f"reusing its {rows:,} users"
    console.print(f"users table: {where}: {verb}")


def _scenario(options: CaseStudyOptions, stage: Stage, url: str, database: str) -> Scenario:
    flags = RunFlags(
        target=SCENARIO,
        users=options.users,
        duration=options.duration,
        ramp_up=options.ramp_up,
        base_url=url,
        name=f"case study: {stage.name}",
    )
    with resources.as_file(resources.files("loadlens.demo") / SCENARIO) as path:
        scenario = load_scenario_file(path, flags)
    kind = "postgresql" if database.startswith("postgresql://") else "sqlite"
    tags = {"demo": "case-study", "stage": stage.name, "database": kind}
    return scenario.model_copy(update={"tags": {**scenario.tags, **tags}})


def _monitors(servers: StageServers, database: str) -> MonitorSet:
    from loadlens.monitoring.db_stats_probe import DbStatsProbe
    from loadlens.monitoring.host_probe import HostProbe
    from loadlens.monitoring.probe import Probe
    from loadlens.monitoring.process_probe import ProcessTreeProbe

    api = ProcessTreeProbe(
        servers.pids,
        label="the demo API (gunicorn" + (", nginx)" if len(servers.pids) > 1 else ")"),
    )
    api.name = "target"
    probes: list[Probe] = [api, HostProbe()]
    if servers.stats_url is not None:
        probes.append(DbStatsProbe(f"dbstats+{servers.stats_url}"))
    else:
        from loadlens.monitoring.postgres_probe import PostgresProbe

        probes.append(PostgresProbe(users_data.outside_demo_schema(database)))
    return MonitorSet(probes)


def _warm_up(url: str) -> None:
    """A few requests first: each worker imports, plans and opens before it is timed."""
    for i in range(24):
        query = f"since=2026-10-31T{(i % 4) * 6:02d}:00:00&page={1 + i % 3}&limit=20"
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/api/users?{query}", timeout=30),
        ):
            pass


def _stage_errors() -> tuple[type[Exception], ...]:
    """What starting a stage can fail with that is the machine's, not loadlens's, doing."""
    errors: tuple[type[Exception], ...] = (ServerError, StageError, sqlite3.Error)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


def _brief(console: Console, stage: Stage, row: StageRow, result: RunResult) -> None:
    console.print(
        Text.assemble(
            (f"{stage.title}: ", "bold"),
            f"{row.qps:,.0f} QPS, avg "
            f"{row.avg_ms:,.0f} ms, p95 {row.p95_ms:,.0f} ms, peak {row.peak_ms:,.0f} ms, "
            f"errors {row.error_rate:.2%}"
            + (
                f", the API used {row.cpu_percent:.0f}% of the machine's CPU and "
                f"{row.memory_mb:,.0f} MB"
                if row.cpu_percent is not None and row.memory_mb is not None
                else ""
            ),
            (f"; verdict {row.verdict}", "green" if row.verdict == "valid" else "yellow"),
            f", timing error {timing_text(row)}" if timing_text(row) else "",
        )
    )
    style = {"critical": "bold red", "high": "red", "medium": "yellow"}
    for finding in result.findings:
        console.print(Text(f"  ● {finding.title}", style=style.get(finding.severity, "")))
        console.print(Text(f"    {finding.evidence}", style="dim"))
    if not result.findings:
        console.print(Text("  no findings", style="green"))


def serve_stage(stage: Stage, port: int, options: CaseStudyOptions, console: Console) -> None:
    """`loadlens demo serve`: one stage's API on 127.0.0.1 until Ctrl-C (or SIGTERM)."""
    with (
        sigterm_as_interrupt(),
        contextlib.suppress(KeyboardInterrupt),
        demo_database(options, console) as database,
    ):
        try:
            (users_data.create_index if stage.index else users_data.drop_index)(database)
            with run_stage(stage, database, port=port) as servers:
                console.print(f"the demo API, stage {stage.name} ({stage.change}), on "
                              f"{servers.url}")  # fmt: skip
                if servers.stats_url:
                    console.print(f"its database statistics: --monitor dbstats+"
                                  f"{servers.stats_url}")  # fmt: skip
                console.print(f"try: loadlens run examples/case-study.yaml --base-url "
                              f"{servers.url}  (Ctrl-C stops it)")  # fmt: skip
                while True:
                    time.sleep(3600)
        except _stage_errors() as e:
            raise DemoError(f"the {stage.name} stage: {str(e).strip()}") from None


def run_case_study(options: CaseStudyOptions, console: Console) -> list[StageRow]:
    """Every stage asked for, in order; the before/after rows (and the HTML report)."""
    stages = [stage for stage in STAGES if stage.name in options.stages]
    rows: list[StageRow] = []
    results: list[RunResult] = []
    stage_errors = _stage_errors()
    interrupted = False
    with sigterm_as_interrupt(), demo_database(options, console) as database:
        for stage in stages:
            if stage.instances > 1 and find_nginx() is None:
                console.print(
                    Text(
                        f"skipped the {stage.name} stage: nginx is not installed "
                        "(apt-get install nginx, brew install nginx)",
                        style="yellow",
                    )
                )
                continue
            console.rule(f"{stage.title}: {stage.change}")
            try:
                (users_data.create_index if stage.index else users_data.drop_index)(database)
                with run_stage(stage, database) as servers:
                    _warm_up(servers.url)
                    scenario = _scenario(options, stage, servers.url, database)
                    try:
                        result = execute(
                            scenario,
                            console,
                            workers=options.workers,
                            quiet=False,
                            monitors=_monitors(servers, database),
                        )
                    except InterruptedBeforeStart:
                        console.print(Text("interrupted before the load started", style="yellow"))
                        interrupted = True
                        break
            except stage_errors as e:
                raise DemoError(f"the {stage.name} stage: {str(e).strip()}") from None
            store(result, options.store_db)  # (an interrupted run too: what it measured)
            row = stage_row(stage.name, stage.change, result)
            rows.append(row)
            results.append(result)
            _brief(console, stage, row, result)
            if result.status is RunStatus.INTERRUPTED:
                console.print(Text("interrupted: the stages after this one are not run",
                                   style="yellow"))  # fmt: skip
                interrupted = True
                break
    if rows:
        console.print()
        console.print(stage_table(rows))
        for line in stage_findings(rows):
            console.print(line)
    if len(results) >= 2:
        from loadlens.analysis.comparison import compare_runs
        from loadlens.reporting.html_report import compare_html, write_html

        write_html(compare_html(compare_runs(results[0], results[-1]), stages=rows), options.html)
        console.print(
            f"written: {options.html} (the stages, and {rows[0].stage} against "
            f"{rows[-1].stage} in detail)"
        )
    console.print("every run is in the history: loadlens history --tag demo=case-study")
    if interrupted:
        raise KeyboardInterrupt  # (after the table: what was measured is shown and kept)
    return rows

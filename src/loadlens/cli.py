"""The `loadlens` command: the composition root that wires scenario, engine and reports."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from loadlens import __version__
from loadlens.demo.stages import STAGES
from loadlens.engine.prepared_request import PrepareError, prepare_flows
from loadlens.execution import execute, store
from loadlens.extras import install_hint, missing
from loadlens.metrics.run_result import RunResult, RunStatus, VerdictKind
from loadlens.metrics.thresholds import ThresholdError, parse_threshold
from loadlens.monitoring.monitor_specs import (
    Monitoring,
    MonitorSpecError,
    MonitorStartError,
    build_monitors,
    parse_monitoring,
)
from loadlens.scenario.from_flags import RunFlags
from loadlens.scenario.loading import load_scenario, read_scenario
from loadlens.scenario.model import Scenario
from loadlens.scenario.units import InputError
from loadlens.scenario.yaml_source import SourceError

__all__ = ["ExitCode", "cli", "exit_code_for", "main"]


class ExitCode:
    """The process exit codes (DESIGN.md): scripts and CI depend on them."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    NOT_VALID = 98  # generator-bound, contended, or nothing to judge (an unreachable target)
    THRESHOLD_CROSSED = 99
    INTERRUPTED = 130


def exit_code_for(result: RunResult) -> int:
    """Interrupted beats broken beats untrustworthy beats a crossed threshold."""
    if result.status is RunStatus.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if result.status is RunStatus.ABORTED and result.verdict is VerdictKind.INCONCLUSIVE:
        return ExitCode.INTERNAL  # a worker was lost: part of the load never ran
    if result.verdict is not VerdictKind.VALID:
        return ExitCode.NOT_VALID
    if result.status is RunStatus.ABORTED or not all(t.ok for t in result.thresholds):
        return ExitCode.THRESHOLD_CROSSED
    return ExitCode.OK


_db_option = click.option(
    "--db", help="Run store: a file or SQLAlchemy URL. [LOADLENS_DB, ~/.loadlens/runs.db]"
)
_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of tables (for scripts)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadlens")
def cli() -> None:
    """Load testing and performance diagnosis for HTTP APIs."""


@cli.command()
@click.argument("target")
@click.option("-u", "--users", type=int, help="Concurrent virtual users (closed model). [10]")
@click.option("-d", "--duration", help="How long to run: 30s, 5m, 1h. [10s]")
@click.option("--rate", help="Open model: arrivals per second, e.g. 800/s or 50/m.")
@click.option("--max-users", type=int, help="Open models: most users in flight. [max(100, rate)]")
@click.option("--stages", help="Ramping users: 30s:100,60s:1000,30s:0")
@click.option("--rate-stages", help="Ramping arrival rate: 30s:100/s,60s:800/s")
@click.option("-i", "--iterations", type=int, help="Each user runs this many iterations.")
@click.option("--ramp-up", help="Ramp from 0 to -u users (or --rate) over this long first.")
@click.option(
    "--step", help="Capacity run: raise --rate by this much each -d until the SLO breaks."
)
@click.option("--max-steps", type=int, help="Capacity run: most steps. [20]")
@click.option("--slo-p95", help="Capacity run: a step holds if its p95 stays under this. [100ms]")
@click.option("--slo-error-rate", help="Capacity run: ...and its error rate at most this. [1%]")
@click.option("-X", "--method", help="HTTP method. [GET, or POST with a body]")
@click.option("-H", "--header", "headers", multiple=True, help="'Name: value' (repeatable).")
@click.option("--json", "json_body", help="JSON request body (sets Content-Type).")
@click.option("--body", help="Request body: text, or @file.")
@click.option("--timeout", help="Whole-request timeout. [10s]")
@click.option("--connect-timeout", help="TCP/TLS connect timeout. [min(5s, --timeout)]")
@click.option("--insecure", is_flag=True, help="Skip TLS certificate verification.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    help="Pass/fail rule, e.g. 'p95<100ms', 'error_rate<1%', 'rps>800' (repeatable).",
)
@click.option("--abort-on-fail", is_flag=True, help="Stop early once a threshold is crossed.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes. [one per core]")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the RunResult JSON here."
)
@click.option("--name", help="A name for this run.")
@click.option("--tag", "tags", multiple=True, help="key=value, kept with the run (repeatable).")
@click.option("--base-url", help="Scenario files: send to this base URL instead of the file's.")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report here (one file, works offline).")  # fmt: skip
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write thresholds and checks as JUnit XML here.")  # fmt: skip
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write summary, endpoints and timeline CSV files here.")  # fmt: skip
@_db_option
@click.option("--no-store", is_flag=True, help="Do not keep this run in the run store.")
@click.option("--server", help="Start the target with this command, monitor it, stop it after.")
@click.option("--monitor-pid", "monitor_pids", type=int, multiple=True,
              help="Monitor this process and its children (repeatable).")  # fmt: skip
@click.option("--monitor-process", "monitor_names", multiple=True,
              help="Monitor processes whose name or command line has it (repeatable).")  # fmt: skip
@click.option("--monitor", "monitor_specs", multiple=True, metavar="SPEC",
              help="host, agent://H:P, postgresql://..., prometheus://H:P/PATH, "
                   "dbstats+http://H:P/PATH.")  # fmt: skip
@click.option("--agent-token", envvar="LOADLENS_AGENT_TOKEN",
              help="The token of `loadlens agent`s. [LOADLENS_AGENT_TOKEN]")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run(
    target: str,
    headers: tuple[str, ...],
    thresholds: tuple[str, ...],
    tags: tuple[str, ...],
    workers: int | None,
    out: Path | None,
    html: Path | None,
    junit: Path | None,
    csv_dir: Path | None,
    db: str | None,
    no_store: bool,
    server: str | None,
    monitor_pids: tuple[int, ...],
    monitor_names: tuple[str, ...],
    monitor_specs: tuple[str, ...],
    agent_token: str | None,
    quiet: bool,
    **flags: Any,
) -> None:
    """Load-test TARGET (a URL, or a scenario .yaml or .py file) and report what was measured."""
    run_flags = RunFlags(target=target, headers=list(headers), thresholds=list(thresholds), **flags)
    outputs = RunOutputs(out=out, html=html, junit=junit, csv_dir=csv_dir, db=db,
                         store=not no_store, tags=_tags(tags))  # fmt: skip
    try:
        watch = parse_monitoring(monitor_specs, server=server, pids=monitor_pids,
                                 names=monitor_names, agent_token=agent_token)  # fmt: skip
    except MonitorSpecError as e:
        raise click.UsageError(str(e)) from None
    _run(run_flags, workers=workers, outputs=outputs, quiet=quiet, watch=watch)


@dataclass(frozen=True)
class RunOutputs:
    """Where a run's result goes besides the terminal."""

    out: Path | None = None
    html: Path | None = None
    junit: Path | None = None
    csv_dir: Path | None = None
    db: str | None = None
    store: bool = True
    tags: dict[str, str] = field(default_factory=dict)


def _tags(raw: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--tag {item!r}: expected key=value")
        tags[key.strip()] = value.strip()
    return tags


def _run(
    flags: RunFlags,
    *,
    workers: int | None,
    outputs: RunOutputs,
    quiet: bool,
    watch: Monitoring | None = None,
) -> None:
    """Validate, run with a live view, write, store and print the result, exit with its code."""
    try:
        for expression in flags.thresholds:
            parse_threshold(expression)
        try:
            scenario = load_scenario(flags, python_loader=read_python_scenario)
        except SourceError as e:
            _fail_input(str(e))
        prepare_flows(scenario)  # fail here, not in a worker
    except (InputError, ThresholdError, PrepareError) as e:
        raise click.UsageError(str(e)) from None
    if outputs.tags:
        scenario = scenario.model_copy(update={"tags": {**scenario.tags, **outputs.tags}})
    out = outputs.out
    for path in (out, outputs.html, outputs.junit):
        if path is not None:
            _check_writable(path)
    if outputs.csv_dir is not None:
        _check_writable(outputs.csv_dir / "summary.csv")

    # Imported here so `loadlens --help` and bad input stay fast.
    from loadlens.engine.coordinator import InterruptedBeforeStart
    from loadlens.reporting.result_file import write_result
    from loadlens.reporting.summary import render_summary

    console = Console()
    with contextlib.ExitStack() as stack:
        target_url = scenario.base_url or (scenario.requests[0].url if scenario.requests else "")
        try:
            monitors = build_monitors(watch or Monitoring(), target_url, stack)
        except MonitorStartError as e:
            _fail_input(str(e))
        try:
            result = execute(scenario, console, workers=workers, quiet=quiet, monitors=monitors)
        except InterruptedBeforeStart:
            print("loadlens: interrupted before the load started; nothing was measured",
                  file=sys.stderr)  # fmt: skip
            sys.exit(ExitCode.INTERRUPTED)
    if out is not None:
        write_result(result, out)
    stored = store(result, outputs.db) if outputs.store else None
    try:
        written = _write_reports(result, outputs.html, outputs.junit, outputs.csv_dir)
    except OSError as e:  # the run is kept (stored, --out); a report that fails says so
        print(f"loadlens: warning: a report was not written: {e}", file=sys.stderr)
        written = []
    if not quiet:
        render_summary(result, console)
        for path in [*([out] if out else []), *written]:
            console.print(f"written: {path}")
        if stored:
            console.print(f"stored as {result.id} in {stored} (see `loadlens history`)")
    sys.exit(exit_code_for(result))


def _write_reports(
    result: RunResult, html: Path | None, junit: Path | None, csv_dir: Path | None
) -> list[Path]:
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


def read_python_scenario(path: Path, flags: RunFlags | None) -> Scenario:
    """A Python scenario file, read by loadlens.scripting (a layer above scenario)."""
    # Imported here: a YAML or URL run never loads the scripting machinery.
    from loadlens.scripting.script_loader import load_script

    return load_script(path, flags)


def _fail_input(message: str) -> NoReturn:
    click.echo(f"loadlens: {message}", err=True)
    sys.exit(ExitCode.BAD_INPUT)


def _check_writable(out: Path) -> None:
    """Refuse an unwritable --out before the load, not after it (the run would be lost)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.UsageError(f"--out {out}: cannot create {out.parent} ({e.strerror})") from None
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise click.UsageError(f"--out {out}: not writable")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path) -> None:
    """Check a scenario FILE without sending a request."""
    try:
        scenario = read_scenario(file, python_loader=read_python_scenario)
        prepare_flows(scenario, resolve=False)
    except (SourceError, PrepareError) as e:
        _fail_input(str(e))
    if scenario.script is not None:
        from loadlens.scripting.script_loader import import_script

        _, flows, on_start = import_script(file)
        names = ", ".join(f.name for f in flows)
        start = " and an on_start" if on_start else ""
        click.echo(f"{file}: ok: Python flows {names}{start}; load {scenario.load.executor}")
        return
    steps = sum(len(flow.steps) for flow in scenario.flows)
    click.echo(
        f"{file}: ok: {len(scenario.flows)} flow(s), {steps} step(s), "
        f"{len(scenario.endpoints)} endpoint(s); load {scenario.load.executor}"
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default="scenario.yaml")
def init(file: Path) -> None:
    """Write a commented starter scenario to FILE (scenario.yaml)."""
    from loadlens.scenario.starter import STARTER

    if file.exists():
        _fail_input(f"{file} exists; not overwriting it")
    file.write_text(STARTER, encoding="utf-8")
    click.echo(f"wrote {file}; try: loadlens validate {file}")


_STAGE_NAMES = tuple(stage.name for stage in STAGES)


@cli.group(invoke_without_command=True)
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
@_db_option
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
    _check_writable(html)
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
        run_case_study(options, _wide_console(width=132))
    except DemoError as e:
        _fail_input(str(e))
    except KeyboardInterrupt:
        print("loadlens: demo interrupted; its servers are stopped", file=sys.stderr)
        sys.exit(ExitCode.INTERRUPTED)


def _require_demo_extra(database: str | None) -> None:
    """The demo's API needs Flask, gunicorn and cachetools (and psycopg for PostgreSQL)."""
    needed = ["flask", "gunicorn", "cachetools"]
    if database:
        needed += ["psycopg", "psycopg_pool"]
    absent = missing(*needed)
    if absent:
        _fail_input(f"the demo needs {', '.join(absent)}, not installed here: "
                    "pip install 'loadlens[demo]' (or run `make demo`)")  # fmt: skip


@demo.command("serve")
@click.option("--stage", type=click.Choice(_STAGE_NAMES), default="baseline", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--database", metavar="URL|postgres", help="As for `loadlens demo`.")
@click.option("--rows", type=int, default=200_000, show_default=True)
def demo_serve(stage: str, port: int, database: str | None, rows: int) -> None:
    """Run one stage of the demo API on 127.0.0.1 until Ctrl-C, for your own scenarios."""
    _require_demo_extra(database)
    from loadlens.demo.case_study import CaseStudyOptions, DemoError, serve_stage
    from loadlens.demo.stages import stage_named

    options = CaseStudyOptions(database=database, rows=rows)
    try:
        serve_stage(stage_named(stage), port, options, Console())
    except DemoError as e:
        _fail_input(str(e))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=int, default=9400, show_default=True)
@click.option("--token", envvar="LOADLENS_AGENT_TOKEN",
              help="Required of every request. [LOADLENS_AGENT_TOKEN, else a new one]")  # fmt: skip
@click.option("--pid", "pids", type=int, multiple=True, help="Also report this process tree.")
@click.option("--process", "process_name", help="Also report the processes matching this.")
def agent(
    host: str, port: int, token: str | None, pids: tuple[int, ...], process_name: str | None
) -> None:
    """Serve this host's samples (and a process's) to loadlens on another machine."""
    import secrets

    from loadlens.monitoring.agent_server import AgentServer
    from loadlens.monitoring.process_probe import ProcessTreeProbe, find_processes

    roots = list(pids) + (find_processes(process_name) if process_name else [])
    if process_name and len(roots) == len(pids):
        _fail_input(f"--process {process_name!r}: no running process matches it")
    generated = token is None
    token = token or secrets.token_urlsafe(24)
    try:
        server = AgentServer(host, port, token, ProcessTreeProbe(roots) if roots else None)
    except OSError as e:
        _fail_input(f"cannot listen on {host}:{port} ({e.strerror})")
    click.echo(f"loadlens agent on http://{host}:{server.port}")
    shown = token if generated else "the one given"  # never echo a secret the user chose
    click.echo(f"token: {shown}   (loadlens run ... --monitor agent://HOST:{server.port} "
               "--agent-token TOKEN)", err=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@cli.command()
@click.option("--name", help="Only runs whose name contains this.")
@click.option("--tag", "tags", multiple=True, help="Only runs with this key=value (repeatable).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@_db_option
@_json_option
def history(
    name: str | None, tags: tuple[str, ...], limit: int, db: str | None, as_json: bool
) -> None:
    """List stored runs, newest first."""
    from loadlens.reporting.history_view import history_data, render_history
    from loadlens.storage.run_store import RunStore, StoreError, store_url

    try:
        rows = RunStore(store_url(db)).list(name=name, tags=_tags(tags), limit=limit)
    except StoreError as e:
        _fail_input(str(e))
    if as_json:
        click.echo(json.dumps(history_data(rows), indent=2))
        return
    render_history(rows, _wide_console())


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML report here (one file, works offline).")  # fmt: skip
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Write thresholds and checks as JUnit XML here.")  # fmt: skip
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write summary, endpoints and timeline CSV files here.")  # fmt: skip
@_db_option
@click.option("-q", "--quiet", is_flag=True, help="Write the files, print nothing.")
@_json_option
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
    from loadlens.reporting.run_source import RunSourceError, load_run
    from loadlens.reporting.summary import render_summary

    try:
        result = load_run(run_ref, db)
    except RunSourceError as e:
        _fail_input(str(e))
    written = _write_reports(result, html, junit, csv_dir)
    if as_json:
        click.echo(result.to_json())
    elif not quiet:
        console = Console()
        render_summary(result, console)
        for path in written:
            console.print(f"written: {path}")


@cli.command()
@click.argument("before_ref", metavar="BEFORE")
@click.argument("after_ref", metavar="AFTER")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 99 when a metric regressed by more than --tolerance.")  # fmt: skip
@click.option("--tolerance", default="5%", show_default=True,
              help="With --fail-on-regression: a regression smaller than this passes.")  # fmt: skip
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the comparison report here, the two runs' charts overlaid.")  # fmt: skip
@_db_option
@_json_option
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
        _fail_input(str(e))
    comparison = compare_runs(before, after)
    console = _wide_console()
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


def _wide_console(width: int = 1000) -> Console:
    """A terminal's own width; piped or to a file, wide enough that a table row stays one
    line (grep finds a run whole) and no id or name is cut (what still does not fit wraps,
    never ends in an ellipsis)."""
    console = Console()
    return console if console.is_terminal else Console(width=width)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except ModuleNotFoundError as e:  # an optional part that is not installed
        hint = install_hint(e.name or "")
        if hint is None:
            print(f"loadlens: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(ExitCode.INTERNAL)
        print(f"loadlens: this needs {e.name!r}, which is not installed: {hint}", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)
    except Exception as e:  # the last line of defence: a clear message, exit 1
        print(f"loadlens: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(ExitCode.INTERNAL)

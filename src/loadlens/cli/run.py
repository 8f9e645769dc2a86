"""`loadlens run`: load-test a URL or a scenario file and report what was measured."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from loadlens.cli.exits import ExitCode, exit_code_for, fail_input
from loadlens.cli.options import check_writable, db_option, parse_tags, report_options
from loadlens.cli.scenario_reader import read_python_scenario

if TYPE_CHECKING:
    from loadlens.monitoring.monitor_specs import Monitoring
    from loadlens.scenario.from_flags import RunFlags
    from loadlens.scenario.model import Scenario

__all__ = ["RunOutputs", "run"]


@click.command()
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
@click.option(
    "--max-body", help="Most of a response body kept for checks; the rest is counted. [4MiB]"
)
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
@report_options(also=True)
@db_option
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
@click.option("--secret-param", "secret_params", multiple=True, metavar="NAME",
              help="Mask this query parameter's value in results too, besides token, "
                   "password, key, ... (repeatable).")  # fmt: skip
@click.option("--show-secrets", is_flag=True,
              help="Keep URL credentials, secret query values and auth headers as given in "
                   "the result, reports and store (they are masked by default).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run(
    target: str,
    headers: tuple[str, ...],
    thresholds: tuple[str, ...],
    tags: tuple[str, ...],
    secret_params: tuple[str, ...],
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
    from loadlens.monitoring.monitor_specs import MonitorSpecError, parse_monitoring
    from loadlens.redaction import check_param_name
    from loadlens.scenario.from_flags import RunFlags

    for name in secret_params:
        try:
            check_param_name(name)
        except ValueError as e:
            raise click.UsageError(f"--secret-param: {e}") from None
    run_flags = RunFlags(target=target, headers=list(headers), thresholds=list(thresholds),
                         secret_params=list(secret_params), **flags)  # fmt: skip
    outputs = RunOutputs(out=out, html=html, junit=junit, csv_dir=csv_dir, db=db,
                         store=not no_store, tags=parse_tags(tags))  # fmt: skip
    try:
        watch = parse_monitoring(monitor_specs, server=server, pids=monitor_pids,
                                 names=monitor_names, agent_token=agent_token)  # fmt: skip
    except MonitorSpecError as e:
        raise click.UsageError(_masked(str(e), run_flags)) from None
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


def _run(
    flags: RunFlags, *, workers: int | None, outputs: RunOutputs, quiet: bool, watch: Monitoring
) -> NoReturn:
    """Validate, run with a live view, write, store and print the result, exit with its code."""
    scenario = _scenario(flags)
    if outputs.tags:
        scenario = scenario.model_copy(update={"tags": {**scenario.tags, **outputs.tags}})
    out = outputs.out
    for option, path in (("--out", out), ("--html", outputs.html), ("--junit", outputs.junit)):
        if path is not None:
            check_writable(path, option)
    if outputs.csv_dir is not None:
        for name in ("summary.csv", "endpoints.csv", "timeline.csv"):
            check_writable(outputs.csv_dir / name, "--csv")

    # Imported here: the engine and the views load only for a run whose input passed (and
    # the terminal's only when something is printed: --quiet runs in CI start faster).
    from loadlens.cli.interrupts import sigterm_as_interrupt
    from loadlens.engine.coordinator import InterruptedBeforeStart
    from loadlens.execution import execute, keep
    from loadlens.monitoring.monitor_specs import MonitorStartError, build_monitors
    from loadlens.reporting.report_files import write_reports

    console = None
    if not quiet:
        from rich.console import Console

        console = Console()
    with contextlib.ExitStack() as stack:
        target_url = scenario.base_url or (scenario.requests[0].url if scenario.requests else "")
        try:
            # A --server boots here, before the engine counts SIGTERM as an interrupt: until
            # then SIGTERM would kill loadlens mid-way, with no word and no exit code.
            with sigterm_as_interrupt():
                monitors = build_monitors(watch, target_url, stack)
        except MonitorStartError as e:
            fail_input(_masked(str(e), flags))
        except KeyboardInterrupt:
            stack.close()  # the server stopped first, then said so
            print("loadlens: interrupted before the load started; nothing was measured",
                  file=sys.stderr)  # fmt: skip
            sys.exit(ExitCode.INTERRUPTED)
        try:
            result = execute(scenario, console, workers=workers, quiet=quiet, monitors=monitors)
        except InterruptedBeforeStart:
            print("loadlens: interrupted before the load started; nothing was measured",
                  file=sys.stderr)  # fmt: skip
            sys.exit(ExitCode.INTERRUPTED)
    # Each place is tried whatever became of the others; where none that was asked for
    # holds the result, `keep` writes it to a fallback file and names it.
    kept = keep(result, out=out, db=outputs.db, to_store=outputs.store)
    reports = write_reports(result, outputs.html, outputs.junit, outputs.csv_dir)
    for failure in reports.failed:
        print(f"loadlens: {failure}", file=sys.stderr)
    if console is not None:
        from loadlens.reporting.summary import render_summary

        render_summary(result, console)
        for path in [*([kept.out] if kept.out else []), *reports.written]:
            console.print(f"written: {path}")
        if kept.stored_in:
            console.print(f"stored as {result.id} in {kept.stored_in} (see `loadlens history`)")
    all_written = not kept.failed and not reports.failed
    sys.exit(exit_code_for(result, all_written=all_written))


def _scenario(flags: RunFlags) -> Scenario:
    """The scenario to run, checked before any load: a wrong flag is a usage error, a wrong
    scenario file exits 2."""
    from loadlens.engine.prepared_request import PrepareError, prepare_flows
    from loadlens.metrics.thresholds import ThresholdError, parse_threshold
    from loadlens.scenario.loading import load_scenario
    from loadlens.scenario.units import InputError
    from loadlens.scenario.yaml_source import SourceError

    try:
        for expression in flags.thresholds:
            parse_threshold(expression)
        try:
            scenario = load_scenario(flags, python_loader=read_python_scenario)
        except SourceError as e:
            fail_input(_masked(str(e), flags))
        prepare_flows(scenario)  # fail here, not in a worker
    except (InputError, ThresholdError, PrepareError) as e:
        raise click.UsageError(_masked(str(e), flags)) from None
    return scenario


def _masked(message: str, flags: RunFlags) -> str:
    """A message as it may be shown: one that quotes a URL or a header is masked as the
    result would be (unless --show-secrets)."""
    from loadlens.redaction import Redactor

    if flags.show_secrets:
        return message
    return Redactor.with_params(flags.secret_params).text(message)

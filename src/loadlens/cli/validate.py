"""`loadlens validate`: check a scenario file without sending a request."""

from __future__ import annotations

from pathlib import Path

import click

from loadlens.cli.exits import fail_input
from loadlens.cli.scenario_reader import read_python_scenario

__all__ = ["validate"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path) -> None:
    """Check a scenario FILE without sending a request.

    A YAML file is only read. A Python file (.py) is imported, which runs its
    module-level code: validate only the Python files you would run.
    """
    from loadlens.engine.prepared_request import PrepareError, prepare_flows
    from loadlens.scenario.loading import read_scenario
    from loadlens.scenario.yaml_source import SourceError

    if file.suffix == ".py":
        # A Python scenario is known only by importing it, which runs its top-level code:
        # said before it happens, for whoever expected a check that runs nothing.
        click.echo(f"{file}: a Python scenario: checking it imports it, which runs its "
                   "module-level code (as `loadlens run` would)", err=True)  # fmt: skip
    try:
        scenario = read_scenario(file, python_loader=read_python_scenario)
        prepare_flows(scenario, resolve=False)
    except (SourceError, PrepareError) as e:
        fail_input(str(e))
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

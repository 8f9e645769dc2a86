"""`loadlens init`: write a commented starter scenario."""

from __future__ import annotations

from pathlib import Path

import click

from loadlens.cli.exits import fail_input

__all__ = ["init"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default="scenario.yaml")
def init(file: Path) -> None:
    """Write a commented starter scenario to FILE (scenario.yaml)."""
    from loadlens.scenario.starter import STARTER

    if file.exists():
        fail_input(f"{file} exists; not overwriting it")
    file.write_text(STARTER, encoding="utf-8")
    click.echo(f"wrote {file}; try: loadlens validate {file}")

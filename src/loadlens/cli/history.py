"""`loadlens history`: the stored runs, newest first."""

from __future__ import annotations

import click

from loadlens.cli.exits import fail_input
from loadlens.cli.options import db_option, json_option, parse_tags
from loadlens.cli.terminal import wide_console

__all__ = ["history"]


@click.command()
@click.option("--name", help="Only runs whose name contains this.")
@click.option("--tag", "tags", multiple=True, help="Only runs with this key=value (repeatable).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@db_option
@json_option
def history(
    name: str | None, tags: tuple[str, ...], limit: int, db: str | None, as_json: bool
) -> None:
    """List stored runs, newest first."""
    import json

    from loadlens.reporting.history_view import history_data, render_history
    from loadlens.storage.run_store import RunStore, StoreError, store_url

    try:
        rows = RunStore(store_url(db)).list(name=name, tags=parse_tags(tags), limit=limit)
    except StoreError as e:
        fail_input(str(e))
    if as_json:
        click.echo(json.dumps(history_data(rows), indent=2))
        return
    render_history(rows, wide_console())

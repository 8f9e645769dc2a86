"""Options that several commands share, declared once, and checks of option values."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["check_writable", "db_option", "json_option", "parse_tags", "report_options"]

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option(
    "--db", help="Run store: a file or SQLAlchemy URL. [LOADLENS_DB, ~/.loadlens/runs.db]"
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of tables (for scripts)."
)


def report_options(*, also: bool) -> Callable[[F], F]:
    """--html, --junit and --csv (`csv_dir`): the report files to write; `also` when the
    command writes them besides what it prints (`run`), not instead (`report`)."""
    write = "Also write" if also else "Write"
    options = (
        click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"{write} the HTML report here (one file, works offline)."),
        click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"{write} thresholds and checks as JUnit XML here."),
        click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
                     help=f"{write} summary, endpoints and timeline CSV files here."),
    )  # fmt: skip

    def decorate(command: F) -> F:
        for option in reversed(options):  # the last applied is listed first
            command = option(command)
        return command

    return decorate


def parse_tags(raw: tuple[str, ...]) -> dict[str, str]:
    """`--tag key=value` options as a dict; a usage error for one without `=` or a key."""
    tags = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--tag {item!r}: expected key=value")
        tags[key.strip()] = value.strip()
    return tags


def check_writable(out: Path, option: str = "--out") -> None:
    """Refuse an unwritable output file (or a link there) before the load, not after it."""
    from loadlens.private_files import DestinationError, check_destination

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.UsageError(
            f"{option} {out}: cannot create {out.parent} ({e.strerror})"
        ) from None
    try:
        check_destination(out)
    except DestinationError as e:
        raise click.UsageError(f"{option}: {e}") from None
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise click.UsageError(f"{option} {out}: not writable")

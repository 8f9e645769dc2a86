"""The terminal the commands print to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["wide_console"]


def wide_console(width: int = 1000) -> Console:
    """A terminal's own width; piped or to a file, wide enough that a table row stays one
    line (grep finds a run whole) and no id or name is cut (what still does not fit wraps,
    never ends in an ellipsis)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=width)

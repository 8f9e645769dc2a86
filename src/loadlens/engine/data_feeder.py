"""Data feeders: rows of a data file handed to users as `{{ name.column }}` variables.

Orders: `sequential` (each iteration takes the next row), `random` (each iteration a
random row) and `unique` (each user takes a row of its own, once, and keeps it). With
several workers, worker i owns rows i, i+n, i+2n, ...: no row is handed out twice by two
workers, and no worker waits on another.
"""

from __future__ import annotations

import random
from collections.abc import MutableMapping
from typing import Any

from loadlens.scenario.model import DataSource

__all__ = ["DataExhausted", "Feeder"]


class DataExhausted(Exception):
    """A feeder set to stop on exhaustion has no row left."""

    def __init__(self, source: str) -> None:
        super().__init__(f"data {source!r} has no rows left (on_exhausted: stop)")
        self.source = source


class Feeder:
    """One data source on one worker."""

    __slots__ = ("_keys", "_next", "_rows", "name", "order", "recycle")

    def __init__(self, source: DataSource, worker_index: int, worker_count: int) -> None:
        self.name = source.name
        self.order = source.order
        self.recycle = source.on_exhausted == "recycle"
        rows = source.rows if source.order == "random" else source.rows[worker_index::worker_count]
        if not rows and self.recycle:
            # Fewer rows than workers: this worker reuses them all rather than none.
            rows = source.rows
        # Each row's values under their variable names, built once.
        self._rows = [{f"{source.name}.{k}": v for k, v in row.items()} for row in rows]
        self._keys = source.columns
        self._next = 0

    def _take(self) -> dict[str, str]:
        rows = self._rows
        if self.order == "random":
            return rows[random.randrange(len(rows))]
        if self._next >= len(rows):
            if not self.recycle or not rows:
                raise DataExhausted(self.name)
            self._next = 0
        row = rows[self._next]
        self._next += 1
        return row

    def fill(self, variables: MutableMapping[str, Any]) -> None:
        """Give a user this iteration's row (for `unique`, its row, on first use)."""
        if self.order == "unique" and self._keys[0] in variables:
            return
        variables.update(self._take())

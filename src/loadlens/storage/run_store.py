"""The run store: every RunResult, kept whole, with the figures history lists in columns.

SQLite at ~/.loadlens/runs.db by default; `--db` or LOADLENS_DB name another file or any
SQLAlchemy URL (a team's PostgreSQL). The whole result document is kept, HDR histograms
included, so a stored run can be reported, exported and compared exactly as when it ran.

A `sqlite:///PATH` URL (what `store_url` makes of a path) is kept by the standard
library's sqlite3 (`sqlite_backend.py`), so a run never imports SQLAlchemy, the largest
part of its start-up. Any other URL goes through SQLAlchemy (`sqlalchemy_backend.py`),
imported only then; `sqlite+pysqlite:///PATH` puts a SQLite file through it too. Both
write the same table in the same formats: either reads what the other wrote.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from pydantic import ValidationError

from loadlens.metrics.run_result import RunResult
from loadlens.redaction import safe_url
from loadlens.scenario.load import describe_load
from loadlens.storage.sqlite_backend import SqliteBackend, sqlite_path

__all__ = ["DEFAULT_DB", "RunRow", "RunStore", "StoreError", "store_url"]

DEFAULT_DB = Path("~/.loadlens/runs.db")


class StoreError(Exception):
    """The store cannot be used, or has no such run; the message says which."""


def store_url(db: str | None = None) -> str:
    """`--db`, else LOADLENS_DB, else the default file, as a SQLAlchemy URL."""
    value = db or os.environ.get("LOADLENS_DB") or str(DEFAULT_DB)
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return f"sqlite:///{path}"


@dataclass(frozen=True, slots=True)
class RunRow:
    """One stored run, as `history` lists it."""

    id: str
    name: str
    started_at: datetime
    duration_s: float
    status: str
    verdict: str
    load: str
    requests: int
    rps: float
    mean_ms: float
    p95_ms: float
    error_rate: float
    thresholds_ok: bool | None
    tags: dict[str, str]


class StoreBackend(Protocol):
    """Where a RunStore keeps its rows: the SQL, and nothing else, of one kind of database.

    A row is a mapping of the loadlens_runs columns to Python values: str, int, float,
    None, `started_at` a naive datetime in UTC and `tags` a dict of str. `open` returns a
    backend whose table and indexes exist (created if missing, never altered). `replace`
    deletes any row with the row's id and inserts it, in one transaction. `find` returns
    (id, document) for at most two rows whose id is LIKE the pattern, `rows` the given
    columns of every row, newest started_at first, at most `limit` of them, whose name is
    LIKE the pattern, ignoring case; both patterns escape with a backslash. Each returns
    the values `replace` was given, whatever the database made of them. Any failure of
    the database is raised as one of `errors` (opening may also raise OSError, ValueError
    or ImportError); the RunStore turns it into a StoreError.
    """

    errors: ClassVar[tuple[type[Exception], ...]]

    @classmethod
    def open(cls, url: str) -> Self: ...

    def replace(self, row: Mapping[str, Any]) -> None: ...

    def find(self, id_pattern: str) -> list[tuple[str, str]]: ...

    def rows(
        self, columns: Sequence[str], name_pattern: str | None, limit: int | None
    ) -> list[dict[str, Any]]: ...


class RunStore:
    """Runs kept in a database (created on first use)."""

    def __init__(self, url: str) -> None:
        self.url = url
        backend = _backend_for(url)
        try:
            self._backend = backend.open(url)
        except ImportError as e:
            hint = " (pip install 'loadlens[postgres]')" if "psycopg" in str(e) else ""
            raise StoreError(f"cannot open the run store {safe_url(url)}: {e}{hint}") from None
        except backend.errors + _OPENING_ERRORS as e:
            raise StoreError(
                f"cannot open the run store {safe_url(url)}: {_first_line(e)}"
            ) from None

    def save(self, result: RunResult) -> None:
        """Keep a run (replacing one with the same id)."""
        try:
            self._backend.replace(_row(result))
        except self._backend.errors as e:
            raise StoreError(f"cannot save run {result.id}: {_first_line(e)}") from None

    def get(self, ref: str) -> RunResult:
        """The run whose id is `ref`, or starts with it (when only one does)."""
        try:
            found = self._backend.find(f"{_like_escape(ref)}%")
        except self._backend.errors as e:
            raise StoreError(f"cannot read the run store: {_first_line(e)}") from None
        if not found:
            raise StoreError(
                f"no stored run has an id starting with {ref!r} (see `loadlens history`)"
            )
        if len(found) > 1:
            raise StoreError(f"several stored runs have ids starting with {ref!r}; give more of it")
        run_id, document = found[0]
        try:
            return RunResult.model_validate_json(document)
        except ValidationError as e:
            raise StoreError(f"stored run {run_id} cannot be read: {_first_line(e)}") from None

    def list(
        self, *, name: str | None = None, tags: dict[str, str] | None = None, limit: int = 20
    ) -> list[RunRow]:
        """The newest runs first, filtered by name (substring) and tags (all must match)."""
        pattern = f"%{_like_escape(name)}%" if name else None
        try:
            # The tag filter runs here, so the limit can go to the database only without it.
            rows = self._backend.rows(_LISTED, pattern, None if tags else limit)
        except self._backend.errors as e:
            raise StoreError(f"cannot read the run store: {_first_line(e)}") from None
        out = []
        for row in rows:
            if tags and any(row["tags"].get(k) != v for k, v in tags.items()):
                continue
            out.append(_run_row(row))
            if len(out) >= limit:
                break
        return out


_LISTED = tuple(f.name for f in fields(RunRow))
# Besides the database's own: a directory that cannot be made, a URL that cannot be parsed.
_OPENING_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError)


def _backend_for(url: str) -> type[StoreBackend]:
    if sqlite_path(url) is not None:
        return SqliteBackend
    from loadlens.storage.sqlalchemy_backend import SqlAlchemyBackend

    return SqlAlchemyBackend


def _row(result: RunResult) -> dict[str, Any]:
    """The stored row of a run: its columns, and the whole document."""
    totals = result.totals
    held = [t.ok for t in result.thresholds]
    return {
        "id": result.id,
        "name": result.name[:300],
        # UTC, stored naive: SQLite keeps no zone and PostgreSQL converts to its own.
        "started_at": datetime.fromisoformat(result.started_at)
        .astimezone(UTC)
        .replace(tzinfo=None),
        "duration_s": result.duration_s,
        "status": str(result.status),
        "verdict": str(result.verdict),
        "executor": str(result.load.get("executor", "?")),
        "load": describe_load(result.load)[:300],
        "requests": totals.requests,
        "rps": totals.rps,
        "mean_ms": totals.latency.mean,
        "p95_ms": totals.latency.p95,
        "error_rate": totals.error_rate,
        "thresholds_ok": None if not held else int(all(held)),
        "tags": dict(result.tags),
        "document": result.to_json(),
    }


def _run_row(row: Mapping[str, Any]) -> RunRow:
    """A stored row as `history` lists it: started_at in local time, thresholds a bool."""
    return RunRow(
        id=row["id"], name=row["name"],
        started_at=row["started_at"].replace(tzinfo=UTC).astimezone(),
        duration_s=row["duration_s"], status=row["status"], verdict=row["verdict"],
        load=row["load"], requests=row["requests"], rps=row["rps"], mean_ms=row["mean_ms"],
        p95_ms=row["p95_ms"], error_rate=row["error_rate"],
        thresholds_ok=None if row["thresholds_ok"] is None else bool(row["thresholds_ok"]),
        tags=row["tags"],
    )  # fmt: skip


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _first_line(error: BaseException) -> str:
    # A driver's message may quote the URL it was given, password and all.
    text = str(error).strip()
    return safe_url(text.splitlines()[0]) if text else type(error).__name__

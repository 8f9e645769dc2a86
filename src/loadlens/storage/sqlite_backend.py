"""The run store on a SQLite file, through the standard library's sqlite3.

The default store, so a run never imports SQLAlchemy (a quarter of a second of start-up).
It writes what `sqlalchemy_backend.py` writes on SQLite, byte for byte, so either reads a
file the other wrote (an existing ~/.loadlens/runs.db included): the same CREATE
statements, started_at as SQLAlchemy's text `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, naive),
tags as `json.dumps` text, figures as INTEGER and REAL, the document as TEXT.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote

from loadlens.private_files import (
    FILE_MODE,
    LOADLENS_HOME,
    loadlens_home,
    narrow,
    private_folder,
)

__all__ = ["SqliteBackend", "sqlite_path"]

# Laid out as SQLAlchemy emits it, so sqlite_master reads the same whoever created the file.
_COLUMNS = (
    "id VARCHAR(32) NOT NULL",
    "name VARCHAR(300) NOT NULL",
    "started_at DATETIME NOT NULL",
    "duration_s FLOAT NOT NULL",
    "status VARCHAR(20) NOT NULL",
    "verdict VARCHAR(20) NOT NULL",
    "executor VARCHAR(40) NOT NULL",
    "load VARCHAR(300) NOT NULL",
    "requests BIGINT NOT NULL",
    "rps FLOAT NOT NULL",
    "mean_ms FLOAT NOT NULL",
    "p95_ms FLOAT NOT NULL",
    "error_rate FLOAT NOT NULL",
    "thresholds_ok INTEGER",
    "tags JSON NOT NULL",
    "document TEXT NOT NULL",
    "PRIMARY KEY (id)",
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS loadlens_runs (\n\t" + ", \n\t".join(_COLUMNS) + "\n)",
    "CREATE INDEX IF NOT EXISTS ix_loadlens_runs_name ON loadlens_runs (name)",
    "CREATE INDEX IF NOT EXISTS ix_loadlens_runs_started_at ON loadlens_runs (started_at)",
)
_HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'loadlens_runs'"
# Two runs may save at once: the second waits for the first's write, up to this long.
_BUSY_TIMEOUT_S = 30.0


def sqlite_path(url: str) -> str | None:
    """The file a plain `sqlite:///PATH` URL names; None for any other URL.

    A query string (driver options) or an in-memory database is left to SQLAlchemy, which
    knows what they mean; the path is percent-decoded as SQLAlchemy decodes it.
    """
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = unquote(url.removeprefix("sqlite:///"))
    return path if path not in ("", ":memory:") else None


class SqliteBackend:
    """Runs kept in the loadlens_runs table of a SQLite file."""

    errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        self._path = path

    @classmethod
    def open(cls, url: str) -> Self:
        """The store at `url` (a `sqlite_path` one), its directory, table and indexes
        created if missing."""
        path = sqlite_path(url)
        if path is None:
            raise ValueError(f"not a sqlite:///PATH URL: {url}")
        _make_private(Path(path))
        store = cls(path)
        with store._connect() as db:
            # Checked first so that reading a store that exists never takes the write lock
            # (a read-only file can still be listed), as SQLAlchemy's create_all checks.
            if db.execute(_HAS_TABLE).fetchone() is None:
                db.execute("BEGIN IMMEDIATE")  # two first runs at once: one waits
                for statement in _CREATE:
                    db.execute(statement)
        return store

    def replace(self, row: Mapping[str, Any]) -> None:
        """Store the row, in one transaction with deleting any row of the same id."""
        values = {**row, "started_at": _to_text(row["started_at"]), "tags": json.dumps(row["tags"])}
        names = ", ".join(values)
        slots = ", ".join(f":{name}" for name in values)
        with self._connect() as db:
            # IMMEDIATE takes the write lock first, so a second writer waits for it (the
            # busy timeout) instead of failing to upgrade a read lock halfway through.
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM loadlens_runs WHERE id = ?", (row["id"],))
            db.execute(f"INSERT INTO loadlens_runs ({names}) VALUES ({slots})", values)

    def find(self, id_pattern: str) -> list[tuple[str, str]]:
        """(id, document) of at most two runs whose id is LIKE the pattern."""
        query = "SELECT id, document FROM loadlens_runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2"
        with self._connect() as db:
            return [(run_id, document) for run_id, document in db.execute(query, (id_pattern,))]

    def rows(
        self, columns: Sequence[str], name_pattern: str | None, limit: int | None
    ) -> list[dict[str, Any]]:
        """The columns of the runs, newest first, with a name LIKE the pattern if given."""
        query = f"SELECT {', '.join(columns)} FROM loadlens_runs"
        params: list[str | int] = []
        if name_pattern is not None:
            # SQLite's LIKE ignores ASCII case, as ILIKE does elsewhere.
            query += " WHERE name LIKE ? ESCAPE '\\'"
            params.append(name_pattern)
        query += " ORDER BY started_at DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._connect() as db:
            return [
                _read(dict(zip(columns, values, strict=True)))
                for values in db.execute(query, params)
            ]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: committed if it ends well, else rolled back."""
        # isolation_level=None: no implicit BEGIN; the methods say where a transaction is.
        db = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            with db:
                yield db
        finally:
            db.close()


def _make_private(path: Path) -> None:
    """Create the store's file 0600 (its folder 0700) before SQLite does: SQLite makes a
    new file with the umask's mode (often 0644), and its journals take the file's mode.
    In ~/.loadlens, a folder and file an older loadlens left open are narrowed too."""
    ours = path.parent == LOADLENS_HOME.expanduser()
    if ours:
        loadlens_home()
    else:
        private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if ours:
            narrow(path, FILE_MODE)


def _read(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values as `replace` was given them (started_at a datetime, tags a dict)."""
    if "started_at" in row:
        row["started_at"] = datetime.fromisoformat(row["started_at"])
    if "tags" in row:
        row["tags"] = json.loads(row["tags"])
    return row


def _to_text(moment: datetime) -> str:
    """A naive datetime as SQLAlchemy stores a DateTime in SQLite."""
    return moment.isoformat(sep=" ", timespec="microseconds")

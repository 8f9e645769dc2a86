"""The run store: every RunResult, kept whole, with the figures history lists in columns.

SQLite at ~/.loadlens/runs.db by default; `--db` or LOADLENS_DB name another file or any
SQLAlchemy URL (a team's PostgreSQL). The whole result document is kept, HDR histograms
included, so a stored run can be reported, exported and compared exactly as when it ran.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from loadlens.metrics.run_result import RunResult
from loadlens.redaction import safe_url
from loadlens.scenario.load import describe_load

__all__ = ["DEFAULT_DB", "RunRow", "RunStore", "StoreError", "store_url"]

DEFAULT_DB = Path("~/.loadlens/runs.db")

_metadata = MetaData()
_runs = Table(
    "loadlens_runs",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(300), nullable=False, index=True),  # (cut to fit: URLs can be long)
    Column("started_at", DateTime(timezone=False), nullable=False, index=True),  # UTC
    Column("duration_s", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("executor", String(40), nullable=False),
    Column("load", String(300), nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("rps", Float, nullable=False),
    Column("mean_ms", Float, nullable=False),
    Column("p95_ms", Float, nullable=False),
    Column("error_rate", Float, nullable=False),
    Column("thresholds_ok", Integer, nullable=True),  # 1 held, 0 crossed, NULL none set
    Column("tags", JSON, nullable=False),
    Column("document", Text, nullable=False),  # the RunResult JSON, histograms included
)


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


class RunStore:
    """Runs kept in a database (created on first use)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._engine: Engine = create_engine(url)
            _metadata.create_all(self._engine)
        except ImportError as e:
            hint = " (pip install 'loadlens[postgres]')" if "psycopg" in str(e) else ""
            raise StoreError(f"cannot open the run store {safe_url(url)}: {e}{hint}") from None
        except (SQLAlchemyError, OSError, ValueError) as e:
            raise StoreError(
                f"cannot open the run store {safe_url(url)}: {_first_line(e)}"
            ) from None

    def save(self, result: RunResult) -> None:
        """Keep a run (replacing one with the same id)."""
        totals = result.totals
        held = [t.ok for t in result.thresholds]
        row = {
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
        try:
            with self._engine.begin() as connection:
                connection.execute(_runs.delete().where(_runs.c.id == result.id))
                connection.execute(_runs.insert().values(**row))
        except SQLAlchemyError as e:
            raise StoreError(f"cannot save run {result.id}: {_first_line(e)}") from None

    def get(self, ref: str) -> RunResult:
        """The run whose id is `ref`, or starts with it (when only one does)."""
        query = select(_runs.c.id, _runs.c.document).where(
            _runs.c.id.startswith(ref, autoescape=True)
        )
        try:
            with self._engine.connect() as connection:
                found = connection.execute(query.limit(2)).all()
        except SQLAlchemyError as e:
            raise StoreError(f"cannot read the run store: {_first_line(e)}") from None
        if not found:
            raise StoreError(
                f"no stored run has an id starting with {ref!r} (see `loadlens history`)"
            )
        if len(found) > 1:
            raise StoreError(f"several stored runs have ids starting with {ref!r}; give more of it")
        try:
            return RunResult.model_validate_json(found[0].document)
        except ValidationError as e:
            raise StoreError(f"stored run {found[0].id} cannot be read: {_first_line(e)}") from None

    def list(
        self, *, name: str | None = None, tags: dict[str, str] | None = None, limit: int = 20
    ) -> list[RunRow]:
        """The newest runs first, filtered by name (substring) and tags (all must match)."""
        columns = [c for c in _runs.c if c.name not in ("document", "executor")]
        query = select(*columns).order_by(_runs.c.started_at.desc())
        if name:
            # ilike: case-blind on PostgreSQL as SQLite's LIKE already is
            query = query.where(_runs.c.name.ilike(f"%{_like_escape(name)}%", escape="\\"))
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as e:
            raise StoreError(f"cannot read the run store: {_first_line(e)}") from None
        out = []
        for row in rows:
            row_tags = row.tags if isinstance(row.tags, dict) else json.loads(row.tags or "{}")
            if tags and any(row_tags.get(k) != v for k, v in tags.items()):
                continue
            out.append(
                RunRow(
                    id=row.id, name=row.name,
                    started_at=row.started_at.replace(tzinfo=UTC).astimezone(),
                    duration_s=row.duration_s, status=row.status, verdict=row.verdict,
                    load=row.load, requests=row.requests, rps=row.rps, mean_ms=row.mean_ms,
                    p95_ms=row.p95_ms, error_rate=row.error_rate,
                    thresholds_ok=None if row.thresholds_ok is None else bool(row.thresholds_ok),
                    tags=row_tags,
                )
            )  # fmt: skip
            if len(out) >= limit:
                break
        return out


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

"""The run store on any SQLAlchemy URL: a team's PostgreSQL, or `sqlite+pysqlite:///PATH`.

Imported only for a URL that is not a plain `sqlite:///PATH` (see `run_store.py`):
importing SQLAlchemy costs about a quarter of a second. `sqlite_backend.py` writes the
same table in the same formats as this one does on SQLite; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

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
    make_url,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["SqlAlchemyBackend"]

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


class SqlAlchemyBackend:
    """Runs kept in the loadlens_runs table of any database SQLAlchemy reaches."""

    errors: ClassVar[tuple[type[Exception], ...]] = (SQLAlchemyError,)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Self:
        """The store at `url`, its table and indexes created if missing (and a SQLite
        file's directory)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        _metadata.create_all(engine)
        return cls(engine)

    def replace(self, row: Mapping[str, Any]) -> None:
        """Store the row, in one transaction with deleting any row of the same id."""
        with self._engine.begin() as connection:
            connection.execute(_runs.delete().where(_runs.c.id == row["id"]))
            connection.execute(_runs.insert().values(**row))

    def find(self, id_pattern: str) -> list[tuple[str, str]]:
        """(id, document) of at most two runs whose id is LIKE the pattern."""
        query = select(_runs.c.id, _runs.c.document).where(_runs.c.id.like(id_pattern, escape="\\"))
        with self._engine.connect() as connection:
            return [(row.id, row.document) for row in connection.execute(query.limit(2))]

    def rows(
        self, columns: Sequence[str], name_pattern: str | None, limit: int | None
    ) -> list[dict[str, Any]]:
        """The columns of the runs, newest first, with a name ILIKE the pattern if given."""
        query = select(*(_runs.c[c] for c in columns)).order_by(_runs.c.started_at.desc())
        if name_pattern is not None:
            query = query.where(_runs.c.name.ilike(name_pattern, escape="\\"))
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

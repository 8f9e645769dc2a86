"""The case study's API: Flask, served by gunicorn, in the form of one stage.

`GET /api/users?since=2026-10-30T06:00:00&page=2&limit=20` lists the users seen since a
moment, newest first, a page at a time: the "dynamic data query" of the article. The
baseline is written the way the article's first version was (string-built SQL, `SELECT *`,
every row made a dict, paging in Python, a connection per request); each later stage fixes
one thing. Every response says where its time went in a `Server-Timing` header, and on
SQLite the app counts its own statements (`query_stats`).

gunicorn loads it with `loadlens.demo.api:app_from_env()`, configured by LOADLENS_DEMO_STAGE,
LOADLENS_DEMO_DATABASE (a SQLite file or a postgresql:// URL) and LOADLENS_DEMO_STATS (a
directory the worker processes share their SQLite statistics in).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from flask import Flask, Response, request

from loadlens.demo.query_stats import QueryStats
from loadlens.demo.stages import Stage, stage_named

__all__ = ["THREADS", "app_from_env", "create_app"]

THREADS = 8  # gunicorn gthread threads per worker; the pool has as many connections
CACHE_SECONDS = 300
_MAX_LIMIT = 100


class _BadRequest(ValueError):
    pass


def _arguments() -> tuple[datetime, int, int]:
    try:
        since = datetime.fromisoformat(request.args["since"])
        page = int(request.args.get("page", "1"))
        limit = int(request.args.get("limit", "20"))
    except (KeyError, ValueError) as e:
        raise _BadRequest(f"expected since=ISO-DATETIME&page=N&limit=N ({e})") from None
    if page < 1 or not 1 <= limit <= _MAX_LIMIT:
        raise _BadRequest(f"page from 1, limit 1..{_MAX_LIMIT}")
    return since, page, limit


class _Database:
    """SQLite or PostgreSQL, opened per request (as the baseline does) or from a pool."""

    def __init__(self, database: str, pooled: bool, stats: QueryStats | None) -> None:
        self.database = database
        self.postgres = database.startswith("postgresql://")
        self.stats = stats
        self._pool: Any = None
        if pooled and self.postgres:
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(database, min_size=2, max_size=THREADS, open=True)
        elif pooled:
            from sqlalchemy.pool import QueuePool

            self._pool = QueuePool(self._open_sqlite, pool_size=THREADS,  # type: ignore[arg-type]
                                   max_overflow=0)  # fmt: skip

    def _open_sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.database, check_same_thread=False)
        if self.stats is not None:
            self.stats.connection_opened()
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one request: a new one, or one borrowed from the pool."""
        if self._pool is None:
            conn = _connect_postgres(self.database) if self.postgres else self._open_sqlite()
            try:
                yield conn
            finally:
                conn.close()
        elif self.postgres:
            with self._pool.connection() as conn:
                yield conn
        else:
            proxy = self._pool.connect()
            try:
                yield proxy.dbapi_connection
            finally:
                proxy.close()

    def query(self, conn: Any, sql: str, params: tuple[Any, ...] = (),
              as_dicts: bool = False) -> list[Any]:  # fmt: skip
        """Run one statement; its rows (as dicts when asked), counted on SQLite."""
        started = time.perf_counter()
        if self.postgres:
            from psycopg.rows import dict_row, tuple_row

            with conn.cursor(row_factory=dict_row if as_dicts else tuple_row) as cursor:
                rows: list[Any] = cursor.execute(sql.replace("?", "%s"), params).fetchall()
        else:
            conn.row_factory = sqlite3.Row if as_dicts else None
            rows = conn.execute(sql, params).fetchall()
            if as_dicts:
                rows = [dict(row) for row in rows]  # the baseline's every-row-a-dict
        if self.stats is not None:
            self.stats.executed(conn, sql, params, (time.perf_counter() - started) * 1e3, len(rows))
        return rows


def _connect_postgres(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _page_baseline(db: _Database, since: datetime, page: int,
                   limit: int) -> tuple[int, list[dict[str, Any]], float]:  # fmt: skip
    """The article's first version: string-built SQL, SELECT *, every row a dict."""
    with db.connection() as conn:
        connected = time.perf_counter()
        # (The date was parsed above, so this string-built SQL cannot be injected into;
        # it still defeats statement caching, as such code does.)
        rows = db.query(conn, f"SELECT * FROM users WHERE last_login >= '{since.isoformat()}' "
                        "ORDER BY last_login DESC", as_dicts=True)  # fmt: skip
    return len(rows), rows[(page - 1) * limit : page * limit], connected


def _page_pooled(db: _Database, since: datetime, page: int,
                 limit: int) -> tuple[int, list[dict[str, Any]], float]:  # fmt: skip
    """Parameterised, only the columns the page shows, paged by the database."""
    moment = since if db.postgres else since.isoformat()
    with db.connection() as conn:
        connected = time.perf_counter()
        ((total,),) = db.query(conn, "SELECT count(*) FROM users WHERE last_login >= ?",
                               (moment,))  # fmt: skip
        rows = db.query(conn, "SELECT id, name, email, last_login FROM users "
                        "WHERE last_login >= ? ORDER BY last_login DESC LIMIT ? OFFSET ?",
                        (moment, limit, (page - 1) * limit))  # fmt: skip
    users = [{"id": r[0], "name": r[1], "email": r[2], "last_login": r[3]} for r in rows]
    return int(total), users, connected


def create_app(stage: Stage, database: str, stats_dir: Path | None = None) -> Flask:
    """The API as it is at `stage`, on `database` (a SQLite file or a postgresql:// URL)."""
    app = Flask("loadlens-demo")
    stats = None
    if not database.startswith("postgresql://") and stats_dir is not None:
        stats = QueryStats(stats_dir, database)
    db = _Database(database, stage.pooled, stats)
    page_of: Callable[..., tuple[int, list[dict[str, Any]], float]] = (
        _page_pooled if stage.pooled else _page_baseline
    )
    cache: TTLCache[bytes, bytes] | None = (
        TTLCache(maxsize=20_000, ttl=CACHE_SECONDS) if stage.cache else None
    )
    cache_lock = threading.Lock()

    @app.get("/api/users")
    def users() -> Response:
        started = time.perf_counter()
        key = request.query_string
        if cache is not None:
            with cache_lock:
                body = cache.get(key)
            if body is not None:
                return _json(body, f"cache;desc=hit;dur={_ms(started):.3f}")
        try:
            since, page, limit = _arguments()
        except _BadRequest as e:
            return _json(json.dumps({"error": str(e)}).encode(), "", status=400)
        total, users, connected = page_of(db, since, page, limit)
        queried = time.perf_counter()
        body = json.dumps({"since": since.isoformat(), "page": page, "limit": limit,
                           "total": total, "users": users}, default=str).encode()  # fmt: skip
        if cache is not None:
            with cache_lock:
                cache[key] = body
        timing = (f"db-connect;dur={(connected - started) * 1e3:.3f}, "
                  f"db;dur={(queried - connected) * 1e3:.3f}, "
                  f"app;dur={(time.perf_counter() - queried) * 1e3:.3f}")  # fmt: skip
        if cache is not None:
            timing += ", cache;desc=miss"
        return _json(body, timing)

    @app.get("/health")
    def health() -> Response:
        return _json(json.dumps({"ok": True, "stage": stage.name}).encode(), "")

    return app


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1e3


def _json(body: bytes, timing: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    if timing:
        response.headers["Server-Timing"] = timing
    return response


def app_from_env() -> Flask:
    """The app gunicorn serves, configured by the environment (see the module's doc)."""
    stats = os.environ.get("LOADLENS_DEMO_STATS")
    stage = stage_named(os.environ["LOADLENS_DEMO_STAGE"])
    return create_app(stage, os.environ["LOADLENS_DEMO_DATABASE"], Path(stats) if stats else None)

"""The case study's users table: deterministic rows, built into SQLite or PostgreSQL.

The same seed gives the same rows on every machine, so two runs of the demo query the
same data. `last_login` spreads the way a real user base does: about one in three came back
in the last three months, a long tail has not been seen for years (exponential, mean 240
days, up to three years before the reference day).
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "COLUMNS",
    "INDEX",
    "REFERENCE_DAY",
    "SCHEMA",
    "build_postgres",
    "build_sqlite",
    "create_index",
    "drop_index",
    "in_demo_schema",
    "outside_demo_schema",
    "rows",
]

REFERENCE_DAY = datetime(2026, 11, 1)  # "now", as far as the data is concerned
# On PostgreSQL the table lives in a schema of its own: a user's database may well have a
# `users` table, and the demo drops and rebuilds its own.
SCHEMA = "loadlens_demo"
SEED = 20261101
INDEX = "users_last_login_idx"
COLUMNS = ("id", "name", "email", "country", "plan", "signup_at", "last_login", "bio",
           "preferences")  # fmt: skip
_FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "radia",
    "edsger",
    "frances",
    "john",
    "katherine",
    "tim",
    "sophie",
    "yukihiro",
)
_LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "thompson",
    "liskov",
    "ritchie",
    "perlman",
    "dijkstra",
    "allen",
    "mccarthy",
    "johnson",
    "berners-lee",
)
_COUNTRIES = ("de", "fr", "us", "gb", "jp", "br", "in", "ng", "cn", "es", "it", "se")
_PLANS = ("free", "free", "free", "pro", "pro", "team")
_SQLITE_SCHEMA = """CREATE TABLE users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, country TEXT NOT NULL,
    plan TEXT NOT NULL, signup_at TEXT NOT NULL, last_login TEXT NOT NULL, bio TEXT NOT NULL,
    preferences TEXT NOT NULL)"""
_POSTGRES_SCHEMA = """CREATE TABLE users (
    id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, country text NOT NULL,
    plan text NOT NULL, signup_at timestamp NOT NULL, last_login timestamp NOT NULL,
    bio text NOT NULL, preferences jsonb NOT NULL)"""


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """`count` users, the same ones for the same count on every machine."""
    rng = random.Random(SEED)
    for user_id in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        days_ago = min(rng.expovariate(1 / 240), 3 * 365)
        last_login = REFERENCE_DAY - timedelta(days=days_ago)
        signup = last_login - timedelta(days=rng.uniform(0, 4 * 365))
        bio = f"{first.title()} {last.title()} works on " + " ".join(
            rng.choice(("databases", "caches", "queues", "compilers", "kernels", "networks"))
            for _ in range(4)
        )
        preferences = json.dumps({"theme": rng.choice(("dark", "light")),
                                  "newsletter": rng.random() < 0.3,
                                  "lang": rng.choice(_COUNTRIES)})  # fmt: skip
        yield (user_id, f"{first.title()} {last.title()}", f"{first}.{last}.{user_id}@example.com",
               rng.choice(_COUNTRIES), rng.choice(_PLANS), signup.isoformat(timespec="seconds"),
               last_login.isoformat(timespec="seconds"), bio, preferences)  # fmt: skip


def build_sqlite(path: Path, count: int) -> bool:
    """The table in a SQLite file, built once per row count; whether it was built now."""
    if path.exists():
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                (have,) = conn.execute("SELECT count(*) FROM users").fetchone()
            except sqlite3.Error:
                have = -1
        if have == count:
            return False
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(building)) as conn, conn:
        conn.execute(_SQLITE_SCHEMA)
        conn.executemany(f"INSERT INTO users VALUES ({', '.join('?' * len(COLUMNS))})", rows(count))
        conn.execute("ANALYZE")
    building.replace(path)  # a half-built file never passes for a whole one
    return True


_SEARCH_PATH = f"options=-c%20search_path%3D{SCHEMA}"


def in_demo_schema(url: str) -> str:
    """The PostgreSQL URL with the demo's schema first on the search path."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{_SEARCH_PATH}"


def outside_demo_schema(url: str) -> str:
    """The URL as the user gave it (what in_demo_schema added, taken off)."""
    return url.removesuffix(f"&{_SEARCH_PATH}").removesuffix(f"?{_SEARCH_PATH}")


def build_postgres(url: str, count: int) -> bool:
    """The table in a PostgreSQL database (COPY), built once per row count."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"SET search_path TO {SCHEMA}")
        exists = conn.execute(f"SELECT to_regclass('{SCHEMA}.users')").fetchone()
        if exists and exists[0]:
            row = conn.execute("SELECT count(*) FROM users").fetchone()
            if row and row[0] == count:
                return False
            conn.execute("DROP TABLE users")
        conn.execute(_POSTGRES_SCHEMA)
        with conn.cursor() as cursor, cursor.copy("COPY users FROM STDIN") as copy:
            for row in rows(count):
                copy.write_row(row)
        conn.execute("ANALYZE users")
    return True


def drop_index(database: str) -> None:
    """Back to the baseline: no index on last_login."""
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f"DROP INDEX IF EXISTS {SCHEMA}.{INDEX}")
    else:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute(f"DROP INDEX IF EXISTS {INDEX}")


def create_index(database: str) -> None:
    """The first fix: an index on the column the query filters and sorts by."""
    statement = f"CREATE INDEX IF NOT EXISTS {INDEX} ON users (last_login)"
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(statement.replace(" users ", f" {SCHEMA}.users "))
            conn.execute(f"ANALYZE {SCHEMA}.users")
    else:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute(statement)
            conn.execute("ANALYZE")

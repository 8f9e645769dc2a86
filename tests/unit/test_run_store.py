"""The run store: the same behaviour on each backend, one file format for both on SQLite,
and a SQLite store that never imports SQLAlchemy."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loadlens.metrics.run_result import RunResult
from loadlens.storage.run_store import RunStore, StoreError, store_url
from loadlens.storage.sqlite_backend import sqlite_path

pytestmark = pytest.mark.timeout(60)

SRC = Path(__file__).resolve().parents[2] / "src"


def _result(run_id: str, *, name: str = "checkout", tags: dict[str, str] | None = None,
            started_at: str = "2026-11-28T10:00:00.250000+01:00", mean: float = 20.0,
            thresholds: tuple[bool, ...] = ()) -> RunResult:  # fmt: skip
    stats = {"count": 5000, "min": 1.0, "mean": mean, "p50": mean, "p95": mean * 1.5,
             "p99": mean * 2, "max": mean * 3}  # fmt: skip
    return RunResult.model_validate({
        "id": run_id, "name": name, "tags": tags or {}, "started_at": started_at,
        "ended_at": started_at, "duration_s": 10.0, "status": "completed", "verdict": "valid",
        "environment": {}, "load": {"executor": "constant-vus", "users": 10, "duration": 10.0},
        "totals": {"requests": 5000, "failures": 5, "error_rate": 0.001, "rps": 500.0,
                   "latency": stats, "service_time": stats},
        "endpoints": [],
        "thresholds": [{"expression": "p95<1s", "value": 30.0, "ok": ok} for ok in thresholds],
        "histograms": {"total": "HISTFAKE=="},
    })  # fmt: skip


@pytest.fixture(params=["sqlite3", "sqlalchemy-sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store on each backend: the stdlib's sqlite3, SQLAlchemy on SQLite, PostgreSQL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    path = tmp_path / "sub" / "runs.db"  # the directory is made on first use
    return store_url(str(path)) if request.param == "sqlite3" else f"sqlite+pysqlite:///{path}"


def test_runs_are_saved_replaced_found_by_prefix_and_listed(url: str) -> None:
    # A PostgreSQL store is shared with other tests: this test's runs carry its token.
    token = uuid.uuid4().hex[:10]
    store = RunStore(url)
    runs = [
        _result(f"{token}a1", name=f"{token}-50%_off Sale", tags={"suite": token, "env": "prod"},
                started_at="2026-11-28T10:00:00+01:00", thresholds=(True, True)),
        _result(f"{token}a2", name=f"{token}-50xxoff sale", tags={"suite": token, "env": "dev"},
                started_at="2026-11-28T11:00:00.000001+01:00", thresholds=(True, False)),
        _result(f"{token}b3", name=f"{token}-other", tags={"suite": token, "env": "dev"},
                started_at="2026-11-28T08:00:00Z"),
    ]  # fmt: skip
    for run in runs:
        store.save(run)
    store.save(
        runs[0].model_copy(update={"totals": runs[0].totals.model_copy(update={"rps": 7.0})})
    )

    assert store.get(f"{token}b").id == f"{token}b3"
    assert store.get(f"{token}a1").totals.rps == 7.0  # the same id again replaced it
    assert store.get(f"{token}a2") == runs[1]
    with pytest.raises(StoreError, match="several stored runs have ids starting with"):
        store.get(f"{token}a")
    with pytest.raises(StoreError, match="no stored run has an id starting with"):
        store.get(f"{token}_")  # `_` is a character, not LIKE's any-character

    def listed(**filters: object) -> list[str]:
        rows = store.list(**filters)  # type: ignore[arg-type]
        return [r.id.removeprefix(token) for r in rows if r.id.startswith(token)]

    assert listed(tags={"suite": token}) == ["a2", "a1", "b3"]  # newest first
    assert listed(name=f"{token}-50%_OFF") == ["a1"]  # escaped, and case-blind
    assert listed(name=f"{token}-50") == ["a2", "a1"]
    assert listed(tags={"suite": token, "env": "dev"}, limit=1) == ["a2"]
    assert listed(tags={"suite": token, "env": "dev"}, limit=5) == ["a2", "b3"]
    assert len(store.list(limit=2)) == 2

    newest, middle, oldest = store.list(tags={"suite": token})
    assert newest.started_at == datetime(2026, 11, 28, 10, 0, 0, 1, tzinfo=UTC)
    assert newest.started_at.tzinfo is not None and newest.tags == {"suite": token, "env": "dev"}
    assert (newest.thresholds_ok, middle.thresholds_ok, oldest.thresholds_ok) == (False, True, None)
    assert (middle.rps, middle.requests, middle.load) == (7.0, 5000, "constant-vus 10 users 10s")


def _raw(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The schema and every stored value with its SQLite type, as the file holds them."""
    with sqlite3.connect(path) as db:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        columns = [row[1] for row in db.execute("PRAGMA table_info(loadlens_runs)")]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        rows = db.execute(f"SELECT {typed} FROM loadlens_runs ORDER BY id").fetchall()
    db.close()
    return schema, rows


def test_both_backends_write_the_same_sqlite_file_and_read_each_others(tmp_path: Path) -> None:
    runs = [
        _result("r1", name="caf\u00e9 \u2615", tags={"env": "prod", "\u00e9t\u00e9": "\u2600"},
                started_at="2026-06-01T02:03:04.5+02:00", thresholds=(True,)),
        _result("r2", started_at="2026-06-01T00:00:00+00:00", thresholds=(False,)),
        _result("r3", started_at="2026-06-02T00:00:00.123456-05:00", mean=12.5),
    ]  # fmt: skip
    stdlib, alchemy = tmp_path / "stdlib.db", tmp_path / "alchemy.db"
    for url in (f"sqlite:///{stdlib}", f"sqlite+pysqlite:///{alchemy}"):
        store = RunStore(url)
        for run in runs:
            store.save(run)
    assert _raw(stdlib) == _raw(alchemy)  # byte for byte: schema, values and their types
    assert _raw(stdlib)[1][0][4:6] == ("2026-06-01 00:03:04.500000", "text")  # started_at

    # Each reads the other's file as it reads its own, and can add to it.
    for path in (stdlib, alchemy):
        by_stdlib, by_alchemy = (
            RunStore(f"sqlite:///{path}"),
            RunStore(f"sqlite+pysqlite:///{path}"),
        )
        assert by_stdlib.list() == by_alchemy.list() and len(by_stdlib.list()) == 3
        for run in runs:
            assert by_stdlib.get(run.id) == by_alchemy.get(run.id) == run
    RunStore(f"sqlite:///{alchemy}").save(_result("r4"))
    RunStore(f"sqlite+pysqlite:///{stdlib}").save(_result("r4"))
    assert _raw(stdlib) == _raw(alchemy)


_PROBE = """
import json, sys
from loadlens.metrics.run_result import RunResult
from loadlens.storage.run_store import RunStore
result = RunResult.model_validate_json(open(sys.argv[2]).read())
store = RunStore(sys.argv[1])
store.save(result)
assert store.get(result.id[:4]) == result and [r.id for r in store.list()] == [result.id]
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(("scheme", "imports_sqlalchemy"),
                         [("sqlite:///", False), ("sqlite+pysqlite:///", True)])  # fmt: skip
def test_a_sqlite_store_never_imports_sqlalchemy(
    tmp_path: Path, scheme: str, imports_sqlalchemy: bool
) -> None:
    document = tmp_path / "run.json"
    document.write_text(_result("f00dcafe").to_json())
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, f"{scheme}{tmp_path / 'runs.db'}", str(document)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert ("sqlalchemy" in modules) is imports_sqlalchemy


@pytest.mark.parametrize("kind", ["parent is a file", "a directory", "not a database"])
def test_a_store_that_cannot_be_opened_says_so(tmp_path: Path, kind: str) -> None:
    if kind == "parent is a file":
        (tmp_path / "file").write_text("")
        path = tmp_path / "file" / "runs.db"
    elif kind == "a directory":
        path = tmp_path / "runs.db"
        path.mkdir()
    else:
        path = tmp_path / "runs.db"
        path.write_bytes(b"these are not the runs you are looking for\n" * 100)
    with pytest.raises(StoreError, match=r"^cannot open the run store sqlite:///"):
        RunStore(store_url(str(path)))


def test_a_store_that_breaks_after_opening_says_so(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = RunStore(store_url(str(path)))
    path.write_bytes(b"x" * 4096)
    with pytest.raises(StoreError, match=r"^cannot save run r1: file is not a database"):
        store.save(_result("r1"))
    with pytest.raises(StoreError, match=r"^cannot read the run store: file is not a database"):
        store.get("r1")
    with pytest.raises(StoreError, match=r"^cannot read the run store: file is not a database"):
        store.list()


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A SQLite store, and a connection holding its write lock until it commits."""
    url = store_url(str(tmp_path / "runs.db"))
    RunStore(url)
    holder = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield url, holder
    holder.close()


def test_a_save_waits_for_another_writer(locked: tuple[str, sqlite3.Connection]) -> None:
    url, holder = locked
    errors: list[BaseException] = []

    def save() -> None:
        try:
            RunStore(url).save(_result("r1"))
        except BaseException as e:
            errors.append(e)

    saver = threading.Thread(target=save)
    saver.start()
    saver.join(timeout=0.3)
    assert saver.is_alive()  # waiting for the lock, not failed
    holder.execute("COMMIT")
    saver.join(timeout=10)
    assert not saver.is_alive() and not errors
    assert [r.id for r in RunStore(url).list()] == ["r1"]


def test_sqlite_urls_that_the_stdlib_backend_takes() -> None:
    assert sqlite_path("sqlite:////home/me/.loadlens/runs.db") == "/home/me/.loadlens/runs.db"
    assert sqlite_path("sqlite:///runs.db") == "runs.db"
    assert sqlite_path("sqlite:////tmp/my%20runs.db") == "/tmp/my runs.db"  # as SQLAlchemy reads it
    for other in ("sqlite:///runs.db?timeout=5", "sqlite:///:memory:", "sqlite://",
                  "sqlite+pysqlite:///runs.db", "postgresql+psycopg://u:p@h/db"):  # fmt: skip
        assert sqlite_path(other) is None, other
    assert store_url("/data/runs.db") == "sqlite:////data/runs.db"
    assert store_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_sqlite_store_is_its_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "new" / "runs.db"
    RunStore(store_url(str(path))).save(_result("a1"))
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


def test_the_default_store_left_open_by_an_older_loadlens_is_narrowed_and_another_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("LOADLENS_DB", raising=False)
    home = tmp_path / ".loadlens"
    home.mkdir()
    sqlite3.connect(home / "runs.db").close()
    home.chmod(0o755)
    (home / "runs.db").chmod(0o644)
    RunStore(store_url()).save(_result("b1"))
    assert _mode(home) == 0o700 and _mode(home / "runs.db") == 0o600
    # A store the user keeps elsewhere is theirs: its mode is left as they set it.
    shared = tmp_path / "team" / "runs.db"
    shared.parent.mkdir()
    sqlite3.connect(shared).close()
    shared.chmod(0o640)
    RunStore(store_url(str(shared))).save(_result("b2"))
    assert _mode(shared) == 0o640

"""The case study's parts on their own: its data, the app's SQLite statistics, and the
monitor that reads them."""

from __future__ import annotations

import json
import sqlite3
from itertools import islice
from pathlib import Path

from loadlens.demo import users_data
from loadlens.demo.query_stats import QueryStats, normalise, read_stats, serve_stats
from loadlens.monitoring.db_stats_probe import DbStatsProbe


def test_the_users_are_the_same_on_every_machine() -> None:
    first = list(islice(users_data.rows(1000), 1000))
    assert first == list(users_data.rows(1000))
    assert len({row[2] for row in first}) == 1000  # unique emails
    logins = sorted(row[6] for row in first)
    # Most users came back recently, a long tail has not: about 1 in 3 within 90 days.
    recent = sum(login >= "2026-08-03" for login in logins)
    assert 250 < recent < 450, recent
    assert logins[0] >= "2023-11-01" and logins[-1] < "2026-11-01"


def test_a_sqlite_table_is_built_once(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite"
    assert users_data.build_sqlite(path, 500) is True
    assert users_data.build_sqlite(path, 500) is False  # reused
    assert users_data.build_sqlite(path, 600) is True  # another size: rebuilt
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (600,)
    users_data.create_index(str(path))
    users_data.drop_index(str(path))


def test_literals_are_normalised_as_pg_stat_statements_does() -> None:
    sql = "SELECT * FROM users WHERE last_login >= '2026-10-30T06:00:00' AND id > 42 LIMIT 20"
    assert normalise(sql) == "SELECT * FROM users WHERE last_login >= ? AND id > ? LIMIT ?"


def test_the_app_s_statistics_reach_the_findings_format(tmp_path: Path) -> None:
    database = tmp_path / "users.sqlite"
    users_data.build_sqlite(database, 3000)
    stats_dir = tmp_path / "stats"
    stats_dir.mkdir()
    stats = QueryStats(stats_dir, str(database))
    scan = "SELECT * FROM users WHERE last_login >= ? ORDER BY last_login DESC"
    with serve_stats(stats_dir, str(database)) as url:
        probe = DbStatsProbe(f"dbstats+{url}")
        stats.flush()
        probe.start()
        conn = sqlite3.connect(database)
        stats.connection_opened()
        for _ in range(12):
            rows = conn.execute(scan, ("2026-10-01",)).fetchall()
            stats.executed(conn, scan, ("2026-10-01",), 5.0, len(rows))
        users_data.create_index(str(database))
        conn = sqlite3.connect(database)  # (EXPLAIN on an older one plans with the old schema)
        seek = "SELECT id FROM users WHERE last_login >= ? ORDER BY last_login DESC LIMIT 5"
        stats.executed(conn, seek, ("2026-10-01",), 0.1, 5)
        stats.flush()
        second = probe.sample()
        summary = probe.summary()
    assert second["sessions_per_s"] == 1 and second["statements_per_s"] == 13
    (table,) = summary["tables"]
    assert table == {"table": "users", "seq_scans": 12, "idx_scans": 1,
                     "rows_read_by_seq": 12 * 3000, "live_rows": 3000}  # fmt: skip
    top = summary["statements"][0]
    assert top["query"] == scan and top["calls"] == 12 and top["mean_ms"] == 5.0
    # Another worker process's file is summed in.
    other = {
        "sessions": 2,
        "statements": {scan: [3, 15.0, 30]},
        "tables": {"users": [3, 9000, 0, 3000]},
    }
    (stats_dir / "99999.json").write_text(json.dumps(other))
    summed = read_stats(stats_dir, str(database))
    assert summed["sessions"] == 3
    assert {s["query"]: s["calls"] for s in summed["statements"]}[scan] == 15
    assert summed["tables"] == [{"table": "users", "seq_scans": 15, "rows_read_by_seq": 45000,
                                 "idx_scans": 1, "live_rows": 3000}]  # fmt: skip

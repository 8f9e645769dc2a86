"""Database bottlenecks planted in an app on a real PostgreSQL, found by
`--monitor postgresql://...`: a missing index (named, with its column), a connection per
request."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from support.cli import LoadlensRunner, check_result
from support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

APP = Path(__file__).resolve().parents[1] / "support" / "db_app.py"
PLANTED = APP.with_name("planted_server.py")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(loadlens: LoadlensRunner, mode: str, url: str, *load: str) -> dict[str, Any]:
    port = _port()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    server = f"{sys.executable} {APP} {mode} {port} {dsn}"
    run = loadlens.run(f"http://127.0.0.1:{port}/item", *load, "--server", server,
                       "--monitor", url, timeout=90)  # fmt: skip
    assert run.returncode in (0, 99), run.describe()
    return check_result(run.result)


def test_a_missing_index_is_named_with_its_column(loadlens: LoadlensRunner, pg_url: str) -> None:
    result = _run(loadlens, "scan", pg_url, "-u", "4", "-d", "6s")
    monitor = result["monitors"]["postgresql"]
    assert monitor["timeline"] and monitor["notes"] == []
    tables = {t["table"]: t for t in monitor["summary"]["tables"]}
    items = tables["public.loadlens_items"]
    assert items["seq_scans"] >= 10 and items["rows_read_by_seq"] >= 10 * 50_000
    ids = [f["id"] for f in result["findings"]]
    assert "full-table-scan" in ids, result["findings"]
    finding = result["findings"][ids.index("full-table-scan")]
    assert "public.loadlens_items" in finding["title"]
    if monitor["summary"]["pg_stat_statements"]:
        assert "on sku" in finding["title"] and "(sku)" in finding["suggestion"]
        assert any("loadlens_items" in s["query"] for s in monitor["summary"]["statements"])
    assert "db-connection-per-request" not in ids
    assert items["live_rows"] >= 300_000
    # The app's Server-Timing says the database takes the time; so does PostgreSQL.
    assert "database-time-dominates" in ids, result["findings"]
    dominates = result["findings"][ids.index("database-time-dominates")]
    assert "Server-Timing" in dominates["title"] and "db " in dominates["evidence"]
    if monitor["summary"]["pg_stat_statements"]:
        top = monitor["summary"]["statements"][0]
        assert "sku" in top["query"] and top["blocks_hit"] + top["blocks_read"] > 1000
        # A 300,000-row scan takes ~30 ms: over the 10 ms from which a statement is slow.
        assert top["mean_ms"] >= 10, top
        assert "slow-statements" in ids, result["findings"]
        slow = result["findings"][ids.index("slow-statements")]
        assert "sku" in slow["evidence"] and "ms mean" in slow["evidence"]
        assert ids.index("full-table-scan") == 0  # the root cause comes first


def test_a_database_connection_per_request_is_found(loadlens: LoadlensRunner, pg_url: str) -> None:
    result = _run(loadlens, "connect", pg_url, "--rate", "60/s", "-d", "5s")
    ids = [f["id"] for f in result["findings"]]
    assert "db-connection-per-request" in ids, result["findings"]
    assert "full-table-scan" not in ids
    finding = result["findings"][ids.index("db-connection-per-request")]
    assert "new sessions" in finding["evidence"] and "pool" in finding["suggestion"]


def test_a_healthy_database_gets_no_finding(loadlens: LoadlensRunner, pg_url: str) -> None:
    result = _run(loadlens, "indexed", pg_url, "--rate", "50/s", "-d", "5s")
    assert result["findings"] == [], result["findings"]
    monitor = result["monitors"]["postgresql"]
    if monitor["summary"]["pg_stat_statements"]:
        top = monitor["summary"]["statements"][0]
        assert "loadlens_items" in top["query"] and top["calls"] >= 100
        assert top["blocks_hit"] + top["blocks_read"] > 0
        # The monitor's own queries are not the app's.
        queries = [s["query"] for s in monitor["summary"]["statements"]]
        assert not [q for q in queries if "pg_stat" in q or "xact_commit" in q], queries
    assert result["endpoints"][0]["server_timing"]["db"]["count"] == result["totals"]["requests"]


def test_a_database_that_goes_down_mid_run_is_a_note(loadlens: LoadlensRunner, pg_url: str) -> None:
    """The monitor's database vanishes at ~2 s: noted, no crash, the load results intact."""
    parsed = urlsplit(pg_url)
    proxy = TcpProxy((parsed.hostname or "127.0.0.1", parsed.port or 5432))
    through_proxy = urlunsplit(parsed._replace(netloc=f"{parsed.username}:{parsed.password}"
                                                      f"@127.0.0.1:{proxy.port}"))  # fmt: skip
    port = _port()
    server = f"{sys.executable} {PLANTED} healthy {port}"
    proc, out, cmd = loadlens.start(f"http://127.0.0.1:{port}/", "--rate", "50/s", "-d", "6s",
                                    "--server", server, "--monitor", through_proxy)  # fmt: skip
    start = time.monotonic()
    try:
        time.sleep(3.5)  # (start-up, the server's port, then about two seconds of samples)
    finally:
        proxy.stop()
    run = loadlens.finish(proc, out, cmd, start, timeout=60)
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.stderr
    result = check_result(run.result)
    totals = result["totals"]
    assert totals["failures"] == 0 and totals["requests"] >= 250, totals
    monitor = result["monitors"]["postgresql"]
    assert len(monitor["notes"]) == 1 and "stopped answering" in monitor["notes"][0], monitor
    assert 1 <= len(monitor["timeline"]) <= 4, monitor["timeline"]
    assert len(result["monitors"]["target"]["timeline"]) >= 5  # the other monitors go on

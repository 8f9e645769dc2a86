"""Database bottlenecks planted in an app on a real PostgreSQL, found by
`--monitor postgresql://...`: a missing index (named, with its column), a connection per
request."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from support.cli import LoadlensRunner, check_result

pytestmark = pytest.mark.timeout(120)

APP = Path(__file__).resolve().parents[1] / "support" / "db_app.py"


@pytest.fixture
def database() -> str:
    """The test database's URL (.ci/run starts PostgreSQL and sets it)."""
    url = os.environ.get("LOADLENS_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI sets LOADLENS_TEST_PG_URL (.ci/run starts PostgreSQL); it is missing")
        pytest.skip("no PostgreSQL here: set LOADLENS_TEST_PG_URL (as .ci/run does) to test it")
    return url


def _run(loadlens: LoadlensRunner, mode: str, url: str, *load: str) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    server = f"{sys.executable} {APP} {mode} {port} {dsn}"
    run = loadlens.run(f"http://127.0.0.1:{port}/item", *load, "--server", server,
                       "--monitor", url, timeout=90)  # fmt: skip
    assert run.returncode in (0, 99), run.describe()
    return check_result(run.result)


def test_a_missing_index_is_named_with_its_column(loadlens: LoadlensRunner, database: str) -> None:
    result = _run(loadlens, "scan", database, "-u", "4", "-d", "6s")
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


def test_a_database_connection_per_request_is_found(
    loadlens: LoadlensRunner, database: str
) -> None:
    result = _run(loadlens, "connect", database, "--rate", "60/s", "-d", "5s")
    ids = [f["id"] for f in result["findings"]]
    assert "db-connection-per-request" in ids, result["findings"]
    assert "full-table-scan" not in ids
    finding = result["findings"][ids.index("db-connection-per-request")]
    assert "new sessions" in finding["evidence"] and "pool" in finding["suggestion"]

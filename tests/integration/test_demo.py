"""`loadlens demo`: the case study end to end, on SQLite and on real PostgreSQL.

The must of the case study: the baseline's findings name the missing index (with its
column) and the connection per request, from the database's statistics (PostgreSQL's own,
or on SQLite the app's), and each goes away at the stage that fixes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadlens.demo.stage_server import find_nginx
from loadlens.storage.run_store import RunStore
from support.cli import REPO, LoadlensRunner, _env, check_result

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

STAGES = ["baseline", "index", "pool", "cache", "balanced"]


@pytest.fixture(autouse=True)
def _nginx_where_ci_has_it() -> None:
    if find_nginx() is None and os.environ.get("CI"):
        pytest.fail("CI installs nginx (.ci/run): the balanced stage needs it")


def _stages() -> list[str]:
    """The stages a demo runs here: without nginx, it skips the balanced one (and says so)."""
    return STAGES if find_nginx() is not None else STAGES[:-1]


def _demo(
    loadlens: LoadlensRunner, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    html = loadlens.tmp_path / "case-study.html"
    done = subprocess.run([sys.executable, "-m", "loadlens", "demo", "--quick", "--html", str(html),
                           *args], capture_output=True, text=True, timeout=timeout,
                          env=_env(loadlens.home), cwd=loadlens.tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    return done


def _said(done: subprocess.CompletedProcess[str]) -> str:
    """The demo's output as one line: where rich wraps it depends on the paths it prints."""
    return " ".join(done.stdout.split())


def _stored(loadlens: LoadlensRunner) -> dict[str, dict[str, Any]]:
    """The demo's runs in the run store, by stage."""
    store = RunStore(f"sqlite:///{loadlens.home / '.loadlens' / 'runs.db'}")
    runs = {}
    for row in store.list(tags={"demo": "case-study"}, limit=50):
        result = store.get(row.id)
        runs[result.tags["stage"]] = check_result(result.model_dump(by_alias=True, mode="json"))
    return runs


def _ids(run: dict[str, Any]) -> list[str]:
    return [f["id"] for f in run["findings"]]


def _check_story(loadlens: LoadlensRunner, done: subprocess.CompletedProcess[str],
                 database: str, table: str) -> dict[str, dict[str, Any]]:  # fmt: skip
    runs = _stored(loadlens)
    assert sorted(runs) == sorted(_stages()), (runs.keys(), done.stdout[-3000:])
    assert all(run["tags"]["database"] == database for run in runs.values())
    baseline, index, pool = runs["baseline"], runs["index"], runs["pool"]
    # The baseline: the missing index, named with its table and column, and a database
    # connection per request, both from the database's statistics.
    assert "full-table-scan" in _ids(baseline), baseline["findings"]
    scan = baseline["findings"][_ids(baseline).index("full-table-scan")]
    assert table in scan["title"] and "on last_login" in scan["title"], scan
    assert "(last_login)" in scan["suggestion"]
    assert "db-connection-per-request" in _ids(baseline), baseline["findings"]
    # The index removes the scans, not the connections; the pool removes those.
    assert "full-table-scan" not in _ids(index) and "db-connection-per-request" in _ids(index)
    for fixed in _stages()[2:]:
        assert not {"full-table-scan", "db-connection-per-request"} & set(_ids(runs[fixed]))
    # The fixed stages are faster than the baseline, and the monitors saw the API.
    assert pool["totals"]["latency"]["mean"] < baseline["totals"]["latency"]["mean"]
    for run in runs.values():
        target = run["monitors"]["target"]
        assert target["timeline"] and target["notes"] == [], target["notes"]
        assert run["totals"]["requests"] > 0 and run["endpoints"][0]["server_timing"]
    if "balanced" in runs:  # three instances and nginx
        assert "nginx" in runs["balanced"]["monitors"]["target"]["target"]
    else:
        assert "skipped the balanced stage: nginx is not installed" in _said(done)
    # The before/after table and the HTML report.
    out = _said(done)
    assert "before and after, stage by stage" in out and "findings by stage" in out
    html = (loadlens.tmp_path / "case-study.html").read_text()
    assert "Stage by stage" in html and all(f"<b>{s}</b>" in html for s in _stages())
    assert 'id="verdict">Target ' in html
    return runs


def test_the_case_study_on_sqlite(loadlens: LoadlensRunner) -> None:
    done = _demo(loadlens)
    runs = _check_story(loadlens, done, "sqlite", "users")
    database = runs["baseline"]["monitors"]["database"]
    assert database["kind"] == "app-database" and database["notes"] == []
    assert "built 50,000 users" in _said(done)


def test_the_case_study_on_postgresql(loadlens: LoadlensRunner, pg_url: str) -> None:
    done = _demo(loadlens, "--database", pg_url)
    runs = _check_story(loadlens, done, "postgresql", "loadlens_demo.users")
    assert runs["baseline"]["monitors"]["postgresql"]["kind"] == "postgresql"


def test_a_throwaway_postgresql_cluster(loadlens: LoadlensRunner) -> None:
    from loadlens.demo.local_postgres import find_binaries

    if find_binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs PostgreSQL (.ci/run); initdb is missing")
        pytest.skip("PostgreSQL's server binaries are not installed here")
    done = _demo(loadlens, "--database", "postgres", "--stages", "baseline,pool")
    assert "started a throwaway PostgreSQL cluster: postgresql://postgres:***@/" in _said(done)
    runs = _stored(loadlens)
    assert sorted(runs) == ["baseline", "pool"]
    assert "db-connection-per-request" in _ids(runs["baseline"])
    assert "db-connection-per-request" not in _ids(runs["pool"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_one_stage_served_for_your_own_scenario(loadlens: LoadlensRunner) -> None:
    """`loadlens demo serve` runs a stage alone; the example scenario runs against it."""
    port = _free_port()
    command = ["demo", "serve", "--stage", "cache", "--port", str(port), "--rows", "20000"]
    server = subprocess.Popen([sys.executable, "-m", "loadlens", *command],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=_env(loadlens.home), cwd=loadlens.tmp_path,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0]
                time.sleep(0.1)
        run = loadlens.run(str(REPO / "examples" / "case-study.yaml"), "-u", "20", "-d", "3s",
                           "--base-url", f"http://127.0.0.1:{port}", timeout=60)  # fmt: skip
        result = check_result(run.result)
        assert result["totals"]["failures"] == 0 and result["totals"]["requests"] > 20
        assert all(c["fails"] == 0 for c in result["checks"]), result["checks"]
        # (cached responses report `cache` alone; the misses, db-connect, db and app)
        assert {"db", "app"} <= set(result["endpoints"][0]["server_timing"]), result["endpoints"]
    finally:
        server.send_signal(signal.SIGTERM)  # as a service manager stops it
        output = server.communicate(timeout=30)[0]
    assert "stage cache" in output and "try: loadlens run examples/case-study.yaml" in output
    assert server.returncode == 0, output
    # Its servers went with it (they run in sessions of their own).
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def test_bad_demo_options_exit_2(loadlens: LoadlensRunner) -> None:
    for args, message in (
        (["--stages", "baseline,nosuch"], "'nosuch' is not one of"),
        (["--database", "mysql://x"], "expected postgres"),
    ):
        done = subprocess.run([sys.executable, "-m", "loadlens", "demo", *args],
                              capture_output=True, text=True, timeout=60,
                              env=_env(loadlens.home), cwd=loadlens.tmp_path)  # fmt: skip
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr


def _demo_servers(home: Path) -> list[psutil.Process]:
    """The demo API processes a demo under `home` started, if any are left."""
    left = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            command = " ".join(process.info["cmdline"] or [])
            database = process.environ().get("LOADLENS_DEMO_DATABASE", "")
            if "loadlens.demo.api:app_from_env()" in command and str(home) in database:
                left.append(process)
    return left


def test_ctrl_c_stops_the_demo_and_keeps_what_it_measured(loadlens: LoadlensRunner) -> None:
    command = ["demo", "--quick", "-d", "20s", "--stages", "baseline,index"]
    demo = subprocess.Popen([sys.executable, "-m", "loadlens", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(loadlens.home),
                            cwd=loadlens.tmp_path, start_new_session=True)  # fmt: skip
    time.sleep(9)  # the table built, the baseline's servers up, its load running
    demo.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C (the servers are elsewhere)
    stdout, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "Traceback" not in stderr and "demo interrupted" in stderr
    runs = _stored(loadlens)
    assert list(runs) == ["baseline"], (runs.keys(), stdout[-3000:])
    assert runs["baseline"]["status"] == "interrupted" and runs["baseline"]["totals"]["requests"]
    assert "the stages after this one are not run" in stdout
    assert _demo_servers(loadlens.home) == []

"""Nothing measured is lost: a store or --out that fails keeps the result somewhere else,
says where, and exits 3; each place is tried whatever became of the others."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from loadlens.reporting.run_source import load_run
from support.cli import CliRun, LoadlensRunner, _env, assert_no_traceback, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(60)

NOT_KEPT = 3


def _run_without_out(loadlens: LoadlensRunner, *args: str) -> CliRun:
    cmd = loadlens.command(*args, out=None)
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env=_env(loadlens.home), cwd=loadlens.tmp_path)  # fmt: skip
    return CliRun(cmd, done.returncode, done.stdout, done.stderr, time.monotonic() - start, None)


def _broken_store(tmp_path: Path) -> str:
    """A store that cannot be opened: its folder is a file."""
    (tmp_path / "not-a-folder").write_text("")
    return str(tmp_path / "not-a-folder" / "runs.db")


def _stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM loadlens_runs")]


def test_a_writable_store_keeps_the_run_and_exits_0(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = _run_without_out(loadlens, target_server.url("/ok"), "-u", "1", "-i", "2")
    home = loadlens.home / ".loadlens"
    assert len(_stored_ids(home / "runs.db")) == 1
    with sqlite3.connect(home / "runs.db") as connection:
        (verdict,) = connection.execute("SELECT verdict FROM loadlens_runs").fetchone()
    # 0, or 98 when a crowded machine made the run `contended`: never 3, nothing said.
    assert run.returncode == (0 if verdict == "valid" else 98), run.describe()
    assert run.stderr == ""
    assert not (home / "unsaved").exists()


def test_a_store_that_fails_keeps_the_result_in_a_fallback_file_and_exits_3(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    db = _broken_store(tmp_path)
    run = _run_without_out(loadlens, target_server.url("/ok"), "-u", "1", "-i", "2", "--db", db)
    assert run.returncode == NOT_KEPT, run.describe()
    assert_no_traceback(run)
    found = re.search(r"the run was not stored: .*not a folder.*; its result is kept in (\S+)",
                      run.stderr)  # fmt: skip
    assert found, run.stderr
    fallback = Path(found.group(1))
    assert fallback.parent == loadlens.home / ".loadlens" / "unsaved"
    assert fallback.stat().st_mode & 0o777 == 0o600
    result = check_result(json.loads(fallback.read_text()))
    assert fallback.name == f"{result['id']}.json" and result["totals"]["requests"] == 2
    # The fallback is a result file like any: `loadlens report FILE` reads it.
    assert f"`loadlens report {fallback}`" in run.stderr
    assert load_run(str(fallback)).id == result["id"]


def test_a_store_that_fails_beside_a_written_out_names_the_out_file(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    run = loadlens.run(target_server.url("/ok"), "-u", "1", "-i", "2", "--db",
                       _broken_store(tmp_path))  # fmt: skip
    assert run.returncode == NOT_KEPT, run.describe()
    out = loadlens.tmp_path / "run1.json"
    assert f"its result is in {out}" in run.stderr
    assert check_result(run.result)["totals"]["requests"] == 2
    assert not (loadlens.home / ".loadlens" / "unsaved").exists()


@pytest.mark.slow
def test_an_out_that_cannot_be_written_is_reported_and_the_run_still_stored_and_reported(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    html = tmp_path / "report.html"
    proc, out, _cmd = loadlens.start(target_server.url("/ok"), "-u", "1", "-d", "1s",
                                     "--html", str(html))  # fmt: skip
    # The checks before the load passed; a link now put at --out must not be written through.
    assert target_server.wait_for(lambda s: s.requests_seen > 0, timeout=20)
    out.symlink_to(victim)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == NOT_KEPT, stderr
    assert "Traceback" not in stderr
    assert f"--out {out}: the result was not written: {out} is a symbolic link" in stderr
    assert victim.read_text() == "precious" and out.is_symlink()
    (stored,) = _stored_ids(loadlens.home / ".loadlens" / "runs.db")
    assert f"the run is stored as {stored} in " in stderr
    assert stored in html.read_text()  # the other reports are still written


def test_a_link_at_a_report_path_is_refused_before_any_load(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    link = tmp_path / "r.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    run = loadlens.run(target_server.url("/ok"), "-d", "1s", "--html", str(link), timeout=30)
    assert run.returncode == 2, run.describe()
    assert f"--html: {link} is a symbolic link" in run.stderr
    assert target_server.requests_seen == 0 and not (tmp_path / "elsewhere.html").exists()


@pytest.mark.slow
def test_ctrl_c_with_a_failing_store_still_keeps_what_was_measured(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    cmd = loadlens.command(target_server.url("/ok"), "-u", "1", "-d", "20s", "--db",
                           _broken_store(tmp_path), out=None)  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(loadlens.home), cwd=loadlens.tmp_path,
                            start_new_session=True)  # fmt: skip
    try:
        assert target_server.wait_for(lambda s: s.requests_seen > 0, timeout=20)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    found = re.search(r"its result is kept in (\S+)", stderr)
    assert found, stderr
    result = check_result(json.loads(Path(found.group(1)).read_text()))
    assert result["status"] == "interrupted" and result["totals"]["requests"] > 0

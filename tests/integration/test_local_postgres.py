"""The demo's throwaway PostgreSQL cluster: reachable by the demo alone, gone with it.

A superuser's cluster: no TCP, a Unix socket in a 0700 directory, a password even there;
the demo's own URL gets in, nothing else does. A SIGKILLed demo takes its postgres along,
and the next demo deletes the directory it left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from loadlens.demo.local_postgres import find_binaries, local_postgres, remove_stale_clusters
from support.cli import SRC

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.timeout(60)


def _binaries_or_skip() -> None:
    if find_binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs PostgreSQL (.ci/run); initdb is missing")
        pytest.skip("PostgreSQL's server binaries are not installed here")


def _gone(pid: int) -> bool:
    """Exited (a zombie that init has yet to reap has exited too)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _socket_dir(url: str) -> Path:
    return Path(psycopg.conninfo.conninfo_to_dict(url)["host"])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One cluster for the checks that only look at it."""
    _binaries_or_skip()
    with local_postgres() as url:
        yield url


@pytest.mark.slow
def test_the_demo_s_own_connection_gets_in(cluster: str) -> None:
    with psycopg.connect(cluster) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
                            ).fetchone() == (1,)  # fmt: skip
        # No TCP at all: nothing listens, so nothing on this machine can connect that way.
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    pid_file = _socket_dir(cluster).parent / "data" / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    assert postmaster.net_connections(kind="inet") == []
    assert [c.laddr for c in postmaster.net_connections(kind="unix")] == [
        str(_socket_dir(cluster) / ".s.PGSQL.5432")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("password", [None, "wrong"])
def test_a_connection_without_the_password_is_refused(cluster: str, password: str | None) -> None:
    options = {"host": str(_socket_dir(cluster)), "port": 5432, "user": "postgres",
               "dbname": "postgres", "connect_timeout": 5}  # fmt: skip
    if password is not None:
        options["password"] = password
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(**options).close()


@pytest.mark.slow
def test_its_directories_are_its_own(cluster: str) -> None:
    sockets = _socket_dir(cluster)
    root = sockets.parent
    for directory in (root, sockets, root / "data"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    hba = (root / "data" / "pg_hba.conf").read_text()
    assert "trust" not in hba and "host" not in hba, hba
    assert not (root / "password").exists()  # initdb's password file is deleted after it


_DEMO = textwrap.dedent("""
    import sys, time
    from loadlens.demo.local_postgres import local_postgres
    with local_postgres() as url:
        print(url, flush=True)
        time.sleep(60)
""")


@pytest.mark.slow
def test_a_sigkilled_demo_takes_its_cluster_along_and_the_next_one_cleans_up() -> None:
    _binaries_or_skip()
    demo = subprocess.Popen([sys.executable, "-c", _DEMO], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})  # fmt: skip
    try:
        assert demo.stdout is not None
        root = _socket_dir(demo.stdout.readline().strip()).parent
        postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
        assert not _gone(postmaster)
        demo.kill()
        demo.wait()
        started = time.monotonic()
        while not _gone(postmaster):
            assert time.monotonic() - started < 3, "postgres outlived the demo"
            time.sleep(0.05)
        assert time.monotonic() - started < 2.0
    finally:
        demo.kill()
        demo.wait()
    assert root.exists()  # a SIGKILLed demo cannot clean up: the next one does
    with local_postgres() as url:
        assert not root.exists(), "the stale cluster was left"
        assert _socket_dir(url).parent != root


def test_only_the_clusters_of_demos_that_are_gone_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a pid no process has now
    stale = tmp_path / f"loadlens-pg-{ended.pid}-abc123"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "postmaster.pid").write_text(f"{ended.pid}\n")
    running = tmp_path / f"loadlens-pg-{os.getpid()}-abc123"  # this demo's: alive
    old_style = tmp_path / "loadlens-pg-abc123"  # not named after a demo: not ours to judge
    other = tmp_path / "someone-else"
    for directory in (running, old_style, other):
        directory.mkdir()
    target = tmp_path / "precious"
    target.mkdir()
    link = tmp_path / f"loadlens-pg-{ended.pid}-link00"
    link.symlink_to(target)

    assert remove_stale_clusters(os.geteuid()) == [stale]
    assert not stale.exists()
    for kept in (running, old_style, other, target, link):
        assert kept.exists(), kept


@pytest.mark.slow
def test_the_database_monitor_reads_it_through_its_socket(cluster: str) -> None:
    from loadlens.monitoring.postgres_probe import PostgresProbe

    probe = PostgresProbe(cluster)
    password = psycopg.conninfo.conninfo_to_dict(cluster)["password"]
    assert ":***@" in probe.target and str(password) not in probe.target
    probe.start()
    try:
        assert probe.sample()["backends"] >= 0
    finally:
        probe.stop()

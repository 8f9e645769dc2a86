"""`loadlens demo --database postgres`: a throwaway PostgreSQL cluster, for the demo only.

initdb into a temporary directory, pg_ctl start on a free port of 127.0.0.1 (trust
authentication: nothing else can reach it), pg_stat_statements preloaded; stopped and
deleted afterwards. PostgreSQL refuses to run as root, so as root the cluster belongs to
the `postgres` user that the distribution's packages create.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from loadlens.demo.stage_server import NICE, free_port

__all__ = ["INSTALL_HINT", "LocalPostgresError", "find_binaries", "local_postgres"]

INSTALL_HINT = (
    "install PostgreSQL's server: `apt-get install postgresql` (Debian, Ubuntu), "
    "`dnf install postgresql-server postgresql-contrib` (Fedora), "
    "`brew install postgresql` (macOS); or give --database postgresql://..."
)


class LocalPostgresError(RuntimeError):
    """The throwaway cluster could not be made; the message says why and what to do."""


def find_binaries() -> Path | None:
    """The directory of initdb and pg_ctl: on PATH, or where Debian puts them."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def local_postgres() -> Iterator[str]:
    """Start a cluster; yield its URL (postgresql://postgres@127.0.0.1:PORT/postgres)."""
    binaries = find_binaries()
    if binaries is None:
        raise LocalPostgresError(
            f"--database postgres: initdb and pg_ctl were not found; {INSTALL_HINT}"
        )
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise LocalPostgresError(
                "--database postgres: PostgreSQL will not run as root and "
                "there is no `postgres` user to run it as"
            ) from None
        owner = "postgres"
    root = Path(tempfile.mkdtemp(prefix="loadlens-pg-"))
    data = root / "data"
    try:
        if owner:
            shutil.chown(root, owner)
        port = free_port()
        _run(
            _as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                owner,
            ),
            "initdb",
        )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
            "-c shared_preload_libraries=pg_stat_statements -c max_connections=300 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            _as_owner(
                [
                    *NICE.split(),  # (the server inherits it: see stage_server.NICE)
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
                owner,
            ),
            "pg_ctl start",
        )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _create_extension(url)
        yield url
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner(
                    [str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], owner
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise LocalPostgresError(f"--database postgres: {what} failed:\n" + "\n".join(output))


def _create_extension(url: str) -> None:
    import psycopg

    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

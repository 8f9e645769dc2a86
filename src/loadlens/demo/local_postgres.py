"""`loadlens demo --database postgres`: a throwaway PostgreSQL cluster, for the demo only.

initdb into a temporary directory of its own (0700), then postgres in the foreground as
loadlens's child, tethered to it (a SIGKILLed demo takes its cluster along), with
pg_stat_statements preloaded; stopped and deleted afterwards.

It is a superuser's cluster, and a superuser can run programs (`COPY ... TO PROGRAM`), so
nobody else may reach it: no TCP at all (listen_addresses is empty), a Unix socket in a
0700 directory, and a random password (SCRAM) even there. The demo connects through that
socket with that password; the URL it passes around carries both, and what it prints
shows neither the password (`safe_url`) nor needs to.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
that the distribution's packages create.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psutil

from loadlens.demo.stage_server import NICE
from loadlens.monitoring.tethered_process import TetheredProcess, die_with_parent, run_as

__all__ = [
    "INSTALL_HINT",
    "LocalPostgresError",
    "find_binaries",
    "local_postgres",
    "remove_stale_clusters",
]

INSTALL_HINT = (
    "install PostgreSQL's server: `apt-get install postgresql` (Debian, Ubuntu), "
    "`dnf install postgresql-server postgresql-contrib` (Fedora), "
    "`brew install postgresql` (macOS); or give --database postgresql://..."
)
_PREFIX = "loadlens-pg-"
# A cluster's directory is named after the demo that made it: loadlens-pg-<pid>-<random>.
_NAMED = re.compile(re.escape(_PREFIX) + r"(\d+)-[a-z0-9_]+")
_PORT = 5432  # only names the socket file (.s.PGSQL.5432): each cluster has its own directory
# Only the superuser, by password, through the socket: no line for TCP (`host`), none
# that trusts.
_HBA = "local all postgres scram-sha-256\n"
_READY_S = 30.0


class LocalPostgresError(RuntimeError):
    """The throwaway cluster could not be made; the message says why and what to do."""


def find_binaries() -> Path | None:
    """The directory of initdb and postgres: on PATH, or where Debian puts them."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _owner() -> pwd.struct_passwd | None:
    """Who the cluster runs as: `postgres` when loadlens is root, else loadlens's user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise LocalPostgresError(
            "--database postgres: PostgreSQL will not run as root and "
            "there is no `postgres` user to run it as"
        ) from None


def remove_stale_clusters(owner_uid: int) -> list[Path]:
    """Delete the clusters that demos killed before their cleanup left behind; the paths.

    Only directories of our own naming whose demo has exited, owned by us or by the
    cluster's user, are touched; a postgres still running in one (it should not: it is
    tethered) is stopped first.
    """
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        named = _NAMED.fullmatch(path.name)
        if named is None or psutil.pid_exists(int(named[1])):
            continue  # not ours, or its demo still runs (or its pid is another's now)
        with contextlib.suppress(OSError):
            info = path.lstat()
            if not path.is_dir() or path.is_symlink():
                continue
            if info.st_uid not in {os.geteuid(), owner_uid}:
                continue
            _stop_postmaster(path / "data")
            shutil.rmtree(path)
            removed.append(path)
    return removed


def _stop_postmaster(data: Path) -> None:
    """Stop the postgres serving `data`, if one still does (its pid file names it)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        serving = str(data) in process.cmdline()  # not a process that took the pid since
    except (OSError, ValueError, IndexError, psutil.Error):
        return
    if serving:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGQUIT)  # immediate shutdown: the files go next
            process.wait(timeout=5)


@contextlib.contextmanager
def local_postgres() -> Iterator[str]:
    """Start a cluster; yield its URL (the socket's directory as host, and its password)."""
    binaries = find_binaries()
    if binaries is None:
        raise LocalPostgresError(
            f"--database postgres: initdb and postgres were not found; {INSTALL_HINT}"
        )
    owner = _owner()
    remove_stale_clusters(owner.pw_uid if owner else os.geteuid())
    root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))  # 0700
    data, sockets = root / "data", root / "socket"
    password = secrets.token_hex(24)
    server: TetheredProcess | None = None
    try:
        sockets.mkdir(mode=0o700)
        if owner:
            for path in (root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _initdb(binaries, root, data, password, owner)
        (data / "pg_hba.conf").write_text(_HBA)
        # (postgres keeps a descriptor of its own: ours is closed at once)
        with os.fdopen(os.open(root / "log", os.O_WRONLY | os.O_CREAT, 0o600), "wb") as log:
            server = TetheredProcess(
                [*NICE.split(), str(binaries / "postgres"), "-D", str(data), "-p", str(_PORT),
                 "-c", "listen_addresses=", "-c", f"unix_socket_directories={sockets}",
                 "-c", "unix_socket_permissions=0700",
                 "-c", "shared_preload_libraries=pg_stat_statements", "-c", "max_connections=300",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                # SIGINT is postgres's fast shutdown: sessions closed, then out.
                stop_signal=signal.SIGINT, cwd=root, user=owner.pw_name if owner else None,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        host = urllib.parse.quote(str(sockets), safe="/")  # (a TMPDIR with & or ? in it)
        url = f"postgresql://postgres:{password}@/postgres?host={host}&port={_PORT}"
        _create_extension(url, server, root / "log")
        yield url
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _initdb(
    binaries: Path, root: Path, data: Path, password: str, owner: pwd.struct_passwd | None
) -> None:
    password_file = root / "password"
    # 0600 from the start: the password is never readable by anyone else, even briefly.
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    if owner:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    try:
        done = subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, check=False, cwd=root,
            preexec_fn=die_with_parent(signal.SIGKILL),
            **run_as(owner.pw_name if owner else None),
        )  # fmt: skip
    finally:
        password_file.unlink(missing_ok=True)
    if done.returncode != 0:
        raise LocalPostgresError(
            f"--database postgres: initdb failed:\n{_tail(done.stdout + done.stderr)}"
        )


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-8:])


def _create_extension(url: str, server: TetheredProcess, log: Path) -> None:
    """Once postgres answers on its socket (it has no pg_ctl -w to wait for it)."""
    import psycopg

    deadline = time.monotonic() + _READY_S
    while True:
        if (code := server.poll()) is not None:
            raise LocalPostgresError(
                f"--database postgres: postgres exited with {code}:\n"
                f"{_tail(log.read_text(errors='replace'))}"
            )
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise LocalPostgresError(
                    f"--database postgres: postgres did not answer within {_READY_S:.0f} s:\n"
                    f"{_tail(log.read_text(errors='replace'))}"
                ) from None
            time.sleep(0.1)

"""One stage of the demo API as real servers: gunicorn instances, and nginx in front of
several, on 127.0.0.1.

gunicorn runs Flask as the article did, with `gthread` workers (keep-alive, as any
production setup has) and one worker process per core. The balanced stage starts three
instances behind nginx with an upstream block like the article's. All of them run at a
lower priority than loadlens (see NICE).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loadlens.demo.api import THREADS
from loadlens.demo.query_stats import serve_stats
from loadlens.demo.stages import Stage
from loadlens.monitoring.managed_server import ManagedServer

__all__ = [
    "NICE",
    "StageError",
    "StageServers",
    "find_nginx",
    "free_port",
    "nginx_server",
    "run_stage",
]

# gunicorn worker processes over all of a stage's instances, at most: each has THREADS
# threads, and on PostgreSQL each thread may hold a connection (32 in all, well under the
# default max_connections of 100 that a user's own database may have).
MAX_WORKERS = 4

# The demo's servers share this machine's cores with the load generator. At a lower
# priority they still get every cycle loadlens does not use (it needs about a tenth of the
# machine here), but they cannot starve its event loop: a starved generator times
# responses late, and its run is rightly judged generator-bound.
NICE = "nice -n 10 " if shutil.which("nice") else ""

# In the foreground (daemon off): the master stays loadlens's child, tied to it.
_NGINX_CONFIG = """\
daemon off;
master_process on;
{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 100000;
    upstream demo_api {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://demo_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


class StageError(RuntimeError):
    """A stage cannot be started here; the message says why."""


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nginx() -> str | None:
    """nginx's path (Debian keeps it in /usr/sbin, off a normal user's PATH), if installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


@dataclass
class StageServers:
    """The servers of one stage: where to send load, and which processes to monitor."""

    url: str
    pids: list[int] = field(default_factory=list)
    stats_url: str | None = None  # the app's database statistics (SQLite), served beside it


def _gunicorn(
    port: int, stage: Stage, database: str, stats: Path | None, instances: int
) -> ManagedServer:
    # One worker process per core in all (up to MAX_WORKERS): several instances share the
    # cores between them (three instances of two workers on two cores only add contention).
    workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS) // instances)
    python = shlex.quote(sys.executable)
    command = (f"{NICE}{python} -m gunicorn --worker-class gthread --workers {workers}"
               f" --threads {THREADS} --bind 127.0.0.1:{port} --backlog 2048 --keep-alive 5"
               " --timeout 120 --graceful-timeout 3 --log-level warning"
               " loadlens.demo.api:app_from_env()")  # fmt: skip
    env = {"LOADLENS_DEMO_STAGE": stage.name, "LOADLENS_DEMO_DATABASE": database}
    if stats is not None:
        env["LOADLENS_DEMO_STATS"] = str(stats)
    return ManagedServer(command, f"http://127.0.0.1:{port}/", env=env, label="the demo API")


def nginx_server(root: Path, temp: Path, front: int, ports: list[int]) -> ManagedServer:
    """nginx on `front` before the instances on `ports`: its files in `root`, and the
    bodies it buffers in `temp`, a directory of its workers' own."""
    nginx = find_nginx()
    if nginx is None:
        raise StageError("nginx is not installed (apt-get install nginx, brew install nginx)")
    user = ""
    if os.geteuid() == 0:
        # Started by root, nginx's workers drop to an unprivileged user; only they use the
        # temp directory, so it is theirs, 0700, and out of `root` (which stays loadlens's
        # alone). Both are 0700 (mkdtemp's), and nginx makes its subdirectories so too.
        try:
            worker = pwd.getpwnam("nobody")
        except KeyError:
            raise StageError(
                "nginx started by root needs a `nobody` user for its workers"
            ) from None
        group = grp.getgrgid(worker.pw_gid).gr_name
        user = f"user nobody {group};\n"
        os.chown(temp, worker.pw_uid, worker.pw_gid)
    config = root / "nginx.conf"
    config.write_text(_NGINX_CONFIG.format(
        root=root, temp=temp, port=front, user=user,
        servers="\n".join(f"        server 127.0.0.1:{p};" for p in ports)))  # fmt: skip
    return ManagedServer(f"{NICE}{shlex.quote(nginx)} -p {shlex.quote(str(root))} "
                         f"-c {shlex.quote(str(config))}", f"http://127.0.0.1:{front}/",
                         label="nginx")  # fmt: skip


@contextlib.contextmanager
def run_stage(stage: Stage, database: str, port: int | None = None) -> Iterator[StageServers]:
    """Start the stage's servers (nginx in front when it has several); stop them after."""
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadlens-demo-")))
        stats = None
        if not database.startswith("postgresql://"):
            stats = root / "db-stats"
            stats.mkdir(mode=0o700)
        front = port or free_port()
        ports = [front] if stage.instances == 1 else [free_port() for _ in range(stage.instances)]
        servers = []
        for instance_port in ports:
            server = _gunicorn(instance_port, stage, database, stats, len(ports))
            stack.callback(server.stop)
            server.start()
            servers.append(server)
        if stage.instances > 1:
            temp = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="loadlens-demo-nginx-"))
            )
            proxy = nginx_server(root, temp, front, ports)
            stack.callback(proxy.stop)
            proxy.start()
            servers.append(proxy)
        stats_url = stack.enter_context(serve_stats(stats, database)) if stats else None
        yield StageServers(f"http://127.0.0.1:{front}", [s.pid for s in servers], stats_url)

"""A throwaway nginx on 127.0.0.1, one worker pinned to core 0, serving a fixed JSON body."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _proc import ensure_commands, free_port, pinned, raise_nofile_limit, stop, wait_for_port

# A fixed body of about 200 bytes, so every request costs the target the same.
JSON_BODY = (
    '{"id":12345,"name":"loadlens benchmark","status":"ok",'
    '"items":[{"sku":"A-1","qty":2,"price":9.99},{"sku":"B-22","qty":1,"price":24.5}],'
    '"tags":["fast","fixed","json"],"note":"constant body for load tests"}'
)

CONFIG_TEMPLATE = """\
daemon off;
master_process on;
worker_processes 1;
# As asked for; capped at the hard limit we may raise to, else nginx only logs an alert.
worker_rlimit_nofile {nofile};
pid {root}/nginx.pid;
error_log {root}/error.log warn;

events {{
    worker_connections 20000;
}}

http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300;
    client_body_temp_path {root}/body;
    server {{
        # The kernel caps the backlog at net.core.somaxconn; 10k users connect at once.
        listen 127.0.0.1:{port} backlog=65535;
        location = /json {{
            default_type application/json;
            return 200 '{body}';
        }}
        # For the scenario case: a login that hands out a token, and a list and detail.
        location = /login {{
            default_type application/json;
            return 200 '{{"token":"f3c1a9e07b6d4e2a","user":"bench"}}';
        }}
        location /items {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Nginx:
    """A running nginx: where to send load and which process to leave alone."""

    url: str
    pid: int
    root: Path


def wait_for_ok(url: str, timeout: float) -> None:
    """Block until a GET of `url` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1.0) as response:
            if response.status == 200:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def write_config(root: Path, port: int) -> Path:
    """Write nginx.conf for `port` into `root` and return its path."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    config = root / "nginx.conf"
    config.write_text(
        CONFIG_TEMPLATE.format(root=root, port=port, body=JSON_BODY, nofile=min(200000, hard))
    )
    return config


@contextmanager
def run_nginx(core: int | None = 0) -> Iterator[Nginx]:
    """Start nginx in the foreground on a free port, wait until it answers, stop it after."""
    ensure_commands("nginx", "taskset")
    with tempfile.TemporaryDirectory(prefix="loadlens-nginx-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = write_config(root, port)
        command = ["nginx", "-p", str(root), "-e", str(root / "error.log"), "-c", str(config)]
        process = subprocess.Popen(
            pinned(command, core),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=raise_nofile_limit,
        )
        try:
            wait_for_port(port, timeout=10.0, alive=process)
            url = f"http://127.0.0.1:{port}/json"
            wait_for_ok(url, timeout=10.0)
            yield Nginx(url=url, pid=process.pid, root=root)
        finally:
            stop(process)

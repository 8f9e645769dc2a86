"""A throwaway nginx on 127.0.0.1 with one worker, answering a small JSON body: a target
faster than one loadlens worker, so that worker is the bottleneck on purpose."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadlens.demo.stage_server import find_nginx

__all__ = ["nginx_or_skip", "run_nginx"]

_CONFIG = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    }}
}}
"""


def nginx_or_skip() -> str:
    """nginx's path; CI installs it (.ci/run), so there a missing nginx fails the test."""
    nginx = find_nginx()
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs nginx (.ci/run); it is missing")
        pytest.skip("nginx is not installed here (apt-get install nginx)")
    return nginx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_nginx(core: int | None = None) -> Iterator[str]:
    """Start nginx (pinned to `core` when given); yield its URL; stop it after."""
    nginx = nginx_or_skip()
    with tempfile.TemporaryDirectory(prefix="loadlens-test-nginx-") as tmp:
        root, port = Path(tmp), _free_port()
        (root / "nginx.conf").write_text(_CONFIG.format(root=root, port=port))
        command = [nginx, "-p", str(root), "-e", str(root / "error.log"),
                   "-c", str(root / "nginx.conf")]  # fmt: skip
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.5),
                ):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

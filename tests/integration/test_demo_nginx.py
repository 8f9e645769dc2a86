"""The demo's nginx (the load-balanced stage): its directories are 0700, and it still works.

Its workers buffer a large request body in its temp directory: a worker that could not
reach that directory would answer 500 instead of passing the request on.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from loadlens.demo.stage_server import free_port, nginx_server
from support.nginx_server import nginx_or_skip

pytestmark = pytest.mark.timeout(60)


def _status(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_nginx_passes_a_buffered_body_on_from_directories_of_its_own(tmp_path: Path) -> None:
    nginx_or_skip()
    backend_port = free_port()
    backend = subprocess.Popen([sys.executable, "-m", "http.server", str(backend_port), "--bind",
                                "127.0.0.1", "--directory", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", backend_port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the backend never answered"
                time.sleep(0.05)
        with (
            tempfile.TemporaryDirectory(prefix="loadlens-test-demo-") as root_name,
            tempfile.TemporaryDirectory(prefix="loadlens-test-demo-nginx-") as temp_name,
        ):
            root, temp = Path(root_name), Path(temp_name)
            front = free_port()
            proxy = nginx_server(root, temp, front, [backend_port])
            proxy.start()
            try:
                url = f"http://127.0.0.1:{front}/"
                assert _status(urllib.request.Request(url))[0] == 200
                # 256 KiB: past nginx's 16 KiB in-memory buffer, so it goes to temp/body.
                body = urllib.request.Request(url, data=b"x" * 2**18, method="POST")
                status, answer = _status(body)
                # http.server has no POST: its 501 means nginx passed the request on.
                assert status == 501 and b"Unsupported method" in answer, (status, answer[:300])
                directories = [root, temp, *(p for p in temp.rglob("*") if p.is_dir())]
                assert temp / "body" in directories
                for directory in directories:
                    assert directory.stat().st_mode & 0o777 == 0o700, directory
                if os.geteuid() == 0:  # its workers' (not root's): they alone use it
                    nobody = pwd.getpwnam("nobody").pw_uid
                    assert {p.stat().st_uid for p in directories[1:]} == {nobody}
            finally:
                proxy.stop()
    finally:
        backend.kill()
        backend.wait()

"""`loadlens agent` on "another host" (here, another process): token, samples, loss."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from support.cli import LoadlensRunner, _env, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(120)
TOKEN = "s3cret-agent-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def agent(loadlens: LoadlensRunner) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """An agent reporting this host and a busy process, on a free port."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    port = _port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadlens", "agent", "--port", str(port), "--token", TOKEN,
         "--pid", str(busy.pid)],
        env=_env(loadlens.home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield process, port
    for p in (process, busy):
        p.kill()
        p.wait()


def _get(port: int, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sample", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_the_agent_refuses_a_request_without_the_right_token(
    agent: tuple[subprocess.Popen[str], int],
) -> None:
    _, port = agent
    assert _get(port, None) == 401
    assert _get(port, "wrong") == 401
    assert _get(port, TOKEN[:-1]) == 401
    assert _get(port, TOKEN) == 200


@pytest.mark.slow
def test_a_run_monitors_through_the_agent_and_survives_losing_it(
    loadlens: LoadlensRunner, target_server: TargetServer, agent: tuple[subprocess.Popen[str], int]
) -> None:
    process, port = agent
    spec = f"agent://127.0.0.1:{port}"
    refused = loadlens.run(target_server.url("/ok"), "-u", "1", "-d", "1s", "--monitor", spec,
                           "--agent-token", "wrong")  # fmt: skip
    assert refused.returncode == 2 and "the token was refused" in refused.stderr

    began = time.monotonic()
    run_proc, out, cmd = loadlens.start(target_server.url("/ok"), "-u", "2", "-d", "5s",
                                        "--monitor", spec, "--agent-token", TOKEN)  # fmt: skip
    time.sleep(3.5)
    process.kill()  # the agent goes away mid-run
    run = loadlens.finish(run_proc, out, cmd, began, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0
    target, host = result["monitors"]["target"], result["monitors"]["agent host"]
    assert "via agent" in target["target"] and target["kind"] == "process"
    assert target["timeline"] and max(p["cores"] for p in target["timeline"]) > 0.5  # the busy loop
    assert host["kind"] == "host" and host["timeline"]
    notes = target["notes"] + host["notes"]
    assert any("unreachable" in note for note in notes), result["monitors"]

"""Every example under examples/ runs against the built-in demo API, with its checks held."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadlens.demo.target import serve
from support.cli import LoadlensRunner, check_result

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# (case-study.yaml talks to the case study's API: tests/integration/test_demo.py runs it.)
EXAMPLES = sorted(
    p
    for p in [*(REPO / "examples").glob("*.yaml"), *(REPO / "examples").glob("*.py")]
    if p.name != "case-study.yaml"
)


@pytest.fixture(scope="module")
def demo_api() -> Iterator[str]:
    """The demo API (the examples' target) on a free port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    task = loop.create_task(serve("127.0.0.1", port))
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(asyncio.gather(task, return_exceptions=True)),
        daemon=True,
    )
    thread.start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(task.cancel)
    thread.join(timeout=5)
    loop.close()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runs_against_the_demo_api(
    loadlens: LoadlensRunner, demo_api: str, example: Path
) -> None:
    # Short and small: the example's own load is for a person watching, not for CI.
    if "capacity" in example.name:
        load = ["--rate", "50/s", "--step", "50/s", "-d", "1s", "--max-steps", "2"]
    elif "open-model" in example.name:
        load = ["--rate", "50/s", "-d", "2s"]
    else:
        load = ["-u", "4", "-d", "2s"]
    run = loadlens.run(str(example), *load, "--base-url", demo_api, timeout=60)
    result = check_result(run.result)
    assert result["totals"]["requests"] > 0, run.describe()
    assert result["totals"]["failures"] == 0, run.describe()
    assert all(c["fails"] == 0 for c in result["checks"]), result["checks"]
    assert not result["script_errors"], result["script_errors"]

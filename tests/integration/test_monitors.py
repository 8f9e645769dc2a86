"""Target-side monitors: a started server's process tree, a pid that exits, the host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.browser import chromium_path, open_page
from support.cli import LoadlensRunner, check_result

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LOADLENS_TEST_ARTIFACTS", REPO / "test-artifacts"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_started_server_is_monitored_and_stopped(
    loadlens: LoadlensRunner, tmp_path: Path
) -> None:
    (tmp_path / "ok.json").write_text('{"ok": true}')
    port = _free_port()
    server = f"{sys.executable} -m http.server {port} --bind 127.0.0.1 --directory {tmp_path}"
    html = tmp_path / "report.html"
    run = loadlens.run(f"http://127.0.0.1:{port}/ok.json", "-u", "4", "-d", "4s",
                       "--server", server, "--html", str(html))  # fmt: skip
    assert run.returncode in (0, 98), run.describe()
    result = check_result(run.result)
    assert result["totals"]["status_codes"] == {"200": result["totals"]["requests"]}
    target, host = result["monitors"]["target"], result["monitors"]["host"]
    assert target["kind"] == "process" and "http.server" not in target["target"]
    assert "--server, pid" in target["target"] and "python" in target["target"]
    samples = target["timeline"]
    assert [p["t"] for p in samples] == list(range(len(samples))) and len(samples) >= 3
    # Four users keep the single-threaded server busy: a good part of a core.
    assert max(p["cores"] for p in samples) > 0.3, samples
    assert all(p["rss_mb"] > 5 and p["threads"] >= 1 for p in samples)
    # Socket states every 5 s, from the first sample on; http.server closes each connection
    # after its response, but its listening socket stays.
    with_tcp = [p for p in samples if "tcp" in p]
    assert with_tcp and all(p["tcp"].get("LISTEN") == 1 for p in with_tcp), samples
    assert all(p["open_files"] >= 1 for p in with_tcp)
    assert host["kind"] == "host" and len(host["timeline"]) >= 3
    assert all(0 <= p["cpu_percent"] <= 100 for p in host["timeline"])
    # What loadlens itself took of the host: some, never more than the host's whole.
    own = [p["loadlens_cpu_percent"] for p in host["timeline"]]
    assert all(0 <= o <= 100 for o in own) and max(own) > 0, own
    assert target["notes"] == [] and host["notes"] == []
    # The server was stopped with the run.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    if chromium_path() is not None:  # (the report tests say why it must exist in CI)
        page = open_page(html, ARTIFACTS / "run-report-monitored.png")
        assert page.console_errors == []
        assert page.state["charts"] == page.state["drawn"] == page.state["painted"] == 6


@pytest.mark.slow
def test_a_monitored_process_that_exits_is_reported_and_the_load_goes_on(
    loadlens: LoadlensRunner, target_server: object, tmp_path: Path
) -> None:
    short = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    try:
        url = target_server.url("/ok")  # type: ignore[attr-defined]
        run = loadlens.run(url, "-u", "2", "-d", "4s", "--monitor-pid", str(short.pid))
    finally:
        short.kill()
        short.wait()
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0
    target = result["monitors"]["target"]
    assert len(target["notes"]) == 1 and "the target process exited" in target["notes"][0]
    assert len(target["timeline"]) <= 2  # what it sampled before it went
    assert len(result["monitors"]["host"]["timeline"]) >= 3  # the host goes on


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", f"{sys.executable} -c 'import sys; print(\"boom\"); sys.exit(3)'"],
         "exited with 3 before answering"),
        (["--monitor-process", "no-such-process-name-xyz"],
         "--monitor-process 'no-such-process-name-xyz': no running process matches it"),
    ],
)  # fmt: skip
def test_bad_monitors_exit_2_before_any_load(
    loadlens: LoadlensRunner, args: list[str], message: str
) -> None:
    run = loadlens.run(f"http://127.0.0.1:{_free_port()}/", "-u", "1", "-d", "1s", *args)
    assert run.returncode == 2, run.describe()
    assert message in run.stderr and run.result is None
    if "boom" in args[-1]:
        assert "boom" in run.stderr  # the server's own output, to see why

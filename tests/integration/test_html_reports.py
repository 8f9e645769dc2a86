"""HTML reports opened in a real headless Chromium: no console errors, every chart drawn.

Screenshots go to test-artifacts/ (or $LOADLENS_TEST_ARTIFACTS) for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.browser import chromium_path, open_page
from support.cli import LoadlensRunner, _env, check_result
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LOADLENS_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs chromium (.ci/run); it is missing")
        pytest.skip("no chromium here: apt-get install chromium (as .ci/run does) to test this")


def test_the_run_report_opens_cleanly_with_every_chart_drawn(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"""
name: report check
base_url: {target_server.url("")}
load: {{users: 4, duration: 4s}}
thresholds: ["p95<1s", "error_rate<1%"]
requests:
  - {{name: ok </script><b>, path: /ok, weight: 3, checks: {{status: 200}}}}
  - {{name: missing, path: '/status?code=404'}}
""")
    html = tmp_path / "report.html"
    run = loadlens.run(str(scenario), "--html", str(html))
    assert run.returncode == 99, run.describe()  # error_rate<1% crossed by the 404s
    result = check_result(run.result)
    # The verdict banner must be readable: its text not the colour of its background.
    banner = ("(function (s) { return [s.color, s.backgroundColor]; })"
              "(getComputedStyle(document.getElementById('verdict')))")  # fmt: skip
    page = open_page(html, ARTIFACTS / "run-report.png", probe=banner)
    color, background = page.state["probe"]
    assert color == "rgb(255, 255, 255)" and background != color, page.state
    assert page.console_errors == [], page.console_errors
    assert page.state["errors"] == []
    # Throughput, latency, errors and generator charts; the target's is a placeholder.
    assert page.state["charts"] == page.state["drawn"] == page.state["painted"] == 4, page.state
    assert "Targets missed: 1 of 2 thresholds crossed" in page.text
    assert "error_rate<1%" in page.text and "crossed" in page.text
    assert "ok </script><b>" in page.text  # names are text, never markup
    assert "The target was not monitored" in page.text
    assert result["id"] in page.text and "missing" in page.text and "HTTP 404" in page.text
    assert "✓ ok </script><b>: status 200" in page.text
    # Every run states its timing error, as a tile and in the verdict's words.
    error = f"timing error ≤ {result['timing_error_ms']:.1f} ms"
    assert error in page.text and "timing error (valid)" in page.text, page.text


def test_the_comparison_report_overlays_both_runs(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    for ms in (5, 15):
        loadlens.run(target_server.url(f"/delay?ms={ms}"), "-u", "5", "-d", "3s")
    html = tmp_path / "compare.html"
    command = ["compare", "run1.json", "run2.json", "--html", str(html)]
    done = subprocess.run([sys.executable, "-m", "loadlens", *command], capture_output=True,
                          text=True, timeout=60, env=_env(loadlens.home), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = open_page(html, ARTIFACTS / "compare-report.png")
    assert page.console_errors == [], page.console_errors
    assert page.state["charts"] == page.state["drawn"] == page.state["painted"] == 4, page.state
    assert "Before and after" in page.text and "throughput" in page.text
    assert "too few seconds to judge" in page.text  # 3 s runs: honest about it
    assert "Too short to judge" in page.text


def test_a_monitored_run_charts_every_monitor_and_shows_its_diagnosis(
    loadlens: LoadlensRunner, tmp_path: Path
) -> None:
    planted = REPO / "tests" / "support" / "planted_server.py"
    port = _free_port()
    html = tmp_path / "monitored.html"
    run = loadlens.run(f"http://127.0.0.1:{port}/", "-u", "8", "-d", "4s", "--workers", "1",
                       "--server", f"{sys.executable} {planted} db {port}", "--monitor", "host",
                       "--html", str(html), timeout=60)  # fmt: skip
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    assert set(result["monitors"]) == {"target", "host"}, result["monitors"].keys()
    page = open_page(html, ARTIFACTS / "monitored-report.png")
    assert page.console_errors == [] and page.state["errors"] == [], page.state
    # Throughput, latency, errors, generator, and one chart for each of the two monitors.
    assert page.state["charts"] == page.state["drawn"] == page.state["painted"] == 6, page.state
    assert "The target was not monitored" not in page.text
    assert "Server timing" in page.text and "orders" not in page.text  # desc is not a name
    assert "Most of the response time is spent in the database" in page.text
    # A finding's figures are in the page, under it, as its data says.
    finding = result["findings"][0]
    assert finding["id"] == "database-time-dominates"
    written = html.read_text()
    assert "figures" in page.text and 'data-id="database-time-dominates"' in written
    assert f"<dt>responses</dt><dd><code>{finding['data']['responses']}</code>" in written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""`--monitor prometheus://...`: chosen series scraped each second, counters as rates."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.cli import LoadlensRunner, check_result
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
def metrics() -> Iterator[tuple[int, ThreadingHTTPServer]]:
    """A /metrics endpoint: a counter that grows 100 per second, two labelled gauges."""
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            count = int((time.monotonic() - started) * 100)
            body = (
                "# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\n"
                f"app_requests_total {count}\n"
                "# TYPE app_queue_depth gauge\n"
                'app_queue_depth{queue="a"} 3\napp_queue_depth{queue="b"} 4\n'
            ).encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), server
    server.shutdown()


def test_series_are_scraped_each_second_and_losing_the_endpoint_is_a_note(
    loadlens: LoadlensRunner,
    target_server: TargetServer,
    metrics: tuple[int, ThreadingHTTPServer],
) -> None:
    port, server = metrics
    spec = f"prometheus://127.0.0.1:{port}/metrics?series=app_requests_total,app_queue_depth"
    missing = loadlens.run(target_server.url("/ok"), "-u", "1", "-d", "1s",
                           "--monitor", f"prometheus://127.0.0.1:{port}/nowhere")  # fmt: skip
    assert missing.returncode == 2 and "unreachable" in missing.stderr

    run_proc, out, cmd = loadlens.start(target_server.url("/ok"), "-u", "2", "-d", "5s",
                                        "--monitor", spec)  # fmt: skip
    began = time.monotonic()
    time.sleep(4.0)
    server.shutdown()  # the endpoint goes away mid-run
    server.server_close()
    run = loadlens.finish(run_proc, out, cmd, began, timeout=60)
    assert run.returncode == 0, run.describe()
    result = check_result(run.result)
    monitor = result["monitors"]["prometheus"]
    samples = [p for p in monitor["timeline"] if "app_requests_total_per_s" in p]
    assert samples, monitor
    assert all(80 <= p["app_requests_total_per_s"] <= 120 for p in samples), samples
    assert all(p["app_queue_depth"] == 7 for p in samples)  # summed over its label sets
    assert any("unreachable" in note for note in monitor["notes"]), monitor
    assert result["totals"]["failures"] == 0

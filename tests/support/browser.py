"""A real headless Chromium, driven over the DevTools protocol, for opening HTML reports.

Debian's `chromium` (installed by .ci/run) is started with a debugging port; a websocket
client sends it CDP commands: open a file, collect console errors and uncaught
exceptions, read what the page reports about its charts, and take a full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

__all__ = ["PageReport", "chromium_path", "open_page"]


def chromium_path() -> str | None:
    """The Chromium binary, if there is one."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    """What happened when a page was opened."""

    console_errors: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # window.loadlensReport
    text: str = ""  # document.body.innerText


class _Cdp:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(message)
            if message.get("method") == method:
                return message

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(str(params["entry"].get("text")))
    return out


def open_page(
    path: Path, screenshot: Path, *, width: int = 1280, probe: str | None = None
) -> PageReport:
    """Open `path` in headless Chromium, wait for its charts, screenshot the whole page.

    `probe`: a JavaScript expression whose value lands in `state["probe"]`.
    """
    binary = chromium_path()
    assert binary is not None, "chromium is not installed"
    port = _free_port()
    # (Chromium's helper processes may still be writing the profile as it is removed.)
    with tempfile.TemporaryDirectory(
        prefix="loadlens-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            return _drive(port, path, screenshot, width, probe)
        finally:
            # The whole group: the browser and its renderer and GPU helpers.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _drive(port: int, path: Path, screenshot: Path, width: int, probe: str | None) -> PageReport:
    deadline = time.monotonic() + 30
    targets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as r:
                targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            if targets:
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert targets, "chromium did not open a page target"
    with connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as ws:
        cdp = _Cdp(ws)
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            cdp.call(domain)
        cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                 deviceScaleFactor=1, mobile=False)  # fmt: skip
        cdp.call("Page.navigate", url=path.resolve().as_uri())
        cdp.wait_event("Page.loadEventFired")
        state: dict[str, Any] = {}
        until = time.monotonic() + 15
        while time.monotonic() < until:
            state = cdp.evaluate("JSON.stringify(window.loadlensReport || null)") or "null"
            state = json.loads(state) if isinstance(state, str) else {}
            if state and state.get("charts") and state.get("drawn") == state.get("charts"):
                break
            time.sleep(0.1)
        # Count the chart canvases that have pixels on them, as drawn by the page.
        state["painted"] = cdp.evaluate("""
            Array.from(document.querySelectorAll('canvas')).filter(function (c) {
              var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (var i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; }
              return false;
            }).length""")
        if probe is not None:
            state["probe"] = cdp.evaluate(probe)
        text = str(cdp.evaluate("document.body.innerText") or "")
        height = int(cdp.evaluate("document.documentElement.scrollHeight") or 900)
        cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                 deviceScaleFactor=1, mobile=False)  # fmt: skip
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return PageReport(console_errors=_errors(cdp.events), state=state, text=text)

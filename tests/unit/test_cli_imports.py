"""The command line starts light: help and version load click and loadlens.cli only, and
its lazy group lists, finds and suggests commands as a plain click group does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("pydantic", "rich", "sqlalchemy", "numpy", "psutil", "yaml", "jinja2", "uvloop")
# Besides loadlens.cli.*: the demo's stage names (its --stage choices) and the extras table.
LIGHT = {"loadlens", "loadlens.demo", "loadlens.demo.stages", "loadlens.extras"}

_PROBE = """
import json, sys
from loadlens.cli import cli
try:
    cli(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(*args: str) -> list[str]:
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, env=env, timeout=30, check=True)  # fmt: skip
    return list(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"], ["demo", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    modules = _modules_after(*args)
    heavy = [m for m in modules if m.partition(".")[0] in HEAVY]
    assert not heavy, f"loadlens {' '.join(args)} imported {heavy}"
    ours = [m for m in modules if m.partition(".")[0] == "loadlens"]
    others = [m for m in ours if m not in LIGHT and not m.startswith("loadlens.cli")]
    assert not others, f"loadlens {' '.join(args)} imported {others}"


def test_version_imports_no_command() -> None:
    ours = [m for m in _modules_after("--version") if m.partition(".")[0] == "loadlens"]
    assert ours == ["loadlens", "loadlens.cli", "loadlens.cli.exits", "loadlens.cli.lazy_group"]


def test_the_package_face_is_lazy_yet_complete() -> None:
    import loadlens
    from loadlens.cli import ExitCode, cli, exit_code_for, main

    assert callable(main) and callable(exit_code_for) and cli.name == "cli"
    assert ExitCode.BAD_INPUT == 2
    assert loadlens.Scenario.__name__ == "Scenario"
    with pytest.raises(AttributeError):
        _ = loadlens.NoSuchName  # type: ignore[attr-defined]


def test_the_lazy_group_lists_gets_and_suggests_like_a_plain_one() -> None:
    from click.testing import CliRunner

    from loadlens.cli import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"]).output
    names = ["agent", "compare", "demo", "history", "init", "report", "run", "validate"]
    assert [line.split()[0] for line in listed.split("Commands:")[1].strip().splitlines()] == names
    mistyped = runner.invoke(cli, ["ru"])
    assert mistyped.exit_code == 2
    assert "No such command 'ru'. Did you mean 'run'?" in mistyped.output


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_one_request_run_loads_no_numpy_yaml_or_jsonpath(tmp_path: Path) -> None:
    # A smoke run in CI starts fast: what only big runs, files or JSON checks need stays out.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        modules = _modules_after("run", url, "-u", "1", "-i", "1", "--workers", "1", "--quiet",
                                 "--db", str(tmp_path / "runs.db"))  # fmt: skip
    finally:
        server.shutdown()
    assert "loadlens.engine.coordinator" in modules  # it did run
    loaded = [m for m in modules if m.partition(".")[0] in ("numpy", "yaml", "jsonpath_ng")]
    assert not loaded, f"a one-request run imported {loaded}"

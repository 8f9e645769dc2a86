"""Secrets in a target's URL or headers reach the target and nothing else: not the summary,
the result, the reports, the store or an error message (unless `--show-secrets`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from support.cli import CliRun, LoadlensRunner, assert_no_traceback, check_result
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(60)

SECRETS = ("s3cret", "tok123", "sess9")


def _verdict_code(run: CliRun) -> int:
    """0 for a valid run; 98 when a crowded machine made it `contended` (not this file's
    concern: what it checks is what was kept, whatever the verdict)."""
    return 0 if (run.result or {}).get("verdict") == "valid" else 98


def _url(server: TargetServer) -> str:
    # `session` is not secret by default: --secret-param (or the file's setting) makes it so.
    echo = server.url("/echo").replace("http://", "http://alice:s3cret@")
    return f"{echo}?token=tok123&page=2&session=sess9"


def _everything(loadlens: LoadlensRunner, run: CliRun) -> dict[str, str]:
    """Every text the run showed or kept: its output, result, reports and store."""
    tmp = loadlens.tmp_path
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    for path in [*tmp.glob("run*.json"), tmp / "r.html", tmp / "r.xml", *tmp.glob("csv/*.csv"),
                 loadlens.home / ".loadlens" / "runs.db"]:  # fmt: skip
        texts[path.name] = path.read_bytes().decode("utf-8", "replace")
    return texts


def _run(loadlens: LoadlensRunner, *args: str) -> CliRun:
    tmp = loadlens.tmp_path
    return loadlens.run(*args, "-u", "1", "-i", "2", "--html", str(tmp / "r.html"), "--junit",
                        str(tmp / "r.xml"), "--csv", str(tmp / "csv"), quiet=False)  # fmt: skip


def test_secrets_are_sent_to_the_target_and_masked_everywhere_else(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = _run(loadlens, _url(target_server), "--secret-param", "session")
    assert run.returncode == _verdict_code(run), run.describe()
    echo = target_server.last_echo
    assert echo is not None
    assert echo.header("authorization") == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert echo.query == {"token": "tok123", "page": "2", "session": "sess9"}

    texts = _everything(loadlens, run)
    assert len(texts) == 9  # stdout, stderr, result, html, junit, 3 csv, store
    for where, text in texts.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{leaked} in {where}"
    result = check_result(run.result)
    assert result["secrets_shown"] is False
    assert result["endpoints"][0]["url"] == (
        target_server.url("/echo").replace("http://", "http://alice:***@")
        + "?token=***&page=2&session=***"
    )
    assert "page=2" in texts["r.html"] and "page=2" in texts["stdout"]
    for name in ("r.html", "r.xml", "run1.json"):
        assert (loadlens.tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_show_secrets_keeps_them_and_says_so(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = _run(loadlens, _url(target_server), "--secret-param", "session", "--show-secrets")
    assert run.returncode == _verdict_code(run), run.describe()
    texts = _everything(loadlens, run)
    for where in ("run1.json", "r.html", "r.xml", "endpoints.csv", "runs.db"):
        assert all(s in texts[where] for s in SECRETS), where
    result = check_result(run.result)
    assert result["secrets_shown"] is True
    assert "--show-secrets" in run.stdout  # the summary says the secrets are shown


def test_a_scenario_file_names_its_secret_params_and_a_steps_own_authorization_wins(
    loadlens: LoadlensRunner, target_server: TargetServer, tmp_path: Path
) -> None:
    base = target_server.url("").replace("http://", "http://bob:filepass@")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"""
base_url: {base}
secret_params: [session]
load: {{users: 1, iterations: 1}}
flows:
  - name: both
    steps:
      - {{path: "/echo?session=sess9&page=2"}}
      - {{path: /echo, headers: {{Authorization: Bearer own-token}}}}
""")
    run = loadlens.run(str(scenario))
    assert run.returncode == _verdict_code(run), run.describe()
    first, second = target_server.echoes
    assert first.header("authorization") == "Basic " + base64.b64encode(b"bob:filepass").decode()
    assert second.header("authorization") == "Bearer own-token"
    text = json.dumps(run.result)
    assert "sess9" not in text and "filepass" not in text and "own-token" not in text
    assert "session=***&page=2" in text


def test_an_error_message_masks_the_secrets_it_quotes(loadlens: LoadlensRunner) -> None:
    url = "http://alice:s3cret@no-such-host.invalid/?token=tok123"
    run = loadlens.run(url, "-d", "1s", timeout=30)
    assert run.returncode == 2, run.describe()
    assert_no_traceback(run)
    assert "cannot resolve" in run.stderr and "http://alice:***@no-such-host" in run.stderr
    assert "s3cret" not in run.stderr and "tok123" not in run.stderr
    shown = loadlens.run(url, "-d", "1s", "--show-secrets", timeout=30)
    assert shown.returncode == 2 and "s3cret" in shown.stderr


def test_a_bad_secret_param_is_a_usage_error(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    run = loadlens.run(target_server.url("/ok"), "--secret-param", "a=b", timeout=30)
    assert run.returncode == 2 and "'a=b' is not a query parameter name" in run.stderr
    assert run.result is None

"""Bad input: exit code 2, a message that says what is wrong, no traceback, no load sent."""

from __future__ import annotations

import subprocess

import pytest

from support.cli import LoadlensRunner, _env, assert_no_traceback
from support.target_server import TargetServer

pytestmark = pytest.mark.timeout(60)

# (what the user typed after `run`, words of which at least one must be in the message)
BAD_URLS = [
    (["notaurl"], ["notaurl", "url"]),
    (["http://"], ["http://", "host", "url"]),
    (["ftp://x"], ["ftp", "scheme", "url"]),
]
BAD_FLAGS = [
    (["-d", "10parsecs"], ["10parsecs"]),
    (["--rate", "abc"], ["abc"]),
    (["-u", "-5"], ["-5", "users"]),
    (["-u", "0"], ["users", "-u"]),
    (["--threshold", "p95<<fast"], ["p95<<fast"]),
    (["--timeout", "soon"], ["soon"]),
    (["--stages", "1s"], ["stage", "1s"]),
    (["--rate-stages", "1s:fast"], ["stage", "fast"]),
    (["-H", "NoColonHere"], ["NoColonHere", "header"]),
    (["--json", "{not json"], ["json"]),
    (["--rate", "10/s", "--stages", "1s:5"], ["cannot be used together"]),
    (["--max-users", "5"], ["--max-users"]),
    (["--body", "@/nonexistent/body.bin"], ["/nonexistent/body.bin"]),
    (["-X", "BREW"], ["brew", "method"]),
]


def _check_rejected(run, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert run.returncode == 2, run.describe()
    assert_no_traceback(run)
    message = run.stderr.lower()
    assert message.strip(), "no message on stderr"
    assert any(word.lower() in message for word in words), (
        f"stderr does not mention any of {words}:\n{run.stderr}"
    )
    assert run.result is None, "a result file was written for bad input"


@pytest.mark.parametrize(("args", "words"), BAD_URLS, ids=[a[0] for a, _ in BAD_URLS])
def test_bad_url_is_rejected(loadlens: LoadlensRunner, args: list[str], words: list[str]) -> None:
    run = loadlens.run(*args, "-d", "1s", timeout=30)
    _check_rejected(run, words)


@pytest.mark.parametrize(("args", "words"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_value_is_rejected(
    loadlens: LoadlensRunner, target_server: TargetServer, args: list[str], words: list[str]
) -> None:
    run = loadlens.run(target_server.url("/ok"), *args, timeout=30)
    _check_rejected(run, words)
    assert target_server.requests_seen == 0, "load was sent despite bad input"


def test_unwritable_out_is_refused_before_any_load(
    loadlens: LoadlensRunner, target_server: TargetServer
) -> None:
    cmd = loadlens.command(target_server.url("/ok"), "-d", "1s", "--out", "/proc/nowhere/run.json",
                           out=None)  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=_env(loadlens.home))
    assert proc.returncode == 2, proc.stderr
    assert "--out" in proc.stderr
    assert target_server.requests_seen == 0

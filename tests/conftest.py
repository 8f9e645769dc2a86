"""Shared fixtures: a real target server per test and a runner for the loadlens CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ on sys.path so `support` imports the same way from every test directory.
_TESTS = Path(__file__).resolve().parent
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from support.cli import LoadlensRunner  # noqa: E402
from support.target_server import TargetServer  # noqa: E402


@pytest.fixture
def target_server() -> Iterator[TargetServer]:
    """A plain-HTTP target server on 127.0.0.1, fresh for each test."""
    with TargetServer() as server:
        yield server


@pytest.fixture
def loadlens(tmp_path: Path) -> LoadlensRunner:
    """Runs `python -m loadlens run ...` with --out in tmp_path and --quiet."""
    return LoadlensRunner(tmp_path)


@pytest.fixture
def pg_url() -> str:
    """The test PostgreSQL's URL (.ci/run starts PostgreSQL and sets it); CI never skips."""
    url = os.environ.get("LOADLENS_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI sets LOADLENS_TEST_PG_URL (.ci/run starts PostgreSQL); it is missing")
        pytest.skip("no PostgreSQL here: set LOADLENS_TEST_PG_URL (as .ci/run does) to test it")
    return url

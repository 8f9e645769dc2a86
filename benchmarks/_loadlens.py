"""Running the `loadlens run` CLI as a measured child and reading its result file."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadlens
from _proc import Measured, pinned, python_executable, run_measured

# 0 valid, 98 generator-bound (expected when the generator is saturated on purpose),
# 99 a threshold crossed: all three still produce a full, trustworthy result file.
ACCEPTED_EXIT_CODES = frozenset({0, 98, 99})


@dataclass(frozen=True)
class LoadlensRun:
    """One finished `loadlens run`: the process as measured and its RunResult JSON."""

    measured: Measured
    result: dict[str, Any]

    @property
    def requests(self) -> int:
        """`totals.requests` from the result file."""
        return int(self.result["totals"]["requests"])

    @property
    def failures(self) -> int:
        """`totals.failures` from the result file."""
        return int(self.result["totals"]["failures"])

    def latency_ms(self, name: str) -> float:
        """One field of `totals.latency` (`p50`, `p99`, ...), in milliseconds."""
        return float(self.result["totals"]["latency"][name])

    @property
    def verdict(self) -> str:
        """The run's verdict (valid, generator-bound, inconclusive)."""
        return str(self.result.get("verdict", "?"))


def loadlens_command(url: str, users: int, duration: str, extra: Sequence[str] = ()) -> list[str]:
    """`python -m loadlens run URL -u USERS -d DURATION --quiet` plus `extra` flags."""
    return [
        python_executable(), "-m", "loadlens", "run", url,
        "-u", str(users), "-d", duration, "--quiet", *extra,
    ]  # fmt: skip


def loadlens_script() -> str:
    """The venv's `loadlens` console script, beside its python: the command a user types."""
    script = Path(python_executable()).parent / "loadlens"
    if not script.exists():
        raise SystemExit(f"no loadlens console script beside {python_executable()}")
    return str(script)


def check_cli() -> None:
    """Fail early, and say why, if `python -m loadlens run --help` does not work.

    Also compiles the package's bytecode first: an installed loadlens has it, but an
    editable checkout under PYTHONDONTWRITEBYTECODE (as some shells and CI set) would
    compile every module on every launch, and that CPU is not loadlens's to measure.
    """
    subprocess.run(
        [python_executable(), "-m", "compileall", "-q", str(Path(loadlens.__file__).parent)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    probe = subprocess.run(
        [python_executable(), "-m", "loadlens", "run", "--help"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise SystemExit(
            f"loadlens CLI not usable with {python_executable()} "
            f"(exit {probe.returncode}):\n{probe.stderr.strip()}"
        )


def run_loadlens(
    url: str,
    users: int,
    duration_s: float,
    *,
    extra: Sequence[str] = (),
    core: int | None = None,
    keep: set[int] | None = None,
    sample: Callable[[int], None] | None = None,
) -> LoadlensRun:
    """Run loadlens to completion (pinned to `core` if given) and load its --out file."""
    with tempfile.TemporaryDirectory(prefix="loadlens-bench-") as tmp:
        out = Path(tmp) / "run.json"
        command = loadlens_command(url, users, f"{duration_s:g}s", [*extra, "--out", str(out)])
        measured = run_measured(
            pinned(command, core), timeout=duration_s + 120, keep=keep, sample=sample
        )
        if measured.returncode not in ACCEPTED_EXIT_CODES:
            raise RuntimeError(describe_failure(measured))
        if not out.exists():
            raise RuntimeError(f"loadlens exited {measured.returncode} without writing --out")
        return LoadlensRun(measured=measured, result=json.loads(out.read_text()))


def describe_failure(measured: Measured) -> str:
    """A one-paragraph account of a loadlens run that exited abnormally."""
    tail = (measured.stderr or measured.stdout).strip().splitlines()[-15:]
    return f"loadlens exited {measured.returncode}:\n" + "\n".join(tail)

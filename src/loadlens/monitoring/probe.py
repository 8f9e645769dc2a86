"""What every monitor is: a probe sampled once a second, and how it says it has gone."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Probe", "ProbeGone"]


class ProbeGone(Exception):
    """The monitored thing is gone (the process exited, the agent stopped answering)."""


class Probe(Protocol):
    """A source of per-second samples about the target side."""

    name: str  # what results call it: "process", "host", "postgresql"
    kind: str
    target: str  # what it watches, in words: "pid 4121 (python, 3 processes)"

    def start(self) -> None:
        """Take the baseline the first sample's deltas are measured from."""

    def sample(self) -> dict[str, Any]:
        """The figures of the second since the last call; raises ProbeGone when gone."""

    def stop(self) -> None:
        """Release what it holds."""

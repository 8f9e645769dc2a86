"""What every monitor is: a probe sampled once a second, and how it says it has gone."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Probe", "ProbeGone", "SampleSkipped"]


class ProbeGone(Exception):
    """The monitored thing is gone (the process exited, the agent stopped answering)."""


class SampleSkipped(ProbeGone):
    """This second's sample could not be taken (an answer too large or too late); the
    next one may be.

    A kind of ProbeGone so that a caller which knows only ProbeGone (a monitor being set
    up before the run) refuses it the safe way; `MonitorSet` notes it and samples on.
    """


class Probe(Protocol):
    """A source of per-second samples about the target side."""

    name: str  # what results call it: "process", "host", "postgresql"
    kind: str
    target: str  # what it watches, in words: "pid 4121 (python, 3 processes)"

    def start(self) -> None:
        """Take the baseline the first sample's deltas are measured from."""

    def sample(self) -> dict[str, Any]:
        """The figures of the second since the last call; raises ProbeGone when gone,
        SampleSkipped when only this second's figures are lost."""

    def stop(self) -> None:
        """Release what it holds."""

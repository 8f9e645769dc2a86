"""Runs the probes once a second on the run's own clock, beside the load, in a thread.

A thread in the coordinator (not a worker) so sampling never shares a loop with the
requests being timed; probes are quick blocking reads (/proc, a socket), and the
coordinator is idle between worker snapshots.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from loadlens.monitoring.probe import Probe, ProbeGone, SampleSkipped

__all__ = ["MonitorSet"]


@dataclass
class _Track:
    probe: Probe
    timeline: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Why samples were skipped -> [the first second, how many]: one note per reason, not
    # one a second for an endpoint that is always too slow or too large.
    skipped: dict[str, list[int]] = field(default_factory=dict)
    summary: dict[str, Any] | None = None  # what a probe tells about the whole run
    alive: bool = True
    cpu_ns: int = 0  # the CPU this probe cost loadlens (start, samples, summary, stop)


class MonitorSet:
    """The run's monitors: started at run time 0, a sample per second, stopped at the end."""

    def __init__(self, probes: list[Probe]) -> None:
        self._tracks = [_Track(probe) for probe in probes]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0_ns = 0

    def __bool__(self) -> bool:
        return bool(self._tracks)

    def start(self, t0_ns: int) -> None:
        """Take the baselines now and sample at t0 + 1 s, t0 + 2 s, ... (CLOCK_MONOTONIC)."""
        self._t0_ns = t0_ns
        for track in self._tracks:
            self._guard(track, track.probe.start, at=0)
        self._thread = threading.Thread(target=self._loop, name="loadlens-monitors", daemon=True)
        self._thread.start()

    def _guard(self, track: _Track, call: Any, at: int) -> Any:
        """Run a probe call; a probe that fails is noted and stopped, never the run."""
        # Thread CPU time, not wall time: what sampling takes from the generator's cores
        # (a probe waiting on a slow database costs nothing while it waits).
        cpu_start = time.thread_time_ns()
        try:
            return call()
        except SampleSkipped as e:  # before ProbeGone, which it is a kind of
            track.skipped.setdefault(str(e), [at, 0])[1] += 1
            return None
        except ProbeGone as e:
            track.notes.append(f"{track.probe.target or track.probe.name}: {e} (at {at} s); "
                               "no samples after that")  # fmt: skip
        except Exception as e:  # a probe's bug must not cost the load results
            track.notes.append(f"{track.probe.name} failed at {at} s: {type(e).__name__}: {e}")
        finally:
            track.cpu_ns += time.thread_time_ns() - cpu_start
        track.alive = False
        return None

    def _loop(self) -> None:
        second = 1
        while not self._stop.is_set():
            due = self._t0_ns + second * 1_000_000_000
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0 and self._stop.wait(delay):
                break
            for track in self._tracks:
                if track.alive:
                    sample = self._guard(track, track.probe.sample, at=second)
                    if sample is not None:
                        track.timeline.append({"t": second - 1, **sample})
            second = max(second + 1, int((time.monotonic_ns() - self._t0_ns) / 1e9) + 1)

    def stop(self) -> None:
        """Stop sampling (a partial last second is left out) and release the probes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for track in self._tracks:
            summarise = getattr(track.probe, "summary", None)
            if summarise is not None and track.alive:
                track.summary = self._guard(track, summarise, at=-1)
            try:
                track.probe.stop()
            except Exception as e:
                track.notes.append(f"{track.probe.name} did not stop cleanly: {e}")

    def results(self) -> dict[str, Any]:
        """`monitors` for the RunResult: each probe's kind, target, timeline and notes, and
        the CPU it cost loadlens (`cpu_ms`)."""
        out: dict[str, Any] = {}
        for track in self._tracks:
            skips = [_skip_note(track, reason, first, count)
                     for reason, (first, count) in track.skipped.items()]  # fmt: skip
            name = track.probe.name
            while name in out:
                name += "'"
            out[name] = {
                "kind": track.probe.kind,
                "target": track.probe.target,
                "timeline": list(track.timeline),
                "notes": track.notes + skips,
                "cpu_ms": round(track.cpu_ns / 1e6, 3),
            }
            if track.summary is not None:
                out[name]["summary"] = track.summary
        return out


def _skip_note(track: _Track, reason: str, first: int, count: int) -> str:
    when = "at the end" if first < 0 else f"at {first} s"  # -1: the end-of-run summary
    later = f" and {count - 1} more time{'s' if count > 2 else ''}" if count > 1 else ""
    return f"{track.probe.target or track.probe.name}: {reason}; sample skipped {when}{later}"

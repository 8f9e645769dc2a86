"""Request counts that add up: one endpoint's second on a worker, or a whole run."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadlens.metrics.server_timing import MAX_COMPONENTS

__all__ = ["Counts"]


@dataclass(slots=True)
class Counts:
    """Requests, failures, bytes, status codes, error kinds and Server-Timing, mergeable.

    `server_timing` is, per metric name, [responses, sum of durations, max duration] in
    ms; at most MAX_COMPONENTS names are kept (a server naming a metric per query id
    must not grow it without bound).
    """

    requests: int = 0
    failures: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    status_codes: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    server_timing: dict[str, list[float]] = field(default_factory=dict)

    def merge(self, other: Counts) -> None:
        """Add `other`'s counts to these."""
        self.requests += other.requests
        self.failures += other.failures
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        codes = self.status_codes
        for code, n in other.status_codes.items():
            codes[code] = codes.get(code, 0) + n
        errors = self.errors
        for kind, n in other.errors.items():
            errors[kind] = errors.get(kind, 0) + n
        for name, (count, total, peak) in other.server_timing.items():
            self.add_timing(name, count, total, peak)

    def add_timing(self, name: str, count: float, total_ms: float, peak_ms: float) -> None:
        """Fold `count` responses' Server-Timing metric `name` into these."""
        kept = self.server_timing.get(name)
        if kept is None:
            if len(self.server_timing) >= MAX_COMPONENTS:
                return
            kept = self.server_timing[name] = [0, 0.0, 0.0]
        kept[0] += count
        kept[1] += total_ms
        if peak_ms > kept[2]:
            kept[2] = peak_ms

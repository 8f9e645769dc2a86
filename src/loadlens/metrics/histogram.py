"""Latency histograms: HDR for percentiles, plus exact count, sum, min and max.

Values are nanoseconds. HDR keeps 3 significant digits (0.1% relative error) over
1 us .. 1 h in bounded memory, and merges exactly across workers and seconds. Nothing is
rounded before it reaches the histogram, and nothing is sampled away.
"""

from __future__ import annotations

import sys
import weakref
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from types import ModuleType

from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_NS",
    "PERCENTILES",
    "HistogramData",
    "LatencyHistogram",
    "encoded_percentile_ms",
]

LOWEST_NS = 1_000
HIGHEST_NS = 3_600 * 1_000_000_000
SIGNIFICANT_FIGURES = 3
PERCENTILES = {"p50": 50.0, "p75": 75.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
# Batches up to this size are folded value by value in Python (~0.3 us each); bigger ones
# with numpy, which costs ~0.2 s to import: a smoke run of a few requests never pays it.
SMALL_BATCH = 2048

_numpy: ModuleType | None = None


def numpy_module() -> ModuleType:
    """numpy, imported on first use (a worker that will fold big batches asks early)."""
    global _numpy
    if _numpy is None:
        import numpy

        _numpy = numpy
    return _numpy


@dataclass(slots=True)
class HistogramData:
    """A histogram as it travels between processes: HDR bytes plus exact moments."""

    encoded: bytes
    count: int
    sum_ns: int
    min_ns: int
    max_ns: int
    clamped: int


class LatencyHistogram:
    """An HDR histogram of nanosecond values that also keeps exact sum, min and max."""

    __slots__ = ("_h", "clamped", "count", "max_ns", "min_ns", "sum_ns")

    def __init__(self, hdr: HdrHistogram | None = None) -> None:
        self._h = (
            hdr if hdr is not None else HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES)
        )
        # hdrh's histogram and its encoder refer to each other: a cycle, so a histogram
        # dropped (several a second, each with 200 KB of counts) waits for the cyclic
        # collector, which a worker runs rarely: ~0.8 MB/s of garbage at 11k requests/s.
        # The encoder only needs the histogram while the histogram is alive.
        self._h.encoder.histogram = weakref.proxy(self._h)
        self.count = int(self._h.total_count)
        self.sum_ns = 0
        self.min_ns = int(self._h.get_min_value()) if self.count else sys.maxsize
        self.max_ns = int(self._h.get_max_value()) if self.count else 0
        self.clamped = 0

    def record(self, value_ns: int) -> None:
        """Record one value."""
        self.record_many(array("q", [value_ns]))

    def record_many(self, values: array[int]) -> None:
        """Record a batch of values (the worker's hot path appends to an array, folded here).

        Computes the same bucket index as HdrHistogram.record_value, whose per-value call
        costs ~2 us (at 50k requests/s a tenth of the generator's CPU): inline for a small
        batch, vectorised with numpy for a big one. tests/unit/test_histogram.py checks
        both agree with HDR.
        """
        n = len(values)
        if not n:
            return
        low = min(values)
        high = max(values)
        if low < 0:  # (a clock step backwards: counted as 0, never dropped)
            values = array("q", (v if v > 0 else 0 for v in values))
            low = 0
        self.sum_ns += sum(values)
        if high > HIGHEST_NS:
            # Above the range: clamped to the top and counted, never dropped.
            self.clamped += sum(1 for v in values if v > HIGHEST_NS)
            values = array("q", (v if v <= HIGHEST_NS else HIGHEST_NS for v in values))
        if n <= SMALL_BATCH:
            self._fold_small(values)
        else:
            self._fold_large(values)
        self.min_ns = min(self.min_ns, low)
        self.max_ns = max(self.max_ns, high)
        h = self._h
        h.total_count += n
        h.min_value = min(h.min_value, low)
        h.max_value = max(h.max_value, min(high, HIGHEST_NS))
        self.count += n

    def _fold_small(self, values: array[int]) -> None:
        h = self._h
        counts = h.counts
        mask = h.sub_bucket_mask
        unit = h.unit_magnitude
        half_magnitude = h.sub_bucket_half_count_magnitude
        half = h.sub_bucket_half_count
        shift = unit + half_magnitude + 1
        for v in values:
            bucket = (v | mask).bit_length() - shift
            counts[((bucket + 1) << half_magnitude) + (v >> (bucket + unit)) - half] += 1

    def _fold_large(self, values: array[int]) -> None:
        np = numpy_module()
        h = self._h
        v = np.frombuffer(values, dtype=np.int64)
        magnitude = np.frexp((v | h.sub_bucket_mask).astype(np.float64))[1].astype(np.int64)
        bucket = magnitude - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
        sub_bucket = np.right_shift(v, bucket + h.unit_magnitude)
        index = (
            ((bucket + 1) << h.sub_bucket_half_count_magnitude)
            + sub_bucket
            - h.sub_bucket_half_count
        )
        counts = np.ctypeslib.as_array(h.counts)
        counts += np.bincount(index, minlength=counts.size).astype(counts.dtype)

    def merge(self, other: LatencyHistogram | HistogramData) -> None:
        """Add another histogram's values to this one (exact)."""
        if isinstance(other, HistogramData):
            if not other.count:
                return
            other = LatencyHistogram.from_data(other)
        if not other.count:
            return
        self._h.add(other._h)
        self.count += other.count
        self.sum_ns += other.sum_ns
        self.min_ns = min(self.min_ns, other.min_ns)
        self.max_ns = max(self.max_ns, other.max_ns)
        self.clamped += other.clamped

    def to_data(self) -> HistogramData:
        """Encode for another process (HDR's compressed form; the object does not pickle)."""
        encoded = self._h.encode() if self.count else b""
        return HistogramData(
            encoded, self.count, self.sum_ns, self.min_ns, self.max_ns, self.clamped
        )

    @classmethod
    def from_data(cls, data: HistogramData) -> LatencyHistogram:
        """Rebuild a histogram from its encoded form."""
        if not data.count:
            return cls()
        hist = cls(HdrHistogram.decode(data.encoded))
        hist.count = data.count
        hist.sum_ns = data.sum_ns
        hist.min_ns = data.min_ns
        hist.max_ns = data.max_ns
        hist.clamped = data.clamped
        return hist

    @classmethod
    def from_encoded(cls, encoded: str | bytes) -> LatencyHistogram:
        """Rebuild from the base64 HDR string stored in a result file (moments from HDR)."""
        hist = cls(HdrHistogram.decode(encoded.encode() if isinstance(encoded, str) else encoded))
        if hist.count:
            # The sum is not stored: each bucket's count at its middle value, as HDR's
            # get_mean_value takes it (whose iterators are reference cycles, left behind
            # for the cyclic collector, and which walk every empty bucket too).
            h = hist._h
            total = 0
            for index, n in enumerate(hist._used_counts()):
                if n:
                    low = h.get_value_from_index(index)
                    total += n * ((low + h.get_highest_equivalent_value(low) + 1) // 2)
            hist.sum_ns = total
        return hist

    def _used_counts(self) -> array[int]:
        """The bucket counts up to the last non-zero one, as one copy of their bytes
        (reading a ctypes array item by item costs ~0.2 us each, over 24,576 buckets)."""
        raw = bytes(self._h.counts)
        counts = array("q")
        counts.frombytes(raw[: (len(raw.rstrip(b"\0")) + 7) // 8 * 8])
        return counts

    def encode(self) -> str:
        """The HDR histogram as a base64 string, readable by any HdrHistogram library."""
        return self._h.encode().decode() if self.count else ""

    def percentiles_ns(self, *percentiles: float) -> dict[float, int]:
        """Values at the given percentiles (the top of each HDR bucket), in one pass."""
        if not self.count:
            return {p: 0 for p in percentiles}
        h = self._h
        # HdrHistogram.get_percentile_to_value_dict without its walk, which calls Python
        # once per bucket (~20 ms a histogram, every second of a run in the coordinator):
        # one running sum in C and a binary search per percentile find the same buckets.
        # tests/unit/test_histogram.py checks both agree.
        counts = self._used_counts()
        if not counts:
            return {p: 0 for p in percentiles}
        cumulative = list(accumulate(counts))
        out: dict[float, int] = {}
        for p in percentiles:
            target = max(int(min(p, 100.0) * h.total_count / 100 + 0.5), 1)
            # (min: counts short of the total, as a truncated decode can be, give the top)
            index = min(bisect_left(cumulative, target), bisect_left(cumulative, cumulative[-1]))
            value = h.get_value_from_index(index)
            if p:
                value = h.get_highest_equivalent_value(value)
            else:
                value = h.get_lowest_equivalent_value(value)
            # HDR reports a bucket's highest equivalent value, which can exceed the true max.
            out[p] = min(int(value), self.max_ns)
        return out

    def summary_ms(self) -> dict[str, float | int]:
        """min, mean, p50..p99.9 and max in milliseconds, plus the count."""
        if not self.count:
            return {
                "count": 0,
                "min": 0.0,
                "mean": 0.0,
                **{k: 0.0 for k in PERCENTILES},
                "max": 0.0,
            }
        values = self.percentiles_ns(*PERCENTILES.values())
        out: dict[str, float | int] = {
            "count": self.count,
            "min": self.min_ns / 1e6,
            "mean": self.sum_ns / self.count / 1e6,
        }
        for key, p in PERCENTILES.items():
            out[key] = values[p] / 1e6
        out["max"] = self.max_ns / 1e6
        return out


def encoded_percentile_ms(encoded: str, percentile: float) -> float:
    """The value at `percentile` of a histogram stored as base64 HDR (a result's
    `histograms`), in ms; 0 for an empty one. Cheaper than `from_encoded`: no mean."""
    if not encoded:
        return 0.0
    hdr = HdrHistogram.decode(encoded.encode())
    return float(hdr.get_value_at_percentile(percentile)) / 1e6

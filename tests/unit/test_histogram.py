"""The latency histogram: same buckets as HdrHistogram, exact moments, exact merge."""

from __future__ import annotations

import random
from array import array

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadlens.metrics.histogram import HIGHEST_NS, LOWEST_NS, SIGNIFICANT_FIGURES, LatencyHistogram


def test_batch_fold_matches_hdr_record_value() -> None:
    rng = random.Random(7)
    values = [
        rng.choice([rng.randint(0, 5_000), rng.randint(1_000, 10**8), rng.randint(10**8, 10**12)])
        for _ in range(20_000)
    ]
    ours = LatencyHistogram()
    ours.record_many(array("q", values))
    reference = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES)
    for v in values:
        reference.record_value(v)
    assert np.array_equal(np.ctypeslib.as_array(reference.counts), ours._counts)
    assert ours.count == reference.total_count == 20_000
    for p in (50, 90, 99, 99.9):
        assert ours.percentiles_ns(p)[p] == min(reference.get_value_at_percentile(p), ours.max_ns)


def test_exact_mean_min_max_and_no_rounding() -> None:
    h = LatencyHistogram()
    h.record_many(array("q", [1_234_567, 2_000_001, 50_000_123]))
    s = h.summary_ms()
    assert s["min"] == 1.234567
    assert s["max"] == 50.000123
    assert s["mean"] == pytest.approx((1_234_567 + 2_000_001 + 50_000_123) / 3 / 1e6)


def test_values_above_range_are_clamped_and_counted_not_dropped() -> None:
    h = LatencyHistogram()
    h.record_many(array("q", [10_000, HIGHEST_NS * 2]))
    assert h.count == 2
    assert h.clamped == 1
    assert h.max_ns == HIGHEST_NS * 2  # the exact max is kept


def test_merge_through_encoding_is_exact() -> None:
    rng = random.Random(3)
    parts = [array("q", [rng.randint(10**5, 10**9) for _ in range(5_000)]) for _ in range(3)]
    whole = LatencyHistogram()
    merged = LatencyHistogram()
    for part in parts:
        whole.record_many(part)
        h = LatencyHistogram()
        h.record_many(part)
        merged.merge(h.to_data())  # as shipped between processes
    assert merged.count == whole.count
    assert merged.sum_ns == whole.sum_ns
    assert np.array_equal(merged._counts, whole._counts)
    assert merged.summary_ms() == whole.summary_ms()


def test_encoded_form_round_trips() -> None:
    h = LatencyHistogram()
    h.record_many(array("q", [5_000_000] * 10 + [80_000_000]))
    back = LatencyHistogram.from_encoded(h.encode())
    assert back.count == 11
    assert back.percentiles_ns(50)[50] == pytest.approx(5_000_000, rel=1e-3)

"""The latency histogram: same buckets as HdrHistogram, exact moments, exact merge."""

from __future__ import annotations

import gc
import random
from array import array

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from loadlens.metrics.histogram import (
    HIGHEST_NS,
    LOWEST_NS,
    SIGNIFICANT_FIGURES,
    SMALL_BATCH,
    LatencyHistogram,
)


@pytest.mark.parametrize("n", [SMALL_BATCH, 20_000], ids=["inline", "numpy"])
def test_batch_fold_matches_hdr_record_value(n: int) -> None:
    rng = random.Random(7)
    values = [
        rng.choice([rng.randint(0, 5_000), rng.randint(1_000, 10**8), rng.randint(10**8, 10**12)])
        for _ in range(n)
    ]
    ours = LatencyHistogram()
    ours.record_many(array("q", values))
    reference = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES)
    for v in values:
        reference.record_value(v)
    assert list(reference.counts) == list(ours._h.counts)
    assert ours.count == reference.total_count == n
    for p in (50, 90, 99, 99.9):
        assert ours.percentiles_ns(p)[p] == min(reference.get_value_at_percentile(p), ours.max_ns)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_hdr_walk_also_after_decoding(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 7, 1_000, 30_000])
    values = [int(rng.lognormvariate(15, 2)) for _ in range(n)]
    ours = LatencyHistogram()
    ours.record_many(array("q", values))
    asked = (0.0, 1.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)
    for hist in (ours, LatencyHistogram.from_data(ours.to_data())):
        reference = hist._h.get_percentile_to_value_dict(list(asked))
        got = hist.percentiles_ns(*asked)
        assert got == {p: min(int(v), hist.max_ns) for p, v in reference.items()}


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
    assert list(merged._h.counts) == list(whole._h.counts)
    assert merged.summary_ms() == whole.summary_ms()


def test_encoded_form_round_trips() -> None:
    h = LatencyHistogram()
    h.record_many(array("q", [5_000_000] * 10 + [80_000_000, 123_456]))
    back = LatencyHistogram.from_encoded(h.encode())
    assert back.count == 12
    assert back.sum_ns == int(h._h.get_mean_value() * 12)  # each bucket at its middle, as HDR
    assert back.percentiles_ns(50)[50] == pytest.approx(5_000_000, rel=1e-3)


_VALUES = st.lists(
    st.one_of(
        st.integers(-5, 10**6),
        st.integers(10**6, 10**10),
        st.integers(HIGHEST_NS - 5, HIGHEST_NS * 3),
    ),
    max_size=3 * SMALL_BATCH,
)  # (negative: a clock step; above HIGHEST_NS: clamped and counted)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(parts=st.lists(_VALUES, min_size=1, max_size=4))
def test_merging_the_parts_equals_recording_the_whole(parts: list[list[int]]) -> None:
    # However a run's values are split (workers, seconds) and however each part is folded
    # (inline or numpy), the merged histogram through the wire format is the whole one.
    whole = LatencyHistogram()
    whole.record_many(array("q", [v for part in parts for v in part]))
    merged = LatencyHistogram()
    for part in parts:
        piece = LatencyHistogram()
        piece.record_many(array("q", part))
        merged.merge(piece.to_data())
    assert (merged.count, merged.sum_ns, merged.min_ns if merged.count else 0, merged.max_ns,
            merged.clamped) == (whole.count, whole.sum_ns, whole.min_ns if whole.count else 0,
                                whole.max_ns, whole.clamped)  # fmt: skip
    assert list(merged._h.counts) == list(whole._h.counts)
    assert merged.summary_ms() == whole.summary_ms()


def test_a_dropped_histogram_is_freed_at_once_not_left_to_the_cyclic_collector() -> None:
    # A worker makes several a second, each with 200 KB of counts, and runs the cyclic
    # collector rarely: a cycle per histogram grew a worker by ~0.8 MB/s (benchmarks/soak.py).
    def churn() -> None:
        h = LatencyHistogram()
        h.record_many(array("q", [1_000_000, 2_000_000]))
        LatencyHistogram.from_data(h.to_data()).merge(h)
        LatencyHistogram.from_encoded(h.encode())

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage
    try:
        for _ in range(20):
            churn()
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if type(o).__module__.startswith("hdrh")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []  # (ctypes' own array types may show up: one each, not per histogram)

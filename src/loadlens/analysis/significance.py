"""Two-sample tests for comparing runs: is a difference bigger than run-to-run noise?

Written here (about forty lines on numpy) rather than pulling in SciPy, a large dependency
for two textbook tests: Mann-Whitney U with the normal approximation (tie- and
continuity-corrected), and the two-proportion z-test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mann_whitney_p", "two_proportion_p"]


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value that samples `a` and `b` come from the same distribution.

    Distribution-free: per-second figures of a load test are skewed and often bimodal, so
    a t-test's normality assumption would not hold. Returns 1.0 when either side is empty
    or every value is tied.
    """
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        return 1.0
    values = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # Tied values share the mean of their ranks.
    uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(uniques) < len(values):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    tie_term = float((counts**3 - counts).sum()) / (n * (n - 1))
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return _normal_two_sided(max(z, 0.0))


def two_proportion_p(failures_a: int, total_a: int, failures_b: int, total_b: int) -> float:
    """Two-sided p-value that two failure rates are the same (pooled z-test)."""
    if not total_a or not total_b:
        return 1.0
    pooled = (failures_a + failures_b) / (total_a + total_b)
    variance = pooled * (1 - pooled) * (1 / total_a + 1 / total_b)
    if variance <= 0:
        return 1.0
    z = (failures_a / total_a - failures_b / total_b) / math.sqrt(variance)
    return _normal_two_sided(z)

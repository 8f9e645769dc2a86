"""How far the target scales: Gunther's Universal Scalability Law fitted to a capacity run.

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

N is the mean number of requests in the system during a step (Little's law: throughput ×
mean latency in seconds), X the step's throughput. σ is contention (the serial share of the
work, which caps throughput at λ/σ), κ is coherency (cross-talk between requests, which
makes throughput fall after a peak at N* = sqrt((1−σ)/κ)).

The fit is linear least squares on N/X = a + b(N−1) + c·N(N−1), with a = 1/λ, b = σ/λ,
c = κ/λ. By Little's law N/X is the step's mean latency, so each row is weighted by 1/(N/X):
the fit then minimises relative errors, and a 3% wobble counts the same at 2 requests in
flight as at 200 (unweighted, the slow steps past the peak would decide everything).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
from numpy.typing import NDArray

__all__ = ["MIN_POINTS", "UslFit", "describe", "fit_usl"]

# Three parameters and at least one degree of freedom left to judge the fit by.
MIN_POINTS = 4
# A peak further out than this multiple of the highest measured concurrency is an
# extrapolation of a barely-there κ, not a prediction worth stating.
_PEAK_REACH = 4.0
# A fitted term that moves the denominator by less than this anywhere in the measured range
# is the solver's rounding, not contention: it is set to exactly 0.
_NEGLIGIBLE = 1e-9


@dataclass(frozen=True, slots=True)
class UslFit:
    """The fitted USL parameters of one capacity run and how well they describe it."""

    sigma: float
    kappa: float
    lam: float
    r_squared: float
    points: int

    @property
    def peak_concurrency(self) -> float | None:
        """Requests in flight at which throughput peaks; None when it never falls."""
        if self.kappa <= 0 or self.sigma >= 1:
            return None
        return math.sqrt((1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float | None:
        """Throughput (req/s) at the peak concurrency; None without a peak."""
        peak = self.peak_concurrency
        return None if peak is None else self.throughput_at(peak)

    def throughput_at(self, n: float) -> float:
        """Throughput (req/s) the model predicts at `n` requests in flight."""
        if n < 0:
            raise ValueError(f"concurrency must be >= 0, got {n}")
        denominator = 1 + self.sigma * (n - 1) + self.kappa * n * (n - 1)
        # Only reachable for n < 1 with σ >= 1 (a target that does not scale at all).
        return self.lam * n / denominator if denominator > 0 else math.nan

    def as_dict(self) -> dict[str, float | int | None]:
        """The fit as JSON-ready figures for a report."""
        return {
            "sigma": _significant(self.sigma),
            "kappa": _significant(self.kappa),
            "lam": _significant(self.lam),
            "r_squared": round(self.r_squared, 4),
            "points": self.points,
            "peak_concurrency": _significant_or_none(self.peak_concurrency),
            "peak_throughput": _significant_or_none(self.peak_throughput),
        }


def fit_usl(points: Sequence[tuple[float, float]]) -> UslFit | None:
    """Fit the USL to (concurrency, throughput) steps; None when they cannot support one."""
    usable = [(n, x) for n, x in points if n > 0 and x > 0 and math.isfinite(n * x)]
    if len({n for n, _ in usable}) < MIN_POINTS:
        return None
    n = np.array([p[0] for p in usable])
    x = np.array([p[1] for p in usable])
    # Concurrency below 1 is kept as measured, not clamped to 1. There N−1 < 0, so the
    # σ and κ terms lower the denominator and the model puts X a little above λN (by a
    # factor 1/(1 − (1−N)(σ+κN)), tending to 1/(1−σ) as N→0). The USL was derived
    # for whole users in a closed model, so that is a continuation rather than physics, but a
    # smooth one that still passes through X(0) = 0, and for σ and κ of a few percent the
    # excess is under a step's noise.
    # Clamping would instead pile every low-rate step onto N=1 and lose the slope λ, which
    # those steps measure best. Exact USL data with N < 1 is recovered exactly (tested).
    latency = n / x
    design = np.column_stack([np.ones_like(n), n - 1, n * (n - 1)])
    coefficients = _fit_nonnegative(design, latency, weights=1 / latency)
    if coefficients is None:
        return None
    a, b, c = coefficients
    if not a > 0:
        return None
    sigma, kappa = b / a, c / a
    n_max = float(n.max())
    if sigma * max(n_max - 1, 1) < _NEGLIGIBLE:
        sigma = 0.0
    if kappa * max(n_max * (n_max - 1), 1) < _NEGLIGIBLE:
        kappa = 0.0
    fit = UslFit(sigma=sigma, kappa=kappa, lam=1 / a, r_squared=math.nan, points=len(usable))
    predicted = np.array([fit.throughput_at(float(v)) for v in n])
    if not np.all(np.isfinite(predicted)):
        return None
    return replace(fit, r_squared=_r_squared(x, predicted))


def describe(fit: UslFit, highest_measured_concurrency: float) -> str:
    """One plain-English sentence on where throughput tops out, for a report."""
    fitness = f"R²={fit.r_squared:.2f}"
    peak_n, peak_x = fit.peak_concurrency, fit.peak_throughput
    if peak_n is not None and peak_x is not None:
        if peak_n <= highest_measured_concurrency:
            return (
                f"throughput peaks near {_quantity(peak_x)} req/s at {_in_flight(peak_n)} "
                f"(contention σ={fit.sigma:.2g}, coherency κ={fit.kappa:.2g}, {fitness})"
            )
        if peak_n <= _PEAK_REACH * highest_measured_concurrency:
            return (
                f"throughput should peak near {_quantity(peak_x)} req/s at "
                f"{_in_flight(peak_n)}, beyond the {_quantity(highest_measured_concurrency)} "
                f"measured (contention σ={fit.sigma:.2g}, coherency κ={fit.kappa:.2g}, "
                f"{fitness})"
            )
    if fit.sigma >= 1:
        return (
            f"throughput does not grow with concurrency: contention σ={fit.sigma:.2g} means "
            f"requests in flight beyond the first add nothing (coherency κ={fit.kappa:.2g}, "
            f"{fitness})"
        )
    no_peak = "no throughput peak is predicted within the measured range"
    if fit.sigma > 0:
        return (
            f"{no_peak}; throughput is still scaling; contention σ={fit.sigma:.2g} limits it "
            f"to at most λ/σ = {_quantity(fit.lam / fit.sigma)} req/s "
            f"(coherency κ={fit.kappa:.2g}, {fitness})"
        )
    if fit.kappa > 0:
        return f"{no_peak}; throughput is still scaling (coherency κ={fit.kappa:.2g}, {fitness})"
    return (
        f"{no_peak}; throughput is still scaling linearly, about {_quantity(fit.lam)} req/s "
        f"per request in flight ({fitness})"
    )


def _fit_nonnegative(
    design: NDArray[np.float64], target: NDArray[np.float64], weights: NDArray[np.float64]
) -> tuple[float, float, float] | None:
    """Weighted least squares with the σ and κ columns held >= 0; None if rank-deficient.

    With two bounded coefficients the exact bounded optimum is the best feasible fit over
    the four ways of pinning them at 0 (the problem is convex), so each is tried rather than
    pinning only the one the unconstrained fit made negative: pinning κ can turn σ negative.
    """
    rows = design * weights[:, None]
    goal = target * weights
    best: tuple[float, tuple[float, float, float]] | None = None
    for keep_b, keep_c in product((True, False), repeat=2):
        columns = [0] + [i for i, keep in ((1, keep_b), (2, keep_c)) if keep]
        sub = rows[:, columns]
        # Columns span 1 to N², so scale each to unit size before solving.
        scale = np.abs(sub).max(axis=0)
        scale[scale == 0] = 1.0
        solution, _, rank, _ = np.linalg.lstsq(sub / scale, goal, rcond=None)
        if rank < len(columns):
            continue
        solved = solution / scale
        coefficients = [0.0, 0.0, 0.0]
        for column, value in zip(columns, solved, strict=True):
            coefficients[column] = float(value)
        if coefficients[1] < 0 or coefficients[2] < 0:
            continue
        residual = float(np.sum((rows @ np.array(coefficients) - goal) ** 2))
        if best is None or residual < best[0]:
            best = (residual, (coefficients[0], coefficients[1], coefficients[2]))
    return None if best is None else best[1]


def _r_squared(measured: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    residual = float(np.sum((measured - predicted) ** 2))
    total = float(np.sum((measured - measured.mean()) ** 2))
    if total == 0:
        # Flat throughput: the model explains it fully only if it predicts it flat too.
        return 1.0 if residual <= 1e-12 * float(np.sum(measured**2)) else 0.0
    return 1 - residual / total


def _significant(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def _significant_or_none(value: float | None) -> float | None:
    return None if value is None else _significant(value)


def _quantity(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _in_flight(n: float) -> str:
    figure = _quantity(n)
    return f"{figure} request in flight" if figure == "1" else f"{figure} requests in flight"

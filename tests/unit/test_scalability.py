"""The Universal Scalability Law fit: known parameters back from synthetic capacity runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadlens.analysis import scalability
from loadlens.analysis.scalability import MIN_POINTS, UslFit, describe, fit_usl


def _usl(n: float, sigma: float, kappa: float, lam: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _run(ns: list[float], sigma: float, kappa: float, lam: float) -> list[tuple[float, float]]:
    return [(n, _usl(n, sigma, kappa, lam)) for n in ns]


def test_public_names() -> None:
    assert sorted(scalability.__all__) == ["MIN_POINTS", "UslFit", "describe", "fit_usl"]
    assert MIN_POINTS == 4


def test_exact_data_through_the_peak_and_below_one_in_flight() -> None:
    # Peak at sqrt(0.95 / 0.002) ≈ 21.8; the first two steps are an open model at low rate.
    ns = [0.3, 0.7, 1, 2, 5, 10, 20, 30, 45, 60]
    fit = fit_usl(_run(ns, 0.05, 0.002, 100.0))
    assert fit is not None
    assert fit.sigma == pytest.approx(0.05, rel=1e-9)
    assert fit.kappa == pytest.approx(0.002, rel=1e-9)
    assert fit.lam == pytest.approx(100.0, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.points == 10
    assert fit.peak_concurrency == pytest.approx(math.sqrt(0.95 / 0.002))
    assert fit.peak_throughput == pytest.approx(_usl(math.sqrt(0.95 / 0.002), 0.05, 0.002, 100))
    assert fit.throughput_at(0.3) == pytest.approx(_usl(0.3, 0.05, 0.002, 100.0))
    assert fit.throughput_at(0) == 0.0


def test_exact_data_only_below_a_few_in_flight() -> None:
    # A low-rate open-model sweep: most steps have less than one request in flight.
    fit = fit_usl(_run([0.1, 0.25, 0.5, 0.8, 1.5, 3.0], 0.08, 0.01, 250.0))
    assert fit is not None
    assert (fit.sigma, fit.kappa, fit.lam) == pytest.approx((0.08, 0.01, 250.0), rel=1e-6)


def test_noisy_data_recovers_the_parameters() -> None:
    rng = np.random.default_rng(20261128)
    ns = np.linspace(1, 64, 16)
    exact = np.array([_usl(n, 0.05, 0.002, 100.0) for n in ns])
    measured = exact * (1 + rng.uniform(-0.03, 0.03, len(ns)))
    fit = fit_usl(list(zip(ns.tolist(), measured.tolist(), strict=True)))
    assert fit is not None
    assert fit.sigma == pytest.approx(0.05, abs=0.015)
    assert fit.kappa == pytest.approx(0.002, rel=0.15)
    assert fit.lam == pytest.approx(100.0, rel=0.05)
    assert fit.peak_concurrency == pytest.approx(math.sqrt(0.95 / 0.002), rel=0.05)
    assert fit.peak_throughput == pytest.approx(_usl(21.79, 0.05, 0.002, 100.0), rel=0.03)
    assert 0.95 < fit.r_squared < 1.0


def test_linear_scaling_has_no_peak() -> None:
    fit = fit_usl([(n, 50.0 * n) for n in [0.2, 0.5, 1, 2, 4, 8]])
    assert fit is not None
    assert (fit.sigma, fit.kappa) == (0.0, 0.0)
    assert fit.lam == pytest.approx(50.0)
    assert fit.peak_concurrency is None
    assert fit.peak_throughput is None
    sentence = describe(fit, 8)
    assert "no throughput peak is predicted within the measured range" in sentence
    assert "linearly" in sentence


def test_amdahl_only_names_the_contention_ceiling() -> None:
    fit = fit_usl(_run([0.5, 1, 2, 4, 8, 16], 0.1, 0.0, 100.0))
    assert fit is not None
    assert fit.sigma == pytest.approx(0.1)
    assert fit.kappa == 0.0
    assert fit.peak_concurrency is None
    sentence = describe(fit, 16)
    assert "no throughput peak is predicted within the measured range" in sentence
    assert "σ=0.1" in sentence
    assert "λ/σ = 1000 req/s" in sentence


def test_describe_names_a_measured_peak() -> None:
    fit = fit_usl(_run([1, 2, 5, 10, 20, 30, 45, 60], 0.05, 0.002, 100.0))
    assert fit is not None
    assert describe(fit, 60) == (
        "throughput peaks near 740 req/s at 21.8 requests in flight "
        "(contention σ=0.05, coherency κ=0.002, R²=1.00)"
    )


def test_describe_ignores_a_peak_far_beyond_the_measured_range() -> None:
    # Peak at sqrt(0.98 / 1e-4) ≈ 99, more than 4x the 16 measured.
    fit = fit_usl(_run([1, 2, 4, 8, 16], 0.02, 1e-4, 100.0))
    assert fit is not None
    assert fit.peak_concurrency == pytest.approx(99.0, rel=0.01)
    sentence = describe(fit, 16)
    assert sentence.startswith("no throughput peak is predicted within the measured range")
    assert "λ/σ = 5000 req/s" in sentence


def test_superlinear_data_keeps_sigma_at_zero() -> None:
    # Cache warm-up makes throughput grow faster than N: the unconstrained σ is negative.
    fit = fit_usl([(n, 100.0 * n**1.1) for n in [1, 2, 4, 8, 16]])
    assert fit is not None
    assert fit.sigma == 0.0
    assert fit.kappa == 0.0
    assert fit.lam > 100.0


def test_too_few_points() -> None:
    assert fit_usl(_run([1, 2, 4], 0.05, 0.002, 100.0)) is None
    # Repeating a step adds no information about the curve's shape.
    assert fit_usl(_run([1, 2, 4, 4, 4], 0.05, 0.002, 100.0)) is None
    assert fit_usl([]) is None


def test_garbage_is_dropped_before_fitting() -> None:
    clean = _run([1, 2, 5, 10, 20, 40], 0.05, 0.002, 100.0)
    garbage = [(0.0, 0.0), (-3.0, 50.0), (5.0, 0.0), (5.0, -10.0), (math.nan, 1.0), (math.inf, 1.0)]
    fit = fit_usl(garbage + clean)
    assert fit is not None
    assert fit.points == len(clean)
    assert (fit.sigma, fit.kappa, fit.lam) == pytest.approx((0.05, 0.002, 100.0), rel=1e-9)
    assert fit_usl(garbage + clean[:3]) is None


def test_a_negative_lambda_is_no_fit() -> None:
    # Latency rising so steeply from the first step that the intercept 1/λ comes out negative.
    assert fit_usl([(n, n / (0.5 * (n - 10) + 0.01)) for n in range(10, 21)]) is None


def test_as_dict_is_rounded_for_a_report() -> None:
    fit = UslFit(
        sigma=0.0312345678, kappa=0.000712345678, lam=101.2345678, r_squared=0.981234, points=9
    )
    figures = fit.as_dict()
    assert figures["sigma"] == 0.0312346
    assert figures["kappa"] == 0.000712346
    assert figures["lam"] == 101.235
    assert figures["r_squared"] == 0.9812
    assert figures["points"] == 9
    assert figures["peak_concurrency"] == 36.8777  # sqrt((1 - σ) / κ) to 6 digits
    assert figures["peak_throughput"] == pytest.approx(fit.peak_throughput, rel=1e-6)
    assert UslFit(0.1, 0.0, 100.0, 1.0, 5).as_dict()["peak_throughput"] is None


def test_throughput_at_rejects_negative_concurrency() -> None:
    with pytest.raises(ValueError):
        UslFit(0.1, 0.0, 100.0, 1.0, 5).throughput_at(-1.0)

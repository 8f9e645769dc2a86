"""The target's memory grew through the run and did not level off: a leak."""

from __future__ import annotations

from loadlens.analysis.findings.series import middle, target_monitor
from loadlens.metrics.run_result import Finding, RunResult

__all__ = ["memory_growth"]

MIN_GROWTH_MB = 20.0
MIN_GROWTH_SHARE = 0.2  # of the memory at the start
MIN_FIT = 0.8  # R² of a straight line: steady growth, not one jump


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and R²."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return slope, (sxy * sxy) / (sxx * syy)


def memory_growth(result: RunResult) -> Finding | None:
    """Steady RSS growth large enough to matter."""
    found = target_monitor(result)
    if found is None:
        return None
    name, monitor = found
    samples = [p for p in middle(monitor["timeline"]) if "rss_mb" in p]
    if len(samples) < 3:
        return None
    xs = [float(p["t"]) for p in samples]
    ys = [float(p["rss_mb"]) for p in samples]
    slope, fit = _fit(xs, ys)
    growth = ys[-1] - ys[0]
    if growth < max(MIN_GROWTH_MB, MIN_GROWTH_SHARE * ys[0]) or fit < MIN_FIT or slope <= 0:
        return None
    requests = result.totals.requests
    per_request = f", about {growth * 1024 / requests:.0f} KiB per request" if requests else ""
    return Finding(
        id="memory-growth",
        severity="medium",
        title=f"The target's memory grew steadily through the run ({name})",
        evidence=(
            f"{monitor['target']}: RSS {ys[0]:.0f} MB at {xs[0]:.0f} s to {ys[-1]:.0f} MB "
            f"at {xs[-1]:.0f} s (+{slope * 60:.0f} MB/min, a straight line: R² "
            f"{fit:.2f}){per_request}"
        ),
        suggestion=(
            "Memory that grows with every request and does not level off is a leak: "
            "something keeps a reference per request (an unbounded cache, a global "
            "list or registry, request objects held by a closure). Take two heap "
            "snapshots a minute apart and compare what grew."
        ),
        data={
            "rss_start_mb": round(ys[0], 1),
            "rss_end_mb": round(ys[-1], 1),
            "from_s": xs[0],
            "to_s": xs[-1],
            "mb_per_min": round(slope * 60, 2),
            "r_squared": round(fit, 3),
            "kib_per_request": round(growth * 1024 / requests, 2) if requests else None,
        },
    )

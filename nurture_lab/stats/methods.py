"""The names of the statistical methods a caller can choose, and the row every estimator returns
(light: no numpy, for the command line)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["CI_METHODS", "CORRECTIONS", "comparison_row"]

#: ci_method -> (statsmodels CI method, matching statsmodels test method)
CI_METHODS: dict[str, tuple[str, str]] = {
    "wald": ("wald", "wald"),
    "newcombe": ("newcomb", "score"),
    "agresti-caffo": ("agresti-caffo", "agresti-caffo"),
}
#: correction -> statsmodels' name for it
CORRECTIONS: dict[str, str | None] = {"holm": "holm", "bh": "fdr_bh", "none": None}


def comparison_row(
    control: float,
    arm: float,
    diff: float,
    ci: tuple[float, float],
    rel: tuple[float, float, float],
    p: float,
    test: str,
    ci_method: str,
) -> dict[str, Any]:
    """One arm-vs-control result row, as every estimator returns it (the columns of ``analyze``)."""
    return {
        "control_value": control,
        "arm_value": arm,
        "diff": diff,
        "diff_ci_low": ci[0],
        "diff_ci_high": ci[1],
        "rel_lift": rel[0],
        "rel_ci_low": rel[1],
        "rel_ci_high": rel[2],
        "p_value": p,
        "test": test,
        "ci_method": ci_method,
    }


def _fieller(
    m1: float, m0: float, v1: float, v0: float, cov: float, q: float, nonneg: bool = False
) -> tuple[float, float]:
    """Fieller's interval for ``m1 / m0``, returned as relative lift bounds ``(lo - 1, hi - 1)``.

    The ratios ``r`` that the test of ``m1 - r * m0 = 0`` (standard error
    ``sqrt(v1 - 2 r cov + r**2 v0)``, critical value ``q``) does not reject; at ``r = 1`` it is the
    difference's own test, so the relative interval excludes 0 exactly when the difference's does.
    Unbounded (NaN) when the control mean is not distinguishable from 0. For a metric that cannot
    be negative the lower bound stops at -100%.
    """
    nan = float("nan")
    if not (m0 != 0 and math.isfinite(v1 + v0) and v1 + v0 > 0 and math.isfinite(q)):
        return nan, nan
    qq = q * q
    a = m0 * m0 - qq * v0
    b = m1 * m0 - qq * cov
    c = m1 * m1 - qq * v1
    disc = b * b - a * c
    if a <= 0 or disc < 0:
        return nan, nan
    root = math.sqrt(disc)
    lo, hi = (b - root) / a, (b + root) / a
    if nonneg:
        lo = max(lo, 0.0)
    return lo - 1, hi - 1

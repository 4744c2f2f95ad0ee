"""Ratio metrics: the ratio of two per-unit means (bookings per touch, staff minutes per booking).

``Ratio("booked", "n_touches")`` in ``analyze(metrics=...)`` compares ``mean(booked) / mean(n_touches)``
between arms. The unit of randomisation is the lead, not the touch, so the variance comes from
the delta method on the per-lead numerator and denominator (Deng, Knoblich & Lu 2018) — the
estimator and interval of tea-tasting's ``RatioOfMeans``: Welch's t on the difference of ratios.
The relative lift's interval is Fieller's for the ratio of ratios, from the same variances and
degrees of freedom, so it agrees with the difference's test (tea-tasting uses the log scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .methods import _fieller, comparison_row

__all__ = ["Ratio", "ratio_stats"]


@dataclass(frozen=True)
class Ratio:
    """A ratio metric: ``mean(numerator) / mean(denominator)`` per arm.

    Example:
        >>> Ratio("booked", "n_touches").name
        'booked/n_touches'
    """

    numerator: str
    denominator: str
    name: str = ""

    def __post_init__(self) -> None:
        from ..errors import check_param

        check_param("Ratio", "numerator", self.numerator, kind="str")
        check_param("Ratio", "denominator", self.denominator, kind="str")
        check_param("Ratio", "name", self.name, kind="str")
        if not self.name:
            object.__setattr__(self, "name", f"{self.numerator}/{self.denominator}")

    def __str__(self) -> str:
        return self.name


def ratio_stats(df: pd.DataFrame, key: np.ndarray, n_key: int, ratio: Ratio) -> pd.DataFrame:
    """Per key (group x arm): n, the two means, their variances and covariance (ddof 1), one pass each.

    Sums are taken of values shifted by each key's own mean (a first pass), so the (co)variances do
    not cancel whatever the other keys' means.
    """
    x = df[ratio.numerator].to_numpy(dtype=np.float64)
    y = df[ratio.denominator].to_numpy(dtype=np.float64)
    n = np.bincount(key, minlength=n_key).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x0 = np.where(n > 0, np.bincount(key, x, n_key) / n, 0.0)
        y0 = np.where(n > 0, np.bincount(key, y, n_key) / n, 0.0)
    dx, dy = x - x0[key], y - y0[key]
    sx, sy = np.bincount(key, dx, n_key), np.bincount(key, dy, n_key)
    with np.errstate(invalid="ignore", divide="ignore"):
        cxx = np.bincount(key, dx * dx, n_key) - sx * sx / n
        cyy = np.bincount(key, dy * dy, n_key) - sy * sy / n
        cxy = np.bincount(key, dx * dy, n_key) - sx * sy / n
        return pd.DataFrame(
            {
                "n": n.astype(np.int64),
                "sum": sx + n * x0,  # the numerator's total
                "mean_num": sx / n + x0,
                "mean_den": sy / n + y0,
                "var_num": np.maximum(cxx, 0) / (n - 1),
                "var_den": np.maximum(cyy, 0) / (n - 1),
                "cov": cxy / (n - 1),
            }
        )


def _ratio_var(s: Any) -> float:
    """Per-unit variance of the ratio of means by the delta method (tea-tasting's ``ratio_var``)."""
    mx, my = float(s["mean_num"]), float(s["mean_den"])
    return (float(s["var_num"]) - 2 * float(s["cov"]) * mx / my + float(s["var_den"]) * mx * mx / (my * my)) / (my * my)


def _welch(v1: float, n1: int, v0: float, n0: int) -> tuple[float, float]:
    a, b = v1 / n1, v0 / n0
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1)) if a + b > 0 else float("nan")
    return se, df


def ratio_row(s1: Any, s0: Any, alpha: float, nonneg: bool = False) -> dict[str, Any]:
    """Arm vs control for a ratio metric: Welch's t on the difference of ratios (delta-method
    variances), and Fieller's interval for the ratio of ratios with the same variances and degrees
    of freedom (so the relative interval excludes 0 exactly when the difference's does)."""
    n1, n0 = int(s1["n"]), int(s0["n"])
    r1 = float(s1["mean_num"]) / float(s1["mean_den"])
    r0 = float(s0["mean_num"]) / float(s0["mean_den"])
    v1, v0 = _ratio_var(s1), _ratio_var(s0)
    diff = r1 - r0
    se, df = _welch(v1, n1, v0, n0)
    rel, rel_lo, rel_hi = (r1 / r0 - 1 if r0 else float("nan")), float("nan"), float("nan")
    if se > 0 and np.isfinite(df):
        q = float(stats.t.ppf(1 - alpha / 2, df))
        lo, hi = diff - q * se, diff + q * se
        p = float(2 * stats.t.sf(abs(diff) / se, df))
        rel_lo, rel_hi = _fieller(r1, r0, v1 / n1, v0 / n0, 0.0, q, nonneg)
    else:
        lo = hi = p = float("nan")
    return comparison_row(
        r0, r1, diff, (lo, hi), (rel, rel_lo, rel_hi), p, "welch t (delta-method ratio of means)", "delta"
    )

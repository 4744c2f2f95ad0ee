"""The estimators behind every result row, on sufficient statistics (n, sum, sum of squares).

- binary metric: difference of proportions by ``ci_method`` (wald, newcombe, agresti-caffo; the
  intervals of statsmodels ``confint_proportions_2indep``), the p-value and the relative lift's
  interval from the same method (Fieller's interval for the ratio; MOVER-R for newcombe);
- numeric metric: Welch's t-test and CI; relative lift CI by Fieller's method (same test at ratio 1);
- covariates: Lin's (2013) estimator, OLS with centred covariates and interactions, HC2 errors;
  relative lift by Fieller's method on the adjusted means;
- sample ratio mismatch: chi-square goodness of fit against the planned allocation;
- multiplicity: Holm or Benjamini-Hochberg adjusted p-values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ParameterError
from .methods import _fieller, comparison_row
from .ratio import Ratio, ratio_stats

SRM_THRESHOLD = 0.001


def sufficient_stats(df: pd.DataFrame, arm: str, metrics: Sequence[str | Ratio], by: str | None = None) -> pd.DataFrame:
    """Per (group, arm): ``n`` and, per metric, ``sum``, ``sumsq`` and ``css`` — one pass over the rows.

    ``css`` is the sum of squares about the group's own mean, computed from values shifted by each
    (group, arm)'s own mean (a first pass), so a variance of 1 around a mean of 1e7 survives
    (``sumsq / n - mean**2`` would cancel it to rounding noise) whatever the other arms' means and
    the row order.

    A :class:`~nurture_lab.stats.ratio.Ratio` metric gets, instead, the means, variances and
    covariance of its numerator and denominator (``mean_num, mean_den, var_num, var_den, cov``).

    Returns a long frame: ``[by,] arm, metric, n, sum, sumsq, css`` (+ the ratio columns).
    """
    arm_codes, arm_labels = pd.factorize(df[arm], sort=False)
    n_arm = len(arm_labels)
    if by is not None:
        g_codes, g_labels = pd.factorize(df[by], sort=True)
        key = g_codes * n_arm + arm_codes
        n_key = len(g_labels) * n_arm
    else:
        g_labels = pd.Index([None])
        key = arm_codes
        n_key = n_arm
    counts = np.bincount(key, minlength=n_key)
    frames = []
    for m in metrics:
        if isinstance(m, Ratio):
            rs = ratio_stats(df, key, n_key, m)
            rs.insert(0, "metric", m.name)
            rs["k"] = np.arange(n_key)
            frames.append(rs)
            continue
        v = df[m].to_numpy(dtype=np.float64)
        shift = _key_means(v, key, counts)
        d = v - shift[key]
        s1 = np.bincount(key, weights=d, minlength=n_key)
        s2 = np.bincount(key, weights=d * d, minlength=n_key)
        with np.errstate(invalid="ignore", divide="ignore"):
            css = np.maximum(s2 - np.where(counts > 0, s1 * s1 / counts, 0.0), 0.0)
        frames.append(
            pd.DataFrame(
                {
                    "metric": m,
                    "n": counts,
                    "sum": s1 + counts * shift,
                    "sumsq": s2 + 2 * shift * s1 + counts * shift * shift,
                    "css": css,
                    "k": np.arange(n_key),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["arm"] = np.asarray(arm_labels, dtype=object)[out["k"] % n_arm]
    if by is not None:
        out.insert(0, by, np.asarray(g_labels, dtype=object)[out["k"] // n_arm])
    return out.drop(columns="k")


def _key_means(v: np.ndarray, key: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each key's mean (0 for an empty key): the shift that keeps the sums of squares exact."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.bincount(key, weights=v, minlength=counts.size) / counts, 0.0)


def _binary_row(c1: float, n1: int, c0: float, n0: int, ci_method: str, alpha: float) -> dict[str, Any]:
    """Difference of proportions: the interval, the p-value and the relative interval of one method.

    - ``wald``: unpooled z interval and test (statsmodels ``wald``); relative lift by Fieller's
      interval for ``p1 / p0`` with the same unpooled variances, so at ratio 1 it is the same test;
    - ``agresti-caffo``: the same on proportions with one success and one failure added per arm;
    - ``newcombe``: Newcombe's hybrid score interval; its p-value is the interval inverted (the
      largest level at which it still excludes 0), and the relative lift the MOVER-R interval
      built from the same Wilson intervals (at ratio 1 it is Newcombe's interval).

    So the difference interval, the relative interval and the p-value agree on the decision at any
    level. Where Wald's standard error is 0 (a rate at 0% or 100%) the row uses Newcombe's method and
    says so.
    """
    p1, p0 = c1 / n1, c0 / n0
    if ci_method == "wald" and _at_edge(c1, n1, c0, n0):
        ci_method = "newcombe"
    rel = p1 / p0 - 1 if p0 > 0 else np.nan
    z = float(stats.norm.ppf(1 - alpha / 2))
    if ci_method == "newcombe":
        lo, hi = _newcombe(c1, n1, c0, n0, z)
        p = _newcombe_p(c1, n1, c0, n0)
        rel_lo, rel_hi = _mover_ratio(c1, n1, c0, n0, z)
        test = "newcombe hybrid score (interval inverted)"
    else:
        a1, a0 = (c1 + 1) / (n1 + 2), (c0 + 1) / (n0 + 2)
        m1, m0, k1, k0 = (p1, p0, n1, n0) if ci_method == "wald" else (a1, a0, n1 + 2, n0 + 2)
        v1, v0 = m1 * (1 - m1) / k1, m0 * (1 - m0) / k0
        se = math.sqrt(v1 + v0)
        d = m1 - m0
        lo, hi = d - z * se, d + z * se
        p = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else (1.0 if d == 0 else 0.0)
        rel_lo, rel_hi = _fieller(m1, m0, v1, v0, 0.0, z, nonneg=True)
        test = "two-proportion z (wald, unpooled)" if ci_method == "wald" else "two-proportion z (agresti-caffo)"
    return comparison_row(p0, p1, p1 - p0, (float(lo), float(hi)), (rel, rel_lo, rel_hi), p, test, ci_method)


def _at_edge(c1: float, n1: int, c0: float, n0: int) -> bool:
    """Is either arm's rate exactly 0% or 100% (where the Wald standard error of that arm is 0)?"""
    return c1 in (0, n1) or c0 in (0, n0)


def _wilson(c: float, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for one proportion (closed form)."""
    p = c / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    den = 1 + z * z / n
    return max((centre - half) / den, 0.0), min((centre + half) / den, 1.0)


def _newcombe(c1: float, n1: int, c0: float, n0: int, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``p1 - p0`` (method 10), from two Wilson intervals."""
    p1, p0 = c1 / n1, c0 / n0
    l1, u1 = _wilson(c1, n1, z)
    l0, u0 = _wilson(c0, n0, z)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def _newcombe_p(c1: float, n1: int, c0: float, n0: int) -> float:
    """Newcombe's interval inverted: the two-sided level ``2 * (1 - Phi(z))`` at which a bound touches 0."""
    from scipy.optimize import brentq

    d = c1 / n1 - c0 / n0
    if d == 0:
        return 1.0

    def f(z: float) -> float:  # the bound nearer 0: the estimate at z = 0, across 0 for a large z
        lo, hi = _newcombe(c1, n1, c0, n0, z)
        return lo if d > 0 else -hi

    hi_z = 1.0
    while f(hi_z) > 0 and hi_z < 64:
        hi_z *= 2
    if f(hi_z) > 0:
        return 0.0
    z = brentq(f, 0.0, hi_z, xtol=1e-13, rtol=1e-13)
    return float(2 * stats.norm.sf(z))


def _mover_ratio(c1: float, n1: int, c0: float, n0: int, z: float) -> tuple[float, float]:
    """Relative lift ``p1 / p0 - 1`` by MOVER-R (Donner & Zou 2012) from Wilson intervals.

    The set of ratios ``r`` whose MOVER interval for ``p1 - r * p0`` holds 0; at ``r = 1`` that
    interval is Newcombe's, so the relative interval excludes 0 exactly when Newcombe's does.
    The upper bound is unbounded (NaN) when the control's Wilson interval reaches 0.
    """
    p1, p0 = c1 / n1, c0 / n0
    l1, u1 = _wilson(c1, n1, z)
    l0, u0 = _wilson(c0, n0, z)
    b = p1 * p0
    a_lo, c_lo = u0 * (2 * p0 - u0), l1 * (2 * p1 - l1)
    a_hi, c_hi = l0 * (2 * p0 - l0), u1 * (2 * p1 - u1)
    disc_lo, disc_hi = b * b - a_lo * c_lo, b * b - a_hi * c_hi
    den = b + math.sqrt(max(disc_lo, 0.0))
    r_lo = c_lo / den if den > 0 else np.nan
    r_hi = (b + math.sqrt(max(disc_hi, 0.0))) / a_hi if a_hi > 0 else np.nan
    return max(r_lo, 0.0) - 1, r_hi - 1


def _numeric_row(
    s1: float, css1: float, n1: int, s0: float, css0: float, n0: int, alpha: float, nonneg: bool = False
) -> dict[str, Any]:
    """Welch's t-test and interval for the difference of means; Fieller's interval for the relative lift.

    ``s`` is each arm's sum, ``css`` its sum of squares about its own mean (see :func:`sufficient_stats`).
    """
    m1, m0 = s1 / n1, s0 / n0
    v1 = max(css1 / (n1 - 1), 0.0) if n1 > 1 else np.nan
    v0 = max(css0 / (n0 - 1), 0.0) if n0 > 1 else np.nan
    a, b = v1 / n1, v0 / n0
    se = math.sqrt(a + b) if np.isfinite(a + b) else np.nan
    diff = m1 - m0
    if se > 0:
        df = (a + b) ** 2 / ((a * a / (n1 - 1) if n1 > 1 else 0) + (b * b / (n0 - 1) if n0 > 1 else 0))
        tq = float(stats.t.ppf(1 - alpha / 2, df))
        p = float(2 * stats.t.sf(abs(diff) / se, df))
        lo, hi = diff - tq * se, diff + tq * se
        rel_lo, rel_hi = _fieller(m1, m0, a, b, 0.0, tq, nonneg)
    else:
        df, p, lo, hi, rel_lo, rel_hi = np.nan, np.nan, np.nan, np.nan, np.nan, np.nan
    rel = m1 / m0 - 1 if m0 != 0 else np.nan
    return comparison_row(m0, m1, diff, (lo, hi), (rel, rel_lo, rel_hi), p, "welch t", "welch")


def _lin_row(
    df: pd.DataFrame, arm: str, control: str, label: str, metric: str, covariates: Sequence[str], alpha: float
) -> dict[str, Any]:
    """Lin (2013): OLS of y on T, centred X and T x centred X; HC2 standard errors (estimatr lm_lin)."""
    import statsmodels.api as sm

    sub = df[df[arm].isin([control, label])]
    t = (sub[arm] == label).to_numpy(dtype=np.float64)
    y = sub[metric].to_numpy(dtype=np.float64)
    from .covariates import design_columns

    xs = [design_columns(sub[c]) for c in covariates]
    x = np.hstack(xs) if xs else np.empty((len(sub), 0))
    x = x - x.mean(axis=0)
    keep = x.std(axis=0) > 0
    x = x[:, keep]
    exog = np.column_stack([np.ones_like(t), t, x, x * t[:, None]])
    fit = sm.OLS(y, exog).fit(cov_type="HC2", use_t=True)
    est = float(fit.params[1])
    lo, hi = (float(v) for v in fit.conf_int(alpha=alpha)[1])
    m0 = float(y[t == 0].mean())
    rel, rel_lo, rel_hi = _lin_relative(fit, alpha, nonneg=bool((y >= 0).all()))
    y1, y0 = y[t == 1], y[t == 0]
    plain_var = y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size  # Welch's = HC2 without covariates
    row = comparison_row(
        m0, m0 + est, est, (lo, hi), (rel, rel_lo, rel_hi), float(fit.pvalues[1]), "lin ols (hc2)", "hc2 t"
    )
    row["variance_reduction"] = 1 - float(fit.bse[1]) ** 2 / plain_var if plain_var > 0 else np.nan
    return row


def srm_check(counts: Mapping[str, int], allocation: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Chi-square goodness of fit of arm counts against the planned allocation (equal unless given)."""
    arms = list(counts)
    obs = np.array([counts[a] for a in arms], dtype=float)
    if allocation is None:
        share = np.full(len(arms), 1 / len(arms))
    else:
        missing = [a for a in arms if a not in allocation]
        if missing:
            raise ParameterError(
                f"The 'allocation' parameter of analyze has no share for arm(s) {missing}; "
                f"expected a share for each of: {', '.join(map(str, arms))}."
            )
        share = np.array([allocation[a] for a in arms], dtype=float)
        share = share / share.sum()
    if len(arms) < 2:
        chi2, p = 0.0, 1.0
    else:
        chi2, p = stats.chisquare(obs, share * obs.sum())
    return {
        "counts": {str(a): int(c) for a, c in zip(arms, obs)},
        "expected_share": {str(a): float(s) for a, s in zip(arms, share)},
        "chi2": float(chi2),
        "p_value": float(p),
        "threshold": SRM_THRESHOLD,
        "flagged": bool(p < SRM_THRESHOLD),
        "test": "chi-square goodness of fit",
    }


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    """Adjusted p-values: Holm's step-down, or Benjamini-Hochberg (scipy ``false_discovery_control``).

    Holm is written out (4 lines) rather than taken from statsmodels ``multipletests``, which runs
    ``gc.collect()`` on every call (tens of milliseconds in a large process); the tests check both
    against statsmodels.
    """
    out = p.copy()
    ok = np.isfinite(p)
    if correction == "none" or not ok.any():
        return out
    q = p[ok]
    if correction == "bh":
        out[ok] = stats.false_discovery_control(q, method="bh")
    else:
        order = np.argsort(q, kind="stable")
        m = q.size
        stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * q[order]))
        adj = np.empty(m)
        adj[order] = stepped
        out[ok] = adj
    return out


def _lin_relative(fit: Any, alpha: float, nonneg: bool = False) -> tuple[float, float, float]:
    """Relative lift of Lin's estimate, ``b1 / b0``, with Fieller's interval from the HC2 covariance.

    With centred covariates the intercept ``b0`` is the covariate-adjusted control mean and
    ``b0 + b1`` the adjusted arm mean; the interval holds the ratios ``r`` of the two that the t-test
    of ``b0 + b1 - r * b0 = 0`` (its variance from the HC2 covariance, the fit's degrees of freedom)
    does not reject. At ``r = 1`` that is the effect's own test, so the relative interval excludes 0
    exactly when the effect's interval does; it is asymmetric, and for a metric that cannot be
    negative it stays above -100%.
    """
    b0, b1 = float(fit.params[0]), float(fit.params[1])
    if b0 == 0:
        return np.nan, np.nan, np.nan
    v = np.asarray(fit.cov_params())[:2, :2]
    var_arm = float(v[0, 0] + 2 * v[0, 1] + v[1, 1])  # Var(b0 + b1)
    cov = float(v[0, 0] + v[0, 1])  # Cov(b0 + b1, b0)
    q = float(stats.t.ppf(1 - alpha / 2, fit.df_resid))
    lo, hi = _fieller(b0 + b1, b0, var_arm, float(v[0, 0]), cov, q, nonneg)
    return b1 / b0, lo, hi

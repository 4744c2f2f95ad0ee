"""The estimators behind every result row, on sufficient statistics (n, sum, sum of squares).

- binary metric: difference of proportions; CI by ``ci_method`` (statsmodels
  ``confint_proportions_2indep``: wald, newcomb, agresti-caffo) and the p-value from the matching
  test (``test_proportions_2indep``: wald, score, agresti-caffo); relative lift CI from the log ratio;
- numeric metric: Welch's t-test and CI; relative lift CI by the delta method;
- covariates: Lin's (2013) estimator, OLS with centred covariates and interactions, HC2 errors;
- sample ratio mismatch: chi-square goodness of fit against the planned allocation;
- multiplicity: Holm or Benjamini-Hochberg adjusted p-values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ParameterError
from .methods import CI_METHODS, comparison_row
from .ratio import Ratio, ratio_stats

SRM_THRESHOLD = 0.001


def sufficient_stats(df: pd.DataFrame, arm: str, metrics: Sequence[str | Ratio], by: str | None = None) -> pd.DataFrame:
    """Per (group, arm): ``n`` and, per metric, ``sum``, ``sumsq`` and ``css`` — one pass over the rows.

    ``css`` is the sum of squares about the group's own mean, computed from values shifted by the
    metric's first value, so a variance of 1 around a mean of 1e7 survives (``sumsq / n - mean**2``
    would cancel it to rounding noise).

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
        shift = float(v[0]) if v.size else 0.0
        d = v - shift
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


def _binary_row(c1: float, n1: int, c0: float, n0: int, ci_method: str, alpha: float) -> dict[str, Any]:
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    p1, p0 = c1 / n1, c0 / n0
    if ci_method == "wald" and _at_edge(c1, n1, c0, n0):
        # Wald's standard error is 0 when both rates sit at 0% or 100% (or one does with the other
        # at the same edge): its interval collapses to a point and its p-value to 0. The Newcombe
        # interval with the matching score test stays honest there; the row names it.
        ci_method = "newcombe"
    ci_name, test_name = CI_METHODS[ci_method]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lo, hi = confint_proportions_2indep(c1, n1, c0, n0, method=ci_name, compare="diff", alpha=alpha)
        res = test_proportions_2indep(c1, n1, c0, n0, method=test_name, compare="diff", return_results=True)
        p = float(res.pvalue)
        if c0 > 0 and c1 > 0:
            rlo, rhi = confint_proportions_2indep(c1, n1, c0, n0, method="log", compare="ratio", alpha=alpha)
            rel, rel_lo, rel_hi = p1 / p0 - 1, float(rlo) - 1, float(rhi) - 1
        else:
            rel, rel_lo, rel_hi = (p1 / p0 - 1 if p0 > 0 else np.nan), np.nan, np.nan
    test = {
        "wald": "two-proportion z (wald, unpooled)",
        "score": "two-proportion score",
        "agresti-caffo": "two-proportion z (agresti-caffo)",
    }[test_name]
    return comparison_row(p0, p1, p1 - p0, (float(lo), float(hi)), (rel, rel_lo, rel_hi), p, test, ci_method)


def _at_edge(c1: float, n1: int, c0: float, n0: int) -> bool:
    """Is either arm's rate exactly 0% or 100% (where the Wald standard error of that arm is 0)?"""
    return c1 in (0, n1) or c0 in (0, n0)


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
        tq = stats.t.ppf(1 - alpha / 2, df)
        p = float(stats.ttest_ind_from_stats(m1, math.sqrt(v1), n1, m0, math.sqrt(v0), n0, equal_var=False).pvalue)
        lo, hi = diff - tq * se, diff + tq * se
    else:
        df, p, lo, hi = np.nan, np.nan, np.nan, np.nan
    rel, rel_lo, rel_hi = _fieller_ci(m1, a, m0, b, df, alpha, nonneg)
    return comparison_row(m0, m1, diff, (lo, hi), (rel, rel_lo, rel_hi), p, "welch t", "welch")


def _fieller_ci(
    m1: float, var1: float, m0: float, var0: float, df: float, alpha: float, nonneg: bool = True
) -> tuple[float, float, float]:
    """Relative lift ``m1 / m0 - 1`` with Fieller's interval for a ratio of independent means, t(df).

    The interval holds every ratio ``r`` that the test of ``m1 - r * m0 = 0`` (standard error
    ``sqrt(var1 + r**2 * var0)``, Welch's degrees of freedom) does not reject, so at ``r = 1`` it is
    Welch's own test: the relative interval excludes 0 exactly when Welch's p is below alpha. It is
    asymmetric, as a ratio of skewed means is. When the control mean is not distinguishable from 0
    the interval is unbounded (NaN). For a metric that cannot be negative the ratio cannot either,
    so the lower bound stops at -100%.
    """
    rel = m1 / m0 - 1 if m0 != 0 else np.nan
    if not (m0 != 0 and np.isfinite(var1 + var0) and var1 + var0 > 0):
        return rel, np.nan, np.nan
    q = stats.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - alpha / 2)
    qa = m0 * m0 - q * q * var0
    disc = (m1 * m0) ** 2 - qa * (m1 * m1 - q * q * var1)
    if qa <= 0 or disc < 0:
        return rel, np.nan, np.nan
    root = math.sqrt(disc)
    lo, hi = (m1 * m0 - root) / qa, (m1 * m0 + root) / qa
    if nonneg:
        lo = max(lo, 0.0)
    return rel, lo - 1, hi - 1


def _lin_row(
    df: pd.DataFrame, arm: str, control: str, label: str, metric: str, covariates: Sequence[str], alpha: float
) -> dict[str, Any]:
    """Lin (2013): OLS of y on T, centred X and T x centred X; HC2 standard errors (estimatr lm_lin)."""
    import statsmodels.api as sm

    sub = df[df[arm].isin([control, label])]
    t = (sub[arm] == label).to_numpy(dtype=np.float64)
    y = sub[metric].to_numpy(dtype=np.float64)
    xs = []
    for c in covariates:
        col = sub[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            xs.append(col.to_numpy(dtype=np.float64)[:, None])
        else:
            dummies = pd.get_dummies(col.astype(str), drop_first=True, dtype=np.float64)
            xs.append(dummies.to_numpy())
    x = np.hstack(xs) if xs else np.empty((len(sub), 0))
    x = x - x.mean(axis=0)
    keep = x.std(axis=0) > 0
    x = x[:, keep]
    exog = np.column_stack([np.ones_like(t), t, x, x * t[:, None]])
    fit = sm.OLS(y, exog).fit(cov_type="HC2", use_t=True)
    est = float(fit.params[1])
    lo, hi = (float(v) for v in fit.conf_int(alpha=alpha)[1])
    m0 = float(y[t == 0].mean())
    rel, rel_lo, rel_hi = _lin_relative(fit, alpha)
    return comparison_row(
        m0, m0 + est, est, (lo, hi), (rel, rel_lo, rel_hi), float(fit.pvalues[1]), "lin ols (hc2)", "hc2 t"
    )


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


def _lin_relative(fit: Any, alpha: float) -> tuple[float, float, float]:
    """Relative lift of Lin's estimate, ``b1 / b0``, with a delta-method CI from the HC2 covariance.

    With centred covariates the intercept ``b0`` is the covariate-adjusted control mean and ``b1``
    the effect; the gradient of ``b1 / b0`` is ``(-b1 / b0**2, 1 / b0)``, so both estimates'
    uncertainty — and their covariance — enter the interval (dividing the effect's CI by a fixed
    control mean would ignore the control mean's own uncertainty).
    """
    b0, b1 = float(fit.params[0]), float(fit.params[1])
    if b0 == 0:
        return np.nan, np.nan, np.nan
    cov = np.asarray(fit.cov_params())[:2, :2]
    grad = np.array([-b1 / b0**2, 1 / b0])
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    q = stats.t.ppf(1 - alpha / 2, fit.df_resid)
    rel = b1 / b0
    return rel, rel - q * se, rel + q * se

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
from .methods import CI_METHODS

SRM_THRESHOLD = 0.001


def sufficient_stats(df: pd.DataFrame, arm: str, metrics: Sequence[str], by: str | None = None) -> pd.DataFrame:
    """Per (group, arm): ``n`` and, per metric, ``sum`` and ``sumsq`` — one pass over the rows.

    Returns a long frame: ``[by,] arm, metric, n, sum, sumsq``.
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
        v = df[m].to_numpy(dtype=np.float64)
        sums = np.bincount(key, weights=v, minlength=n_key)
        sumsq = np.bincount(key, weights=v * v, minlength=n_key)
        frames.append(pd.DataFrame({"metric": m, "n": counts, "sum": sums, "sumsq": sumsq, "k": np.arange(n_key)}))
    out = pd.concat(frames, ignore_index=True)
    out["arm"] = np.asarray(arm_labels, dtype=object)[out["k"] % n_arm]
    if by is not None:
        out.insert(0, by, np.asarray(g_labels, dtype=object)[out["k"] // n_arm])
    return out.drop(columns="k")


def _binary_row(c1: float, n1: int, c0: float, n0: int, ci_method: str, alpha: float) -> dict[str, Any]:
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    ci_name, test_name = CI_METHODS[ci_method]
    p1, p0 = c1 / n1, c0 / n0
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
    return {
        "control_value": p0,
        "arm_value": p1,
        "diff": p1 - p0,
        "diff_ci_low": float(lo),
        "diff_ci_high": float(hi),
        "rel_lift": rel,
        "rel_ci_low": rel_lo,
        "rel_ci_high": rel_hi,
        "p_value": p,
        "test": test,
        "ci_method": ci_method,
    }


def _numeric_row(s1: float, q1: float, n1: int, s0: float, q0: float, n0: int, alpha: float) -> dict[str, Any]:
    m1, m0 = s1 / n1, s0 / n0
    v1 = max((q1 - n1 * m1 * m1) / (n1 - 1), 0.0) if n1 > 1 else np.nan
    v0 = max((q0 - n0 * m0 * m0) / (n0 - 1), 0.0) if n0 > 1 else np.nan
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
    if m0 != 0 and np.isfinite(se):
        rel = m1 / m0 - 1
        se_rel = math.sqrt(a / m0**2 + (m1**2 / m0**4) * b)  # delta method
        z = stats.norm.ppf(1 - alpha / 2)
        rel_lo, rel_hi = rel - z * se_rel, rel + z * se_rel
    else:
        rel, rel_lo, rel_hi = np.nan, np.nan, np.nan
    return {
        "control_value": m0,
        "arm_value": m1,
        "diff": diff,
        "diff_ci_low": lo,
        "diff_ci_high": hi,
        "rel_lift": rel,
        "rel_ci_low": rel_lo,
        "rel_ci_high": rel_hi,
        "p_value": p,
        "test": "welch t",
        "ci_method": "welch",
    }


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
    rel = est / m0 if m0 else np.nan
    return {
        "control_value": m0,
        "arm_value": m0 + est,
        "diff": est,
        "diff_ci_low": lo,
        "diff_ci_high": hi,
        "rel_lift": rel,
        "rel_ci_low": lo / m0 if m0 else np.nan,
        "rel_ci_high": hi / m0 if m0 else np.nan,
        "p_value": float(fit.pvalues[1]),
        "test": "lin ols (hc2)",
        "ci_method": "hc2 t",
    }


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

"""Segments pooled toward the whole: heterogeneity and partially pooled per-segment effects.

With ``analyze(..., by=...)`` each arm's effect is estimated in every segment. A segment's own
estimate is noisy; the honest summary is the overall effect plus how much segments differ:

- **heterogeneity**: Cochran's Q of the segments' effects, ``Q = sum w_g (d_g - d_fixed)**2`` with
  ``w_g = 1 / se_g**2``, against chi-square with ``G - 1`` degrees of freedom (its p-value is
  ``heterogeneity_p``), and I² = ``max(0, (Q - (G - 1)) / Q)``;
- **overall effect**: the DerSimonian–Laird random-effects mean, with between-segment variance
  ``tau2 = max(0, (Q - (G - 1)) / (sum w - sum w**2 / sum w))`` and its normal interval;
- **pooled segment effects** (parametric empirical Bayes, Morris 1983): each segment's effect
  shrunk toward the overall one, ``d_g* = d_g - S_g (d_g - mu)`` with
  ``S_g = (k - 3) / (k - 1) * se_g**2 / (se_g**2 + tau2)`` for ``k >= 4`` segments, and variance
  ``se_g**2 (1 - (k - 1) / k * S_g) + 2 / (k - 3) * S_g**2 (d_g - mu)**2`` (the last term carries the
  uncertainty of tau2, without which the intervals undercover); with 2 or 3 segments
  ``S_g = se_g**2 / (se_g**2 + tau2)`` and variance ``(1 - S_g) se_g**2 + S_g**2 Var(mu)``. A normal
  interval at the call's level (``pooled_diff``, ``pooled_ci_low``, ``pooled_ci_high``).

``se_g`` is the unpooled standard error of the segment's difference (Wald for a binary metric,
Welch for a numeric one); segments without a variance take no part. Ratio and covariate-adjusted
metrics are not pooled.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["POOLED_COLUMNS", "dersimonian_laird"]

POOLED_COLUMNS = ["pooled_diff", "pooled_ci_low", "pooled_ci_high", "heterogeneity_p"]


def dersimonian_laird(d: np.ndarray, se: np.ndarray, alpha: float) -> dict[str, Any]:
    """Cochran's Q, DerSimonian–Laird tau², the random-effects mean and the shrunk effects."""
    w = 1 / se**2
    fixed = float((w * d).sum() / w.sum())
    q = float((w * (d - fixed) ** 2).sum())
    k = d.size
    c = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    w_re = 1 / (se**2 + tau2)
    mu = float((w_re * d).sum() / w_re.sum())
    var_mu = float(1 / w_re.sum())
    shrink = se**2 / (se**2 + tau2)  # the share of the way toward the overall effect
    if k >= 4:  # Morris (1983): a smaller shrinkage and a wider interval for tau2's own uncertainty
        shrink = shrink * (k - 3) / (k - 1)
        var = se**2 * (1 - (k - 1) / k * shrink) + 2 / (k - 3) * shrink**2 * (d - mu) ** 2
    else:
        var = (1 - shrink) * se**2 + shrink**2 * var_mu
    shrunk = d - shrink * (d - mu)
    z = float(stats.norm.ppf(1 - alpha / 2))
    return {
        "q": q,
        "df": k - 1,
        "p_value": float(stats.chi2.sf(q, k - 1)) if k > 1 else float("nan"),
        "i2": max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0,
        "tau2": tau2,
        "overall_diff": mu,
        "overall_ci_low": mu - z * math.sqrt(var_mu),
        "overall_ci_high": mu + z * math.sqrt(var_mu),
        "shrunk": shrunk,
        "shrunk_low": shrunk - z * np.sqrt(var),
        "shrunk_high": shrunk + z * np.sqrt(var),
    }

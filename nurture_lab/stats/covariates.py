"""Checks that a covariate for Lin's adjustment is pre-treatment, and what it buys.

A covariate can only sharpen an estimate if the arm could not have changed it. Two stated checks
guard that, before any adjusted row is computed:

- **collinear with the metric**: the covariate explains at least :data:`COLLINEAR_R2` of the
  metric's variance (R² of the metric on the covariate, all units pooled) — a copy or a function of
  the outcome, which would absorb the effect. Always refused.
- **balance across arms**: the randomisation makes a pre-treatment covariate's distribution the same
  in every arm. A numeric (or 0/1) covariate is compared by Welch's t-test of each arm against the
  control, a categorical one by the chi-square test of independence of category and arm; a
  covariate with p < :data:`BALANCE_ALPHA` is refused as likely changed by the arm (an outcome of
  the cadence, such as staff minutes). ``force=True`` (CLI ``--force-covariate``) keeps it, and the
  result records that it was forced.

Each covariate's **variance reduction** is reported per metric: the share of the metric's
within-arm variance it explains (``1 - sum of within-arm residual sums of squares / sum of
within-arm sums of squares``), the variance Lin's estimator removes with that covariate alone in
large samples. Each adjusted row also carries its own ``variance_reduction``: ``1 - SE_adjusted² /
SE_unadjusted²`` (the unadjusted one is Welch's, which HC2 gives for a plain difference of means).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError

__all__ = ["BALANCE_ALPHA", "COLLINEAR_R2", "covariate_checks", "design_columns"]

#: A covariate whose arms differ at p below this is refused (the balance test's level).
BALANCE_ALPHA = 0.001
#: A covariate that explains this share of a metric's variance or more is refused as collinear.
COLLINEAR_R2 = 0.9999


def _is_numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def design_columns(col: pd.Series) -> np.ndarray:
    """A covariate as regression columns: a number as itself, a category as indicators (first dropped)."""
    if _is_numeric(col):
        return col.to_numpy(dtype=np.float64)[:, None]
    return pd.get_dummies(col.astype(str), drop_first=True, dtype=np.float64).to_numpy()


def _balance(col: pd.Series, codes: np.ndarray, labels: Sequence[str], control: int) -> tuple[str, float, str]:
    """(test, p-value, where): the smallest p over arms (numeric) or the chi-square test (categorical)."""
    if _is_numeric(col):
        x = col.to_numpy(dtype=np.float64)
        x0 = x[codes == control]
        best, where = 1.0, ""
        for j, a in enumerate(labels):
            if j == control:
                continue
            x1 = x[codes == j]
            if np.ptp(x1) == 0 and np.ptp(x0) == 0:
                p = 1.0 if x1[0] == x0[0] else 0.0
            else:
                p = float(stats.ttest_ind(x1, x0, equal_var=False).pvalue)
            if p < best or not where:
                best, where = p, a
        return "welch t, each arm vs control", best, where
    cat_codes, cats = pd.factorize(col, sort=True)
    table = np.bincount(cat_codes * len(labels) + codes, minlength=len(cats) * len(labels)).reshape(len(cats), -1)
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return "chi-square independence", 1.0, ""
    return "chi-square independence", float(stats.chi2_contingency(table, correction=False)[1]), "all arms"


class _Moments:
    """Centred cross-products of ``[X, y]`` overall and per arm, from one pass (one matrix product per arm).

    Every R² the checks need (a covariate alone, all together, within arms) is then a small solve.
    Columns are centred on their overall means first, so large means do not cancel the variances.
    """

    def __init__(self, z: np.ndarray, codes: np.ndarray, k: int) -> None:
        z = z - z.mean(axis=0)
        self.per_arm = []
        for j in range(k):
            zj = z[codes == j]
            s = zj.sum(axis=0)
            self.per_arm.append(zj.T @ zj - np.outer(s, s) / max(len(zj), 1))
        self.total = z.T @ z

    @staticmethod
    def rss(c: np.ndarray, cols: list[int]) -> tuple[float, float]:
        """(residual, total) sum of squares of the last column on ``cols`` of centred cross-products ``c``."""
        tss = float(c[-1, -1])
        if tss <= 0 or not cols:
            return max(tss, 0.0), max(tss, 0.0)
        sxx, sxy = c[np.ix_(cols, cols)], c[cols, -1]
        beta = np.linalg.lstsq(sxx, sxy, rcond=None)[0]
        return max(tss - float(sxy @ beta), 0.0), tss

    def r2(self, cols: list[int]) -> float:
        rss, tss = self.rss(self.total, cols)
        return 1.0 - rss / tss if tss > 0 else 0.0

    def within_r2(self, cols: list[int]) -> float:
        parts = [self.rss(c, cols) for c in self.per_arm]
        tss = sum(t for _, t in parts)
        return 1.0 - sum(r for r, _ in parts) / tss if tss > 0 else float("nan")


def covariate_checks(
    df: pd.DataFrame,
    arm: str,
    control: str,
    labels: Sequence[str],
    metrics: Sequence[str],
    covariates: Sequence[str],
    force: bool,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Check every covariate against every metric; refuse (DataError) or, with ``force``, record.

    Returns the check table (one record per metric and covariate: ``metric, covariate, balance_test,
    balance_p, balanced, r2_with_metric, variance_reduction, forced``) and the warnings to show.
    """
    codes, uniques = pd.factorize(df[arm])
    names = [str(u) for u in uniques]
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    balance = {c: _balance(df[c], codes, names, names.index(control)) for c in covariates}
    blocks = [design_columns(df[c]) for c in covariates]
    spans, start = [], 0
    for blk in blocks:
        spans.append(list(range(start, start + blk.shape[1])))
        start += blk.shape[1]
    x_all = np.hstack(blocks)
    for m in metrics:
        mom = _Moments(np.column_stack([x_all, df[m].to_numpy(dtype=np.float64)]), codes, len(names))
        for c, cols in zip(covariates, spans):
            r2 = mom.r2(cols)
            if r2 >= COLLINEAR_R2:
                raise DataError(
                    f"Covariate '{c}' is collinear with metric '{m}' (it explains {r2:.6%} of its variance, "
                    f"R² >= {COLLINEAR_R2}): a covariate that copies the outcome absorbs the effect. "
                    "Use only pre-treatment covariates."
                )
            test, p, _where = balance[c]
            records.append(
                {
                    "metric": m,
                    "covariate": c,
                    "balance_test": test,
                    "balance_p": p,
                    "balanced": bool(p >= BALANCE_ALPHA),
                    "r2_with_metric": r2,
                    "variance_reduction": mom.within_r2(cols),
                    "forced": bool(p < BALANCE_ALPHA),
                }
            )
        if len(covariates) > 1:
            r2 = mom.r2(list(range(start)))
            if r2 >= COLLINEAR_R2:
                raise DataError(
                    f"Covariates {list(covariates)} together are collinear with metric '{m}' (they explain "
                    f"{r2:.6%} of its variance, R² >= {COLLINEAR_R2}): covariates that reproduce the outcome "
                    "absorb the effect. Use only pre-treatment covariates."
                )
    for c, (test, p, where) in balance.items():
        if p < BALANCE_ALPHA:
            why = (
                f"Covariate '{c}' is not balanced across arms ({test}: p = {p:.2g} < {BALANCE_ALPHA}"
                f"{f', arm {where!r} vs control' if where and where != 'all arms' else ''}): it looks changed "
                "by the arm (an outcome of the cadence, not a pre-treatment value), and adjusting for it "
                "can erase or invent an effect."
            )
            if not force:
                raise DataError(why + " Use only pre-treatment covariates, or force=True (--force-covariate).")
            notes.append(why + " Kept because force=True.")
    return records, notes

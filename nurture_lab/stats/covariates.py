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

Every check works on per-arm moments (:class:`ArmMoments`: each arm's size, means and centred
cross-products of the covariates' columns and the metrics), so a database computes them in SQL
(``COVAR_SAMP``; :mod:`nurture_lab.stats.warehouse`) and the same code decides; from a pandas frame
they are built by :func:`frame_moments`. Only the chi-square test of a categorical covariate needs
the frame (its category-by-arm table).

Each covariate's **variance reduction** is reported per metric: the share of the metric's
within-arm variance it explains (``1 - sum of within-arm residual sums of squares / sum of
within-arm sums of squares``), the variance Lin's estimator removes with that covariate alone in
large samples. Each adjusted row also carries its own ``variance_reduction``: ``1 - SE_adjusted² /
SE_unadjusted²`` (the unadjusted one is Welch's, which HC2 gives for a plain difference of means).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError

__all__ = [
    "BALANCE_ALPHA",
    "COLLINEAR_R2",
    "ArmMoments",
    "check_moments",
    "chi_square_balance",
    "covariate_checks",
    "design_columns",
]

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


@dataclass(frozen=True)
class ArmMoments:
    """Per arm: its size, the means and the centred cross-products (sums of squares and products about
    the arm's own means) of the columns ``[covariates' design columns..., metrics...]``.

    ``spans`` gives each covariate's columns; ``metric_col`` each metric's column.
    """

    labels: list[str]
    n: np.ndarray  # (arms,)
    mean: np.ndarray  # (arms, columns)
    css: np.ndarray  # (arms, columns, columns)
    spans: dict[str, list[int]]
    metric_col: dict[str, int]

    def pooled(self) -> tuple[list[np.ndarray], np.ndarray]:
        """(per-arm, total) centred cross-products: total = sum of the arms' + n_j (mean_j - mean)(mean_j - mean)'."""
        grand = (self.n[:, None] * self.mean).sum(axis=0) / self.n.sum()
        dev = self.mean - grand
        total = self.css.sum(axis=0) + np.einsum("j,ja,jb->ab", self.n.astype(float), dev, dev)
        return list(self.css), total


def frame_moments(
    df: pd.DataFrame, arm: str, covariates: Sequence[str], metrics: Sequence[str]
) -> tuple[ArmMoments, np.ndarray]:
    """:class:`ArmMoments` of a frame (arms in order of appearance), and each row's arm code."""
    codes, uniques = pd.factorize(df[arm])
    blocks = [design_columns(df[c]) for c in covariates]
    spans, start = {}, 0
    for c, blk in zip(covariates, blocks):
        spans[c] = list(range(start, start + blk.shape[1]))
        start += blk.shape[1]
    z = np.column_stack([*blocks, *(df[m].to_numpy(dtype=np.float64) for m in metrics)])
    k = len(uniques)
    n, mean, css = np.zeros(k, dtype=np.int64), np.zeros((k, z.shape[1])), np.zeros((k, z.shape[1], z.shape[1]))
    for j in range(k):
        zj = z[codes == j]
        n[j], mean[j] = len(zj), zj.mean(axis=0)
        d = zj - mean[j]
        css[j] = d.T @ d
    metric_col = {m: start + i for i, m in enumerate(metrics)}
    return ArmMoments([str(u) for u in uniques], n, mean, css, spans, metric_col), codes


def _welch_balance(mom: ArmMoments, col: int, control: str) -> tuple[str, float, str]:
    """Welch's t of each arm vs the control on one numeric column: (test, the smallest p, its arm)."""
    c = mom.labels.index(control)
    var = mom.css[:, col, col] / np.maximum(mom.n - 1, 1)
    const = var <= (1e-12 * np.maximum(np.abs(mom.mean[:, col]), 1e-300)) ** 2
    best, where = 1.0, ""
    for j, a in enumerate(mom.labels):
        if j == c:
            continue
        m1, m0 = float(mom.mean[j, col]), float(mom.mean[c, col])
        if const[j] and const[c]:
            p = 1.0 if abs(m1 - m0) <= 1e-12 * max(abs(m1), abs(m0)) else 0.0
        else:
            p = float(
                stats.ttest_ind_from_stats(
                    m1, np.sqrt(var[j]), int(mom.n[j]), m0, np.sqrt(var[c]), int(mom.n[c]), equal_var=False
                ).pvalue
            )
        if p < best or not where:
            best, where = p, a
    return "welch t, each arm vs control", best, where


def _chi_square_balance(col: pd.Series, codes: np.ndarray, n_arms: int) -> tuple[str, float, str]:
    """The chi-square test of independence of a categorical covariate and the arm (needs the rows)."""
    cat_codes, cats = pd.factorize(col, sort=True)
    table = np.bincount(cat_codes * n_arms + codes, minlength=len(cats) * n_arms).reshape(len(cats), -1)
    return chi_square_balance(table)


def chi_square_balance(table: np.ndarray) -> tuple[str, float, str]:
    """The chi-square test of independence of a category-by-arm table of counts (empty categories dropped)."""
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return "chi-square independence", 1.0, ""
    return "chi-square independence", float(stats.chi2_contingency(table, correction=False)[1]), "all arms"


def _rss(c: np.ndarray, cols: list[int], y: int) -> tuple[float, float]:
    """(residual, total) sum of squares of column ``y`` on ``cols`` of centred cross-products ``c``."""
    tss = float(c[y, y])
    if tss <= 0 or not cols:
        return max(tss, 0.0), max(tss, 0.0)
    sxx, sxy = c[np.ix_(cols, cols)], c[cols, y]
    beta = np.linalg.lstsq(sxx, sxy, rcond=None)[0]
    return max(tss - float(sxy @ beta), 0.0), tss


def _r2(total: np.ndarray, cols: list[int], y: int) -> float:
    rss, tss = _rss(total, cols, y)
    return 1.0 - rss / tss if tss > 0 else 0.0


def _within_r2(per_arm: list[np.ndarray], cols: list[int], y: int) -> float:
    parts = [_rss(c, cols, y) for c in per_arm]
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
    """Check every covariate of a frame against every metric (see :func:`check_moments`)."""
    mom, codes = frame_moments(df, arm, covariates, metrics)
    categorical = {c: _chi_square_balance(df[c], codes, len(mom.labels)) for c in covariates if not _is_numeric(df[c])}
    return check_moments(mom, control, metrics, covariates, force, categorical)


def check_moments(
    mom: ArmMoments,
    control: str,
    metrics: Sequence[str],
    covariates: Sequence[str],
    force: bool,
    categorical: Mapping[str, tuple[str, float, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Check every covariate against every metric; refuse (DataError) or, with ``force``, record.

    ``categorical`` holds the balance test of each categorical covariate (the others are tested
    here, by Welch's t from the moments). Returns the check table (one record per metric and
    covariate: ``metric, covariate, balance_test, balance_p, balanced, r2_with_metric,
    variance_reduction, forced``) and the warnings to show.
    """
    cat = dict(categorical or {})
    balance = {c: cat[c] if c in cat else _welch_balance(mom, mom.spans[c][0], control) for c in covariates}
    per_arm, total = mom.pooled()
    records: list[dict[str, Any]] = []
    for m in metrics:
        y = mom.metric_col[m]
        for c in covariates:
            cols = mom.spans[c]
            r2 = _r2(total, cols, y)
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
                    "variance_reduction": _within_r2(per_arm, cols, y),
                    "forced": bool(p < BALANCE_ALPHA),
                }
            )
        _check_together(total, mom, covariates, m, y)
    return records, _balance_notes(balance, force)


def _check_together(total: np.ndarray, mom: ArmMoments, covariates: Sequence[str], m: str, y: int) -> None:
    if len(covariates) < 2:
        return
    r2 = _r2(total, [i for c in covariates for i in mom.spans[c]], y)
    if r2 >= COLLINEAR_R2:
        raise DataError(
            f"Covariates {list(covariates)} together are collinear with metric '{m}' (they explain "
            f"{r2:.6%} of its variance, R² >= {COLLINEAR_R2}): covariates that reproduce the outcome "
            "absorb the effect. Use only pre-treatment covariates."
        )


def _balance_notes(balance: Mapping[str, tuple[str, float, str]], force: bool) -> list[str]:
    """Refuse an imbalanced covariate (DataError), or with ``force`` keep it with a warning."""
    notes = []
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
    return notes

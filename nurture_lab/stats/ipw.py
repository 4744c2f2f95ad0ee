"""Inverse-probability weighting for adaptively assigned data (a scenario's adaptive ``[design]``).

Each unit ``i`` carries the probability ``q_i`` with which it got its arm (the lead table's
``assignment_probability``). An arm's mean is the Hajek estimator with weights ``w_i = 1 / q_i``
over the arm's units, ``m_k = sum w y / sum w``; its variance by linearisation,
``v_k = sum w^2 (y - m_k)^2 / (sum w)^2``. A difference of two arms has variance ``v_1 + v_0``
(the arms' covariance left out: exact under the sharp null of no effect for any unit, conservative
otherwise). With the assignment probabilities floored away from 0 the weighted sums are martingales
over the waves, so the z-test is valid where the unweighted one is not (arms that did well early get
more units later, so an unweighted mean over-weights their unlucky early units — biased).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from .methods import _fieller, comparison_row

__all__ = [
    "ADAPTIVE_NOTE",
    "PROBABILITY_COLUMN",
    "TEST",
    "check_adaptive",
    "hajek",
    "hajek_from_sums",
    "ipw_estimator",
    "ipw_row",
    "weighted_sums",
]

TEST = "IPW z (Hajek means, weights 1 / assignment_probability; adaptive design)"


def weighted_sums(y: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """The sums the Hajek mean and its variance need: ``n, sw, swy, sw2, sw2y, sw2yy``."""
    y = np.asarray(y, float)
    w = 1.0 / np.asarray(q, float)
    w2 = w * w
    return {
        "n": float(y.size),
        "sw": float(w.sum()),
        "swy": float((w * y).sum()),
        "sw2": float(w2.sum()),
        "sw2y": float((w2 * y).sum()),
        "sw2yy": float((w2 * y * y).sum()),
    }


def hajek_from_sums(s: Any) -> tuple[Any, Any]:
    """``(mean, variance)`` of the Hajek estimator from :func:`weighted_sums` (arrays of sums give arrays;
    NaN for an empty arm)."""
    sw = np.asarray(s["sw"], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.asarray(s["swy"], float) / sw
        ss = np.asarray(s["sw2yy"], float) - 2 * m * np.asarray(s["sw2y"], float) + m * m * np.asarray(s["sw2"], float)
        v = np.maximum(ss, 0.0) / sw**2
    m, v = np.where(sw > 0, m, np.nan), np.where(sw > 0, v, np.nan)
    return (float(m), float(v)) if m.ndim == 0 else (m, v)


def hajek(y: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """``(mean, variance)`` of the Hajek estimator of one arm's units."""
    return hajek_from_sums(weighted_sums(y, q))


def ipw_row(y1: np.ndarray, q1: np.ndarray, y0: np.ndarray, q0: np.ndarray, alpha: float) -> dict[str, Any]:
    """One arm-vs-control row of ``analyze`` for adaptive data: Hajek means, z-test and interval,
    the relative lift by Fieller's interval with the same variances."""
    m1, v1 = hajek(y1, q1)
    m0, v0 = hajek(y0, q0)
    z = float(stats.norm.ppf(1 - alpha / 2))
    d, se = m1 - m0, math.sqrt(v1 + v0)
    p = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else (1.0 if d == 0 else 0.0)
    rel = m1 / m0 - 1 if m0 > 0 else math.nan
    rel_lo, rel_hi = _fieller(m1, m0, v1, v0, 0.0, z, nonneg=bool(m0 > 0 and m1 >= 0))
    return comparison_row(m0, m1, d, (d - z * se, d + z * se), (rel, rel_lo, rel_hi), p, TEST, "ipw-hajek")


#: The lead table's column that marks data from an adaptive design (see :mod:`nurture_lab.simulation.adaptive`).
PROBABILITY_COLUMN = "assignment_probability"
ADAPTIVE_NOTE = (
    "Adaptive design: every row is inverse-probability weighted by its 'assignment_probability' "
    "(Hajek means; the unweighted means of adaptively assigned arms are biased). The sample-ratio check "
    "does not apply: arm sizes follow the data by design."
)


def check_adaptive(df: Any, arm: str, labels: list[str], options: dict[str, Any]) -> dict[str, float]:
    """Data with ``assignment_probability``: probabilities in (0, 1], and only the options IPW supports.
    Returns the arms' observed shares, for a sample-ratio check that does not apply (it always passes)."""
    from ..errors import DataError

    unsupported = [name for name, used in options.items() if used]
    if unsupported:
        raise DataError(
            f"The data have a column '{PROBABILITY_COLUMN}' (an adaptive design), which analyze weights by "
            f"inverse probability; {', '.join(unsupported)} has no weighted version here, so it would analyse "
            f"adaptive data as if fixed. Drop {', '.join(unsupported)}, or analyse a fixed design's data."
        )
    q = df[PROBABILITY_COLUMN]
    bad = q.isna().to_numpy() | ~(
        (q.to_numpy(dtype=float, na_value=np.nan) > 0) & (q.to_numpy(dtype=float, na_value=np.nan) <= 1)
    )
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"Column '{PROBABILITY_COLUMN}' has {int(bad.sum())} value(s) outside (0, 1] or missing (row positions "
            f"{', '.join(str(int(i)) for i in rows[:5])}{', ...' if rows.size > 5 else ''}); expected each row's "
            "probability of the arm it got."
        )
    counts = df[arm].astype(str).value_counts()
    return {a: float(counts.get(a, 0)) / len(df) for a in labels}


def ipw_estimator(df: Any, arm: str, control: str, label: str, metric: str) -> Any:
    """The row's estimator (a function of alpha) for adaptive data: :func:`ipw_row` on the two arms' rows."""
    a, c = df[df[arm] == label], df[df[arm] == control]
    y1, q1 = a[metric].to_numpy(float), a[PROBABILITY_COLUMN].to_numpy(float)
    y0, q0 = c[metric].to_numpy(float), c[PROBABILITY_COLUMN].to_numpy(float)
    return lambda alpha: ipw_row(y1, q1, y0, q0, alpha)

"""Guardrails: one-sided non-inferiority of each arm against the control, with a stated margin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy import stats

from .._results import ResultMixin
from ..errors import DataError, check_param
from .analysis import _check_binary, _metric_types, _require_columns, _require_frame


@dataclass(frozen=True, repr=False)
class NonInferiorityResult(ResultMixin):
    """One-sided non-inferiority test of each arm against the control: one row per arm."""

    results: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> pd.DataFrame:
        return self.results

    def _head(self) -> str:
        s = self.settings
        return (
            f"NonInferiorityResult(margin {s.get('margin')}, alpha {s.get('alpha')}, "
            f"{'higher' if s.get('higher_is_better') else 'lower'} is better; "
            f"{int(self.results['non_inferior'].sum()) if len(self.results) else 0} of {len(self.results)} arm(s) non-inferior)"
        )


def non_inferiority(
    data: pd.DataFrame,
    arm: str,
    control: str,
    metric: str,
    margin: float,
    *,
    higher_is_better: bool = False,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Is each arm no worse than the control by more than ``margin`` (absolute)?

    For a guardrail such as opt-outs (lower is better): H0 ``diff >= margin`` vs H1 ``diff < margin``.
    The CI shown is the two-sided ``1 - 2*alpha`` interval, and the one-sided p-value is that
    interval inverted at the margin, so "non-inferior" is the same as ``p < alpha`` and as the
    interval's bound lying on the good side of the margin. Binary metrics: the Wald interval
    (statsmodels ``test_proportions_2indep(value=margin)`` gives the same p), or Newcombe's hybrid
    score interval when a rate is 0% or 100% — it exists at zero events, so an opt-out guardrail
    with no opt-outs at all can pass. Numeric metrics: Welch.

    ``data`` is a pandas frame or an Ibis table (``nl.connect(url).table(name)``); a table is reduced
    to per-arm counts, sums and ``VAR_SAMP`` in the database (:mod:`nurture_lab.stats.warehouse`),
    with the same result.
    """
    from .warehouse import is_table

    in_db = is_table(data)
    df = data if in_db else _require_frame(data, "non_inferiority")
    check_param(
        "non_inferiority",
        "margin",
        margin,
        low=0,
        low_open=True,
        expected="a number > 0 (absolute, in the metric's units)",
    )
    check_param("non_inferiority", "alpha", alpha, low=0, high=0.25, low_open=True, high_open=True)
    check_param("non_inferiority", "higher_is_better", higher_is_better, kind="bool")
    counts = _table_counts(df, arm, metric) if in_db else _frame_counts(df, arm, metric)
    if counts is not None:
        rows = _binary_rows(counts, arm, control, metric, margin, higher_is_better, alpha)
    else:
        rows = _numeric_rows(df, arm, control, metric, margin, higher_is_better, alpha)
    settings = {"alpha": alpha, "margin": margin, "higher_is_better": higher_is_better, "ci_level": 1 - 2 * alpha}
    return NonInferiorityResult(pd.DataFrame(rows), settings)


def _row(r: dict[str, Any], metric: str, control: str, margin: float, p: float, ok: bool, test: str) -> dict[str, Any]:
    return {
        "metric": metric,
        "arm": r["arm"],
        "control": control,
        "control_value": r["control_value"],
        "arm_value": r["arm_value"],
        "diff": r["diff"],
        "diff_ci_low": r["diff_ci_low"],
        "diff_ci_high": r["diff_ci_high"],
        "margin": margin,
        "p_value": p,
        "non_inferior": bool(ok),
        "test": test,
    }


def _frame_counts(df: pd.DataFrame, arm: str, metric: str) -> pd.DataFrame | None:
    """Per arm ``sum`` and ``count`` of a binary metric of a frame (None for a numeric metric)."""
    _require_columns(df, [arm, metric], "Non-inferiority")
    if _metric_types(df, [metric])[metric] != "binary":
        return None
    _check_binary(df, metric)
    return df[metric].astype(float).groupby(df[arm].astype(str)).agg(["sum", "count"])


def _table_counts(table: Any, arm: str, metric: str) -> pd.DataFrame | None:
    """The same from an Ibis table, computed in the database (its checks: missing values, 0/1)."""
    from .warehouse import _types, table_stats

    suff, checks = table_stats(table, arm, [metric])
    if _types(table, [metric], None, [metric], {}, checks)[metric] != "binary":
        return None
    return suff.set_index(suff["arm"].astype(str))[["sum", "n"]].rename(columns={"n": "count"})


def _binary_rows(
    counts: pd.DataFrame, arm: str, control: str, metric: str, margin: float, higher: bool, alpha: float
) -> list[dict[str, Any]]:
    from .estimators import _at_edge, _newcombe

    if control not in counts.index:
        raise DataError(
            f"Control label {control!r} is not a value of column '{arm}'; values: {', '.join(map(str, counts.index))}."
        )
    c0, n0 = float(counts.loc[control, "sum"]), int(counts.loc[control, "count"])
    z = float(stats.norm.ppf(1 - alpha))
    rows = []
    for a in sorted(x for x in counts.index if x != control):
        c1, n1 = float(counts.loc[a, "sum"]), int(counts.loc[a, "count"])
        if min(n1, n0) < 2:
            raise DataError(f"Arm {a!r} or the control has fewer than 2 units in column '{arm}'.")
        # the bad direction as "arm minus control must stay below the margin"
        x1, m1, x0, m0 = (c0, n0, c1, n1) if higher else (c1, n1, c0, n0)
        edge = _at_edge(c1, n1, c0, n0)
        method = _newcombe if edge else _wald

        def interval(q: float, f: Any = method, b: tuple[float, int, float, int] = (x1, m1, x0, m0)) -> Any:
            return f(b[0], b[1], b[2], b[3], q)

        name = (
            "one-sided non-inferiority (newcombe hybrid score, interval inverted)"
            if edge
            else "one-sided non-inferiority (wald)"
        )
        lo, hi = interval(z)
        p = _one_sided_p(interval, margin)
        shown = (-hi, -lo) if higher else (lo, hi)
        r = {
            "arm": a,
            "control_value": c0 / n0,
            "arm_value": c1 / n1,
            "diff": c1 / n1 - c0 / n0,
            "diff_ci_low": shown[0],
            "diff_ci_high": shown[1],
        }
        rows.append(_row(r, metric, control, margin, p, p < alpha, name))
    return rows


def _wald(c1: float, n1: int, c0: float, n0: int, q: float) -> tuple[float, float]:
    p1, p0 = c1 / n1, c0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0 - q * se, p1 - p0 + q * se


def _one_sided_p(interval: Any, margin: float) -> float:
    """``P`` such that the interval's upper bound at ``z = Phi^-1(1 - P)`` is the margin: the smallest
    one-sided level at which ``diff < margin`` is shown (the interval inverted)."""
    from scipy.optimize import brentq

    def f(q: float) -> float:
        return float(interval(q)[1]) - margin

    if f(0.0) >= 0:  # the estimate itself is at or past the margin: use the lower bound's side
        g = lambda q: float(interval(q)[0]) - margin  # noqa: E731
        if g(0.0) <= 0:
            return 0.5
        hi = 1.0
        while g(hi) > 0 and hi < 64:
            hi *= 2
        return float(stats.norm.cdf(brentq(g, 0.0, hi, xtol=1e-13))) if g(hi) <= 0 else 1.0
    hi = 1.0
    while f(hi) < 0 and hi < 64:
        hi *= 2
    if f(hi) < 0:
        return 0.0
    return float(stats.norm.sf(brentq(f, 0.0, hi, xtol=1e-13)))


def _numeric_rows(
    df: Any, arm: str, control: str, metric: str, margin: float, higher: bool, alpha: float
) -> list[dict[str, Any]]:
    from .warehouse import analyze  # a frame or an Ibis table alike

    base = analyze(df, arm=arm, control=control, metrics={metric: "numeric"}, correction="none", alpha=2 * alpha)
    rows = []
    for r in base.results.to_dict(orient="records"):
        se = (r["diff_ci_high"] - r["diff_ci_low"]) / (2 * stats.norm.ppf(1 - alpha))
        z = (r["diff"] + margin) / se if higher else (r["diff"] - margin) / se
        p = float(stats.norm.sf(z)) if higher else float(stats.norm.cdf(z))
        ok = r["diff_ci_low"] > -margin if higher else r["diff_ci_high"] < margin
        rows.append(_row(r, metric, control, margin, p, ok, "one-sided non-inferiority (welch)"))
    return rows

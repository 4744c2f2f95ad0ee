"""From the per-replication sums of :func:`nurture_lab.whatif.designs.compare_designs` to its table.

``runs`` has one row per replication, design, version (``ab``: the test; ``aa``: its A/A version)
and arm: ``truth`` (the mean 30-day booking of every lead under the arm) and the sums ``n``
(leads), ``s`` (bookings), ``sw``, ``swy``, ``sw2``, ``sw2y`` (weights ``1 / assignment probability``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..scenario.model import Scenario
from ..stats.ipw import hajek_from_sums

__all__ = ["summarise", "t_interval", "wilson"]


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of the mean of ``x`` (NaN interval for one value)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def wilson(hits: np.ndarray) -> tuple[float, float, float]:
    """Share of true values and its 95% Wilson interval."""
    from statsmodels.stats.proportion import proportion_confint

    hits = np.asarray(hits, bool)
    lo, hi = proportion_confint(int(hits.sum()), int(hits.size), alpha=0.05, method="wilson")
    return float(hits.mean()), float(lo), float(hi)


def _matrix(g: pd.DataFrame, col: str, k: int) -> np.ndarray:
    """``col`` as replications x arms (rows ordered by replication, then arm)."""
    return g.sort_values(["rep", "arm"])[col].to_numpy(float).reshape(-1, k)


def _z_p(d: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Two-sided p-values of ``d / sqrt(var)``; 1 where there is no variance to test against."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(d) / np.sqrt(var)
    p = 2 * stats.norm.sf(z)
    return np.where(np.isfinite(p), p, 1.0)


def _alarms(g: pd.DataFrame, k: int, c: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per replication of an A/A version: does some arm differ from the control at ``alpha``
    (Bonferroni over the K - 1 comparisons), by the naive z-test and by the IPW z-test?"""
    n, s = _matrix(g, "n", k), _matrix(g, "s", k)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s / n
        v = np.where(n >= 2, m * (1 - m) / n, np.nan)
    sums = {key: _matrix(g, key, k) for key in ("sw", "swy", "sw2", "sw2y")}
    hm, hv = hajek_from_sums(sums | {"sw2yy": sums["sw2y"]})  # 0/1 outcomes: y^2 = y
    others = [a for a in range(k) if a != c]
    p_naive = _z_p(m[:, others] - m[:, [c]], v[:, others] + v[:, [c]])
    p_ipw = _z_p(hm[:, others] - hm[:, [c]], hv[:, others] + hv[:, [c]])
    level = alpha / len(others)
    return p_naive.min(axis=1) < level, p_ipw.min(axis=1) < level


def summarise(runs: pd.DataFrame, sc: Scenario, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The table (one row per design), the bias table (per design and arm) and the truly best arm."""
    arms = list(sc.experiment.arm_names)
    k, c = len(arms), arms.index(sc.experiment.control)
    ab_all = runs[runs["version"] == "ab"]
    pooled = ab_all.groupby("arm", observed=True)["truth"].mean().reindex(arms).to_numpy()
    best = int(np.argmax(pooled))
    planned = np.array(list(sc.experiment.allocation.values()))
    n_leads = float(
        ab_all[(ab_all["rep"] == ab_all["rep"].iloc[0])].groupby("design", observed=True)["n"].sum().iloc[0]
    )
    expected = n_leads * float((planned * (pooled[best] - pooled)).sum())
    rows, bias_rows = [], []
    for label, g in runs.groupby("design", observed=True, sort=False):
        ab, aa = g[g["version"] == "ab"], g[g["version"] == "aa"]
        n, truth = _matrix(ab, "n", k), _matrix(ab, "truth", k)
        regret = (n * (truth[:, [best]] - truth)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            hajek_mean = _matrix(ab, "swy", k) / _matrix(ab, "sw", k)
            naive_mean = _matrix(ab, "s", k) / n
        pick = np.argmax(np.where(np.isfinite(hajek_mean), hajek_mean, -np.inf), axis=1) == best
        naive_alarm, ipw_alarm = _alarms(aa, k, c, alpha)
        row: dict[str, Any] = {"design": str(label)}
        row |= _with_ci("regret", t_interval(regret))
        row["regret_per_1000"] = row["regret"] * 1000 / n_leads
        row["fixed_regret_expected"] = expected
        row |= _with_ci("p_pick_best", wilson(pick))
        row["best_arm_share"] = float(n[:, best].sum() / n.sum())
        row |= _with_ci("aa_false_alarm_naive", wilson(naive_alarm))
        row |= _with_ci("aa_false_alarm_ipw", wilson(ipw_alarm))
        per_arm: list[dict[str, Any]] = []
        for a, name in enumerate(arms):
            nb, ib = t_interval(naive_mean[:, a] - truth[:, a]), t_interval(hajek_mean[:, a] - truth[:, a])
            per_arm.append(
                {"design": str(label), "arm": name, "replications_with_leads": int((n[:, a] > 0).sum())}
                | _with_ci("naive_bias", nb)
                | _with_ci("ipw_bias", ib)
            )
        worst = max(per_arm, key=lambda r: abs(r["naive_bias"]) if math.isfinite(r["naive_bias"]) else -1.0)
        row |= {"naive_bias_max": worst["naive_bias"], "naive_bias_max_arm": worst["arm"]}
        row |= {
            "naive_bias_max_ci_low": worst["naive_bias_ci_low"],
            "naive_bias_max_ci_high": worst["naive_bias_ci_high"],
        }
        rows.append(row)
        bias_rows += per_arm
    return pd.DataFrame(rows), pd.DataFrame(bias_rows), arms[best]


def _with_ci(name: str, est: tuple[float, float, float]) -> dict[str, float]:
    return {name: est[0], f"{name}_ci_low": est[1], f"{name}_ci_high": est[2]}

"""From per-arm sufficient statistics to the result: the one row builder of both paths of ``analyze``.

:func:`compare` takes the sufficient statistics per (group, arm) — computed from a pandas frame
(:func:`~nurture_lab.stats.estimators.sufficient_stats`) or in a database
(:mod:`nurture_lab.stats.warehouse`) — and an estimator factory, and makes every arm-vs-control row:
skipped and too-small groups, arms without variance, the sequential wrapper, the correction and
its adjusted intervals, the Bayesian and pooled columns, the sample-ratio check and the settings.
Only the estimator of a row differs between the paths (a covariate-adjusted row needs the frame,
or the database's two passes), so both give the same result to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, NoVarianceError
from .bayes import BAYES_COLUMNS, ArmStats, bayes_rows
from .estimators import _adjust, _binary_row, _numeric_row, srm_check
from .methods import _fieller
from .pooling import POOLED_COLUMNS, dersimonian_laird
from .ratio import _ratio_var, ratio_row
from .result import RESULT_COLUMNS, AnalysisResult, _fmt_p
from .sequential import always_valid_p, cs_halfwidth

__all__ = ["MIN_ARM_N", "MIN_GROUP_N", "Call", "compare", "plain_estimator"]

#: A group with fewer units per arm than this is flagged as too small to say anything.
MIN_GROUP_N = 30
#: An arm needs at least this many units to have a variance (and so an interval) at all.
MIN_ARM_N = 2

#: An estimator: alpha -> the row's values (the same estimate, an interval at any level).
Estimator = Callable[[float], dict[str, Any]]
#: (metric, metric type, group, arm label, the arm's statistics, the control's) -> the row's estimator.
EstimatorFactory = Callable[[str, str, Any, str, pd.Series, pd.Series], Estimator]


@dataclass(frozen=True)
class Call:
    """The options of one ``analyze`` call, checked, as both paths pass them to :func:`compare`."""

    arm: str
    control: str
    arms: list[str]
    types: dict[str, str]
    by: str | None
    covariates: list[str]
    ci_method: str
    correction: str
    alpha: float
    allocation: Mapping[str, float] | None
    sequential: bool
    sequential_tuning: int
    bayesian: bool
    prior: tuple[float, float] | None
    lower_is_better: list[str]
    nonneg: dict[str, bool]
    n_units: int
    extra_settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Rows:
    """What the loop over metrics, groups and arms collects."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    estimators: list[Estimator] = field(default_factory=list)
    degenerate: list[DataError] = field(default_factory=list)
    bayes_in: dict[tuple[str, Any], dict[str, Any]] = field(default_factory=dict)  # (metric, group) -> stats
    pool_in: dict[tuple[str, str], dict[int, tuple[float, float]]] = field(default_factory=dict)  # -> (diff, se)


def plain_estimator(mtype: str, r: pd.Series, c: pd.Series, ci_method: str, nonneg: bool) -> Estimator:
    """The unadjusted row's estimator from the two arms' sufficient statistics (ratio, binary, numeric)."""
    n1, n0 = int(r["n"]), int(c["n"])
    if mtype == "ratio":
        return lambda a: ratio_row(r, c, a, nonneg)
    if mtype == "binary":
        return lambda a: _binary_row(float(r["sum"]), n1, float(c["sum"]), n0, ci_method, a)
    return lambda a: _numeric_row(float(r["sum"]), float(r["css"]), n1, float(c["sum"]), float(c["css"]), n0, a, nonneg)


def compare(
    suff: pd.DataFrame,
    call: Call,
    make_estimator: EstimatorFactory,
    checks: list[dict[str, Any]],
    notes: list[str],
) -> AnalysisResult:
    """Every arm against the control from the per-(group, arm) statistics ``suff``: the result of ``analyze``.

    ``checks`` and ``notes`` are the covariate checks' records and warnings (first in the result's).
    """
    suff = suff.assign(arm=suff["arm"].astype(str))
    counts = suff[suff["metric"] == next(iter(call.types))].groupby("arm")["n"].sum()
    tiny = {a: int(n) for a, n in counts.items() if n < MIN_ARM_N}
    if tiny:
        raise DataError(
            f"Arm(s) {', '.join(f'{a} ({n})' for a, n in tiny.items())} of column '{call.arm}' have fewer than "
            f"{MIN_ARM_N} units: an arm needs at least "
            f"{MIN_ARM_N} to have a variance, so no interval or test can be honest."
        )
    srm = srm_check({a: int(counts.get(a, 0)) for a in [call.control, *call.arms]}, call.allocation)
    notes = list(notes)
    _check_ratio_denominators(suff, call.types, call.by)
    got = _Rows()
    groups = [None] if call.by is None else sorted(suff[call.by].unique(), key=str)
    for m, mtype in call.types.items():
        sm_ = suff[suff["metric"] == m]
        for g in groups:
            _group_rows(sm_ if g is None else sm_[sm_[call.by] == g], m, mtype, g, call, make_estimator, got, notes)
    if got.degenerate and len(got.degenerate) == len(got.rows) and call.by is None:
        raise got.degenerate[0]
    res, level = _corrected(got, call)
    best_control = (
        _add_bayes(res, got.bayes_in, call.alpha, call.prior, set(call.lower_is_better)) if call.bayesian else {}
    )
    heterogeneity = _add_pooled(res, got.pool_in, call.alpha) if call.by is not None else []
    by = call.by
    cols = (
        ([by] if by else [])
        + RESULT_COLUMNS
        + (["small_group"] if by else [])
        + (["variance_reduction"] if call.covariates else [])
        + (POOLED_COLUMNS if by else [])
        + (BAYES_COLUMNS if call.bayesian else [])
    )
    res = res[cols]
    settings = _settings(call, res, level, checks, best_control, heterogeneity)
    if srm["flagged"]:
        notes.insert(
            0,
            f"Sample ratio mismatch: arm sizes {srm['counts']} differ from the planned allocation "
            f"(chi-square p = {_fmt_p(srm['p_value'])}); check assignment before trusting effects.",
        )
    return AnalysisResult(res, srm, settings, tuple(notes))


def _group_rows(
    sg: pd.DataFrame,
    m: str,
    mtype: str,
    g: Any,
    call: Call,
    make_estimator: EstimatorFactory,
    got: _Rows,
    notes: list[str],
) -> None:
    """The rows of one metric in one group (or the whole data): every arm with units against the control."""
    by, control = call.by, call.control
    st = sg.set_index("arm")
    if control not in st.index or st.loc[control, "n"] == 0:
        notes.append(f"Group {by}={g!r}: no control units; skipped.")
        return
    c = st.loc[control]
    for a in call.arms:
        if a not in st.index or st.loc[a, "n"] == 0:
            notes.append(f"Group {by}={g!r}: arm {a!r} has no units; skipped.")
            continue
        r = st.loc[a]
        n1, n0 = int(r["n"]), int(c["n"])
        if min(n1, n0) < MIN_ARM_N:
            notes.append(f"Group {by}={g!r}: {a} vs {control} has {n1} vs {n0} units; skipped.")
            continue
        no_var = _no_variance(r, c, mtype)
        if no_var and g is None:
            got.degenerate.append(_constant_arms_error(m, a, control, r, c))
            notes.append(f"{got.degenerate[-1]} No test for {a} vs {control}.")
        estimate = make_estimator(m, mtype, g, a, r, c)
        if call.sequential:
            estimate = _sequential_estimator(estimate, r, c, mtype, call.sequential_tuning, call.alpha, call.nonneg[m])
        small = min(n1, n0) < MIN_GROUP_N or no_var
        if g is not None and small:
            notes.append(
                f"Group {by}={g!r}, metric {m!r}, {a} vs {control}: too small to say anything "
                f"(n = {n1} vs {n0}{', no variance' if no_var else ''})."
            )
        row = {"metric": m, "arm": a, "control": control, "n_control": n0, "n_arm": n1}
        row |= {**estimate(call.alpha), "metric_type": mtype}
        if by is not None:
            row[by] = g
            row["small_group"] = bool(small)
        _collect_bayes_and_pooled(got, call, m, mtype, g, a, r, c)
        got.rows.append(row)
        got.estimators.append(estimate)


def _collect_bayes_and_pooled(
    got: _Rows, call: Call, m: str, mtype: str, g: Any, a: str, r: pd.Series, c: pd.Series
) -> None:
    """Keep the next row's plain per-arm statistics for the pooled and Bayesian columns (not adjusted rows)."""
    if mtype not in ("binary", "numeric") or call.covariates:
        return
    i = len(got.rows)
    if call.by is not None:
        v1, v0 = _arm_stats(r, mtype), _arm_stats(c, mtype)
        var_d = v1.var / v1.n + v0.var / v0.n
        if var_d > 0:
            got.pool_in.setdefault((m, a), {})[i] = (float(v1.mean - v0.mean), math.sqrt(var_d))
    if call.bayesian:
        slot = got.bayes_in.setdefault((m, g), {"control": _arm_stats(c, mtype), "arms": {}})
        slot["arms"][i] = _arm_stats(r, mtype)


def _corrected(got: _Rows, call: Call) -> tuple[pd.DataFrame, float]:
    """The rows as a table with adjusted p-values, the verdicts, and intervals at the correction's level."""
    res = pd.DataFrame(got.rows)
    if res.empty:
        raise DataError("No comparison could be made: every group lacks the control or an arm.")
    p = res["p_value"].to_numpy(dtype=float)
    res["p_adjusted"] = _adjust(p, call.correction)
    res["significant"] = res["p_adjusted"] < call.alpha
    level = _adjusted_alpha(p, res["p_adjusted"].to_numpy(dtype=float), call.correction, call.alpha)
    adj = [est(level) if level != call.alpha else None for est in got.estimators]
    res["adj_ci_low"] = [v["diff_ci_low"] if v else lo for v, lo in zip(adj, res["diff_ci_low"])]
    res["adj_ci_high"] = [v["diff_ci_high"] if v else hi for v, hi in zip(adj, res["diff_ci_high"])]
    return res, level


def _settings(
    call: Call,
    res: pd.DataFrame,
    level: float,
    checks: list[dict[str, Any]],
    best_control: dict[str, Any],
    heterogeneity: list[dict[str, Any]],
) -> dict[str, Any]:
    """How the result was computed (``AnalysisResult.settings``)."""
    prior = call.prior
    return {
        "arm": call.arm,
        "control": call.control,
        "metrics": call.types,
        "by": call.by,
        "covariates": call.covariates,
        "ci_method": call.ci_method,
        "correction": call.correction,
        "alpha": call.alpha,
        "allocation": dict(call.allocation) if call.allocation else None,
        "n_units": call.n_units,
        "family_size": int(res["p_value"].notna().sum()),
        "adjusted_alpha": level,
        "sequential": (
            f"asymptotic confidence sequence (Waudby-Smith et al. 2021), tuned for {call.sequential_tuning:,} units"
            if call.sequential
            else None
        ),
        "adjusted_intervals": ADJUSTED_INTERVALS[call.correction],
        "covariate_checks": checks,
        "forced_covariates": sorted({r["covariate"] for r in checks if r["forced"]}),
        "bayesian": (
            None
            if not call.bayesian
            else "Gaussian effect model (as GrowthBook's gbstats), "
            + (
                "flat prior"
                if prior is None
                else f"normal prior on the relative effect, mean {prior[0]}, sd {prior[1]}"
            )
        ),
        "prob_best_control": best_control,
        "heterogeneity": heterogeneity,
        "lower_is_better": sorted(call.lower_is_better),
        **call.extra_settings,
    }


#: What ``adj_ci_low`` / ``adj_ci_high`` are, per correction (also in each result's settings).
ADJUSTED_INTERVALS = {
    "holm": "intervals at 1 - alpha/(m - R), Holm's last step (R rows rejected; Bonferroni's when R = 0)",
    "bh": "Benjamini-Yekutieli false-coverage-rate intervals at 1 - R*alpha/m",
    "none": "the plain intervals (no correction)",
}


def _adjusted_alpha(p: np.ndarray, p_adj: np.ndarray, correction: str, alpha: float) -> float:
    """The per-interval error rate that matches the correction over a family of ``m`` p-values."""
    m = int(np.isfinite(p).sum())
    if correction == "none" or m <= 1:
        return alpha
    rejected = int((p_adj[np.isfinite(p_adj)] < alpha).sum())
    if correction == "holm":
        return alpha / max(m - rejected, 1)
    return max(rejected, 1) * alpha / m


def _sequential_estimator(
    estimate: Any, r: pd.Series, c: pd.Series, mtype: str, tuning: int, tuned_at: float, nonneg: bool
) -> Any:
    """Wrap a fixed-sample estimator: the same estimate, with a confidence sequence and an always-valid p.

    The mixture is tuned once at the call's alpha (``tuned_at``), so the sequence at any level
    (plain or adjusted) excludes 0 exactly when the always-valid p is below that level. The
    relative interval is Fieller's with the sequence's boundary as the critical value.
    """
    n1, n0 = int(r["n"]), int(c["n"])
    if mtype == "ratio":
        v1, v0 = _ratio_var(r) / n1, _ratio_var(c) / n0
    elif mtype == "binary":
        p1, p0 = float(r["sum"]) / n1, float(c["sum"]) / n0
        v1, v0 = p1 * (1 - p1) / n1, p0 * (1 - p0) / n0
    else:
        v1, v0 = float(r["css"]) / (n1 - 1) / n1, float(c["css"]) / (n0 - 1) / n0
    t = n1 + n0

    def run(a: float) -> dict[str, Any]:
        vals = dict(estimate(a))
        d, var = vals["diff"], v1 + v0
        half = cs_halfwidth(var, t, a, tuning, tuned_at) if var > 0 else float("nan")
        vals["diff_ci_low"], vals["diff_ci_high"] = d - half, d + half
        vals["p_value"] = always_valid_p(d, var, t, tuned_at, tuning)
        m1, m0 = vals["arm_value"], vals["control_value"]
        q = cs_halfwidth(1.0, t, a, tuning, tuned_at)  # the boundary per unit standard error
        vals["rel_ci_low"], vals["rel_ci_high"] = _fieller(m1, m0, v1, v0, 0.0, q, nonneg or mtype == "binary")
        vals["test"] = f"{vals['test']}; always valid"
        vals["ci_method"] = "confidence sequence"
        return vals

    return run


def _check_ratio_denominators(suff: pd.DataFrame, types: Mapping[str, str], by: str | None) -> None:
    """A ratio metric needs a non-zero mean denominator in every arm (and group) it compares."""
    for m, t in types.items():
        if t != "ratio":
            continue
        s = suff[(suff["metric"] == m) & (suff["n"] > 0)]
        bad = s[s["mean_den"] == 0]
        if len(bad):
            where = ", ".join(
                f"arm {row['arm']!r}" + (f" ({by}={row[by]!r})" if by else "") for _, row in bad.head(3).iterrows()
            )
            raise DataError(
                f"Ratio metric '{m}' has a denominator that is 0 for every unit of {where}; "
                "a ratio of means needs a non-zero mean denominator in every arm."
            )


def _arm_stats(s: pd.Series, mtype: str) -> ArmStats:
    n = int(s["n"])
    mean = float(s["sum"]) / n
    var = mean * (1 - mean) if mtype == "binary" else float(s["css"]) / (n - 1)
    return ArmStats(mean, var, n)


def _add_bayes(
    res: pd.DataFrame,
    inputs: Mapping[tuple[str, Any], Mapping[str, Any]],
    alpha: float,
    prior: tuple[float, float] | None,
    lower: set[str],
) -> dict[str, Any]:
    """Fill the Bayesian columns of ``res`` per (metric, group); return each one's P(control best)."""
    for col in BAYES_COLUMNS:
        res[col] = np.nan
    best_control: dict[str, Any] = {}
    for (m, g), slot in inputs.items():
        idx = list(slot["arms"])
        vals, p0 = bayes_rows(
            slot["control"], [slot["arms"][i] for i in idx], alpha=alpha, prior=prior, lower_is_better=m in lower
        )
        for i, v in zip(idx, vals):
            for k, x in v.items():
                res.at[i, k] = x
        best_control[m if g is None else f"{m} | {g}"] = p0
    return best_control


def _add_pooled(
    res: pd.DataFrame, inputs: Mapping[tuple[str, str], Mapping[int, tuple[float, float]]], alpha: float
) -> list[dict[str, Any]]:
    """Fill the pooled columns per (metric, arm) across segments; return the heterogeneity table."""
    for col in POOLED_COLUMNS:
        res[col] = np.nan
    table = []
    for (m, a), cells in inputs.items():
        idx = list(cells)
        if len(idx) < 2:
            continue
        d = np.array([cells[i][0] for i in idx])
        se = np.array([cells[i][1] for i in idx])
        out = dersimonian_laird(d, se, alpha)
        res.loc[idx, "pooled_diff"] = out["shrunk"]
        res.loc[idx, "pooled_ci_low"] = out["shrunk_low"]
        res.loc[idx, "pooled_ci_high"] = out["shrunk_high"]
        res.loc[idx, "heterogeneity_p"] = out["p_value"]
        table.append(
            {"metric": m, "arm": a, "segments": len(idx), "test": "cochran q (dersimonian-laird)"}
            | {k: v for k, v in out.items() if not k.startswith("shrunk")}
        )
    return table


def _constant_arms_error(m: str, a: str, control: str, r: pd.Series, c: pd.Series) -> DataError:
    """The error naming both constant arms' values (a NoVarianceError when they are the same)."""
    v1, v0 = float(r["sum"]) / float(r["n"]), float(c["sum"]) / float(c["n"])
    if v1 == v0:
        return NoVarianceError(m, (a, control), v1)
    return DataError(
        f"Metric '{m}' has no variance in arms {a!r} (every value {v1:g}) and {control!r} (every value {v0:g}); "
        "the difference is exact and there is no sampling error to test."
    )


def _no_variance(r: pd.Series, c: pd.Series, mtype: str) -> bool:
    """Both arms constant (and, for a binary metric, at the same rate): nothing to test.

    Judged on each arm's sum of squares about its own mean relative to the data's own scale, so a
    real spread of 1 around a mean of 1e7 counts as variance (its coefficient of variation is 1e-7).
    """

    def var0(x: pd.Series) -> bool:
        n = float(x["n"])
        mean = float(x["sum"]) / n
        return bool(float(x["css"]) <= n * (1e-12 * max(abs(mean), 1e-300)) ** 2)

    if mtype == "ratio":
        return False
    both_const = var0(r) and var0(c)
    if mtype == "binary":
        return both_const and (r["sum"] / r["n"] == c["sum"] / c["n"])
    return both_const

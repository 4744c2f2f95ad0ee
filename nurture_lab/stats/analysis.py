"""Experiment analysis: named, reproducible statistics for A/B/n tests on any per-unit table.

Every result row says which method made it (``test``, ``ci_method``). Defaults follow DESIGN.md:

- binary metric: difference of proportions by ``ci_method`` (wald, newcombe, agresti-caffo: the
  intervals of statsmodels ``confint_proportions_2indep``), with the p-value and the relative lift's
  interval from the same method (Fieller's interval; Newcombe's interval inverted for its p-value
  and MOVER-R for its relative lift), so a row's intervals and p-value never disagree;
- numeric metric: Welch's t-test and CI; relative lift CI by Fieller's method;
- one correction family per call (Holm default, Benjamini-Hochberg, none);
- sample ratio mismatch: chi-square goodness of fit against the planned allocation, flagged at p < 0.001;
- covariates: Lin's (2013) estimator, OLS with centred covariates and their interactions, HC2 errors;
- guardrails: :func:`non_inferiority`; time to book: :func:`time_to_book`.

Rows are first reduced to sufficient statistics per arm and group (n, sum, sum of squares), so the
statistics never scan rows twice and the same code could take aggregates computed elsewhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._results import ResultMixin
from ..errors import DataError, NoVarianceError, check_param, require
from .bayes import BAYES_COLUMNS, ArmStats, bayes_rows
from .covariates import covariate_checks
from .estimators import _adjust, _binary_row, _lin_row, _numeric_row, srm_check, sufficient_stats
from .methods import CI_METHODS, CORRECTIONS, _fieller
from .pooling import POOLED_COLUMNS, dersimonian_laird
from .ratio import Ratio, _ratio_var, ratio_row
from .sequential import DEFAULT_TUNING, always_valid_p, cs_halfwidth

__all__ = ["CI_METHODS", "CORRECTIONS", "MIN_GROUP_N", "RESULT_COLUMNS", "AnalysisResult", "analyze"]


#: A group with fewer units per arm than this is flagged as too small to say anything.
MIN_GROUP_N = 30
#: An arm needs at least this many units to have a variance (and so an interval) at all.
MIN_ARM_N = 2


RESULT_COLUMNS = [
    "metric",
    "arm",
    "control",
    "n_control",
    "n_arm",
    "control_value",
    "arm_value",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_adjusted",
    "adj_ci_low",
    "adj_ci_high",
    "significant",
    "test",
    "ci_method",
    "metric_type",
]


@dataclass(frozen=True, repr=False)
class AnalysisResult(ResultMixin):
    """Tidy results of :func:`analyze`: one row per (metric, arm vs control[, group]).

    ``results`` is a DataFrame; ``srm`` the sample-ratio check; ``settings`` how it was computed.
    """

    results: pd.DataFrame
    srm: dict[str, Any]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()

    _json_extras = ("srm", "settings", "warnings")

    def _table(self) -> pd.DataFrame:
        return self.results

    def _display(self) -> pd.DataFrame:
        return self.summary()

    def _head(self) -> str:
        s = self.settings
        return (
            f"AnalysisResult({len(self.results)} comparisons; ci_method={s['ci_method']}, "
            f"correction={s['correction']}, alpha={s['alpha']}; SRM p={_fmt_p(self.srm['p_value'])}"
            f"{' FLAGGED' if self.srm['flagged'] else ''})"
        )

    def row(self, metric: str, arm: str, group: Any = None) -> pd.Series:
        r = self.results
        sel = (r["metric"] == metric) & (r["arm"] == arm)
        by = self.settings.get("by")
        if by is not None and group is not None:
            sel &= r[by] == group
        if not sel.any():
            raise KeyError(f"no result for metric={metric!r}, arm={arm!r}, group={group!r}")
        return r[sel].iloc[0]

    def summary(self) -> pd.DataFrame:
        """A display table: values in percent for binary metrics, CIs as text."""
        r = self.results
        out = pd.DataFrame()
        by = self.settings.get("by")
        if by:
            out[by] = r[by]
        out["metric"] = r["metric"]
        out["arm"] = r["arm"] + " vs " + r["control"]
        pct = r["metric_type"] == "binary"
        fmt = lambda v, p: f"{v * 100:.2f}%" if p else f"{v:.3g}"  # noqa: E731
        out["control"] = [fmt(v, p) for v, p in zip(r["control_value"], pct)]
        out["arm value"] = [fmt(v, p) for v, p in zip(r["arm_value"], pct)]
        out["difference (CI)"] = [
            (f"{d * 100:+.2f} pts ({lo * 100:+.2f}, {hi * 100:+.2f})" if p else f"{d:+.3g} ({lo:+.3g}, {hi:+.3g})")
            for d, lo, hi, p in zip(r["diff"], r["diff_ci_low"], r["diff_ci_high"], pct)
        ]
        out["relative lift (CI)"] = [
            f"{v * 100:+.1f}% ({lo * 100:+.1f}%, {hi * 100:+.1f}%)" if np.isfinite(v) else "n/a"
            for v, lo, hi in zip(r["rel_lift"], r["rel_ci_low"], r["rel_ci_high"])
        ]
        out["p"] = r["p_value"].map(_fmt_p)
        out["p adjusted"] = r["p_adjusted"].map(_fmt_p)
        out["adjusted CI"] = [
            (f"({lo * 100:+.2f}, {hi * 100:+.2f})" if p else f"({lo:+.3g}, {hi:+.3g})")
            for lo, hi, p in zip(r["adj_ci_low"], r["adj_ci_high"], pct)
        ]
        out["test"] = r["test"]
        return out

    def _repr_html_(self) -> str:
        warn = "".join(f"<p style='color:#a60'>⚠ {html.escape(w)}</p>" for w in self.warnings)
        return warn + super()._repr_html_()


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _require_frame(data: Any, func: str) -> pd.DataFrame:
    return check_param(func, "data", data, kind="instance", types=pd.DataFrame, expected="a pandas DataFrame")


def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    for c in cols:
        if c not in df.columns:
            avail = ", ".join(map(str, list(df.columns)[:30]))
            raise DataError(f"{what} column '{c}' not found in the data; available columns: {avail}.")


def _require_finite(df: pd.DataFrame, cols: Sequence[str]) -> None:
    for c in cols:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            bad = ~np.isfinite(col.to_numpy(dtype=np.float64))
            if bad.any():
                rows = np.flatnonzero(bad)
                shown = ", ".join(f"{int(i)} ({col.iloc[i]})" for i in rows[:5])
                raise DataError(
                    f"Column '{c}' has {int(bad.sum())} infinite value(s) (row positions {shown}"
                    f"{', ...' if rows.size > 5 else ''}); expected finite numbers."
                )


def _require_no_missing(df: pd.DataFrame, cols: Sequence[str]) -> None:
    for c in cols:
        na = df[c].isna().to_numpy()
        if na.any():
            rows = np.flatnonzero(na)
            shown = ", ".join(str(int(i)) for i in rows[:5])
            raise DataError(
                f"Column '{c}' has {int(na.sum())} missing value(s) (row positions {shown}"
                f"{', ...' if rows.size > 5 else ''}); nothing is dropped silently: fill or drop them first."
            )


def _metric_types(
    df: pd.DataFrame, metrics: Sequence[str | Ratio] | Mapping[str, str], declared: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each metric's type: declared (``metric_types=``, or ``metrics`` as a mapping), else found from its values.

    Found: bool or only 0/1 values -> binary; other numbers -> numeric. Declare a type when the data
    may mislead (one stray 2 in a 0/1 column would otherwise make the metric numeric).
    """
    names = [metrics] if isinstance(metrics, str) else [m.name if isinstance(m, Ratio) else m for m in metrics]
    given = {**(dict(metrics) if isinstance(metrics, Mapping) else {}), **dict(declared or {})}
    ratios = {m.name for m in ([] if isinstance(metrics, (str, Mapping)) else metrics) if isinstance(m, Ratio)}
    for m, t in given.items():
        check_param("analyze", f"metric_types['{m}']", t, kind="choice", choices=("binary", "numeric"))
    extra = [m for m in given if m not in names]
    require(
        "analyze", "metric_types", dict(given), f"types for this call's metrics only ({', '.join(names)})", not extra
    )
    if not names:
        require("analyze", "metrics", [], "at least one column", False)
    types = {}
    for m in names:
        if m in ratios:
            types[m] = "ratio"
            continue
        col = df[m]
        if m in given:
            types[m] = given[m]
        elif pd.api.types.is_bool_dtype(col):
            types[m] = "binary"
        elif pd.api.types.is_numeric_dtype(col):
            vals = pd.unique(col.dropna())
            types[m] = "binary" if len(vals) <= 2 and set(np.asarray(vals, dtype=float)) <= {0.0, 1.0} else "numeric"
        else:
            raise DataError(
                f"Metric column '{m}' is not numeric or boolean (dtype {col.dtype}); "
                "expected 0/1, true/false, or numbers."
            )
    return types


def _check_binary(df: pd.DataFrame, m: str) -> None:
    col = df[m]
    if pd.api.types.is_bool_dtype(col):
        return
    if not pd.api.types.is_numeric_dtype(col):
        raise DataError(f"Metric '{m}' is declared binary but has dtype {col.dtype}; expected 0/1 or true/false.")
    bad = ~col.isin([0, 1])
    if bad.any():
        ex = ", ".join(map(str, pd.unique(col[bad])[:3]))
        raise DataError(
            f"Metric '{m}' is declared binary but has values other than 0/1 in {int(bad.sum())} row(s) (e.g. {ex})."
        )


def analyze(
    data: pd.DataFrame,
    arm: str = "arm",
    control: str | None = None,
    metrics: Sequence[str | Ratio] | Mapping[str, str] = ("booked_30d",),
    *,
    by: str | None = None,
    covariates: Sequence[str] | None = None,
    ci_method: str = "wald",
    correction: str = "holm",
    alpha: float = 0.05,
    allocation: Mapping[str, float] | None = None,
    metric_types: Mapping[str, str] | None = None,
    sequential: bool = False,
    sequential_tuning: int = DEFAULT_TUNING,
    force: bool = False,
    bayesian: bool = False,
    prior: tuple[float, float] | None = None,
    lower_is_better: Sequence[str] = (),
) -> AnalysisResult:
    """Analyse an A/B/n experiment: every arm against the control, for every metric.

    Args:
        data: one row per unit (the engine's ``leads`` or a real export).
        arm: the column holding the arm label.
        control: the control arm's label.
        metrics: metric columns; binary (0/1 or bool) metrics are found automatically, or declare
            types with a mapping ``{"visit": "binary", "spend": "numeric"}``. A
            :class:`~nurture_lab.stats.ratio.Ratio` (``nl.Ratio("booked", "n_touches")``) is a ratio
            of means, analysed by the delta method (tea-tasting's ``RatioOfMeans``).
        by: optional segment column; each group is analysed, all in one correction family. Each
            arm's segments are also pooled toward the whole (:mod:`nurture_lab.stats.pooling`):
            Cochran's Q (``heterogeneity_p``) and DerSimonian-Laird empirical-Bayes effects
            (``pooled_diff``, ``pooled_ci_low``, ``pooled_ci_high``); the overall random-effects
            effect, Q, I² and tau² are in ``settings["heterogeneity"]``.
        covariates: optional pre-treatment columns for Lin's regression adjustment. Each is checked
            first (:mod:`nurture_lab.stats.covariates`): one collinear with a metric (R² >= 0.9999)
            is refused, and so is one whose arms differ beyond chance (Welch's t of each arm vs the
            control, or chi-square for a category, at p < 0.001). The checks and each covariate's
            variance reduction are in ``settings["covariate_checks"]``; adjusted rows have a
            ``variance_reduction`` column.
        ci_method: ``wald`` (default), ``newcombe`` or ``agresti-caffo`` (binary metrics).
        correction: ``holm`` (default), ``bh`` or ``none`` over all rows of the call.
        alpha: significance level in (0, 0.5).
        allocation: planned share per arm for the sample-ratio check (equal unless given); shares
            must be finite and non-negative with a positive sum.
        metric_types: declared types, e.g. ``{"visit": "binary"}``; a metric declared binary
            with values other than 0/1 is refused (CLI ``--binary COL`` / ``--numeric COL``).
        sequential: always-valid monitoring of a running test: every interval is an asymptotic
            confidence sequence and every p-value always valid, so they hold however often the
            analyst looks (see :mod:`nurture_lab.stats.sequential`; CLI ``--sequential``).
        sequential_tuning: total units at which the sequence is tightest (default 5000).
        force: keep a covariate that fails the balance check (CLI ``--force-covariate``); the
            result records it (``settings["forced_covariates"]`` and a warning).
        bayesian: add GrowthBook's Gaussian-model decision metrics to every binary and numeric row
            (:mod:`nurture_lab.stats.bayes`): ``chance_to_win``, ``prob_best``, ``risk_ship``,
            ``risk_keep``, ``post_mean``, ``cred_low``/``cred_high`` and the relative
            ``rel_chance_to_win``, ``rel_risk_ship``, ``rel_risk_keep``, ``rel_post_mean``,
            ``rel_cred_low``/``rel_cred_high``. With the default flat prior chance to win is
            ``1 - one-sided p``. CLI ``--bayesian``.
        prior: a proper normal prior ``(mean, sd)`` on the relative effect (e.g. ``(0, 0.3)``);
            default flat. CLI ``--prior MEAN,SD``.
        lower_is_better: metrics where lower is better (opt-outs): chance to win and the risks flip.

    Every row's intervals and p-value come from one method and agree: the difference's interval and
    the relative lift's exclude 0 exactly when ``p_value < alpha``. Every row also has
    ``adj_ci_low``, ``adj_ci_high``: intervals at the correction's level, which exclude 0 exactly
    when ``p_adjusted < alpha`` (``significant``) — ``holm``: level ``1 - alpha / (m - R)``, the
    last step of Holm's procedure (R = the rows Holm rejects; with none rejected these are
    Bonferroni's simultaneous intervals); ``bh``: Benjamini-Yekutieli false-coverage-rate intervals
    at level ``1 - R * alpha / m`` (R at least 1); ``none``: the plain intervals. ``m`` is the size
    of the correction family (every row of the call with a p-value).

    Returns:
        An :class:`AnalysisResult`; ``.to_pandas()`` gives the tidy table.

    Raises:
        DataError: a missing column, an unknown control label, an empty arm, a binary metric with
            values other than 0/1, a metric with no variance, or missing values.
        ValueError, TypeError: an argument out of range or of the wrong type.

    Example:
        >>> import nurture_lab as nl
        >>> hs = nl.datasets.hillstrom()
        >>> res = nl.analyze(hs, arm="segment", control="No E-Mail", metrics=["visit"])
        >>> round(res.row("visit", "Womens E-Mail")["diff"], 4)
        0.0452
    """
    df = _require_frame(data, "analyze")
    check_param("analyze", "ci_method", ci_method, kind="choice", choices=CI_METHODS)
    check_param("analyze", "correction", correction, kind="choice", choices=CORRECTIONS)
    check_param("analyze", "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    check_param("analyze", "sequential", sequential, kind="bool")
    check_param("analyze", "sequential_tuning", sequential_tuning, kind="int", low=1)
    check_param("analyze", "force", force, kind="bool")
    check_param("analyze", "bayesian", bayesian, kind="bool")
    prior = _check_prior(prior, bayesian)
    covariates = list(covariates or [])
    _require_columns(df, [arm], "Arm")
    ratio_metrics = {} if isinstance(metrics, (str, Mapping)) else {m.name: m for m in metrics if isinstance(m, Ratio)}
    columns = [metrics] if isinstance(metrics, str) else [m for m in metrics if not isinstance(m, Ratio)]
    columns += [c for r in ratio_metrics.values() for c in (r.numerator, r.denominator)]
    _require_columns(df, columns, "Metric")
    require(
        "analyze",
        "covariates",
        covariates,
        "empty with ratio metrics (Lin's adjustment is for plain metrics)",
        not (covariates and ratio_metrics),
    )
    require("analyze", "covariates", covariates, "empty with sequential=True", not (covariates and sequential))
    types = _metric_types(df, metrics, metric_types)
    lower_is_better = [lower_is_better] if isinstance(lower_is_better, str) else list(lower_is_better)
    require(
        "analyze",
        "lower_is_better",
        lower_is_better,
        f"names of this call's metrics ({', '.join(types)})",
        all(m in types for m in lower_is_better),
    )
    value_columns = list(dict.fromkeys([m for m in types if m not in ratio_metrics] + columns))
    if by is not None:
        _require_columns(df, [by], "Segment (--by)")
    _require_columns(df, covariates, "Covariate")
    _require_no_missing(df, [arm, *value_columns, *([by] if by else []), *covariates])
    _require_finite(df, [*value_columns, *covariates])
    _check_allocation(allocation)
    for m, t in types.items():
        if t == "binary":
            _check_binary(df, m)
    if len(df) == 0:
        raise DataError("The data have no rows.")

    col = df[arm]
    if isinstance(col.dtype, pd.CategoricalDtype):  # the arms are the labels present, not unused categories
        df = df.assign(**{arm: col.cat.remove_unused_categories()})
        labels = [str(c) for c in df[arm].cat.categories]
    else:
        labels = [str(x) for x in pd.unique(col)]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object) or len(set(labels)) < len(labels):
            df = df.assign(**{arm: col.astype(str)})
    if control is None:
        require("analyze", "control", None, "the control arm's label", False)
    if control not in labels:
        raise DataError(
            f"Control label {control!r} is not a value of column '{arm}'; values: {', '.join(sorted(labels))}."
        )
    if allocation is not None:
        for a in allocation:
            if a not in labels:
                raise DataError(f"Arm '{a}' of the allocation has no rows in column '{arm}'.")
    if len(labels) < 2:
        raise DataError(f"Column '{arm}' has only the control arm {control!r}; nothing to compare.")
    arms = [a for a in sorted(labels) if a != control]
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    if covariates:
        plain_metrics = [m for m in types if m not in ratio_metrics]
        checks, notes = covariate_checks(df, arm, control, arms, plain_metrics, covariates, force)

    suff = sufficient_stats(df, arm, [ratio_metrics.get(m, m) for m in types], by)
    suff["arm"] = suff["arm"].astype(str)
    counts = suff[suff["metric"] == next(iter(types))].groupby("arm")["n"].sum()
    tiny = {a: int(n) for a, n in counts.items() if n < MIN_ARM_N}
    if tiny:
        raise DataError(
            f"Arm(s) {tiny} of column '{arm}' have fewer than {MIN_ARM_N} units: an arm needs at least "
            f"{MIN_ARM_N} to have a variance, so no interval or test can be honest."
        )
    srm = srm_check({a: int(counts.get(a, 0)) for a in [control, *arms]}, allocation)

    rows: list[dict[str, Any]] = []
    estimators: list[Any] = []
    degenerate: list[DataError] = []
    bayes_in: dict[tuple[str, Any], dict[str, Any]] = {}  # (metric, group) -> control and arms' stats
    pool_in: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}  # (metric, arm) -> row -> (diff, se)
    nonneg = {m: bool(t != "numeric" or (df[m].to_numpy() >= 0).all()) for m, t in types.items()}
    _check_ratio_denominators(suff, types, by)
    groups = [None] if by is None else sorted(suff[by].unique(), key=str)
    for m, mtype in types.items():
        sm_ = suff[suff["metric"] == m]
        for g in groups:
            sg = sm_ if g is None else sm_[sm_[by] == g]
            st = sg.set_index("arm")
            if control not in st.index or st.loc[control, "n"] == 0:
                notes.append(f"Group {by}={g!r}: no control units; skipped.")
                continue
            c = st.loc[control]
            for a in arms:
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
                    degenerate.append(_constant_arms_error(m, a, control, r, c))
                    notes.append(f"{degenerate[-1]} No test for {a} vs {control}.")
                sub = df if g is None else df[df[by] == g]
                estimate = _estimator(sub, arm, control, a, m, mtype, r, c, covariates, ci_method, nonneg[m])
                if sequential:
                    estimate = _sequential_estimator(estimate, r, c, mtype, sequential_tuning, alpha, nonneg[m])
                vals = estimate(alpha)
                small = min(n1, n0) < MIN_GROUP_N or no_var
                if g is not None and small:
                    notes.append(
                        f"Group {by}={g!r}, metric {m!r}, {a} vs {control}: too small to say anything "
                        f"(n = {n1} vs {n0}{', no variance' if no_var else ''})."
                    )
                row = {
                    "metric": m,
                    "arm": a,
                    "control": control,
                    "n_control": n0,
                    "n_arm": n1,
                    **vals,
                    "metric_type": mtype,
                }
                if by is not None:
                    row[by] = g
                    row["small_group"] = bool(small)
                if by is not None and mtype in ("binary", "numeric") and not covariates:
                    v1, v0 = _arm_stats(r, mtype), _arm_stats(c, mtype)
                    var_d = v1.var / v1.n + v0.var / v0.n
                    if var_d > 0:
                        pool_in.setdefault((m, a), {})[len(rows)] = (float(v1.mean - v0.mean), math.sqrt(var_d))
                if bayesian and mtype in ("binary", "numeric") and not covariates:
                    slot = bayes_in.setdefault((m, g), {"control": _arm_stats(c, mtype), "arms": {}})
                    slot["arms"][len(rows)] = _arm_stats(r, mtype)
                rows.append(row)
                estimators.append(estimate)
    if degenerate and len(degenerate) == len(rows) and by is None:
        raise degenerate[0]
    res = pd.DataFrame(rows)
    if res.empty:
        raise DataError("No comparison could be made: every group lacks the control or an arm.")
    res["p_adjusted"] = _adjust(res["p_value"].to_numpy(dtype=float), correction)
    res["significant"] = res["p_adjusted"] < alpha
    level = _adjusted_alpha(
        res["p_value"].to_numpy(dtype=float), res["p_adjusted"].to_numpy(dtype=float), correction, alpha
    )
    adj = [est(level) if level != alpha else None for est in estimators]
    res["adj_ci_low"] = [v["diff_ci_low"] if v else lo for v, lo in zip(adj, res["diff_ci_low"])]
    res["adj_ci_high"] = [v["diff_ci_high"] if v else hi for v, hi in zip(adj, res["diff_ci_high"])]
    best_control = _add_bayes(res, bayes_in, alpha, prior, set(lower_is_better)) if bayesian else {}
    heterogeneity = _add_pooled(res, pool_in, alpha) if by is not None else []
    cols = (
        ([by] if by else [])
        + RESULT_COLUMNS
        + (["small_group"] if by else [])
        + (["variance_reduction"] if covariates else [])
        + (POOLED_COLUMNS if by else [])
        + (BAYES_COLUMNS if bayesian else [])
    )
    res = res[cols]
    settings = {
        "arm": arm,
        "control": control,
        "metrics": types,
        "by": by,
        "covariates": covariates,
        "ci_method": ci_method,
        "correction": correction,
        "alpha": alpha,
        "allocation": dict(allocation) if allocation else None,
        "n_units": len(df),
        "family_size": int(res["p_value"].notna().sum()),
        "adjusted_alpha": level,
        "sequential": (
            f"asymptotic confidence sequence (Waudby-Smith et al. 2021), tuned for {sequential_tuning:,} units"
            if sequential
            else None
        ),
        "adjusted_intervals": ADJUSTED_INTERVALS[correction],
        "covariate_checks": checks,
        "forced_covariates": sorted({r["covariate"] for r in checks if r["forced"]}),
        "bayesian": (
            None
            if not bayesian
            else "Gaussian effect model (as GrowthBook's gbstats), "
            + (
                "flat prior"
                if prior is None
                else f"normal prior on the relative effect, mean {prior[0]}, sd {prior[1]}"
            )
        ),
        "prob_best_control": best_control,
        "heterogeneity": heterogeneity,
        "lower_is_better": sorted(lower_is_better),
    }
    if srm["flagged"]:
        notes.insert(
            0,
            f"Sample ratio mismatch: arm sizes {srm['counts']} differ from the planned allocation "
            f"(chi-square p = {_fmt_p(srm['p_value'])}); check assignment before trusting effects.",
        )
    return AnalysisResult(res, srm, settings, tuple(notes))


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


def _estimator(
    df: pd.DataFrame,
    arm: str,
    control: str,
    label: str,
    metric: str,
    mtype: str,
    r: pd.Series,
    c: pd.Series,
    covariates: Sequence[str],
    ci_method: str,
    nonneg: bool,
) -> Any:
    """The row's estimator as a function of alpha (the same estimate, an interval at any level)."""
    n1, n0 = int(r["n"]), int(c["n"])
    if mtype == "ratio":
        return lambda a: ratio_row(r, c, a, nonneg)
    if covariates:
        return lambda a: _lin_row(df, arm, control, label, metric, covariates, a)
    if mtype == "binary":
        return lambda a: _binary_row(float(r["sum"]), n1, float(c["sum"]), n0, ci_method, a)
    return lambda a: _numeric_row(float(r["sum"]), float(r["css"]), n1, float(c["sum"]), float(c["css"]), n0, a, nonneg)


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


def _check_prior(prior: Any, bayesian: bool) -> tuple[float, float] | None:
    if prior is None:
        return None
    require("analyze", "prior", prior, "None unless bayesian=True", bayesian)
    ok = (
        isinstance(prior, (tuple, list))
        and len(prior) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in prior)
        and prior[1] > 0
    )
    require("analyze", "prior", prior, "(mean, sd) of the relative effect: two finite numbers, sd > 0", ok)
    return float(prior[0]), float(prior[1])


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


def _check_allocation(allocation: Mapping[str, float] | None) -> None:
    if allocation is None:
        return
    if not isinstance(allocation, Mapping) or not allocation:
        require(
            "analyze", "allocation", allocation, "a non-empty mapping of arm -> planned share", False, wrong_type=True
        )
    for a, share in allocation.items():
        check_param("analyze", f"allocation['{a}']", share, low=0, expected="a finite share >= 0")
    require("analyze", "allocation", dict(allocation), "shares with a positive sum", sum(allocation.values()) > 0)


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

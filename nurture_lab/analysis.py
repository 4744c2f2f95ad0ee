"""Experiment analysis: named, reproducible statistics for A/B/n tests on any per-unit table.

Every result row says which method made it (``test``, ``ci_method``). Defaults follow DESIGN.md:

- binary metric: difference of proportions; CI by ``ci_method`` (statsmodels
  ``confint_proportions_2indep``: wald, newcomb, agresti-caffo) and the p-value from the matching
  test (``test_proportions_2indep``: wald, score, agresti-caffo); relative lift CI from the log ratio;
- numeric metric: Welch's t-test and CI; relative lift CI by the delta method;
- one correction family per call (Holm default, Benjamini-Hochberg, none);
- sample ratio mismatch: chi-square goodness of fit against the planned allocation, flagged at p < 0.001;
- covariates: Lin's (2013) estimator, OLS with centred covariates and their interactions, HC2 errors;
- guardrails: :func:`non_inferiority`; time to book: :func:`time_to_book`.

Rows are first reduced to sufficient statistics per arm and group (n, sum, sum of squares), so the
statistics never scan rows twice and the same code could take aggregates computed elsewhere.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError, check_param

__all__ = [
    "CI_METHODS",
    "CORRECTIONS",
    "AnalysisResult",
    "NonInferiorityResult",
    "TimeToBookResult",
    "analyze",
    "non_inferiority",
    "sufficient_stats",
    "time_to_book",
]

#: ci_method -> (statsmodels CI method, matching statsmodels test method)
CI_METHODS: dict[str, tuple[str, str]] = {
    "wald": ("wald", "wald"),
    "newcombe": ("newcomb", "score"),
    "agresti-caffo": ("agresti-caffo", "agresti-caffo"),
}
CORRECTIONS: dict[str, str | None] = {"holm": "holm", "bh": "fdr_bh", "none": None}
SRM_THRESHOLD = 0.001
#: A group with fewer units per arm than this is flagged as too small to say anything.
MIN_GROUP_N = 30

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
    "significant",
    "test",
    "ci_method",
    "metric_type",
]


# --------------------------------------------------------------------------------------
# Result objects


@dataclass(frozen=True)
class AnalysisResult:
    """Tidy results of :func:`analyze`: one row per (metric, arm vs control[, group]).

    ``results`` is a DataFrame; ``srm`` the sample-ratio check; ``settings`` how it was computed.
    """

    results: pd.DataFrame
    srm: dict[str, Any]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()

    def to_pandas(self) -> pd.DataFrame:
        return self.results.copy()

    def to_dicts(self) -> list[dict[str, Any]]:
        return [{k: _plain(v) for k, v in r.items()} for r in self.results.to_dict(orient="records")]

    def to_json(self) -> str:
        """One JSON object: ``{"results": [...], "srm": {...}, "settings": {...}}``."""
        obj = {
            "results": self.to_dicts(),
            "srm": _plain(self.srm),
            "settings": _plain(self.settings),
            "warnings": list(self.warnings),
        }
        return json.dumps(obj, indent=2, allow_nan=True)

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
        out["test"] = r["test"]
        return out

    def __repr__(self) -> str:
        s = self.settings
        head = (
            f"AnalysisResult({len(self.results)} comparisons; ci_method={s['ci_method']}, "
            f"correction={s['correction']}, alpha={s['alpha']}; SRM p={_fmt_p(self.srm['p_value'])}"
            f"{' FLAGGED' if self.srm['flagged'] else ''})"
        )
        return head + "\n" + self.summary().to_string(index=False)

    def _repr_html_(self) -> str:
        s = self.settings
        srm = self.srm
        flag = ' <b style="color:#b00">(mismatch)</b>' if srm["flagged"] else " (ok)"
        note = (
            f"<p><b>{len(self.results)} comparisons</b> — CI: {s['ci_method']}, correction: {s['correction']}, "
            f"alpha: {s['alpha']}. Sample ratio check: p = {_fmt_p(srm['p_value'])}{flag}.</p>"
        )
        warn = "".join(f"<p style='color:#a60'>⚠ {w}</p>" for w in self.warnings)
        return note + warn + self.summary().to_html(index=False)


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    if v is pd.NA or v is None:
        return None
    return v


# --------------------------------------------------------------------------------------
# Validation


def _require_frame(data: Any, func: str) -> pd.DataFrame:
    check_param(
        func, "data", type(data).__name__, "a pandas DataFrame", isinstance(data, pd.DataFrame), wrong_type=True
    )
    return data


def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    for c in cols:
        if c not in df.columns:
            avail = ", ".join(map(str, list(df.columns)[:30]))
            raise DataError(f"{what} column '{c}' not found in the data; available columns: {avail}.")


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


def _metric_types(df: pd.DataFrame, metrics: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        types = dict(metrics)
        for m, t in types.items():
            if t not in ("binary", "numeric"):
                raise ValueError(f"Metric type of '{m}' must be 'binary' or 'numeric'. Got {t!r} instead.")
    else:
        types = {}
        for m in metrics:
            col = df[m]
            if pd.api.types.is_bool_dtype(col):
                types[m] = "binary"
            elif pd.api.types.is_numeric_dtype(col):
                vals = pd.unique(col.dropna())
                types[m] = (
                    "binary" if len(vals) <= 2 and set(np.asarray(vals, dtype=float)) <= {0.0, 1.0} else "numeric"
                )
            else:
                raise DataError(
                    f"Metric column '{m}' is not numeric or boolean (dtype {col.dtype}); "
                    "expected 0/1, true/false, or numbers."
                )
    if not types:
        raise ValueError("The 'metrics' parameter of analyze must name at least one column. Got [] instead.")
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


# --------------------------------------------------------------------------------------
# Sufficient statistics


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


# --------------------------------------------------------------------------------------
# Statistics on sufficient statistics


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
            raise ValueError(
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


# --------------------------------------------------------------------------------------
# analyze


def analyze(
    data: pd.DataFrame,
    arm: str = "arm",
    control: str | None = None,
    metrics: Sequence[str] | Mapping[str, str] = ("booked_30d",),
    *,
    by: str | None = None,
    covariates: Sequence[str] | None = None,
    ci_method: str = "wald",
    correction: str = "holm",
    alpha: float = 0.05,
    allocation: Mapping[str, float] | None = None,
) -> AnalysisResult:
    """Analyse an A/B/n experiment: every arm against the control, for every metric.

    Args:
        data: one row per unit (the engine's ``leads`` or a real export).
        arm: the column holding the arm label.
        control: the control arm's label.
        metrics: metric columns; binary (0/1 or bool) metrics are found automatically, or declare
            types with a mapping ``{"visit": "binary", "spend": "numeric"}``.
        by: optional segment column; each group is analysed, all in one correction family.
        covariates: optional pre-treatment columns for Lin's regression adjustment.
        ci_method: ``wald`` (default), ``newcombe`` or ``agresti-caffo`` (binary metrics).
        correction: ``holm`` (default), ``bh`` or ``none`` over all rows of the call.
        alpha: significance level in (0, 0.5).
        allocation: planned share per arm for the sample-ratio check (equal unless given).

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
    check_param("analyze", "ci_method", ci_method, "one of: " + ", ".join(CI_METHODS), ci_method in CI_METHODS)
    check_param("analyze", "correction", correction, "one of: " + ", ".join(CORRECTIONS), correction in CORRECTIONS)
    ok_alpha = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 0.5
    check_param("analyze", "alpha", alpha, "a float in the range (0, 0.5)", ok_alpha)
    covariates = list(covariates or [])
    _require_columns(df, [arm], "Arm")
    _require_columns(df, [metrics] if isinstance(metrics, str) else list(metrics), "Metric")
    types = _metric_types(df, metrics)
    if by is not None:
        _require_columns(df, [by], "Segment (--by)")
    _require_columns(df, covariates, "Covariate")
    _require_no_missing(df, [arm, *types, *([by] if by else []), *covariates])
    for m, t in types.items():
        if t == "binary":
            _check_binary(df, m)
    if len(df) == 0:
        raise DataError("The data have no rows.")

    col = df[arm]
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in col.cat.categories[np.unique(col.cat.codes.to_numpy())]]
        empty = [str(c) for c in col.cat.categories if str(c) not in labels]
        if empty:
            raise DataError(f"Arm '{empty[0]}' (a category of column '{arm}') has no rows; every arm needs units.")
    else:
        labels = [str(x) for x in pd.unique(col)]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object) or len(set(labels)) < len(labels):
            df = df.assign(**{arm: col.astype(str)})
    if control is None:
        raise ValueError("The 'control' parameter of analyze must be the control arm's label. Got None instead.")
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

    suff = sufficient_stats(df, arm, list(types), by)
    suff["arm"] = suff["arm"].astype(str)
    counts = suff[suff["metric"] == next(iter(types))].groupby("arm")["n"].sum()
    srm = srm_check({a: int(counts.get(a, 0)) for a in [control, *arms]}, allocation)

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
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
                no_var = _no_variance(r, c, mtype)
                if no_var and g is None:
                    raise DataError(
                        f"Metric '{m}' has no variance in arms {a!r} and {control!r} (every value is "
                        f"{r['sum'] / n1:g}); there is nothing to test."
                    )
                if covariates:
                    sub = df if g is None else df[df[by] == g]
                    vals = _lin_row(sub, arm, control, a, m, covariates, alpha)
                elif mtype == "binary":
                    vals = _binary_row(float(r["sum"]), n1, float(c["sum"]), n0, ci_method, alpha)
                else:
                    vals = _numeric_row(
                        float(r["sum"]), float(r["sumsq"]), n1, float(c["sum"]), float(c["sumsq"]), n0, alpha
                    )
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
                rows.append(row)
    res = pd.DataFrame(rows)
    if res.empty:
        raise DataError("No comparison could be made: every group lacks the control or an arm.")
    res["p_adjusted"] = _adjust(res["p_value"].to_numpy(dtype=float), correction)
    res["significant"] = res["p_adjusted"] < alpha
    cols = ([by] if by else []) + RESULT_COLUMNS + (["small_group"] if by else [])
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
    }
    if srm["flagged"]:
        notes.insert(
            0,
            f"Sample ratio mismatch: arm sizes {srm['counts']} differ from the planned allocation "
            f"(chi-square p = {_fmt_p(srm['p_value'])}); check assignment before trusting effects.",
        )
    return AnalysisResult(res, srm, settings, tuple(notes))


def _no_variance(r: pd.Series, c: pd.Series, mtype: str) -> bool:
    def var0(x: pd.Series) -> bool:
        n = x["n"]
        mean = x["sum"] / n
        return bool(abs(x["sumsq"] / n - mean * mean) <= 1e-12 * max(1.0, mean * mean))

    both_const = var0(r) and var0(c)
    if mtype == "binary":
        return both_const and (r["sum"] / r["n"] == c["sum"] / c["n"])
    return both_const


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


# --------------------------------------------------------------------------------------
# Guardrails


@dataclass(frozen=True)
class NonInferiorityResult:
    """One-sided non-inferiority test of each arm against the control."""

    results: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        return self.results.copy()

    def _repr_html_(self) -> str:
        return self.results.to_html(index=False)


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

    For a guardrail such as opt-outs (lower is better): H0 ``diff >= margin`` vs H1 ``diff < margin``,
    a one-sided Wald test (statsmodels ``test_proportions_2indep`` with ``value=margin``) for binary
    metrics, Welch for numeric ones. The CI shown is the two-sided 1 - 2*alpha interval, so
    "non-inferior" is the same as its bound lying on the good side of the margin.
    """
    from statsmodels.stats.proportion import test_proportions_2indep

    df = _require_frame(data, "non_inferiority")
    ok = isinstance(margin, (int, float)) and not isinstance(margin, bool) and margin > 0
    check_param("non_inferiority", "margin", margin, "a number > 0 (absolute, in the metric's units)", ok)
    base = analyze(df, arm=arm, control=control, metrics=[metric], correction="none", alpha=2 * alpha)
    rows = []
    for _, r in base.results.iterrows():
        if r["metric_type"] == "binary":
            c1, n1 = r["arm_value"] * r["n_arm"], int(r["n_arm"])
            c0, n0 = r["control_value"] * r["n_control"], int(r["n_control"])
            value = -margin if higher_is_better else margin
            alt = "larger" if higher_is_better else "smaller"
            p = float(
                test_proportions_2indep(
                    round(c1),
                    n1,
                    round(c0),
                    n0,
                    value=value,
                    method="wald",
                    compare="diff",
                    alternative=alt,
                    return_results=True,
                ).pvalue
            )
        else:
            se = (r["diff_ci_high"] - r["diff_ci_low"]) / (2 * stats.norm.ppf(1 - alpha))
            z = (r["diff"] + margin) / se if higher_is_better else (r["diff"] - margin) / se
            p = float(stats.norm.sf(z)) if higher_is_better else float(stats.norm.cdf(z))
        if higher_is_better:
            verdict = r["diff_ci_low"] > -margin
        else:
            verdict = r["diff_ci_high"] < margin
        rows.append(
            {
                "metric": metric,
                "arm": r["arm"],
                "control": control,
                "control_value": r["control_value"],
                "arm_value": r["arm_value"],
                "diff": r["diff"],
                "ci_low": r["diff_ci_low"],
                "ci_high": r["diff_ci_high"],
                "margin": margin,
                "p_value": p,
                "non_inferior": bool(verdict),
                "test": "one-sided non-inferiority (wald)"
                if r["metric_type"] == "binary"
                else "one-sided non-inferiority (welch)",
            }
        )
    settings = {"alpha": alpha, "margin": margin, "higher_is_better": higher_is_better, "ci_level": 1 - 2 * alpha}
    return NonInferiorityResult(pd.DataFrame(rows), settings)


# --------------------------------------------------------------------------------------
# Time to book


@dataclass(frozen=True)
class TimeToBookResult:
    """Kaplan-Meier curves per arm, medians, log-rank test and Cox hazard ratios."""

    curves: pd.DataFrame  # arm, days, survival, ci_low, ci_high (survival = not yet booked)
    medians: pd.DataFrame  # arm, n, n_booked, median_days
    logrank_chi2: float
    logrank_p: float
    cox: pd.DataFrame  # arm, hazard_ratio, ci_low, ci_high, p_value
    settings: dict[str, Any]

    def _repr_html_(self) -> str:
        return (
            f"<p>Log-rank p = {_fmt_p(self.logrank_p)}; horizon {self.settings['horizon_days']} days</p>"
            + self.medians.to_html(index=False)
            + self.cox.to_html(index=False)
        )


def time_to_book(
    data: pd.DataFrame,
    arm: str = "arm",
    control: str | None = None,
    *,
    days: str = "days_to_book",
    event: str = "booked",
    horizon_days: float | None = None,
    alpha: float = 0.05,
) -> TimeToBookResult:
    """Kaplan-Meier curves of time to book per arm, log-rank test, Cox hazard ratio vs control.

    Leads that did not book are censored at the horizon (default: the largest observed time).
    Uses statsmodels ``SurvfuncRight``, ``survdiff`` and ``PHReg``.
    """
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    df = _require_frame(data, "time_to_book")
    _require_columns(df, [arm, days, event], "Time-to-book")
    ev = df[event].astype(bool).to_numpy()
    t = df[days].to_numpy(dtype=np.float64)
    if np.isnan(t[ev]).any():
        raise DataError(f"Column '{days}' is missing for {int(np.isnan(t[ev]).sum())} unit(s) with {event} = true.")
    horizon = float(horizon_days) if horizon_days is not None else float(np.nanmax(t) if ev.any() else 1.0)
    ev = ev & (t <= horizon)
    t = np.where(ev, t, horizon)
    t = np.maximum(t, 1e-9)
    groups = df[arm].astype(str).to_numpy()
    labels = sorted(set(groups))
    if control is None or control not in labels:
        raise DataError(f"Control label {control!r} is not a value of column '{arm}'; values: {', '.join(labels)}.")
    curves, meds = [], []
    for g in labels:
        sel = groups == g
        sf = SurvfuncRight(t[sel], ev[sel].astype(int))
        ci = _km_ci(sf, alpha)
        last = (sf.surv_prob[-1], ci[0][-1], ci[1][-1]) if len(sf.surv_prob) else (1.0, 1.0, 1.0)
        curves.append(  # from day 0 to the horizon (the curve stays flat after the last booking)
            pd.DataFrame(
                {
                    "arm": g,
                    "days": np.r_[0.0, sf.surv_times, horizon],
                    "survival": np.r_[1.0, sf.surv_prob, last[0]],
                    "ci_low": np.r_[1.0, ci[0], last[1]],
                    "ci_high": np.r_[1.0, ci[1], last[2]],
                }
            )
        )
        med = sf.quantile(0.5) if (sf.surv_prob <= 0.5).any() else np.nan
        meds.append({"arm": g, "n": int(sel.sum()), "n_booked": int(ev[sel].sum()), "median_days": float(med)})
    chi2, p = survdiff(t, ev.astype(int), groups)
    others = [g for g in labels if g != control]
    exog = np.column_stack([(groups == g).astype(float) for g in others])
    fit = PHReg(t, exog, status=ev.astype(int), ties="efron").fit()
    ci = fit.conf_int(alpha=alpha)
    cox = pd.DataFrame(
        {
            "arm": others,
            "control": control,
            "hazard_ratio": np.exp(fit.params),
            "ci_low": np.exp(ci[:, 0]),
            "ci_high": np.exp(ci[:, 1]),
            "p_value": fit.pvalues,
        }
    )
    return TimeToBookResult(
        pd.concat(curves, ignore_index=True),
        pd.DataFrame(meds),
        float(chi2),
        float(p),
        cox,
        {"horizon_days": horizon, "alpha": alpha, "control": control},
    )


def _km_ci(sf: Any, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log-log CI of a Kaplan-Meier curve (Greenwood variance)."""
    s = np.clip(sf.surv_prob, 1e-12, 1 - 1e-12)
    se = sf.surv_prob_se
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(all="ignore"):
        theta = se / (s * np.abs(np.log(s)))
        lo = s ** np.exp(z * theta)
        hi = s ** np.exp(-z * theta)
    return np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=1.0)

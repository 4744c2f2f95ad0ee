"""Analysis where the data lives: an Ibis table reduced to per-arm sufficient statistics in the database.

:func:`analyze` (``nl.analyze``) takes a pandas frame, or an Ibis table (``nl.connect(url).table(name)``).
For a table, one ``GROUP BY`` query computes, per arm (and ``by`` group), the count and, per metric,
the sum and the database's own ``VAR_SAMP`` (and ``COVAR_SAMP`` for a ratio's numerator and
denominator) — never a raw sum of squares, which loses every digit of a variance of 1 around a mean
of 1e9. The same query counts missing values and values other than 0/1, so the checks of the pandas
path run in SQL too. One row per arm and group comes back; the statistics are then the very row
functions of :mod:`nurture_lab.stats.analysis`, so both paths agree to rounding.

Covariates (Lin's adjustment with HC2 errors) take two more passes (:func:`lin_stats`): the arms'
means and ``COVAR_SAMP`` of the covariates and the metric, then each row's residual and leverage
from those numbers and the HC2 sums; numeric and boolean covariates (make indicator columns of a
category).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, NoVarianceError, check_param, require
from . import analysis as _a
from .estimators import _adjust, srm_check
from .methods import CI_METHODS, CORRECTIONS
from .ratio import Ratio
from .sequential import DEFAULT_TUNING

__all__ = ["analyze", "is_table", "table_stats"]


def is_table(data: Any) -> bool:
    """Whether ``data`` is an Ibis table expression (without importing Ibis)."""
    return type(data).__module__.startswith("ibis.") and hasattr(data, "group_by") and hasattr(data, "schema")


@functools.wraps(_a.analyze)
def analyze(data: Any, *args: Any, **kwargs: Any) -> _a.AnalysisResult:
    if is_table(data):
        return analyze_table(data, *args, **kwargs)
    return _a.analyze(data, *args, **kwargs)


def _names(metrics: Sequence[str | Ratio] | Mapping[str, str] | str) -> tuple[list[str], dict[str, Ratio]]:
    if isinstance(metrics, str):
        return [metrics], {}
    if isinstance(metrics, Mapping):
        return list(metrics), {}
    ratios = {m.name: m for m in metrics if isinstance(m, Ratio)}
    return [m.name if isinstance(m, Ratio) else m for m in metrics], ratios


def table_stats(
    table: Any, arm: str, metrics: Sequence[str | Ratio], by: str | None = None
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per (group, arm) sufficient statistics computed in the database, in :func:`sufficient_stats`'s layout.

    Returns ``(stats, checks)``: ``stats`` has ``[by,] arm, metric, n, sum, css`` (``css`` = VAR_SAMP x
    (n - 1)) and, for a ratio, ``mean_num, mean_den, var_num, var_den, cov``; ``checks`` per column
    the count of missing values (``nulls``) and, for a metric, its minimum and whether it has infinite
    values (``inf``) or values other than 0/1 (``non01``) — all from the same query's aggregates.
    """
    schema = table.schema()
    cols = [arm, *([by] if by else [])]
    plain = [m for m in metrics if not isinstance(m, Ratio)]
    ratios = [m for m in metrics if isinstance(m, Ratio)]
    values = list(dict.fromkeys([*plain, *(c for r in ratios for c in (r.numerator, r.denominator))]))
    for c in [*cols, *values]:
        if c not in schema:
            what = "Arm" if c == arm else "Segment (--by)" if c == by else "Metric"
            raise DataError(
                f"{what} column '{c}' not found in the table; available columns: {', '.join(list(schema)[:30])}."
            )

    def num(c: str) -> Any:
        col = table[c]
        if schema[c].is_boolean():  # CASE WHEN: PostgreSQL casts no boolean to a number (nulls are counted apart)
            return col.ifelse(1, 0).cast("float64")
        return col.cast("float64")

    aggs: dict[str, Any] = {"n": table.count()}
    for c in cols:
        aggs[f"{c}__count"] = table[c].count()
    for c in values:
        if not (schema[c].is_numeric() or schema[c].is_boolean()):
            raise DataError(
                f"Metric column '{c}' is not numeric or boolean (type {schema[c]}); expected 0/1, true/false, or numbers."
            )
        v, raw = num(c), table[c]  # in double precision: DuckDB's VAR_SAMP of a DOUBLE is also the faster one
        aggs[f"{c}__count"] = raw.count()
        aggs[f"{c}__sum"] = v.sum()
        aggs[f"{c}__var"] = v.var(how="sample")
        if not schema[c].is_boolean():  # a boolean is 0/1 and finite by its type
            aggs[f"{c}__min"] = raw.min()
            aggs[f"{c}__max"] = raw.max()
        if schema[c].is_floating():  # x - x*x >= 0 on [0, 1], 0 only at 0 and 1: its max says "only 0/1"
            aggs[f"{c}__frac"] = (raw - raw * raw).max()
    for r in ratios:
        aggs[f"{r.name}__cov"] = num(r.numerator).cov(num(r.denominator), how="sample")
    keys = [table[arm].cast("string").name("arm"), *([table[by].name(by)] if by else [])]
    got = _fetch(table.group_by(keys).aggregate(**aggs))
    got = got.sort_values(["arm", *([by] if by else [])], key=lambda s: s.astype(str)).reset_index(drop=True)
    n = got["n"].astype(np.int64)
    checks = {c: _checks(got, c, int(n.sum())) for c in [*cols, *values]}
    frames = []
    for m in plain:
        var = got[f"{m}__var"].astype(float).fillna(0.0)
        frames.append(pd.DataFrame({"metric": m, "n": n, "sum": got[f"{m}__sum"].astype(float), "css": var * (n - 1)}))
    for r in ratios:
        sx, sy = got[f"{r.numerator}__sum"].astype(float), got[f"{r.denominator}__sum"].astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "metric": r.name,
                    "n": n,
                    "sum": sx,
                    "mean_num": sx / n,
                    "mean_den": sy / n,
                    "var_num": got[f"{r.numerator}__var"].astype(float),
                    "var_den": got[f"{r.denominator}__var"].astype(float),
                    "cov": got[f"{r.name}__cov"].astype(float),
                }
            )
        )
    out = pd.concat([f.assign(arm=got["arm"].to_numpy(), **({by: got[by].to_numpy()} if by else {})) for f in frames])
    return out.reset_index(drop=True), checks


def _check_covariates(table: Any, covariates: Sequence[str]) -> None:
    """Covariates of a table: present, numeric or boolean, and without missing values (counted in SQL)."""
    if not covariates:
        return
    schema = table.schema()
    for c in covariates:
        if c not in schema:
            raise DataError(f"Covariate column '{c}' not found in the table; available columns: {', '.join(schema)}.")
        if not (schema[c].is_numeric() or schema[c].is_boolean()):
            raise DataError(
                f"Covariate '{c}' is {schema[c]}: in the database, covariates must be numbers or booleans "
                "(make indicator columns of a category, or analyse a pandas frame)."
            )
    counts = _fetch(table.aggregate(n=table.count(), **{f"{c}__count": table[c].count() for c in covariates}))
    for c in covariates:
        missing = int(counts["n"].iloc[0] - counts[f"{c}__count"].iloc[0])
        if missing:
            raise DataError(
                f"Column '{c}' has {missing} missing value(s) in the table; nothing is dropped silently: "
                "fill or filter them first."
            )


def _checks(got: pd.DataFrame, c: str, n: int) -> dict[str, float]:
    """A column's missing values, infinite values, values other than 0/1 and minimum, from its aggregates."""
    out = {"nulls": float(n - got[f"{c}__count"].sum())}
    if f"{c}__sum" in got and f"{c}__min" not in got:  # a boolean metric
        out |= {"min": 0.0, "inf": 0.0, "non01": 0.0}
    elif f"{c}__min" in got:
        lo, hi = float(got[f"{c}__min"].min()), float(got[f"{c}__max"].max())
        out["min"] = lo
        out["inf"] = float(np.isinf(lo) or np.isinf(hi))
        frac = float(got[f"{c}__frac"].max()) if f"{c}__frac" in got else 0.0
        out["non01"] = float(not (lo >= 0 and hi <= 1 and not frac > 0))
    return out


def analyze_table(
    table: Any,
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
) -> _a.AnalysisResult:
    """:func:`nurture_lab.analyze` on an Ibis table: the same result, from one row per arm (and group)."""
    check_param("analyze", "ci_method", ci_method, kind="choice", choices=CI_METHODS)
    check_param("analyze", "correction", correction, kind="choice", choices=CORRECTIONS)
    check_param("analyze", "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    check_param("analyze", "sequential", sequential, kind="bool")
    check_param("analyze", "sequential_tuning", sequential_tuning, kind="int", low=1)
    covariates = list(covariates or [])
    names, ratio_metrics = _names(metrics)
    require(
        "analyze",
        "covariates",
        covariates,
        "empty with ratio metrics (Lin's adjustment is for plain metrics)",
        not (covariates and ratio_metrics),
    )
    require("analyze", "covariates", covariates, "empty with sequential=True", not (covariates and sequential))
    _check_covariates(table, covariates)
    if not names:
        require("analyze", "metrics", [], "at least one column", False)
    _a._check_allocation(allocation)
    given = {**(dict(metrics) if isinstance(metrics, Mapping) else {}), **dict(metric_types or {})}
    for m, t in given.items():
        check_param("analyze", f"metric_types['{m}']", t, kind="choice", choices=("binary", "numeric"))
    extra = [m for m in given if m not in names]
    require(
        "analyze", "metric_types", dict(given), f"types for this call's metrics only ({', '.join(names)})", not extra
    )
    reduced = [ratio_metrics.get(m, m) for m in names]
    suff, checks = table_stats(table, arm, reduced, by)
    for c, k in checks.items():
        if k.get("nulls"):
            raise DataError(
                f"Column '{c}' has {int(k['nulls'])} missing value(s) in the table; nothing is dropped silently: "
                "fill or filter them first."
            )
        if k.get("inf"):
            raise DataError(
                f"Column '{c}' has {int(k['inf'])} infinite value(s) in the table; expected finite numbers."
            )
    schema = table.schema()
    types: dict[str, str] = {}
    for m in names:
        if m in ratio_metrics:
            types[m] = "ratio"
        elif m in given:
            types[m] = given[m]
            if given[m] == "binary" and checks[m]["non01"]:
                raise DataError(f"Metric '{m}' is declared binary but has values other than 0/1 in the table.")
        else:
            types[m] = "binary" if schema[m].is_boolean() or not checks[m]["non01"] else "numeric"
    n_units = int(suff[suff["metric"] == names[0]]["n"].sum())
    if n_units == 0:
        raise DataError("The data have no rows.")
    labels = sorted(map(str, suff["arm"].unique()))
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
    arms = [a for a in labels if a != control]
    counts = suff[suff["metric"] == names[0]].groupby("arm")["n"].sum()
    tiny = {a: int(n) for a, n in counts.items() if n < _a.MIN_ARM_N}
    if tiny:
        raise DataError(
            f"Arm(s) {tiny} of column '{arm}' have fewer than {_a.MIN_ARM_N} units: an arm needs at least "
            f"{_a.MIN_ARM_N} to have a variance, so no interval or test can be honest."
        )
    srm = srm_check({a: int(counts.get(a, 0)) for a in [control, *arms]}, allocation)
    nonneg = {m: bool(t != "numeric" or checks[m]["min"] >= 0) for m, t in types.items()}
    lin = {m: lin_stats(table, arm, m, covariates, by) for m in types} if covariates else {}
    rows, estimators, notes = _rows(
        suff, types, arm, control, arms, by, ci_method, alpha, nonneg, sequential, sequential_tuning, lin
    )
    return _finish(rows, estimators, notes, srm, locals())


def _rows(
    suff: pd.DataFrame,
    types: Mapping[str, str],
    arm: str,
    control: str,
    arms: Sequence[str],
    by: str | None,
    ci_method: str,
    alpha: float,
    nonneg: Mapping[str, bool],
    sequential: bool,
    tuning: int,
    lin: Mapping[str, Mapping[tuple[str, Any], Any]],
) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """One result row per (metric, arm[, group]), as :func:`nurture_lab.analyze` makes them."""
    rows: list[dict[str, Any]] = []
    estimators: list[Any] = []
    notes: list[str] = []
    groups = [None] if by is None else sorted(suff[by].unique(), key=str)
    for m, mtype in types.items():
        sm_ = suff[suff["metric"] == m]
        for g in groups:
            st = (sm_ if g is None else sm_[sm_[by] == g]).set_index("arm")
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
                if min(n1, n0) < _a.MIN_ARM_N:
                    notes.append(f"Group {by}={g!r}: {a} vs {control} has {n1} vs {n0} units; skipped.")
                    continue
                no_var = _a._no_variance(r, c, mtype)
                if no_var and g is None:
                    raise NoVarianceError(m, (a, control), float(r["sum"]) / n1)
                if lin:  # Lin's adjustment, from the two passes of lin_stats
                    s1, s0 = lin[m][(a, g)], lin[m][(control, g)]
                    estimate = functools.partial(lin_row, s1, s0)
                else:
                    estimate = _a._estimator(pd.DataFrame(), arm, control, a, m, mtype, r, c, [], ci_method, nonneg[m])
                if sequential:
                    estimate = _a._sequential_estimator(estimate, r, c, mtype, tuning)
                vals = estimate(alpha)
                small = min(n1, n0) < _a.MIN_GROUP_N or no_var
                if g is not None and small:
                    notes.append(
                        f"Group {by}={g!r}, metric {m!r}, {a} vs {control}: too small to say anything "
                        f"(n = {n1} vs {n0}{', no variance' if no_var else ''})."
                    )
                row = {"metric": m, "arm": a, "control": control, "n_control": n0, "n_arm": n1, **vals}
                row["metric_type"] = mtype
                if by is not None:
                    row[by] = g
                    row["small_group"] = bool(small)
                rows.append(row)
                estimators.append(estimate)
    return rows, estimators, notes


def _finish(
    rows: list[dict[str, Any]], estimators: list[Any], notes: list[str], srm: dict[str, Any], call: Mapping[str, Any]
) -> _a.AnalysisResult:
    """Corrections, adjusted intervals and settings, as :func:`nurture_lab.analyze` gives them."""
    by, correction, alpha = call["by"], call["correction"], call["alpha"]
    res = pd.DataFrame(rows)
    if res.empty:
        raise DataError("No comparison could be made: every group lacks the control or an arm.")
    res["p_adjusted"] = _adjust(res["p_value"].to_numpy(dtype=float), correction)
    res["significant"] = res["p_adjusted"] < alpha
    level = _a._adjusted_alpha(
        res["p_value"].to_numpy(dtype=float), res["p_adjusted"].to_numpy(dtype=float), correction, alpha
    )
    adj = [est(level) if level != alpha else None for est in estimators]
    res["adj_ci_low"] = [v["diff_ci_low"] if v else lo for v, lo in zip(adj, res["diff_ci_low"])]
    res["adj_ci_high"] = [v["diff_ci_high"] if v else hi for v, hi in zip(adj, res["diff_ci_high"])]
    res = res[([by] if by else []) + _a.RESULT_COLUMNS + (["small_group"] if by else [])]
    settings = {
        "arm": call["arm"],
        "control": call["control"],
        "metrics": dict(call["types"]),
        "by": by,
        "covariates": call["covariates"],
        "ci_method": call["ci_method"],
        "correction": correction,
        "alpha": alpha,
        "allocation": dict(call["allocation"]) if call["allocation"] else None,
        "n_units": call["n_units"],
        "family_size": int(res["p_value"].notna().sum()),
        "adjusted_alpha": level,
        "sequential": (
            f"asymptotic confidence sequence (Waudby-Smith et al. 2021), tuned for {call['sequential_tuning']:,} units"
            if call["sequential"]
            else None
        ),
        "adjusted_intervals": _a.ADJUSTED_INTERVALS[correction],
        "computed_in": "the database (one row per arm and group)",
    }
    if srm["flagged"]:
        notes.insert(
            0,
            f"Sample ratio mismatch: arm sizes {srm['counts']} differ from the planned allocation "
            f"(chi-square p = {_a._fmt_p(srm['p_value'])}); check assignment before trusting effects.",
        )
    return _a.AnalysisResult(res, srm, settings, tuple(notes))


# ---- Lin's covariate adjustment (HC2) in two passes over the table


def _num(table: Any, c: str) -> Any:
    """A column as double precision (a boolean through CASE WHEN: PostgreSQL casts none to a number)."""
    col = table[c]
    return col.ifelse(1, 0).cast("float64") if table.schema()[c].is_boolean() else col.cast("float64")


def lin_stats(
    table: Any, arm: str, metric: str, covariates: Sequence[str], by: str | None = None
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Per (arm, group), what Lin's estimate and its HC2 covariance need, computed in the database.

    Pass 1: n, the means of y and X, and ``COVAR_SAMP`` of every pair of X and of X with y — the
    arm's own OLS of y on its centred X (``beta``). Pass 2: each row's residual ``e`` and leverage
    ``h`` from those numbers, and the HC2 meat ``sum(e^2 / (1 - h) * z z')`` with ``z = (1, x - mean)``.
    The fully interacted model of Lin (2013) is the two arms' own regressions side by side, so its
    HC2 covariance is theirs, block by block (see :func:`lin_row`).
    """
    import ibis

    k = len(covariates)
    keys = [table[arm].cast("string").name("arm"), *([table[by].name(by)] if by else [])]
    y, xs = _num(table, metric), [_num(table, c) for c in covariates]
    aggs: dict[str, Any] = {"n": table.count(), "ybar": y.mean()}
    for j, x in enumerate(xs):
        aggs[f"m{j}"] = x.mean()
        aggs[f"cy{j}"] = x.cov(y, how="sample")
        for i in range(j + 1):
            aggs[f"c{i}_{j}"] = xs[i].cov(x, how="sample")
    first = _fetch(table.group_by(keys).aggregate(**aggs))
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for _, row in first.iterrows():
        n = int(row["n"])
        sxx = np.array([[float(row[f"c{min(i, j)}_{max(i, j)}"]) for j in range(k)] for i in range(k)]) * (n - 1)
        sxy = np.array([float(row[f"cy{j}"]) for j in range(k)]) * (n - 1)
        if n <= k + 1 or not np.all(np.isfinite(sxx)) or np.linalg.matrix_rank(sxx) < k:
            raise DataError(
                f"Covariates {list(covariates)} are collinear or constant within arm {row['arm']!r}"
                f"{f' ({by}={row[by]!r})' if by else ''}: Lin's adjustment needs them to vary independently in every arm."
            )
        sinv = np.linalg.inv(sxx)
        m = np.array([float(row[f"m{j}"]) for j in range(k)])
        out[(str(row["arm"]), row[by] if by else None)] = {
            "n": n,
            "ybar": float(row["ybar"]),
            "m": m,
            "beta": sinv @ sxy,
            "sinv": sinv,
        }

    def per_key_value(fn: Any) -> Any:
        """A CASE expression giving each row ``fn`` of its (arm, group)'s numbers, as a literal."""
        branches = []
        for (a, g), s in out.items():
            cond = table[arm].cast("string") == a
            if by:
                cond &= table[by] == g
            branches.append((cond, ibis.literal(float(fn(s)), type="float64")))
        return ibis.cases(*branches)

    d = [xs[j] - per_key_value(lambda s, j=j: s["m"][j]) for j in range(k)]
    e = y - per_key_value(lambda s: s["ybar"])
    for j in range(k):
        e = e - per_key_value(lambda s, j=j: s["beta"][j]) * d[j]
    h = per_key_value(lambda s: 1.0 / s["n"])
    for i in range(k):
        for j in range(k):
            h = h + per_key_value(lambda s, i=i, j=j: s["sinv"][i, j]) * d[i] * d[j]
    w = e * e / (1 - h)
    meat: dict[str, Any] = {"w": w.sum()}
    for j in range(k):
        meat[f"w{j}"] = (w * d[j]).sum()
        for i in range(j + 1):
            meat[f"w{i}_{j}"] = (w * d[i] * d[j]).sum()
    second = _fetch(table.group_by(keys).aggregate(**meat))
    for _, row in second.iterrows():
        s = out[(str(row["arm"]), row[by] if by else None)]
        mt = np.empty((k + 1, k + 1))
        mt[0, 0] = float(row["w"])
        for j in range(k):
            mt[0, j + 1] = mt[j + 1, 0] = float(row[f"w{j}"])
            for i in range(j + 1):
                mt[i + 1, j + 1] = mt[j + 1, i + 1] = float(row[f"w{i}_{j}"])
        bread = np.zeros((k + 1, k + 1))
        bread[0, 0] = 1.0 / s["n"]
        bread[1:, 1:] = s["sinv"]
        s["V"] = bread @ mt @ bread  # HC2 covariance of (intercept at the arm's mean, beta)
    return out


def lin_row(s1: Mapping[str, Any], s0: Mapping[str, Any], alpha: float) -> dict[str, Any]:
    """Lin's estimate of arm vs control from the two arms' :func:`lin_stats`: the statsmodels OLS
    (fully interacted, HC2, t with n - 2 - 2k degrees of freedom) of the pandas path, in closed form.

    Centred at the pair's pooled covariate means ``c``, each arm's intercept is ``ybar + beta'(c - m)``
    with variance ``w' V w``, ``w = (1, c - m)``; the effect is the difference of the intercepts and
    the intercepts' covariance is block diagonal (the arms' rows are disjoint).
    """
    from scipy import stats as st

    from .methods import comparison_row

    n1, n0 = s1["n"], s0["n"]
    c = (n1 * s1["m"] + n0 * s0["m"]) / (n1 + n0)
    a1, a0 = (s["ybar"] + s["beta"] @ (c - s["m"]) for s in (s1, s0))
    v1, v0 = (float(np.r_[1.0, c - s["m"]] @ s["V"] @ np.r_[1.0, c - s["m"]]) for s in (s1, s0))
    est, se = a1 - a0, float(np.sqrt(v1 + v0))
    dof = n1 + n0 - 2 - 2 * len(c)
    q = float(st.t.ppf(1 - alpha / 2, dof))
    p = float(2 * st.t.sf(abs(est) / se, dof)) if se > 0 else float("nan")
    rel = rel_lo = rel_hi = float("nan")
    if a0 != 0:  # b1 / b0 by the delta method with cov(b0, b1) = -var(a0) (see estimators._lin_relative)
        cov = np.array([[v0, -v0], [-v0, v0 + v1]])
        grad = np.array([-est / a0**2, 1 / a0])
        rse = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
        rel = est / a0
        rel_lo, rel_hi = rel - q * rse, rel + q * rse
    m0 = s0["ybar"]
    return comparison_row(
        m0, m0 + est, est, (est - q * se, est + q * se), (rel, rel_lo, rel_hi), p, "lin ols (hc2)", "hc2 t"
    )


def _fetch(expr: Any) -> pd.DataFrame:
    with warnings.catch_warnings():  # the backends' own deprecation notices are not for the analyst
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return expr.to_pandas()

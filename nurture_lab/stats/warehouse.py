"""Analysis where the data lives: an Ibis table reduced to per-arm sufficient statistics in the database.

:func:`analyze` (``nl.analyze``) takes a pandas frame, or an Ibis table (``nl.connect(url).table(name)``).
For a table, one ``GROUP BY`` query computes, per arm (and ``by`` group), the count and, per metric,
the sum and the database's own ``VAR_SAMP`` (and ``COVAR_SAMP`` for a ratio's numerator and
denominator) — never a raw sum of squares, which loses every digit of a variance of 1 around a mean
of 1e9. The same query counts missing values and values other than 0/1, so the checks of the pandas
path run in SQL too. One row per arm and group comes back; the statistics are then the very row
functions of :mod:`nurture_lab.stats.analysis`, so both paths agree to rounding.

Covariates (Lin's adjustment) are not computed in the database yet: pull the columns with
``table.select(...).to_pandas()`` and analyse the frame.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, NoVarianceError, ParameterError, check_param, require
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
            return col.ifelse(1.0, 0.0)
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
    with warnings.catch_warnings():  # the backends' own deprecation notices are not for the analyst
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        got = table.group_by(keys).aggregate(**aggs).to_pandas()
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
    if covariates:
        raise ParameterError(
            "covariates are not computed in the database yet: pull the columns with "
            "table.select(...).to_pandas() and analyse the frame (Lin's adjustment on a pandas frame)."
        )
    names, ratio_metrics = _names(metrics)
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
    rows, estimators, notes = _rows(
        suff, types, arm, control, arms, by, ci_method, alpha, nonneg, sequential, sequential_tuning
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
        "covariates": [],
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

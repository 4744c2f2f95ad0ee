"""Analysis where the data lives: an Ibis table reduced to per-arm sufficient statistics in the database.

:func:`analyze` (``nl.analyze``) takes a pandas frame, or an Ibis table (``nl.connect(url).table(name)``).
For a table, one ``GROUP BY`` query computes, per arm (and ``by`` group), the count and, per metric,
the sum and the database's own ``VAR_SAMP`` (and ``COVAR_SAMP`` for a ratio's numerator and
denominator) — never a raw sum of squares, which loses every digit of a variance of 1 around a mean
of 1e9. The same query counts missing values and values other than 0/1, so the checks of the pandas
path run in SQL too. One row per arm and group comes back; the rows are then built by the pandas
path's own row builder (:func:`nurture_lab.stats.compare.compare`: corrections, adjusted intervals,
sequential, Bayesian and pooled columns), so both paths agree to rounding.

Covariates (Lin's adjustment with HC2 errors) take two more passes (:func:`lin_stats`): the arms'
means and ``COVAR_SAMP`` of the covariates and the metric, then each row's residual and leverage
from those numbers and the HC2 sums. Their checks (collinear with a metric, balanced across arms)
run on per-arm moments from one more query (:func:`table_moments`) by the same code as the pandas
path (:func:`nurture_lab.stats.covariates.check_moments`). Numeric, boolean and text covariates (a
text category becomes indicators of its levels but the first, as in the pandas path, and its balance
is the chi-square test of its category-by-arm counts).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, check_param, require
from . import analysis as _a
from .compare import Call, compare, plain_estimator
from .covariates import ArmMoments, check_moments, chi_square_balance
from .ipw import PROBABILITY_COLUMN
from .ratio import Ratio
from .result import AnalysisResult
from .sequential import DEFAULT_TUNING

__all__ = ["analyze", "is_table", "table_stats"]


def is_table(data: Any) -> bool:
    """Whether ``data`` is an Ibis table expression (without importing Ibis)."""
    return type(data).__module__.startswith("ibis.") and hasattr(data, "group_by") and hasattr(data, "schema")


@functools.wraps(_a.analyze)
def analyze(data: Any, *args: Any, **kwargs: Any) -> AnalysisResult:
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
    """Covariates of a table: present, numbers, booleans or text, without missing values (counted in SQL)."""
    if not covariates:
        return
    schema = table.schema()
    for c in covariates:
        if c not in schema:
            raise DataError(f"Covariate column '{c}' not found in the table; available columns: {', '.join(schema)}.")
        if not (schema[c].is_numeric() or schema[c].is_boolean() or schema[c].is_string()):
            raise DataError(
                f"Covariate '{c}' is {schema[c]}: in the database, covariates must be numbers, booleans or "
                "text categories (or analyse a pandas frame)."
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
    force: bool = False,
    bayesian: bool = False,
    prior: tuple[float, float] | None = None,
    lower_is_better: Sequence[str] = (),
) -> AnalysisResult:
    """:func:`nurture_lab.analyze` on an Ibis table: the same result, from one row per arm (and group).

    Every option of the pandas path works the same; covariates are numbers, booleans or text
    categories (other types are refused). The covariate checks run on per-arm moments computed in
    SQL (:func:`table_moments`).
    """
    prior = _a._check_options(ci_method, correction, alpha, sequential, sequential_tuning, force, bayesian, prior)
    if PROBABILITY_COLUMN in table.schema():
        raise DataError(
            f"The table has a column '{PROBABILITY_COLUMN}' (data from an adaptive design), which must be "
            "weighted by inverse probability; that runs on a pandas frame only: analyze(table.to_pandas(), ...)."
        )
    covariates = list(covariates or [])
    names, ratio_metrics = _names(metrics)
    _a._check_covariate_options(covariates, bool(ratio_metrics), sequential)
    _check_covariates(table, covariates)
    xcols = _covariate_columns(table, covariates)
    if not names:
        require("analyze", "metrics", [], "at least one column", False)
    _a._check_allocation(allocation)
    suff, checks = table_stats(table, arm, [ratio_metrics.get(m, m) for m in names], by)
    types = _types(table, metrics, metric_types, names, ratio_metrics, checks)
    lower = _a._check_lower_is_better(lower_is_better, types)
    n_units = int(suff[suff["metric"] == names[0]]["n"].sum())
    if n_units == 0:
        raise DataError("The data have no rows.")
    control, arms = _a._check_labels(sorted(map(str, suff["arm"].unique())), arm, control, allocation)
    plain = [m for m in types if m not in ratio_metrics]
    cov_checks: list[dict[str, Any]] = []
    notes: list[str] = []
    if covariates:
        mom = table_moments(table, arm, xcols, plain)
        categorical = {c: _chi_square_balance(table, arm, c) for c in covariates if _is_category(table, c)}
        cov_checks, notes = check_moments(mom, control, plain, covariates, force, categorical)
    nonneg = {m: bool(t != "numeric" or checks[m]["min"] >= 0) for m, t in types.items()}
    lin = {m: lin_stats(table, arm, m, covariates, by, xcols) for m in plain} if covariates else {}

    def make_estimator(m: str, mtype: str, g: Any, a: str, r: pd.Series, c: pd.Series) -> Any:
        if m in lin:  # Lin's adjustment, from the two passes of lin_stats
            return functools.partial(lin_row, lin[m][(a, g)], lin[m][(control, g)])
        return plain_estimator(mtype, r, c, ci_method, nonneg[m])

    call = Call(
        arm=arm,
        control=control,
        arms=arms,
        types=types,
        by=by,
        covariates=covariates,
        ci_method=ci_method,
        correction=correction,
        alpha=alpha,
        allocation=allocation,
        sequential=sequential,
        sequential_tuning=sequential_tuning,
        bayesian=bayesian,
        prior=prior,
        lower_is_better=lower,
        nonneg=nonneg,
        n_units=n_units,
        extra_settings={"computed_in": "the database (one row per arm and group)"},
    )
    return compare(suff, call, make_estimator, cov_checks, notes)


def _types(
    table: Any,
    metrics: Sequence[str | Ratio] | Mapping[str, str],
    metric_types: Mapping[str, str] | None,
    names: Sequence[str],
    ratio_metrics: Mapping[str, Ratio],
    checks: Mapping[str, Mapping[str, float]],
) -> dict[str, str]:
    """Each metric's type, declared or found from the SQL checks; missing and infinite values refused."""
    given = {**(dict(metrics) if isinstance(metrics, Mapping) else {}), **dict(metric_types or {})}
    for m, t in given.items():
        check_param("analyze", f"metric_types['{m}']", t, kind="choice", choices=("binary", "numeric"))
    extra = [m for m in given if m not in names]
    require(
        "analyze", "metric_types", dict(given), f"types for this call's metrics only ({', '.join(names)})", not extra
    )
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
    return types


def _is_category(table: Any, c: str) -> bool:
    return not (table.schema()[c].is_numeric() or table.schema()[c].is_boolean())


def _covariate_columns(table: Any, covariates: Sequence[str]) -> dict[str, list[Any]]:
    """Each covariate as regression columns in SQL: a number as itself (double precision), a text
    category as indicators of its levels but the first (in sorted order, as the pandas path's
    ``get_dummies(drop_first=True)``); the levels come from one ``SELECT DISTINCT``."""
    out: dict[str, list[Any]] = {}
    for c in covariates:
        if not _is_category(table, c):
            out[c] = [_num(table, c)]
            continue
        col = table[c].cast("string")
        levels = sorted(map(str, _fetch(table.select(col.name("v")).distinct())["v"]))
        out[c] = [(col == lv).ifelse(1, 0).cast("float64") for lv in levels[1:]]
    return out


def _chi_square_balance(table: Any, arm: str, c: str) -> tuple[str, float, str]:
    """The chi-square test of a text covariate against the arm, from its category-by-arm counts in SQL."""
    keys = [table[arm].cast("string").name("arm"), table[c].cast("string").name("v")]
    got = _fetch(table.group_by(keys).aggregate(n=table.count()))
    counts = got.pivot_table(index="v", columns="arm", values="n", fill_value=0, aggfunc="sum")
    return chi_square_balance(counts.to_numpy(dtype=np.int64))


def table_moments(table: Any, arm: str, xcols: Mapping[str, Sequence[Any]], metrics: Sequence[str]) -> ArmMoments:
    """Per arm, in the database: n, the means and ``COVAR_SAMP`` of every pair of covariates and metrics.

    The covariate checks (:func:`~nurture_lab.stats.covariates.check_moments`) need nothing else;
    the centred cross-products are ``(n - 1) * COVAR_SAMP``.
    """
    zs = [*(x for xs in xcols.values() for x in xs), *(_num(table, m) for m in metrics)]
    aggs: dict[str, Any] = {"n": table.count()}
    for j, z in enumerate(zs):
        aggs[f"m{j}"] = z.mean()
        for i in range(j + 1):
            aggs[f"c{i}_{j}"] = zs[i].cov(z, how="sample")
    got = _fetch(table.group_by(table[arm].cast("string").name("arm")).aggregate(**aggs))
    got = got.sort_values("arm").reset_index(drop=True)
    p, k = len(zs), len(got)
    n = got["n"].to_numpy(dtype=np.int64)
    mean = got[[f"m{j}" for j in range(p)]].to_numpy(dtype=np.float64)
    css = np.zeros((k, p, p))
    for j in range(p):
        for i in range(j + 1):
            v = got[f"c{i}_{j}"].astype(float).fillna(0.0).to_numpy() * (n - 1)
            css[:, i, j] = css[:, j, i] = v
    spans, start = {}, 0
    for c, xs in xcols.items():
        spans[c] = list(range(start, start + len(xs)))
        start += len(xs)
    metric_col = {m: start + i for i, m in enumerate(metrics)}
    return ArmMoments([str(a) for a in got["arm"]], n, mean, css, spans, metric_col)


# ---- Lin's covariate adjustment (HC2) in two passes over the table


def _num(table: Any, c: str) -> Any:
    """A column as double precision (a boolean through CASE WHEN: PostgreSQL casts none to a number)."""
    col = table[c]
    return col.ifelse(1, 0).cast("float64") if table.schema()[c].is_boolean() else col.cast("float64")


def lin_stats(
    table: Any,
    arm: str,
    metric: str,
    covariates: Sequence[str],
    by: str | None = None,
    xcols: Mapping[str, Sequence[Any]] | None = None,
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Per (arm, group), what Lin's estimate and its HC2 covariance need, computed in the database.

    Pass 1: n, the means of y and X, and ``COVAR_SAMP`` of every pair of X and of X with y — the
    arm's own OLS of y on its centred X (``beta``). Pass 2: each row's residual ``e`` and leverage
    ``h`` from those numbers, and the HC2 meat ``sum(e^2 / (1 - h) * z z')`` with ``z = (1, x - mean)``.
    The fully interacted model of Lin (2013) is the two arms' own regressions side by side, so its
    HC2 covariance is theirs, block by block (see :func:`lin_row`).
    """
    import ibis

    xcols = xcols if xcols is not None else _covariate_columns(table, covariates)
    keys = [table[arm].cast("string").name("arm"), *([table[by].name(by)] if by else [])]
    y, xs = _num(table, metric), [x for c in covariates for x in xcols[c]]
    k = len(xs)
    aggs: dict[str, Any] = {"n": table.count(), "ybar": y.mean(), "ymin": y.min(), "yvar": y.var(how="sample")}
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
            "ymin": float(row["ymin"]),
            "yvar": float(row["yvar"]),
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
    the intercepts' covariance is block diagonal (the arms' rows are disjoint). The relative lift is
    Fieller's interval for the ratio of the adjusted means (as ``estimators._lin_relative``, with
    their covariance 0), and ``variance_reduction`` is ``1 - se² / Welch's variance``.
    """
    from scipy import stats as st

    from .methods import _fieller, comparison_row

    n1, n0 = s1["n"], s0["n"]
    c = (n1 * s1["m"] + n0 * s0["m"]) / (n1 + n0)
    a1, a0 = (s["ybar"] + s["beta"] @ (c - s["m"]) for s in (s1, s0))
    v1, v0 = (float(np.r_[1.0, c - s["m"]] @ s["V"] @ np.r_[1.0, c - s["m"]]) for s in (s1, s0))
    est, se = a1 - a0, float(np.sqrt(v1 + v0))
    dof = n1 + n0 - 2 - 2 * len(c)
    q = float(st.t.ppf(1 - alpha / 2, dof))
    p = float(2 * st.t.sf(abs(est) / se, dof)) if se > 0 else float("nan")
    if a0 != 0:
        rel_lo, rel_hi = _fieller(a1, a0, v1, v0, 0.0, q, min(s1["ymin"], s0["ymin"]) >= 0)
        rel = (est / a0, rel_lo, rel_hi)
    else:
        rel = (float("nan"),) * 3
    m0 = s0["ybar"]
    row = comparison_row(m0, m0 + est, est, (est - q * se, est + q * se), rel, p, "lin ols (hc2)", "hc2 t")
    plain_var = s1["yvar"] / n1 + s0["yvar"] / n0
    row["variance_reduction"] = 1 - se**2 / plain_var if plain_var > 0 else float("nan")
    return row


def _fetch(expr: Any) -> pd.DataFrame:
    with warnings.catch_warnings():  # the backends' own deprecation notices are not for the analyst
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return expr.to_pandas()

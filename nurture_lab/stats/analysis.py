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

Rows are first reduced to sufficient statistics per arm and group (n, sum, sum of squares about the
arm's mean); the rows of the result are then built from those alone by
:func:`nurture_lab.stats.compare.compare`, the same code that builds them from a database's
aggregates (:mod:`nurture_lab.stats.warehouse`). Only a covariate-adjusted row reads the frame again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, check_param, require
from . import ipw
from .compare import MIN_ARM_N, MIN_GROUP_N, Call, compare, plain_estimator
from .covariates import covariate_checks
from .estimators import _lin_row, sufficient_stats
from .methods import CI_METHODS, CORRECTIONS
from .ratio import Ratio
from .result import RESULT_COLUMNS, AnalysisResult
from .sequential import DEFAULT_TUNING

__all__ = [
    "CI_METHODS",
    "CORRECTIONS",
    "MIN_ARM_N",
    "MIN_GROUP_N",
    "RESULT_COLUMNS",
    "AnalysisResult",
    "analyze",
]


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
    prior = _check_options(ci_method, correction, alpha, sequential, sequential_tuning, force, bayesian, prior)
    covariates = list(covariates or [])
    _require_columns(df, [arm], "Arm")
    ratio_metrics = {} if isinstance(metrics, (str, Mapping)) else {m.name: m for m in metrics if isinstance(m, Ratio)}
    columns = [metrics] if isinstance(metrics, str) else [m for m in metrics if not isinstance(m, Ratio)]
    columns += [c for r in ratio_metrics.values() for c in (r.numerator, r.denominator)]
    _require_columns(df, columns, "Metric")
    _check_covariate_options(covariates, bool(ratio_metrics), sequential)
    types = _metric_types(df, metrics, metric_types)
    lower_is_better = _check_lower_is_better(lower_is_better, types)
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

    df, labels = _arm_labels(df, arm)
    control, arms = _check_labels(labels, arm, control, allocation)
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    adaptive = ipw.PROBABILITY_COLUMN in df.columns
    if adaptive:  # never analysed as if fixed: weighted by the recorded probabilities, or refused
        used = {"covariates": bool(covariates), "sequential": sequential, "bayesian": bayesian}
        used |= {"a Ratio metric": bool(ratio_metrics), f"ci_method={ci_method!r}": ci_method != "wald"}
        allocation = ipw.check_adaptive(df, arm, labels, used)
        notes.append(ipw.ADAPTIVE_NOTE)
    if covariates:
        plain_metrics = [m for m in types if m not in ratio_metrics]
        checks, notes = covariate_checks(df, arm, control, arms, plain_metrics, covariates, force)

    suff = sufficient_stats(df, arm, [ratio_metrics.get(m, m) for m in types], by)
    nonneg = {m: bool(t != "numeric" or (df[m].to_numpy() >= 0).all()) for m, t in types.items()}

    def make_estimator(m: str, mtype: str, g: Any, a: str, r: pd.Series, c: pd.Series) -> Any:
        if adaptive:
            return ipw.ipw_estimator(df if g is None else df[df[by] == g], arm, control, a, m)
        sub = df if g is None or not covariates else df[df[by] == g]
        return _estimator(sub, arm, control, a, m, mtype, r, c, covariates, ci_method, nonneg[m])

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
        lower_is_better=lower_is_better,
        nonneg=nonneg,
        n_units=len(df),
        extra_settings={"estimator": ipw.TEST} if adaptive else {},
    )
    return compare(suff, call, make_estimator, checks, notes)


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
    if covariates and mtype != "ratio":
        return lambda a: _lin_row(df, arm, control, label, metric, covariates, a)
    return plain_estimator(mtype, r, c, ci_method, nonneg)


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


def _check_options(
    ci_method: str,
    correction: str,
    alpha: float,
    sequential: bool,
    sequential_tuning: int,
    force: bool,
    bayesian: bool,
    prior: Any,
) -> tuple[float, float] | None:
    """The scalar options of ``analyze`` (both paths); returns the checked prior."""
    check_param("analyze", "ci_method", ci_method, kind="choice", choices=CI_METHODS)
    check_param("analyze", "correction", correction, kind="choice", choices=CORRECTIONS)
    check_param("analyze", "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    check_param("analyze", "sequential", sequential, kind="bool")
    check_param("analyze", "sequential_tuning", sequential_tuning, kind="int", low=1)
    check_param("analyze", "force", force, kind="bool")
    check_param("analyze", "bayesian", bayesian, kind="bool")
    return _check_prior(prior, bayesian)


def _check_covariate_options(covariates: Sequence[str], ratios: bool, sequential: bool) -> None:
    require(
        "analyze",
        "covariates",
        covariates,
        "empty with ratio metrics (Lin's adjustment is for plain metrics)",
        not (covariates and ratios),
    )
    require("analyze", "covariates", covariates, "empty with sequential=True", not (covariates and sequential))


def _check_lower_is_better(lower_is_better: Sequence[str] | str, types: Mapping[str, str]) -> list[str]:
    lower = [lower_is_better] if isinstance(lower_is_better, str) else list(lower_is_better)
    require(
        "analyze",
        "lower_is_better",
        lower,
        f"names of this call's metrics ({', '.join(types)})",
        all(m in types for m in lower),
    )
    return lower


def _check_labels(
    labels: Sequence[str], arm: str, control: str | None, allocation: Mapping[str, float] | None
) -> tuple[str, list[str]]:
    """The control and the other arms (sorted), once the control and the allocation's arms are found."""
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
    return str(control), [a for a in sorted(labels) if a != control]


def _arm_labels(df: pd.DataFrame, arm: str) -> tuple[pd.DataFrame, list[str]]:
    """The arms are the labels present (not a categorical's unused categories), as strings."""
    col = df[arm]
    if isinstance(col.dtype, pd.CategoricalDtype):
        df = df.assign(**{arm: col.cat.remove_unused_categories()})
        return df, [str(c) for c in df[arm].cat.categories]
    labels = [str(x) for x in pd.unique(col)]
    if not (pd.api.types.is_string_dtype(col) or col.dtype == object) or len(set(labels)) < len(labels):
        df = df.assign(**{arm: col.astype(str)})
    return df, labels

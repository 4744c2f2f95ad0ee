"""Planning that matches the analysis: sample size, power and minimum detectable effect.

Every function plans for the test the analysis will run (two-sided, normal approximation):

- binary metric (``baseline`` is the control's rate), ``test=``

  - ``"wald"`` (default, as ``analyze``'s default): the unpooled variance
    ``p1 (1 - p1) / n1 + p0 (1 - p0) / n0`` both under the null and the alternative, so
    ``n1 = (z[1 - alpha/2] + z[power])**2 * (p1 q1 + p0 q0 / ratio) / d**2``;
  - ``"score"`` (the Newcombe interval's test): the pooled variance under the null and the
    unpooled one under the alternative (Fleiss; statsmodels ``samplesize_proportions_2indep_onetail``);
- numeric metric (``sd=`` the per-unit standard deviation, ``baseline`` its mean when
  ``relative=True``): Welch's test, ``n1 = (z + z)**2 * sd**2 (1 + 1 / ratio) / d**2``;
- ratio metric or any metric from a pilot: ``pilot=`` a per-unit table and ``metric=`` a column or
  :class:`~nurture_lab.stats.ratio.Ratio`; the mean and the per-unit variance (delta method for a
  ratio) come from the pilot.

``sequential=True`` plans for the always-valid test of ``analyze(..., sequential=True)`` with the
same ``sequential_tuning``: the confidence sequence at ``t = n (1 + ratio)`` units excludes 0 when
``|d| > K(t) * se`` with ``K(t) = sqrt(2 (t rho^2 + 1) / (t rho^2) * log(sqrt(t rho^2 + 1) / alpha))``
(:mod:`nurture_lab.stats.sequential`; unpooled variance, as the analysis), so the power at ``n`` is
``Phi(|d| / se - K) + Phi(-|d| / se - K)``. This is the power of the look at the planned ``n``;
looks before it can only add to it (the always-valid p is the running minimum over looks).

``relative=True`` reads ``mde`` as a relative change (0.2 = +20 %). ``ratio`` is control units per
arm unit. A plan whose n is too small for the normal approximation (under 30 per arm, or under 10
expected events or non-events in an arm) comes with a warning.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..errors import check_param, require

__all__ = ["PLANNING_TESTS", "mde", "power_at", "sample_size"]

#: The tests planning can match: the default analysis (wald) and the score test.
PLANNING_TESTS = ("wald", "score")


class _Plan:
    """One planning problem: the effect's variance per arm unit under the null and the alternative."""

    def __init__(
        self,
        func: str,
        baseline: Any,
        alpha: Any,
        ratio: Any,
        test: Any,
        relative: Any,
        sd: Any,
        pilot: Any,
        metric: Any,
        sequential: Any = False,
        tuning: Any = 5000,
    ) -> None:
        self.func = func
        check_param(func, "sequential", sequential, kind="bool")
        check_param(func, "sequential_tuning", tuning, kind="int", low=1)
        self.sequential, self.tuning = bool(sequential), int(tuning)
        check_param(func, "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
        check_param(func, "ratio", ratio, low=0, low_open=True, expected="a float > 0 (control units per arm unit)")
        check_param(func, "test", test, kind="choice", choices=PLANNING_TESTS)
        check_param(func, "relative", relative, kind="bool")
        self.alpha, self.ratio, self.test, self.relative = float(alpha), float(ratio), test, relative
        self.kind = "binary"
        self.unit_var: float | None = None
        if pilot is not None:
            baseline, self.unit_var, self.kind = _from_pilot(func, pilot, metric)
        elif sd is not None:
            check_param(func, "sd", sd, low=0, low_open=True, expected="a float > 0 (the per-unit standard deviation)")
            self.unit_var, self.kind = float(sd) ** 2, "numeric"
            if relative:
                check_param(func, "baseline", baseline, expected="the control's mean (a float) when relative=True")
        if self.kind == "binary":
            check_param(func, "baseline", baseline, low=0, high=1, low_open=True, high_open=True)
        self.baseline = float(baseline) if baseline is not None else 0.0

    def effect(self, mde: Any) -> float:
        """The absolute effect that ``mde`` names, checked."""
        d = float(mde) * self.baseline if self.relative else float(mde)
        if self.kind == "binary":
            ok = isinstance(mde, (int, float)) and not isinstance(mde, bool) and mde != 0 and 0 < self.baseline + d < 1
            what = "relative" if self.relative else "absolute"
            require(
                self.func,
                "mde",
                mde,
                f"a non-zero {what} effect with the arm's rate in (0, 1) (baseline {self.baseline})",
                ok,
            )
        else:
            ok = isinstance(mde, (int, float)) and not isinstance(mde, bool) and mde != 0 and math.isfinite(d)
            require(self.func, "mde", mde, "a non-zero float", ok)
        return d

    def sd_null_alt(self, d: float) -> tuple[float, float]:
        """Standard deviation of the estimated effect times sqrt(n1), under H0 and under H1."""
        if self.kind != "binary":
            s = math.sqrt(self.unit_var * (1 + 1 / self.ratio))  # type: ignore[operator]
            return s, s
        p0, p1 = self.baseline, self.baseline + d
        alt = math.sqrt(p1 * (1 - p1) + p0 * (1 - p0) / self.ratio)
        if self.test == "wald" or self.sequential:
            return alt, alt
        pbar = (p1 + p0 * self.ratio) / (1 + self.ratio)
        return math.sqrt(pbar * (1 - pbar) * (1 + 1 / self.ratio)), alt

    def crit(self, n: float) -> float:
        """The critical value of the test at ``n`` arm units: z, or the sequence's boundary K(t)."""
        from scipy.stats import norm

        if not self.sequential:
            return float(norm.ppf(1 - self.alpha / 2))
        from .sequential import cs_halfwidth

        return cs_halfwidth(1.0, n * (1 + self.ratio), self.alpha, self.tuning)

    def n_for(self, d: float, power: float) -> float:
        from scipy.optimize import brentq
        from scipy.stats import norm

        s0, s1 = self.sd_null_alt(d)
        fixed = ((norm.ppf(1 - self.alpha / 2) * s0 + norm.ppf(power) * s1) / abs(d)) ** 2
        if not self.sequential:
            return fixed
        hi = max(fixed, 2.0)
        while self.power(d, hi) < power:
            hi *= 2
        return float(brentq(lambda n: self.power(d, n) - power, 1.0, hi, xtol=1e-6))

    def power(self, d: float, n: float) -> float:
        from scipy.stats import norm

        s0, s1 = self.sd_null_alt(d)
        z = self.crit(n)
        shift = abs(d) * math.sqrt(n)
        return float(norm.cdf((shift - z * s0) / s1) + norm.cdf((-shift - z * s0) / s1))

    def warn_if_small(self, n: float, d: float) -> None:
        n0 = n * self.ratio
        reasons = []
        if min(n, n0) < 30:
            reasons.append(f"{math.floor(min(n, n0))} units in an arm")
        if self.kind == "binary":
            events = min(
                p * m
                for p, m in (
                    (self.baseline, n0),
                    (1 - self.baseline, n0),
                    (self.baseline + d, n),
                    (1 - self.baseline - d, n),
                )
            )
            if events < 10:
                reasons.append(f"{events:.1f} expected events or non-events in an arm")
        if reasons:
            warnings.warn(
                f"{self.func}: {' and '.join(reasons)} is too few for the normal approximation this plan uses; "
                "treat the number as rough, or simulate the test (simulate_power).",
                stacklevel=3,
            )


def _from_pilot(func: str, pilot: Any, metric: Any) -> tuple[float, float, str]:
    """Mean and per-unit variance of ``metric`` in a pilot table (delta method for a Ratio)."""
    import numpy as np
    import pandas as pd

    from .ratio import Ratio, _ratio_var, ratio_stats

    check_param(func, "pilot", pilot, kind="instance", types=pd.DataFrame, expected="a pandas DataFrame")
    if isinstance(metric, Ratio):
        missing = [c for c in (metric.numerator, metric.denominator) if c not in pilot.columns]
        require(func, "metric", metric.name, "columns of the pilot table", not missing)
        st = ratio_stats(pilot, np.zeros(len(pilot), dtype=np.int64), 1, metric).iloc[0]
        return float(st["mean_num"] / st["mean_den"]), float(_ratio_var(st)), "ratio"
    require(
        func,
        "metric",
        metric,
        f"a column of the pilot table: {', '.join(map(str, pilot.columns))}",
        metric in pilot.columns,
    )
    x = pilot[metric].to_numpy(dtype=np.float64)
    require(func, "pilot", f"{len(x)} rows", "at least 2 rows", len(x) >= 2)
    return float(x.mean()), float(x.var(ddof=1)), "numeric"


def sample_size(
    baseline: float | None = None,
    mde: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    *,
    test: str = "wald",
    relative: bool = False,
    sd: float | None = None,
    pilot: Any = None,
    metric: Any = None,
    sequential: bool = False,
    sequential_tuning: int = 5000,
) -> int:
    """Units needed in the arm to detect an effect ``mde`` with the test the analysis runs.

    Args:
        baseline: the control's rate (binary) or mean (numeric, with ``relative=True``), e.g. 0.10.
        mde: the minimum detectable effect: absolute (0.02 means 10% -> 12%), or relative with
            ``relative=True`` (0.2 means +20%); may be negative.
        alpha: two-sided significance level.
        power: probability of detecting ``mde`` when it is true.
        ratio: control units per arm unit (1 = equal split); the control needs ``ceil(ratio * n)``.
        test: ``"wald"`` (the default analysis: unpooled variance) or ``"score"`` (pooled under the null).
        relative: read ``mde`` as a relative change of ``baseline``.
        sd: per-unit standard deviation of a numeric metric.
        pilot, metric: a pilot table and a column or ``Ratio`` whose mean and variance to plan with.
        sequential: plan for always-valid monitoring (``analyze(..., sequential=True)``);
            ``sequential_tuning`` as in the analysis (total units where the sequence is tightest).

    Returns:
        n per arm (rounded up).

    Example:
        >>> sample_size(baseline=0.10, mde=0.02)
        3839
        >>> sample_size(baseline=0.10, mde=0.02, test="score")
        3841
        >>> sample_size(baseline=0.10, mde=0.2, relative=True)
        3839
    """
    plan = _Plan(
        "sample_size", baseline, alpha, ratio, test, relative, sd, pilot, metric, sequential, sequential_tuning
    )
    check_param("sample_size", "power", power, low=0, high=1, low_open=True, high_open=True)
    d = plan.effect(mde)
    n = math.ceil(plan.n_for(d, float(power)) - 1e-9)
    plan.warn_if_small(n, d)
    return n


def power_at(
    baseline: float | None = None,
    mde: float = 0.0,
    n: int = 0,
    alpha: float = 0.05,
    ratio: float = 1.0,
    *,
    test: str = "wald",
    relative: bool = False,
    sd: float | None = None,
    pilot: Any = None,
    metric: Any = None,
    sequential: bool = False,
    sequential_tuning: int = 5000,
) -> float:
    """Power of the two-sided test with ``n`` units in the arm (``ratio * n`` in control).

    Example:
        >>> round(power_at(baseline=0.10, mde=0.02, n=3839), 3)
        0.8
    """
    plan = _Plan("power_at", baseline, alpha, ratio, test, relative, sd, pilot, metric, sequential, sequential_tuning)
    d = plan.effect(mde)
    n = check_param("power_at", "n", n, kind="int", low=2)
    plan.warn_if_small(n, d)
    return plan.power(d, n)


def mde(
    baseline: float | None = None,
    n: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    *,
    test: str = "wald",
    relative: bool = False,
    sd: float | None = None,
    pilot: Any = None,
    metric: Any = None,
    sequential: bool = False,
    sequential_tuning: int = 5000,
) -> float:
    """Smallest increase over ``baseline`` detectable with ``n`` units per arm (the inverse of sample_size).

    Absolute, or relative to ``baseline`` with ``relative=True``. NaN when even the largest
    possible increase of a rate is not detectable.

    Example:
        >>> round(mde(baseline=0.10, n=3839), 4)
        0.02
    """
    from scipy.optimize import brentq

    plan = _Plan("mde", baseline, alpha, ratio, test, relative, sd, pilot, metric, sequential, sequential_tuning)
    check_param("mde", "power", power, low=0, high=1, low_open=True, high_open=True)
    n = check_param("mde", "n", n, kind="int", low=2)
    if plan.kind == "binary":
        hi = 1 - plan.baseline - 1e-9
        if plan.power(hi, n) < power:
            return float("nan")
        d = float(brentq(lambda x: plan.power(x, n) - power, 1e-12, hi, xtol=1e-12))
    else:
        d = float(
            brentq(lambda x: plan.power(x, n) - power, 1e-12, 1e12 * (1 + math.sqrt(plan.unit_var or 1)), xtol=1e-12)
        )
    plan.warn_if_small(n, d)
    return d / plan.baseline if relative else d

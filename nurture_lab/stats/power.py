"""Sample size and power: the analytic two-proportion formula, and simulation-based power.

``sample_size`` and ``mde`` use statsmodels' normal-approximation formulas for two independent
proportions (``samplesize_proportions_2indep_onetail``, ``power_proportions_2indep``), two-sided.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import check_param, require

__all__ = ["mde", "power_at", "sample_size"]


def _check(func: str, baseline: Any, alpha: Any, power: Any, ratio: Any) -> None:
    check_param(func, "baseline", baseline, low=0, high=1, low_open=True, high_open=True)
    check_param(func, "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    check_param(func, "power", power, low=0, high=1, low_open=True, high_open=True)
    check_param(func, "ratio", ratio, low=0, low_open=True, expected="a number > 0 (control units per arm unit)")


def sample_size(baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> int:
    """Units needed in the arm to detect an absolute difference ``mde`` from ``baseline``.

    Args:
        baseline: the control's rate, e.g. 0.10.
        mde: the minimum detectable effect, absolute (0.02 means 10% -> 12%); may be negative.
        alpha: two-sided significance level.
        power: probability of detecting ``mde`` when it is true.
        ratio: control units per arm unit (1 = equal split); the control needs ``ceil(ratio * n)``.

    Returns:
        n per arm (rounded up).

    Example:
        >>> sample_size(baseline=0.10, mde=0.02)
        3841
    """
    _check("sample_size", baseline, alpha, power, ratio)
    _check_mde("sample_size", baseline, mde)
    return _samplesize(baseline, mde, alpha, power, ratio)


def _check_mde(func: str, baseline: float, mde: Any) -> None:
    ok = isinstance(mde, (int, float)) and not isinstance(mde, bool) and mde != 0 and 0 < baseline + mde < 1
    require(func, "mde", mde, f"a non-zero float with baseline + mde in (0, 1) (baseline {baseline})", ok)


def _samplesize(baseline: float, mde: float, alpha: float, power: float, ratio: float) -> int:
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    n = samplesize_proportions_2indep_onetail(
        diff=mde, prop2=baseline, power=power, ratio=ratio, alpha=alpha, alternative="two-sided"
    )
    return math.ceil(float(n))


def power_at(baseline: float, mde: float, n: int, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """Power of the two-sided two-proportion test with ``n`` units in the arm (``ratio * n`` in control).

    Example:
        >>> round(power_at(baseline=0.10, mde=0.02, n=3841), 3)
        0.8
    """
    _check("power_at", baseline, alpha, 0.5, ratio)
    _check_mde("power_at", baseline, mde)
    check_param("power_at", "n", n, kind="int", low=2)
    return _power(baseline, mde, n, alpha, ratio)


def _power(baseline: float, mde: float, n: int, alpha: float, ratio: float) -> float:
    from statsmodels.stats.proportion import power_proportions_2indep

    res = power_proportions_2indep(
        mde, baseline, n, ratio=ratio, alpha=alpha, alternative="two-sided", return_results=True
    )
    return float(res.power)


def mde(baseline: float, n: int, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> float:
    """Smallest absolute increase over ``baseline`` detectable with ``n`` units per arm (inverse of sample_size).

    Example:
        >>> round(mde(baseline=0.10, n=3841), 4)
        0.02
    """
    from scipy.optimize import brentq

    _check("mde", baseline, alpha, power, ratio)
    check_param("mde", "n", n, kind="int", low=2)
    hi = 1 - baseline - 1e-9
    if _power(baseline, hi, n, alpha, ratio) < power:
        return float("nan")
    return float(brentq(lambda d: _power(baseline, d, n, alpha, ratio) - power, 1e-9, hi, xtol=1e-10))

"""Time to book: Kaplan-Meier curves, log-rank test and Cox hazard ratios (statsmodels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._results import ResultMixin
from ..errors import DataError, check_param
from .analysis import _fmt_p, _require_columns, _require_frame


@dataclass(frozen=True, repr=False)
class TimeToBookResult(ResultMixin):
    """Kaplan-Meier curves per arm, medians, log-rank test and Cox hazard ratios."""

    curves: pd.DataFrame  # arm, days, survival, ci_low, ci_high (survival = not yet booked)
    medians: pd.DataFrame  # arm, n, n_booked, median_days
    logrank_chi2: float
    logrank_p: float
    cox: pd.DataFrame  # arm, hazard_ratio, ci_low, ci_high, p_value
    settings: dict[str, Any]

    _json_extras = ("logrank_chi2", "logrank_p", "settings")

    def _table(self) -> pd.DataFrame:
        """One row per arm: leads, bookings, median days to book, and the Cox hazard ratio vs control."""
        cox = self.cox.rename(columns={"ci_low": "hr_ci_low", "ci_high": "hr_ci_high"}).drop(columns="control")
        return self.medians.merge(cox, on="arm", how="left")

    def _head(self) -> str:
        return (
            f"TimeToBookResult(log-rank chi2 = {self.logrank_chi2:.3g}, p = {_fmt_p(self.logrank_p)}; "
            f"control {self.settings['control']}; horizon {self.settings['horizon_days']:g} days)"
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
    check_param("time_to_book", "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    if horizon_days is not None:
        check_param("time_to_book", "horizon_days", horizon_days, low=0, low_open=True)
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

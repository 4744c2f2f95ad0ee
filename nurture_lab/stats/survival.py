"""Time to book: Kaplan-Meier curves, log-rank test and Cox hazard ratios (statsmodels)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._results import ResultMixin
from ..errors import DataError, check_param, require
from .analysis import _require_columns, _require_frame
from .result import _fmt_p


@dataclass(frozen=True, repr=False)
class TimeToBookResult(ResultMixin):
    """Kaplan-Meier curves per arm, medians, log-rank test and Cox hazard ratios."""

    curves: pd.DataFrame  # arm, days, survival, ci_low, ci_high (survival = not yet booked)
    medians: pd.DataFrame  # arm, n, n_booked, median_days
    logrank_chi2: float
    logrank_p: float
    cox: pd.DataFrame  # arm, hazard_ratio, ci_low, ci_high, p_value
    settings: dict[str, Any]
    #: arm, control, rmst_days, control_rmst_days, rmst_diff_days, rmst_ci_low, rmst_ci_high, rmst_p_value
    rmst: pd.DataFrame = field(default_factory=pd.DataFrame)

    _json_extras = ("logrank_chi2", "logrank_p", "settings")

    def _table(self) -> pd.DataFrame:
        """One row per arm: leads, bookings, median days to book, and the Cox hazard ratio vs control."""
        cox = self.cox.rename(columns={"ci_low": "hr_ci_low", "ci_high": "hr_ci_high"}).drop(columns="control")
        out = self.medians.merge(cox, on="arm", how="left")
        if len(self.rmst):
            out = out.merge(self.rmst.drop(columns=["control", "control_rmst_days"]), on="arm", how="left")
        return out

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
    followup_days: str | None = None,
    as_of: Any = None,
    created: str = "created_at",
    alpha: float = 0.05,
) -> TimeToBookResult:
    """Kaplan-Meier curves of time to book per arm, log-rank test, Cox hazard ratio vs control, and the
    restricted mean time to book (RMST) with its difference from the control.

    Each lead is followed for its own time: ``followup_days`` (a column), or from ``created`` to
    ``as_of`` (a date or timestamp; naive values are taken as UTC), truncated at the horizon
    (default: the largest observed time). A lead that had not booked by the end of its follow-up is
    censored there, so recent leads in a real export do not count as followed for the full horizon.
    Uses statsmodels ``SurvfuncRight`` and ``survdiff``; the Cox model (Breslow ties) of the arm
    indicators is fitted on risk-set counts per event time (:func:`_arm_cox`), which gives
    statsmodels ``PHReg(ties="breslow")``'s estimates in milliseconds where PHReg takes seconds
    per hundred thousand leads.

    The RMST is the area under the not-yet-booked curve up to the horizon: the mean days to book
    when every lead is capped at the horizon. It exists when medians are not reached (as at ~30%
    booking); its variance is the Greenwood-type sum ``sum(A_i**2 d_i / (n_i (n_i - d_i)))``.
    """
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
    follow = np.minimum(_followup(df, followup_days, as_of, created), horizon)
    ev = ev & (t <= follow)
    t = np.where(ev, t, follow)
    t = np.maximum(t, 1e-9)
    groups = df[arm].astype(str).to_numpy()
    labels = sorted(set(groups))
    if control is None or control not in labels:
        raise DataError(f"Control label {control!r} is not a value of column '{arm}'; values: {', '.join(labels)}.")
    if len(labels) < 2:
        raise DataError(f"Column '{arm}' has only the control arm {control!r}; nothing to compare.")
    if not ev.any():
        why = "every lead's follow-up is 0 days" if not (follow > 0).any() else "no lead booked within its follow-up"
        raise DataError(
            f"Time to book needs bookings to compare, but {why} (column '{event}', {len(df)} leads); "
            "no curve, test or hazard ratio can be estimated."
        )
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
    cox = _cox_table(t, ev, groups, control, others, alpha)
    rmst = _rmst_table(t, ev, groups, labels, control, horizon, alpha)
    return TimeToBookResult(
        pd.concat(curves, ignore_index=True),
        pd.DataFrame(meds),
        float(chi2),
        float(p),
        cox,
        {
            "horizon_days": horizon,
            "alpha": alpha,
            "control": control,
            "followup": followup_days or (f"{created} to {as_of}" if as_of is not None else "the horizon"),
        },
        rmst,
    )


def _cox_table(
    t: np.ndarray, ev: np.ndarray, groups: np.ndarray, control: str, others: list[str], alpha: float
) -> pd.DataFrame:
    """Cox hazard ratio of each arm vs the control, with its Wald interval and p-value.

    An arm with no bookings (or a control with none) has no finite hazard ratio: its maximum
    likelihood estimate is 0 (or infinite) and the Wald interval does not exist. Such a row gets the
    estimate (0, inf, or NaN when neither has bookings), no interval, and the two-arm log-rank
    p-value (the Cox score test) with ``test`` saying so; the other arms are fitted without it.
    """
    from statsmodels.duration.survfunc import survdiff

    booked = {g: bool(ev[groups == g].any()) for g in [control, *others]}
    fit = [g for g in others if booked[g]] if booked[control] else []
    z = stats.norm.ppf(1 - alpha / 2)
    rows = {}
    if fit:
        keep = np.isin(groups, [control, *fit])
        beta, se = _arm_cox(t[keep], ev[keep], groups[keep], [control, *fit])
        for g, b, s_ in zip(fit, beta, se):
            rows[g] = (np.exp(b), np.exp(b - z * s_), np.exp(b + z * s_), 2 * stats.norm.sf(abs(b / s_)), "cox (wald)")
    for g in others:
        if g in rows:
            continue
        pair = np.isin(groups, [control, g])
        p_pair = survdiff(t[pair], ev[pair].astype(int), groups[pair])[1] if ev[pair].any() else np.nan
        hr = 0.0 if booked[control] else (np.inf if booked[g] else np.nan)
        who = f"arm {g!r}" if booked[control] else f"the control {control!r}"
        rows[g] = (hr, np.nan, np.nan, float(p_pair), f"log-rank (no bookings in {who}: no finite hazard ratio)")
    return pd.DataFrame(
        {
            "arm": others,
            "control": control,
            "hazard_ratio": [rows[g][0] for g in others],
            "ci_low": [rows[g][1] for g in others],
            "ci_high": [rows[g][2] for g in others],
            "p_value": [rows[g][3] for g in others],
            "test": [rows[g][4] for g in others],
        }
    )


def _arm_cox(t: np.ndarray, ev: np.ndarray, groups: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cox proportional hazards with one indicator per arm (``labels[0]`` the reference), Breslow ties.

    With only arm indicators the partial likelihood depends on the data through, at each event
    time, the number at risk and the number of events in each arm, so Newton's method runs on those
    counts. Returns the log hazard ratios of ``labels[1:]`` and their standard errors.
    """
    times = np.unique(t[ev])
    k = len(labels)
    at_risk = np.empty((times.size, k))
    events = np.empty((times.size, k))
    for j, g in enumerate(labels):
        tg = np.sort(t[groups == g])
        at_risk[:, j] = tg.size - np.searchsorted(tg, times, side="left")
        te = np.sort(t[(groups == g) & ev])
        events[:, j] = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    d = events.sum(axis=1)
    beta = np.zeros(k - 1)
    info = np.eye(k - 1)
    for _ in range(50):
        w = at_risk * np.exp(np.r_[0.0, beta])[None, :]
        prob = (w / w.sum(axis=1, keepdims=True))[:, 1:]
        score = (events[:, 1:] - d[:, None] * prob).sum(axis=0)
        info = np.einsum("t,tj,tl->jl", d, prob, -prob)
        info[np.diag_indices(k - 1)] += (d[:, None] * prob).sum(axis=0)
        step = np.linalg.solve(info, score)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(info)))


def _followup(df: pd.DataFrame, followup_days: str | None, as_of: Any, created: str) -> np.ndarray:
    """Each lead's follow-up in days (infinite when neither a column nor an as-of date is given)."""
    if followup_days is not None and as_of is not None:
        require("time_to_book", "as_of", as_of, "None when followup_days is given (one source of follow-up)", False)
    if followup_days is not None:
        _require_columns(df, [followup_days], "Follow-up")
        f = df[followup_days].to_numpy(dtype=np.float64)
        if np.isnan(f).any() or (f < 0).any():
            raise DataError(f"Column '{followup_days}' must hold non-negative days for every lead.")
        return f
    if as_of is None:
        return np.full(len(df), np.inf)
    _require_columns(df, [created], "Inquiry time")
    try:
        end = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        require("time_to_book", "as_of", as_of, "a date or timestamp, e.g. '2026-11-30'", False)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    start = pd.to_datetime(df[created], utc=True)
    f = ((end - start).dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64)
    if (f < 0).any():
        raise DataError(f"{int((f < 0).sum())} lead(s) were created after as_of = {end.isoformat()}.")
    return f


def _rmst(t: np.ndarray, ev: np.ndarray, tau: float) -> tuple[float, float]:
    """Restricted mean of a Kaplan-Meier curve up to ``tau`` and its variance (Greenwood-type), O(n log n)."""
    times, d = np.unique(t[ev & (t <= tau)], return_counts=True)
    if times.size == 0:
        return float(tau), 0.0
    n_risk = (t.size - np.searchsorted(np.sort(t), times, side="left")).astype(float)
    d = d.astype(float)
    surv = np.cumprod(1 - d / n_risk)
    edges = np.r_[0.0, times, tau]
    levels = np.r_[1.0, surv]
    area = levels * np.diff(edges)  # the curve is flat between event times
    rmst = float(area.sum())
    tail = np.cumsum(area[::-1])[::-1][1:]  # A_i: the area from each event time to tau
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n_risk > d, tail**2 * d / (n_risk * (n_risk - d)), 0.0)
    return rmst, float(terms.sum())


def _rmst_table(
    t: np.ndarray, ev: np.ndarray, groups: np.ndarray, labels: list[str], control: str, tau: float, alpha: float
) -> pd.DataFrame:
    """Per arm: RMST (days) and its difference from the control with a normal CI and p-value."""
    est = {g: _rmst(t[groups == g], ev[groups == g], tau) for g in labels}
    z = stats.norm.ppf(1 - alpha / 2)
    m0, v0 = est[control]
    rows: list[dict[str, Any]] = [
        {"arm": control, "control": control, "rmst_days": m0, "control_rmst_days": m0, "rmst_diff_days": np.nan}
    ]
    for g in labels:
        if g == control:
            continue
        m1, v1 = est[g]
        se = math.sqrt(v1 + v0)
        diff = m1 - m0
        rows.append(
            {
                "arm": g,
                "control": control,
                "rmst_days": m1,
                "control_rmst_days": m0,
                "rmst_diff_days": diff,
                "rmst_ci_low": diff - z * se,
                "rmst_ci_high": diff + z * se,
                "rmst_p_value": float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


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

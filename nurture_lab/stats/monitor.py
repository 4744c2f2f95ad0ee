"""A series of looks at a running test, analysed at once with always-valid inference.

``monitor(data, time="created_at", every="7D", ...)`` analyses the units that had arrived by each
look (every ``every`` from the first arrival; the last look holds every unit) with
``analyze(..., sequential=True)``, and returns one row per look, metric and arm.

Across looks the always-valid p-value is the **running minimum** of the looks' p-values and the
confidence sequence the **running intersection** of their intervals: both stay valid however many
looks there were (the sequence covers the effect at every look at once), and a look that said
"significant" is never undone. With one tuning for the whole series (tuned at ``alpha``) the
running interval excludes 0 exactly when the running p is below ``alpha``. The adjusted p-values of
each look are the correction (Holm, BH) applied to the running p-values of that look's family;
``adj_ci_low``/``adj_ci_high`` are the running intersection of the looks' adjusted intervals.

The outcome must be what was known at each look: pass outcomes observed by then (a 30-day booking
of a lead that arrived a week before the look is not known yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._results import ResultMixin
from ..errors import DataError, check_param, require
from .analysis import _require_columns, _require_frame, analyze
from .estimators import _adjust
from .ratio import Ratio
from .result import _fmt_p
from .sequential import DEFAULT_TUNING

__all__ = ["MonitorResult", "monitor"]


@dataclass(frozen=True, repr=False)
class MonitorResult(ResultMixin):
    """One row per (look, metric, arm): running always-valid p-values and intervals."""

    results: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> pd.DataFrame:
        return self.results

    def _head(self) -> str:
        r = self.results
        last = r[r["look"] == r["look"].max()] if len(r) else r
        return (
            f"MonitorResult({r['look'].nunique() if len(r) else 0} looks every {self.settings.get('every')}; "
            f"last look: {int(last['significant'].sum()) if len(last) else 0} of {len(last)} significant; "
            f"smallest running p {_fmt_p(float(last['p_value'].min())) if len(last) else 'n/a'})"
        )


def monitor(
    data: pd.DataFrame,
    arm: str = "arm",
    control: str | None = None,
    metrics: Sequence[str | Ratio] | Mapping[str, str] = ("booked_30d",),
    *,
    time: str = "created_at",
    every: str | pd.Timedelta = "7D",
    correction: str = "holm",
    alpha: float = 0.05,
    sequential_tuning: int = DEFAULT_TUNING,
    **options: Any,
) -> MonitorResult:
    """Analyse a running test at a series of looks (one every ``every`` of ``time``) at once.

    Args:
        data: one row per unit, with its arrival time in column ``time``.
        arm, control, metrics, correction, alpha, sequential_tuning: as :func:`analyze`.
        time: the arrival-time column (datetimes, or numbers such as days).
        every: the interval between looks: a pandas offset such as ``"7D"`` for datetimes, a number
            for a numeric time column.
        options: other :func:`analyze` options (``ci_method``, ``metric_types``, ``allocation``).

    Returns:
        A :class:`MonitorResult`: columns ``look``, ``as_of`` (the look's cut-off), then the
        columns of :func:`analyze` where ``p_value``, ``diff_ci_low``/``diff_ci_high``,
        ``rel_ci_low``/``rel_ci_high``, ``p_adjusted``, ``adj_ci_low``/``adj_ci_high`` and
        ``significant`` are running (minimum p, intersected intervals), plus ``p_value_at_look``,
        ``diff_ci_low_at_look``, ``diff_ci_high_at_look`` (that look alone).
    """
    df = _require_frame(data, "monitor")
    for bad in ("sequential", "covariates", "by"):
        require(
            "monitor",
            bad,
            options.get(bad),
            "not given (monitor is always sequential, unsegmented)",
            bad not in options,
        )
    check_param("monitor", "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    _require_columns(df, [time], "Time (monitor)")
    _require_no_missing_time(df, time)
    cuts = _cutoffs(df[time], every)
    rows = []
    for k, cut in enumerate(cuts, start=1):
        sub = df[df[time] <= cut] if k < len(cuts) else df
        try:
            res = analyze(
                sub,
                arm=arm,
                control=control,
                metrics=metrics,
                correction=correction,
                alpha=alpha,
                sequential=True,
                sequential_tuning=sequential_tuning,
                **options,
            )
        except DataError:  # too early: an arm with too few units, no variance yet
            continue
        look = res.results.copy()
        look.insert(0, "as_of", cut)
        look.insert(0, "look", k)
        rows.append(look)
    if not rows:
        raise DataError(f"No look at column '{time}' every {every} had enough units in every arm to analyse.")
    out = pd.concat(rows, ignore_index=True)
    return MonitorResult(
        _running(out, correction, alpha),
        {
            "every": str(every),
            "time": time,
            "alpha": alpha,
            "correction": correction,
            "looks": len(cuts),
            "sequential_tuning": sequential_tuning,
        },
    )


def _require_no_missing_time(df: pd.DataFrame, time: str) -> None:
    na = df[time].isna().to_numpy()
    if na.any():
        raise DataError(f"Column '{time}' has {int(na.sum())} missing value(s); every unit needs an arrival time.")


def _cutoffs(col: pd.Series, every: Any) -> list[Any]:
    """Look times: first arrival + every, + 2 every, ... up to the last arrival (the last look)."""
    if pd.api.types.is_numeric_dtype(col):
        step = check_param("monitor", "every", every, low=0, low_open=True, expected="a number > 0 for a numeric time")
        first, last = float(col.min()), float(col.max())
    else:
        try:
            step = pd.Timedelta(every)
            col = pd.to_datetime(col)
        except (ValueError, TypeError):
            require("monitor", "every", every, "a time interval such as '7D' (and a datetime time column)", False)
        require("monitor", "every", every, "a positive interval", step > pd.Timedelta(0))
        first, last = col.min(), col.max()
    cuts = []
    cut = first + step
    while cut < last:
        cuts.append(cut)
        cut = cut + step
    require(
        "monitor",
        "every",
        every,
        f"short enough for fewer than 1,000 looks (data span {last - first})",
        len(cuts) < 1000,
    )
    return [*cuts, last]


def _running(out: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """Running minimum p and running intersection of intervals per (metric, arm), then re-adjust per look."""
    out["p_value_at_look"] = out["p_value"]
    out["diff_ci_low_at_look"] = out["diff_ci_low"]
    out["diff_ci_high_at_look"] = out["diff_ci_high"]
    g = out.groupby(["metric", "arm"], sort=False)
    out["p_value"] = g["p_value"].cummin()
    for lo, hi in (("diff_ci_low", "diff_ci_high"), ("rel_ci_low", "rel_ci_high"), ("adj_ci_low", "adj_ci_high")):
        out[lo] = g[lo].cummax()
        out[hi] = g[hi].cummin()
    out["p_adjusted"] = np.nan
    for _, idx in out.groupby("look").groups.items():
        out.loc[idx, "p_adjusted"] = _adjust(out.loc[idx, "p_value"].to_numpy(dtype=float), correction)
    out["significant"] = out["p_adjusted"] < alpha
    return out

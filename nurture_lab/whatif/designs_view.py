"""Assignment designs for a reader: the formatted table, and the chart of regret, the chance of
picking the best arm and the A/A false alarms, one colour per design (the house palette:
:data:`nurture_lab.reporting.plots.PALETTE`, designs in the order given). ``res`` is a
:class:`~nurture_lab.whatif.designs.DesignsResult` (not imported here: it imports this module).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..reporting.plots import PALETTE, _style

__all__ = ["design_colors", "formatted", "plot_designs"]

NEUTRAL = "#6c6f7f"


def design_colors(designs: Any) -> dict[str, str]:
    """One colour per design, in the order given."""
    return {str(d): PALETTE[i % len(PALETTE)] for i, d in enumerate(designs)}


def _err(t: pd.DataFrame, col: str, scale: float = 1.0) -> np.ndarray:
    """Error-bar half-widths (below, above) of ``col`` from its interval columns."""
    lo = (t[col] - t[f"{col}_ci_low"]).fillna(0).to_numpy() * scale
    hi = (t[f"{col}_ci_high"] - t[col]).fillna(0).to_numpy() * scale
    return np.vstack([lo, hi])


def plot_designs(res: Any, title: str | None = None) -> Figure:
    """Left: bookings lost per 1,000 leads against always using the best arm; middle: chance of picking
    the truly best arm; right: A/A false alarms of the naive and the IPW analysis (dashed: ``alpha``)."""
    t, s = res.table, res.settings
    colors = design_colors(t["design"])
    y = np.arange(len(t))[::-1]
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(12.5, 0.9 + 0.55 * len(t) + 1.6), sharey=True)
    scale = 1000 / s["n_leads"]
    cs = [colors[d] for d in t["design"]]
    left.barh(y, t["regret"] * scale, xerr=_err(t, "regret", scale), color=cs, capsize=3)
    left.axvline(t["fixed_regret_expected"].iloc[0] * scale, color=NEUTRAL, linestyle="--", linewidth=1)
    left.set_xlabel("30-day bookings lost per 1,000 leads\n(dashed: a fixed test's expectation)")
    mid.barh(y, t["p_pick_best"], xerr=_err(t, "p_pick_best"), color=cs, capsize=3)
    mid.set_xlim(0, 1)
    mid.set_xlabel(f"chance of picking the best arm ({s['best_arm']})")
    for dy, col, mark in (
        (0.15, "aa_false_alarm_naive", "o"),
        (-0.15, "aa_false_alarm_ipw", "s"),
    ):
        err = _err(t, col)
        for i, c in enumerate(cs):
            right.errorbar(
                t[col].iloc[i], y[i] + dy, xerr=err[:, i : i + 1], fmt=mark, color=c, capsize=3, markersize=6
            )
    right.axvline(s["alpha"], color=NEUTRAL, linestyle="--", linewidth=1)
    right.set_xlabel(f"A/A false alarms at {s['alpha']:g} (o naive, \u25a0 IPW)")
    right.set_xlim(
        0,
        max(0.2, float(np.nanmax(t[["aa_false_alarm_naive_ci_high", "aa_false_alarm_ipw_ci_high"]].to_numpy())) * 1.1),
    )
    left.set_yticks(y, list(t["design"]))
    for ax in (left, mid, right):
        _style(ax)
    fig.suptitle(
        title
        or f"Assignment designs: {s['n_leads']:,} leads over {s['arrival_days']} days, "
        f"{s['replications']} replications (bars: 95% Monte Carlo intervals)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _ci(v: float, lo: float, hi: float, fmt: str) -> str:
    if not math.isfinite(v):
        return "–"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return format(v, fmt)
    return f"{format(v, fmt)} ({format(lo, fmt)} to {format(hi, fmt)})"


def formatted(table: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """See :meth:`DesignsResult.formatted`."""
    t = table
    per = 1000 / settings["n_leads"]

    def col(name: str, fmt: str, scale: float = 1.0) -> list[str]:
        return [
            _ci(v * scale, lo * scale, hi * scale, fmt)
            for v, lo, hi in zip(t[name], t[f"{name}_ci_low"], t[f"{name}_ci_high"], strict=True)
        ]

    return pd.DataFrame(
        {
            "design": t["design"],
            "bookings lost per 1,000 (95% MC)": col("regret", ".2f", per),
            f"picks {settings['best_arm']}": col("p_pick_best", ".0%"),
            "leads on best arm": [f"{v:.0%}" for v in t["best_arm_share"]],
            "A/A false alarms: naive": col("aa_false_alarm_naive", ".1%"),
            "A/A false alarms: IPW": col("aa_false_alarm_ipw", ".1%"),
            "naive bias (worst arm), pts": [
                f"{_ci(v * 100, lo * 100, hi * 100, '+.2f')} {arm}"
                for v, lo, hi, arm in zip(
                    t["naive_bias_max"],
                    t["naive_bias_max_ci_low"],
                    t["naive_bias_max_ci_high"],
                    t["naive_bias_max_arm"],
                    strict=True,
                )
            ],
        }
    )

"""The staffing curve for a reader: the formatted table, and the chart of bookings and cost per
booking against agents, one line per arm.

Arm colours are :func:`nurture_lab.reporting.plots.arm_colors` (the same arm, the same colour in
every chart); the reference cost is drawn in a neutral style. ``res`` is a
:class:`~nurture_lab.whatif.staffing.StaffingResult` (not imported here: it imports this module).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ..reporting.plots import _style, arm_colors, label

__all__ = ["formatted", "plot_staffing"]

NEUTRAL = "#6c6f7f"


def plot_staffing(res: Any, title: str | None = None) -> Figure:
    """Left: 30-day bookings per 1,000 leads (band: Monte Carlo interval); right: cost (or staff hours)
    per booking, with the control's cheapest booking and each faster arm's break-even staffing."""
    t = res.table
    money = res.settings["staff_cost_per_hour"] is not None
    col = "cost_per_booking" if money else "staff_hours_per_booking"
    colors = arm_colors(t["arm"].unique())
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arm, g in t.groupby("arm", sort=True):
        g = g.sort_values("agents")
        c = colors[str(arm)]
        left.plot(g["agents"], g["bookings_per_1000"], marker="o", color=c, label=label(arm), linewidth=2)
        left.fill_between(g["agents"], g["bookings_ci_low"], g["bookings_ci_high"], color=c, alpha=0.15)
        right.plot(g["agents"], g[col], marker="o", color=c, label=label(arm), linewidth=2)
    _break_even_marks(res, right, colors, col)
    left.set_ylabel("30-day bookings per 1,000 leads")
    right.set_ylabel(
        f"staff cost per booking ({res.settings['staff_cost_per_hour']:g} an hour)"
        if money
        else "staff hours per booking"
    )
    for ax in (left, right):
        ax.set_xlabel("agents on shift")
        ax.set_xticks(sorted(t["agents"].unique()))
        _style(ax)
    left.legend(frameon=False, loc="lower right")
    fig.suptitle(
        title
        or f"Staffing curve: every lead on the arm ({res.settings['n_leads']:,} leads; band: "
        f"{res.settings['interval']})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _break_even_marks(res: Any, ax: Any, colors: dict[str, str], col: str) -> None:
    be = res.break_even()
    if be.empty:
        return
    ref = float(be["reference_cost"].iloc[0])
    if math.isfinite(ref):
        ax.axhline(ref, color=NEUTRAL, linestyle="--", linewidth=1)
        ax.text(
            ax.get_xlim()[0],
            ref,
            f" {label(res.settings['control'])} at {int(be['reference_agents'].iloc[0])} agents",
            va="bottom",
            fontsize=8,
            color=NEUTRAL,
        )
    for r in be.itertuples():
        if math.isfinite(r.break_even_agents) and not r.pays_beyond:
            ax.axvline(r.break_even_agents, color=colors[str(r.arm)], linestyle=":", linewidth=1.2)


def _minutes(v: float) -> str:
    if not math.isfinite(v):
        return "grows" if v > 0 else "–"
    return f"{v:,.0f} min" if v < 600 else f"{v / 1440:,.1f} days"


def formatted(table: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """See :meth:`StaffingResult.formatted`."""
    money = settings["staff_cost_per_hour"] is not None
    t = table
    return pd.DataFrame(
        {
            "agents": t["agents"],
            "arm": t["arm"],
            "bookings per 1,000 (95% MC interval)": [
                f"{m:.1f} ({lo:.1f} to {hi:.1f})"
                for m, lo, hi in zip(t["bookings_per_1000"], t["bookings_ci_low"], t["bookings_ci_high"], strict=True)
            ],
            "first calls within 5 min": [f"{v:.1%}" if math.isfinite(v) else "–" for v in t["first_call_within_5_min"]],
            "first call: median / 90th pct": [
                f"{_minutes(a)} / {_minutes(b)}"
                for a, b in zip(t["median_first_call_minutes"], t["p90_first_call_minutes"], strict=True)
            ],
            "queue wait: simulated / Erlang C": [
                f"{a:.1f} / {b:.1f} min" if math.isfinite(b) else f"{a:.1f} min / grows"
                for a, b in zip(t["queue_wait_minutes"], t["erlang_queue_wait_minutes"], strict=True)
            ],
            "staff hours a week": [f"{v:,.0f}" for v in t["staff_hours_per_week"]],
            "occupancy": [f"{v:.0%}" for v in t["occupancy"]],
            ("cost per booking" if money else "staff hours per booking"): [
                f"{v:,.2f}" for v in (t["cost_per_booking"] if money else t["staff_hours_per_booking"])
            ],
        }
    )

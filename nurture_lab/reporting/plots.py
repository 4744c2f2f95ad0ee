"""Figures for notebooks and reports: titles that say what is shown, axes with units, CIs drawn.

Every function returns a matplotlib ``Figure`` and never shows identities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..stats.analysis import AnalysisResult
from ..stats.survival import TimeToBookResult
from .labels import metric_label

__all__ = [
    "plot_arrivals",
    "plot_cadence",
    "plot_calibration",
    "plot_effects",
    "plot_first_response",
    "plot_funnel",
    "plot_mix",
    "plot_policy_reasons",
    "plot_power_curve",
    "plot_time_to_book",
    "plot_truth_vs_estimate",
]

#: Arm colours (saturated): the control always takes the first, the other arms the rest in name order.
PALETTE = ["#1f5a96", "#d9822b", "#3a8a4f", "#a23b72", "#c0392b", "#8c6d31", "#16a085"]
#: Channel colours (light, never an arm's): the same channel the same colour in every chart.
CHANNEL_COLORS = {
    "call": "#66c2a5",
    "sms": "#e78ac3",
    "email": "#8da0cb",
    "chat": "#a6d854",
    "retargeting": "#e5c494",
}
#: Colours that are not an arm's: a reference value (the simulator's truth, a nominal rate) is drawn
#: in :data:`TRUTH` with :data:`TRUTH_STYLE`; a quantity of no arm (a mix, arrivals) in :data:`NEUTRAL`.
TRUTH, NEUTRAL, NEUTRAL_DARK = "#222222", "#8a8f98", "#4a4d55"
TRUTH_STYLE: Final = "--"
#: Kept for callers: the colours of a decision's legend (the marks themselves are in the arm's colour:
#: filled when the effect survives the correction, hollow when it does not).
SIGNIFICANT, NOT_SIGNIFICANT = NEUTRAL_DARK, NEUTRAL
FUNNEL = [
    ("contacted", "Contacted"),
    ("qualified", "Qualified"),
    ("booked", "Booked (follow-up)"),
    ("attended", "Attended"),
]  # "booked": within the whole follow-up, not the 30-day window of the decision


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def label(name: str) -> str:
    """A human label for an arm, metric or category name."""
    return str(name).replace("_", " ")


def arm_colors(arms: Any, control: str | None = None) -> dict[str, str]:
    """One colour per arm, the same in every chart of a run and the notebooks: the control takes the
    first colour, the other arms the rest in name order. A chart that does not draw the control gives
    every other arm the same colour as one that does (the control need not be among ``arms``)."""
    names = sorted({str(a) for a in arms} - {str(control)})
    out = {a: PALETTE[1 + i % (len(PALETTE) - 1)] for i, a in enumerate(names)}
    if control is not None:
        out[str(control)] = PALETTE[0]
    return out


def channel_color(channel: str) -> str:
    """A channel's colour: fixed by its name (never by its place in a cadence), never an arm's."""
    return CHANNEL_COLORS.get(str(channel), NEUTRAL)


def plot_effects(result: AnalysisResult, metric: str, title: str | None = None) -> Figure:
    """Difference vs control with its CI, one row per arm (and per group when ``by`` was used)."""
    r = result.results[result.results["metric"] == metric]
    by = result.settings.get("by")
    binary = (r["metric_type"] == "binary").all()
    scale = 100.0 if binary else 1.0
    names = [f"{label(a)}" + (f" · {label(g)}" if by else "") for a, g in zip(r["arm"], r[by] if by else r["arm"])]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * len(r) + 1.6))
    y = np.arange(len(r))[::-1]
    palette = arm_colors(r["arm"], result.settings.get("control"))
    # the interval at the level of the decision: the adjusted one, beside the adjusted p-values
    lo_col, hi_col = ("adj_ci_low", "adj_ci_high") if "adj_ci_low" in r else ("diff_ci_low", "diff_ci_high")
    for yi, a, d, lo, hi, sig in zip(y, r["arm"], r["diff"], r[lo_col], r[hi_col], r["significant"]):
        c = palette[str(a)]  # the arm's colour; filled when the effect survives the correction, else hollow
        ax.errorbar(
            d * scale,
            yi,
            xerr=[[(d - lo) * scale], [(hi - d) * scale]],
            fmt="o",
            color=c,
            markerfacecolor=c if sig else "white",
            elinewidth=2.5 if sig else 1.5,
            capsize=4,
            markersize=7,
        )
    ax.axvline(0, color="#333", linewidth=1)
    ax.set_yticks(y, names)
    ax.set_ylim(-0.6, len(r) - 0.4)  # the lowest arm clear of the x axis
    unit = "percentage points" if binary else "units of the metric"
    level = 100 * (1 - float(result.settings.get("adjusted_alpha", result.settings["alpha"])))
    m = int(result.settings.get("family_size", 1))
    adjusted = f", adjusted for {m} comparisons" if m > 1 else ""
    ax.set_xlabel(f"difference vs {label(result.settings['control'])} ({unit})\nbars: {level:.4g}% intervals{adjusted}")
    ax.set_title(title or f"Effect on {metric_label(metric)} by arm")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="", color=SIGNIFICANT, label="significant after adjustment"),
        Line2D([], [], marker="o", linestyle="", color=SIGNIFICANT, markerfacecolor="white", label="not significant"),
    ]
    fig.legend(handles=handles, frameon=False, loc="lower center", ncols=2, fontsize=9)
    _style(ax)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))  # room for the legend below
    return fig


def plot_time_to_book(ttb: TimeToBookResult, title: str | None = None) -> Figure:
    """Cumulative share booked over time (1 - Kaplan-Meier) per arm, with pointwise CIs."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = arm_colors(ttb.curves["arm"].unique(), ttb.settings.get("control"))
    for arm, g in ttb.curves.groupby("arm", sort=True):
        c = colors[str(arm)]
        ax.step(g["days"], 100 * (1 - g["survival"]), where="post", color=c, label=label(arm), linewidth=2)
        ax.fill_between(g["days"], 100 * (1 - g["ci_high"]), 100 * (1 - g["ci_low"]), step="post", color=c, alpha=0.15)
    ax.set_xlabel("days since inquiry")
    ax.set_ylabel("booked (% of leads)")
    ax.set_xlim(0, ttb.settings["horizon_days"])
    ax.set_ylim(bottom=0)
    ax.set_title(title or f"Time to book (log-rank p = {ttb.logrank_p:.3g})")
    ax.legend(frameon=False, loc="lower right")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_funnel(leads: pd.DataFrame, arm: str = "arm", title: str | None = None, control: str | None = None) -> Figure:
    """Inquiry -> contacted -> qualified -> booked -> attended, percent of leads, per arm (``control``:
    the control arm, for its colour)."""
    stages = [(c, n) for c, n in FUNNEL if c in leads.columns]
    rates = leads.groupby(arm, observed=True)[[c for c, _ in stages]].mean() * 100
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / max(1, len(rates))
    x = np.arange(len(stages))
    colors = arm_colors(rates.index, control)
    rates = rates.loc[sorted(rates.index, key=lambda a: (str(a) != str(control), str(a)))]
    for i, (name, row) in enumerate(rates.iterrows()):
        bars = ax.bar(
            x + i * width - 0.4 + width / 2, row.to_numpy(), width, color=colors[str(name)], label=label(name)
        )
        ax.bar_label(bars, fmt="%.0f", fontsize=9, padding=1)
    ax.set_xticks(x, [n for _, n in stages])
    ax.set_ylabel("% of leads")
    ax.set_title(title or "Funnel by arm")
    # under the chart, never over a bar
    ax.legend(frameon=False, ncols=min(3, len(rates)), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_first_response(
    leads: pd.DataFrame,
    arm: str = "arm",
    title: str | None = None,
    column: str = "first_call_minutes",
    control: str | None = None,
) -> Figure:
    """Speed to lead: share of leads with a first call (or ``column``) within t minutes, per arm (log
    scale; ``control``: the control arm, for its colour)."""
    what = "first call attempt" if column == "first_call_minutes" else "first touch"
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    groups = dict(sorted(((str(k), g) for k, g in leads.groupby(arm, observed=True)), key=lambda kv: kv[0]))
    colors = arm_colors(groups, control)
    for name, g in groups.items():
        v = np.sort(g[column].dropna().to_numpy())
        if v.size == 0:
            continue
        share = np.arange(1, v.size + 1) / len(g) * 100
        if v.size > 800:  # 800 points draw the same curve as every lead's, at a fraction of the cost
            keep = np.unique(np.r_[np.linspace(0, v.size - 1, 800).astype(np.int64), v.size - 1])
            v, share = v[keep], share[keep]
        ax.step(np.maximum(v, 0.5), share, where="post", color=colors[name], label=label(name), linewidth=2)
    for m, t in ((5, "5 min"), (60, "1 h"), (1440, "1 day")):
        ax.axvline(m, color=NEUTRAL, linestyle=":", linewidth=1)
        ax.text(  # on a white ground: readable where a curve crosses it
            m, 2, t, rotation=90, va="bottom", ha="right", fontsize=9, color="#666",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel(f"minutes from inquiry to {what} (log scale)")
    ax.set_ylabel("leads called by then (%)" if column == "first_call_minutes" else "leads touched by then (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or f"Speed to lead: time to {what}")
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_mix(leads: pd.DataFrame, column: str, title: str | None = None) -> Figure:
    """Share of leads by a segment column (horizontal bars, percent)."""
    share = leads[column].value_counts(normalize=True).sort_values() * 100
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(share) + 1.3))
    bars = ax.barh([label(i) for i in share.index], share.to_numpy(), color=NEUTRAL)
    ax.bar_label(bars, fmt="%.1f%%", fontsize=9, padding=2)
    ax.set_xlabel("% of leads")
    ax.set_title(title or f"Leads by {label(column)}")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_arrivals(
    leads: pd.DataFrame, staffed_hours: tuple[float, float] = (8, 18), title: str | None = None
) -> Figure:
    """Inquiries by local hour of day, with staffed hours shaded."""
    local = leads["created_at"] + pd.to_timedelta(leads["utc_offset_minutes"].astype(int), unit="min")
    hours = local.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0) * 100
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.axvspan(staffed_hours[0] - 0.5, staffed_hours[1] - 0.5, color="#dfe9f3", label="staffed hours")
    ax.bar(hours.index, hours.to_numpy(), color=NEUTRAL_DARK, label="inquiries")
    ax.set_xticks(range(0, 24, 3), [f"{h}:00" for h in range(0, 24, 3)])
    ax.set_xlabel("local hour of the inquiry")
    ax.set_ylabel("% of inquiries")
    ax.set_title(title or "When inquiries arrive (lead's local time)")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_cadence(steps: Sequence[Any], title: str = "Cadence timeline") -> Figure:
    """A timeline of a cadence's planned steps per channel (nominal times, before any deferral)."""
    times, prev = [], 0.0
    for s in steps:
        t = s.delay_minutes if s.anchor == "inquiry" else prev + s.delay_minutes
        t = max(t, prev)
        times.append(t)
        prev = t
    channels = list(dict.fromkeys(s.channel for s in steps))
    fig, ax = plt.subplots(figsize=(8.5, 1.1 * len(channels) + 1.6))
    seen: dict[str, int] = {}
    for i, (s, t) in enumerate(zip(steps, times)):
        y = channels.index(s.channel)
        k = seen[s.channel] = seen.get(s.channel, -1) + 1  # alternate labels above and below, two levels
        ax.scatter(max(t, 1) / 1440, y, s=70, color=channel_color(s.channel), edgecolors=NEUTRAL_DARK, zorder=3)
        cond = " (if no reply)" if s.if_no_response else " (if qualified)" if s.if_qualified else ""
        ax.annotate(
            f"{i}: {label(s.content)}{cond}",
            (max(t, 1) / 1440, y),
            textcoords="offset points",
            xytext=(0, (9, -15, 21, -27)[k % 4]),
            ha="center",
            fontsize=9,
        )
    ax.set_xscale("log")
    ax.set_yticks(range(len(channels)), channels)
    ax.set_ylim(-0.7, len(channels) - 0.3)
    ax.margins(x=0.12)
    ax.set_xlabel("days after the inquiry (log scale)")
    ax.set_title(title)
    _style(ax)
    fig.tight_layout()
    return fig


def plot_policy_reasons(touches: pd.DataFrame, title: str = "What the policy layer did to planned touches") -> Figure:
    """Counts of deferred and skipped touches by reason and channel (the 12 most frequent reasons)."""
    t = touches[touches["reason"].astype(str) != ""]
    kind = np.where(t["status"].astype(str) == "sent", "deferred", "skipped")
    tab = pd.crosstab([kind, t["reason"].astype(str)], t["channel"].astype(str))
    tab = tab.loc[tab.sum(axis=1).sort_values().index[-12:]]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(tab) + 1.6))
    left = np.zeros(len(tab))
    names = [f"{k}: {label(r)}" for k, r in tab.index]
    for ch in tab.columns:
        ax.barh(names, tab[ch].to_numpy(), left=left, color=channel_color(ch), label=ch)
        left += tab[ch].to_numpy()
    ax.set_xlabel("planned touches")
    ax.set_title(title)
    ax.legend(frameon=False, title="channel", loc="lower right")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_truth_vs_estimate(
    result: AnalysisResult, truth: pd.DataFrame, metric: str, service_line: str = "all"
) -> Figure:
    """Estimated effect with CI beside the simulator's true effect, per arm."""
    r = result.results[result.results["metric"] == metric].reset_index(drop=True)
    from ..simulation.engine import truth_in

    t = truth_in(truth)
    t = t[(t["metric"] == metric) & (t["service_line"] == service_line)].set_index("arm")["true_diff"]
    binary = (r["metric_type"] == "binary").all()
    scale = 100.0 if binary else 1.0
    fig, ax = plt.subplots(figsize=(7.5, 0.7 * len(r) + 1.6))
    y = np.arange(len(r))[::-1]
    palette = arm_colors(r["arm"], result.settings.get("control"))
    for yi, a, d, lo, hi in zip(y, r["arm"], r["diff"], r["diff_ci_low"], r["diff_ci_high"]):
        ax.errorbar(
            d * scale, yi, xerr=[[(d - lo) * scale], [(hi - d) * scale]], fmt="o", color=palette[str(a)], capsize=4
        )
        # the truth in a neutral style, never an arm's colour: a dashed black tick across the row
        ax.plot([t.get(a, np.nan) * scale] * 2, [yi - 0.3, yi + 0.3], color=TRUTH, linestyle=TRUTH_STYLE, linewidth=2)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="", color=NEUTRAL_DARK, label="estimate"),
        Line2D([], [], color=TRUTH, linestyle=TRUTH_STYLE, linewidth=2, label="true effect"),
    ]
    ax.axvline(0, color="#333", linewidth=1)
    ax.set_yticks(y, [label(a) for a in r["arm"]])
    ax.set_xlabel(f"difference in {metric_label(metric)} vs control ({'percentage points' if binary else 'units'})")
    level = 100 * (1 - float(result.settings["alpha"]))
    ax.set_title(f"Estimate ({level:.3g}% interval, unadjusted; does not decide) beside the true effect")
    ax.legend(handles=handles, frameon=False, loc="best")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_power_curve(
    table: pd.DataFrame, target: float = 0.8, title: str | None = None, control: str | None = None
) -> Figure:
    """Simulated power (with Monte Carlo error bars) against leads per experiment, per arm (the arms
    against the control: they keep their colours without it)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = arm_colors(table["arm"].unique(), control)
    for arm, g in table.groupby("arm", sort=True):
        ax.errorbar(
            g["n_leads"],
            g["power"] * 100,
            yerr=1.96 * g["power_se"] * 100,
            marker="o",
            capsize=3,
            color=colors[str(arm)],
            label=label(arm),
        )
    ax.axhline(target * 100, color=TRUTH, linestyle=TRUTH_STYLE, linewidth=1)
    ax.text(table["n_leads"].min(), target * 100 + 1.5, f"{target:.0%} power", fontsize=9, color="#666")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sorted(table["n_leads"].unique()))
    ax.set_xlabel("leads in the experiment (all arms, log scale)")
    ax.set_ylabel("power (% of experiments detecting the effect)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "Simulated power curve (bars: 95% Monte Carlo interval)")
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_calibration(table: pd.DataFrame, title: str = "Self-calibration: are the statistics honest?") -> Figure:
    """Observed rate vs nominal rate with binomial confidence bounds (false positives, coverage)."""
    fig, ax = plt.subplots(figsize=(7.5, 0.8 * len(table) + 1.6))
    y = np.arange(len(table))[::-1]
    ax.errorbar(
        table["observed"] * 100,
        y,
        xerr=[(table["observed"] - table["ci_low"]) * 100, (table["ci_high"] - table["observed"]) * 100],
        fmt="o",
        color=NEUTRAL_DARK,
        capsize=4,
        label="observed (95% binomial CI)",
    )
    for yi, v in zip(y, table["nominal"] * 100):  # the promised rate in the reference style (as a truth)
        ax.plot([v, v], [yi - 0.3, yi + 0.3], color=TRUTH, linestyle=TRUTH_STYLE, linewidth=2)
    ax.plot([], [], color=TRUTH, linestyle=TRUTH_STYLE, linewidth=2, label="nominal")
    ax.set_yticks(y, table["check"])
    ax.set_xlabel("rate (%)")
    ax.set_title(title)
    ax.legend(frameon=False, loc="best")
    _style(ax)
    fig.tight_layout()
    return fig


def plot_peeking(
    looks: pd.DataFrame, alpha: float = 0.05, title: str = "Looking every week: false alarms in A/A tests"
) -> Figure:
    """Share of A/A experiments already declared different after each interim look: naive repeated
    fixed-sample tests vs always-valid tests, with binomial 95% bands and the nominal alpha."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for name, color, text in (
        ("naive", NEUTRAL, "fixed-sample test at every look"),
        ("sequential", NEUTRAL_DARK, "always-valid test (confidence sequence)"),
    ):
        marker, line = ("s", ":") if name == "naive" else ("o", "-")
        ax.plot(looks["look"], looks[f"{name}_fpr"] * 100, color=color, label=text, marker=marker, linestyle=line)
        ax.fill_between(
            looks["look"], looks[f"{name}_ci_low"] * 100, looks[f"{name}_ci_high"] * 100, color=color, alpha=0.12
        )
    ax.axhline(alpha * 100, color=TRUTH, linestyle=TRUTH_STYLE, linewidth=1, label=f"nominal {alpha:.0%}")
    ax.set_xticks(looks["look"], [f"{k}\n{n:,}" for k, n in zip(looks["look"], looks["leads_seen"])])
    ax.set_xlabel("look (and leads seen so far)")
    ax.set_ylabel("A/A tests with a false alarm (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    fig.tight_layout()
    return fig

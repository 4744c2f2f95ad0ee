"""The one decision of a report run: made once from the statistics, stated the same way everywhere.

:func:`decide` turns the analysis of every lead (all service lines) into a :class:`RunDecision`;
the index's headline and rows, each page's verdict, the key numbers' verdict column and every chart
caption that states a verdict read its sentences (:meth:`RunDecision.run_sentence`,
:meth:`RunDecision.line_sentence`), so no two places can disagree. A run stores it once (in the
manifest the pages read), and a page rendered alone computes it with the same function.

**The decision interval** is the primary metric's adjusted interval of :func:`nurture_lab.analyze`
(``adj_ci_low``/``adj_ci_high``: Holm's level over the report's family of comparisons; with
``sequential=True`` a confidence sequence, valid at every look). It is the one quoted, with its level.

**Status** of the run, against ``target`` (the smallest effect worth shipping, set before the test;
default the planned MDE: the effect the test's leads per arm detect with 80% power at alpha / m,
Bonferroni over the m comparisons, as :func:`~nurture_lab.reporting.render.auto_n_leads` plans):

- *Ship* the arm with the largest estimate among those whose interval's lower bound is above 0
  (a gain is shown), when its guardrail is non-inferior;
- *Roll back* (keep the control) when every arm's upper bound is below 0;
- *Stop* (keep the control) when every arm's upper bound is below ``target``: no effect worth
  shipping is left plausible;
- *Keep running* otherwise (also when a shown gain's guardrail is not yet shown non-inferior), with
  about N more leads (all arms): per arm, the larger of :func:`~nurture_lab.stats.power.sample_size`
  for ``target`` at the decision's level (80% power) and the leads at which the decision interval
  (shrinking as 1/sqrt(n)) would settle Ship or Stop if the estimate holds, minus the leads already
  in; in days at the test's lead volume.

**Lines** are framed against the run's decision with the pooled (partially pooled, DerSimonian-Laird)
line estimates of ``analyze(..., by="service_line")`` and Cochran's Q heterogeneity test. A line gets
a verdict of its own only when it *differs*: the heterogeneity p-value of the decision's arm is below
alpha **and** the line's pooled interval excludes the overall effect. Its own verdict then reads its
pooled interval: lower bound > 0 ship here, upper bound < 0 keep the control here, else hold here.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .labels import ASSUMED_EQUAL, metric_label, p_text, split_text, text_label, upper_first

__all__ = ["LineDecision", "RunDecision", "decide", "decision_of", "staffed_agents", "status_rule"]

SHIP, ROLL_BACK, STOP, KEEP = "Ship", "Roll back", "Stop", "Keep running"


@dataclass(frozen=True)
class LineDecision:
    """One service line framed against the run's decision (the decision's arm)."""

    line: str
    own_diff: float
    pooled_diff: float
    pooled_low: float
    pooled_high: float
    differs: bool
    #: the line's own verdict when it differs ("Ship here", ...); empty when it follows the run's
    own_status: str = ""


@dataclass(frozen=True)
class RunDecision:
    """The run's decision and each line's, with the numbers its sentences quote."""

    metric: str
    control: str
    arm: str
    status: str
    diff: float
    low: float
    high: float
    #: the decision interval's level (0.9875) and the comparisons it is adjusted for
    level: float
    comparisons: int
    sequential: bool
    control_rate: float
    arm_rate: float
    target: float
    target_source: str
    chance_to_win: float = math.nan
    guardrail_ok: bool | None = None
    guardrail_name: str = ""
    more_leads: int = 0
    more_days: float = math.nan
    #: every arm's upper bound (what gains the test leaves plausible)
    best_high: float = math.nan
    heterogeneity_p: float = math.nan
    alpha: float = 0.05
    lines: dict[str, LineDecision] = field(default_factory=dict)
    worth: dict[str, Any] = field(default_factory=dict)
    #: the relative lift's interval at the decision's level (Fieller, its width matched to the
    #: decision interval's), as fractions of the control's rate
    rel_low: float = math.nan
    rel_high: float = math.nan
    #: the sample-ratio check over every lead (chi-square against the planned split)
    srm_p: float = math.nan
    srm_flagged: bool = False
    #: the arms' sizes and the planned split the check used, in words ("Control 982, Text First 218";
    #: "equal shares, assumed: no split was given")
    srm_counts: str = ""
    srm_planned: str = ""
    #: leads followed less than the metric's window (real data), of ``n_leads``: their bookings count
    #: only up to the export's date
    short_followup: int = 0
    window_days: float = math.nan
    n_leads: int = 0

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return _finite(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunDecision:
        d = {k: (math.nan if v is None and k not in ("guardrail_ok",) else v) for k, v in d.items()}
        lines = {k: LineDecision(**_nan(v)) for k, v in d["lines"].items()}
        return cls(**(d | {"lines": lines, "worth": dict(d.get("worth") or {})}))

    # ------------------------------------------------------------------ words
    def interval_label(self) -> str:
        """The decision interval's name, with its level: '98.75% interval, adjusted for 6 comparisons'."""
        kind = "confidence sequence, valid at every look" if self.sequential else "interval"
        adj = (
            f"{' and' if self.sequential else ','} adjusted for {self.comparisons} comparisons"
            if self.comparisons > 1
            else ""
        )
        return f"{_pct(self.level)} {kind}{adj}"

    def effect_text(self) -> str:
        """The decision arm's effect: points with the decision interval, and the relative lift."""
        c = self.control_rate
        rel = ""
        if c > 0:
            bounds = (
                f"{self.rel_low:+.1%} to {self.rel_high:+.1%}"
                if math.isfinite(self.rel_low) and math.isfinite(self.rel_high)
                else "its interval unbounded"
            )
            rel = f"; relative {self.diff / c:+.1%}, {bounds}"
        return (
            f"{_pts(self.diff)} points ({self.interval_label()}: {_pts(self.low)} to {_pts(self.high)}{rel}), "
            f"{self.control_rate:.1%} → {self.arm_rate:.1%}"
        )

    def chance_text(self) -> str:
        if not math.isfinite(self.chance_to_win):
            return ""
        return (
            f" Chance that {text_label(self.arm)} beats {text_label(self.control)}: {_chance(self.chance_to_win)} "
            "(Bayesian, flat prior; it describes the data and does not decide)."
        )

    def status_text(self) -> str:
        """The status in one phrase: Ship / Roll back / Keep running (about N more leads) / Stop."""
        if self.status == KEEP and self.more_leads > 0:
            days = (
                ""
                if not math.isfinite(self.more_days)
                else " / under a day at this volume"
                if self.more_days < 1
                else f" / about {self.more_days:,.0f} more days at this volume"
            )
            return f"Keep running (about {self.more_leads:,} more leads{days})"
        if self.status == STOP:
            return "Stop: no effect worth shipping is left plausible"
        return self.status

    def status_phrase(self) -> str:
        """The status naming the arm when it ships ('Ship within 5 min')."""
        return f"Ship {text_label(self.arm)}" if self.status == SHIP else self.status_text()

    def short_status(self) -> str:
        """The status in two or three words, for a table cell ('Ship within 5 min', 'Keep running')."""
        return f"Ship {text_label(self.arm)}" if self.status == SHIP else self.status

    def run_sentence(self) -> str:
        """The run's decision, as every page and the index state it (Markdown bold)."""
        arm, ctrl, what = text_label(self.arm), text_label(self.control), metric_label(self.metric)
        target = f"the target of {_pts(self.target)} points ({self.target_source})"
        what_c = what[:1].upper() + what[1:]
        if self.status == SHIP:
            head = f"**Ship {arm} everywhere.** {what_c} {self.effect_text()} over all service lines"
            tail = (
                "."
                if self.low >= self.target
                else f": the whole interval is above zero, so it ships, though the gain may be smaller than {target}."
            )
        elif self.status == ROLL_BACK:
            head = f"**Roll back: keep {ctrl}.** Every cadence lowered {what}; the best, {arm}: {self.effect_text()}"
            tail = "."
        elif self.status == STOP:
            head = (
                f"**Stop: no effect worth shipping is left plausible; keep {ctrl}.** The best, {arm}: "
                f"{what} {self.effect_text()}; {self.gains_ruled_out()}, below {target}"
            )
            tail = "."
        else:
            head = f"**{self.status_text()}; meanwhile keep {ctrl}.** The best, {arm}: {what} {self.effect_text()}"
            held = self.low > 0 and self.guardrail_ok is False  # a shown gain its guardrail holds back
            tail = (
                f"; a gain is shown, but a rise in {self.guardrail_name} is not yet ruled out (the guardrail), "
                "so it does not ship yet."
                if held
                else f"; a gain is not shown and {target} is not ruled out."
            )
        guard = ""
        if self.guardrail_ok is not None and self.status == SHIP:
            guard = f" {upper_first(self.guardrail_name)}: no meaningful rise (non-inferior)."
        elif self.guardrail_ok is False and not (self.status == KEEP and self.low > 0):
            guard = f" {upper_first(self.guardrail_name)}: a rise is not ruled out."
        return self.srm_text() + head + tail + guard + self.chance_text() + self.followup_text()

    def followup_text(self) -> str:
        """Real data whose leads were not all followed the metric's whole window say so beside the decision."""
        if not self.short_followup:
            return ""
        return (
            f" Note: {self.short_followup:,} of {self.n_leads:,} leads were followed less than "
            f"{self.window_days:g} days, so their {metric_label(self.metric)} count only up to the export's date."
        )

    def srm_text(self) -> str:
        """A warning before everything else when the arms' sizes do not match the planned split: what
        to check, what to do if the split was planned, and how the result reads if all is well."""
        if not self.srm_flagged:
            return ""
        p = p_text(self.srm_p)
        fix = (
            " If that split was planned, give it to the report (the allocation parameter) and the check uses it."
            if self.srm_planned == ASSUMED_EQUAL
            else ""
        )
        return (
            f"**Check the assignment before acting on this.** The arms' sizes ({self.srm_counts}) differ from "
            f"the planned split ({self.srm_planned}) more than chance allows (sample ratio {p}); a broken "
            f"assignment biases every number below.{fix} If the assignment is sound, the result reads: "
        )

    def gains_ruled_out(self) -> str:
        """What a 'no gain' result rules out, instead of a sample size for a negative effect."""
        return f"the test rules out gains larger than {_pts(self.best_high)} points"

    def lines_sentence(self) -> str:
        """How the lines relate to the run's decision (heterogeneity test, pooled range)."""
        if not self.lines:
            return ""
        pooled = [ld.pooled_diff for ld in self.lines.values() if math.isfinite(ld.pooled_diff)]
        rng = (
            f"; the lines' own estimates, pooled toward the whole, range from {_pts(min(pooled))} to "
            f"{_pts(max(pooled))} points (95% intervals; they describe, the decision above decides)"
            if pooled
            else ""
        )
        differ = [text_label(k) for k, ld in self.lines.items() if ld.differs]
        p = f"heterogeneity p = {self.heterogeneity_p:.2f}" if math.isfinite(self.heterogeneity_p) else "no test"
        if not differ:
            return f"No service line differs detectably from that ({p}){rng}."
        return f"{upper_first(', '.join(differ))} differ{'s' if len(differ) == 1 else ''} from the whole ({p}){rng}."

    def line_sentence(self, line: str) -> str:
        """A line's verdict: the run's, framed by its pooled estimate, or its own when it differs."""
        ld = self.lines.get(line)
        name = upper_first(text_label(line))
        if ld is None:
            return f"{name}: follows the decision over all service lines ({self.status_text()})."
        est = (
            f"pooled estimate {_pts(ld.pooled_diff)} points, 95% interval {_pts(ld.pooled_low)} to "
            f"{_pts(ld.pooled_high)}; the line alone {_pts(ld.own_diff)}"
        )
        if ld.differs:
            return f"**{ld.own_status}**: {name} differs from the whole ({est})."
        return f"**{self.status_phrase()}**, as over all service lines: {name} does not differ detectably ({est})."

    def worth_text(self) -> str:
        """What the decision is worth, in a leader's units, as one paragraph."""
        return " ".join(self.worth_items())

    def worth_items(self) -> list[str]:
        """What the decision is worth, in a leader's units (the index's list): test period and volume,
        extra bookings a month with the decision interval's range, staffing, cost per extra booking."""
        w = self.worth
        if not w:
            return []
        parts = [
            f"Test period {w['start']} to {w['end']} ({w['days']:.0f} days), about {w['per_month']:,.0f} leads a month."
        ]
        if self.status in (SHIP, KEEP):
            parts.append(
                f"{upper_first(text_label(self.arm))} for every lead: {w['extra']:+,.0f} {metric_label(self.metric)} "
                f"a month ({w['extra_low']:+,.0f} to {w['extra_high']:+,.0f}, the decision interval)."
            )
        else:
            parts.append(
                f"No gain to bank: {self.gains_ruled_out()} (more than {w['extra_high']:+,.0f} "
                f"{metric_label(self.metric)} a month with {text_label(self.arm)} for every lead)."
            )
        if "hours_arm" in w:
            parts.append(self._staffing_sentence(w))
        if w.get("cost_per_extra"):
            parts.append(f"Staff cost per extra booking: {w['cost_per_extra']} (at the estimate).")
        return parts

    def _staffing_sentence(self, w: Mapping[str, Any]) -> str:
        """Agents the decided cadence needs for all its agent work, against today's agents and the
        control's need (the difference a leader budgets), and what today's staffing meant for the test."""
        arm, ctrl = text_label(self.arm), text_label(self.control)
        need, base = int(w["agents_arm"]), int(w["agents_control"])
        da = need - base
        vs_ctrl = "as many as" if da == 0 else f"{abs(da)} {'more' if da > 0 else 'fewer'} than"
        today = w.get("staffed_agents")
        vs_today = ""
        if today:
            dt = need - int(today)
            vs_today = (
                f"as many as the {today} on shift today, "
                if dt == 0
                else f"{abs(dt)} {'more' if dt > 0 else 'fewer'} than the {today} on shift today, "
            )
        text = (
            f"Staffing for {arm} everywhere: about {need} agents on shift, {vs_today}{vs_ctrl} {ctrl} would need "
            f"({base}), for {w['hours_arm']:,.0f} hours of agent work a week ({w['hours_arm'] - w['hours_control']:+,.0f} "
            f"against {ctrl}; calls, texts and e-mails, sized with Erlang C over {w['staffed_hours']:.0f} staffed "
            "hours a week)."
        )
        if not today:
            return text
        if need <= int(today):
            return text + f" The {today} agents on shift today suffice."
        return text + (
            f" With today's {today} the work waited for agents (first calls are served first: each page's Speed "
            "to lead section gives their expected wait), so the gain above is the cadence as it was delivered "
            "with today's staff."
        )


def status_rule(
    lows: Mapping[str, float],
    highs: Mapping[str, float],
    diffs: Mapping[str, float],
    target: float,
    guardrail_ok: Mapping[str, bool] | None = None,
) -> tuple[str, str]:
    """(status, arm) from each arm's decision interval, by the rules of this module's docstring."""
    shown = [a for a in diffs if lows[a] > 0]
    best = max(diffs, key=lambda a: diffs[a])
    if shown:
        arm = max(shown, key=lambda a: diffs[a])
        ok = True if guardrail_ok is None else guardrail_ok.get(arm, True)
        return (SHIP if ok else KEEP), arm
    if all(highs[a] < 0 for a in diffs):
        return ROLL_BACK, best
    if all(highs[a] < target for a in diffs):
        return STOP, best
    return KEEP, best


def decide(
    leads: pd.DataFrame,
    *,
    control: str,
    arm: str = "arm",
    metric: str = "booked_30d",
    guardrail: str = "opted_out",
    guardrail_margin: float = 0.01,
    alpha: float = 0.05,
    sequential: bool = False,
    target_effect: float | None = None,
    staff_cost_per_hour: float = 0.0,
    currency: str = "USD",
    staffed_agents: int | None = None,
    allocation: Mapping[str, float] | None = None,
) -> RunDecision:
    """The run's decision from every lead (all service lines): see the module docstring for the rules.
    ``allocation``: the planned share per arm for the sample-ratio check (None: equal)."""
    from ..stats.analysis import analyze
    from ..stats.guardrails import non_inferiority
    from ..stats.power import mde
    from .content import family_metrics

    metrics = family_metrics(metric, guardrail, leads.columns)
    metrics = [m for m in metrics if m == metric or leads[m].nunique(dropna=True) > 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = analyze(
            leads,
            arm=arm,
            control=control,
            metrics=metrics,
            alpha=alpha,
            sequential=sequential,
            bayesian=True,
            allocation=allocation,
        )
    r = res.results[res.results["metric"] == metric].set_index("arm")
    m = int(res.settings["family_size"])
    level = 1 - float(res.settings.get("adjusted_alpha", alpha))
    base = float(r["control_value"].iloc[0])
    sizes = [(int(x["n_arm"]), int(x["n_control"])) for _, x in r.iterrows()]
    target, source = _target(target_effect, base, sizes, alpha / max(m, 1), sequential, mde)
    guard_ok = _guardrails(leads, arm, control, guardrail, guardrail_margin, alpha, non_inferiority)
    lows, highs, diffs = (r[c].astype(float).to_dict() for c in ("adj_ci_low", "adj_ci_high", "diff"))
    status, best = status_rule(lows, highs, diffs, target, guard_ok)
    row = r.loc[best]
    rel = _relative_interval(row)
    short, window = _followed_short(leads, metric)
    per_day = _per_day(leads)
    more = _more_leads(status, row, base, target, 1 - level, sequential, leads, arm) if status == KEEP else 0
    lines, het_p = _lines(leads, arm, control, metric, alpha, sequential, best, float(row["diff"]))
    dec = RunDecision(
        metric=metric,
        control=control,
        arm=best,
        status=status,
        diff=float(row["diff"]),
        low=float(row["adj_ci_low"]),
        high=float(row["adj_ci_high"]),
        level=level,
        comparisons=m,
        sequential=sequential,
        control_rate=base,
        arm_rate=float(row["arm_value"]),
        target=target,
        target_source=source,
        chance_to_win=float(row.get("chance_to_win", math.nan)),
        guardrail_ok=None if guard_ok is None else guard_ok.get(best),
        guardrail_name=metric_label(guardrail),
        more_leads=more,
        more_days=more / per_day if per_day and more else math.nan,
        best_high=max(highs.values()),
        heterogeneity_p=het_p,
        alpha=alpha,
        lines=lines,
        rel_low=rel[0],
        rel_high=rel[1],
        srm_p=float(res.srm["p_value"]),
        srm_flagged=bool(res.srm["flagged"]),
        short_followup=short,
        window_days=window,
        n_leads=len(leads),
        srm_counts=", ".join(f"{text_label(a)} {int(n):,}" for a, n in res.srm["counts"].items()),
        srm_planned=ASSUMED_EQUAL if allocation is None else split_text(res.srm["expected_share"]),
    )
    worth = _worth(dec, leads, arm, per_day, staff_cost_per_hour, currency, staffed_agents)
    return dataclasses.replace(dec, worth=worth)


def _followed_short(leads: pd.DataFrame, metric: str) -> tuple[int, float]:
    """The metric's window in days (NaN: none) and the leads followed less than it (0 without a
    follow-up column or a window)."""
    from ..io.crm import WINDOWS

    window = WINDOWS.get(metric, math.nan)
    if math.isnan(window) or "followup_days" not in leads.columns:
        return 0, window
    return int((leads["followup_days"].astype(float) < window).sum()), window


def _relative_interval(row: pd.Series) -> tuple[float, float]:
    """Fieller's interval for the relative lift at the decision's level: the critical value is the
    decision interval's half-width over the difference's standard error, so the relative interval
    excludes 0 exactly when the decision interval does (adjusted or sequential alike)."""
    from ..stats.methods import _fieller

    p1, p0 = float(row["arm_value"]), float(row["control_value"])
    v1, v0 = p1 * (1 - p1) / float(row["n_arm"]), p0 * (1 - p0) / float(row["n_control"])
    if not v1 + v0 > 0:
        return math.nan, math.nan
    q = (float(row["adj_ci_high"]) - float(row["adj_ci_low"])) / 2 / math.sqrt(v1 + v0)
    return _fieller(p1, p0, v1, v0, 0.0, q, nonneg=True)


def _target(
    target_effect: float | None,
    base: float,
    sizes: Sequence[tuple[int, int]],
    alpha: float,
    sequential: bool,
    mde: Any,
) -> tuple[float, str]:
    """The target set before the test, else the planned MDE: the largest over the arms of what each
    arm's leads against the control's detect with 80% power (an unequal split counted as it ran)."""
    if target_effect is not None and float(target_effect) > 0:
        return float(target_effect), "set before the test"
    ds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_arm, n_control in sizes:
            if 0 < base < 1 and n_arm > 1 and n_control > 1:
                ds.append(float(mde(base, n_arm, alpha=alpha, ratio=n_control / n_arm, sequential=sequential)))
    return (max(ds) if ds else math.nan), "the planned MDE: what these leads detect with 80% power"


def _guardrails(
    leads: pd.DataFrame, arm: str, control: str, guardrail: str, margin: float, alpha: float, test: Any
) -> dict[str, bool] | None:
    if guardrail not in leads.columns or leads[guardrail].nunique(dropna=True) < 2:
        return None
    try:
        g = test(leads, arm, control, guardrail, margin, alpha=alpha).results
    except Exception:  # a guardrail with no variance in two arms: nothing to worry about
        return None
    return {str(a): bool(ok) for a, ok in zip(g["arm"], g["non_inferior"])}


def _per_day(leads: pd.DataFrame) -> float:
    if "created_at" not in leads.columns or leads.empty:
        return 0.0
    created = pd.to_datetime(leads["created_at"], utc=True)
    days = max((created.max() - created.min()).total_seconds() / 86400, 1.0)
    return len(leads) / days


def _more_leads(
    status: str,
    row: pd.Series,
    base: float,
    target: float,
    alpha: float,
    sequential: bool,
    leads: pd.DataFrame,
    arm: str,
) -> int:
    """About how many more leads (all arms) settle Ship or Stop: see the module docstring."""
    from ..stats.power import sample_size

    n = float(min(row["n_arm"], row["n_control"]))
    arms = max(leads[arm].nunique(), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            power = float(sample_size(base, target, alpha=alpha, sequential=sequential))
        except Exception:
            power = math.nan
    h = (float(row["adj_ci_high"]) - float(row["adj_ci_low"])) / 2
    d = float(row["diff"])
    gap = max(d, target - d)
    settle = n * (h / gap) ** 2 if gap > 0 and h > 0 else math.nan
    need = max((x for x in (power, settle) if math.isfinite(x)), default=math.nan)
    if not math.isfinite(need) or need <= n:
        return 0
    return int(math.ceil((need - n) * arms / 100) * 100)


def _lines(
    leads: pd.DataFrame, arm: str, control: str, metric: str, alpha: float, sequential: bool, best: str, overall: float
) -> tuple[dict[str, LineDecision], float]:
    """Each line against the whole (pooled estimates, heterogeneity): the rule of the module docstring."""
    from ..stats.analysis import analyze

    if "service_line" not in leads.columns or leads["service_line"].nunique() < 2:
        return {}, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            seg = analyze(leads, arm=arm, control=control, metrics=[metric], by="service_line", alpha=alpha)
        except Exception:
            return {}, math.nan
    r = seg.results[seg.results["arm"] == best]
    het = [h for h in seg.settings.get("heterogeneity", []) if h["arm"] == best and h["metric"] == metric]
    p = float(het[0]["p_value"]) if het else math.nan
    out = {}
    for _, x in r.iterrows():
        lo, hi = float(x["pooled_ci_low"]), float(x["pooled_ci_high"])
        differs = bool(math.isfinite(p) and p < alpha and not lo <= overall <= hi)
        own = "" if not differs else ("Ship here" if lo > 0 else "Keep the control here" if hi < 0 else "Hold here")
        out[str(x["service_line"])] = LineDecision(
            str(x["service_line"]), float(x["diff"]), float(x["pooled_diff"]), lo, hi, differs, own
        )
    return out, p


def _worth(
    dec: RunDecision,
    leads: pd.DataFrame,
    arm: str,
    per_day: float,
    cost: float,
    currency: str,
    staffed_agents: int | None,
) -> dict[str, Any]:
    """Extra bookings a month (decision interval), test period and volume, staff and agents, cost."""
    if not per_day:
        return {}
    from .content import STAFFED_HOURS_A_WEEK, money

    created = pd.to_datetime(leads["created_at"], utc=True)
    per_month = per_day * 30.4
    w: dict[str, Any] = {
        "start": f"{created.min():%Y-%m-%d}",
        "end": f"{created.max():%Y-%m-%d}",
        "days": (created.max() - created.min()).total_seconds() / 86400,
        "per_month": per_month,
        "extra": dec.diff * per_month,
        "extra_low": dec.low * per_month,
        "extra_high": dec.best_high * per_month if dec.status in (STOP, ROLL_BACK) else dec.high * per_month,
    }
    if "staff_minutes" in leads.columns:
        from .._erlang import erlang_c_agents

        def need(a: str) -> tuple[float, int]:
            hours = float(leads.loc[leads[arm].astype(str) == a, "staff_minutes"].mean()) * per_day * 7 / 60
            load = hours / STAFFED_HOURS_A_WEEK
            return hours, erlang_c_agents(calls_per_hour=load * 60, handle_minutes=1.0) if load > 0 else 0

        (w["hours_arm"], w["agents_arm"]), (w["hours_control"], w["agents_control"]) = need(dec.arm), need(dec.control)
        w["staffed_agents"] = staffed_agents
        w["staffed_hours"] = STAFFED_HOURS_A_WEEK
        extra_hours_month = (w["hours_arm"] - w["hours_control"]) / 7 * 30.4
        if cost > 0 and w["extra"] > 0:
            w["cost_per_extra"] = money(extra_hours_month * cost / w["extra"], currency)
    return w


def _nan(d: Mapping[str, Any]) -> dict[str, Any]:
    """None (JSON) as NaN."""
    return {k: (math.nan if v is None else v) for k, v in d.items()}


def _finite(x: Any) -> Any:
    """NaN as None (JSON), recursively."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _pts(x: float) -> str:
    """Points with a sign, one decimal; a value that would round to 0.0 gets a second decimal so its
    side of zero shows (an interval's bound "+0.02", not "+0.0"), and zero itself is "+0.0", never "-0.0"."""
    if not math.isfinite(x):
        return "–"
    v = round(x * 100, 1)
    if v == 0 and round(x * 100, 2) != 0:
        return f"{x * 100:+.2f}"
    return f"{v if v != 0 else 0.0:+.1f}"


def _pct(level: float) -> str:
    return f"{level * 100:.4g}%"


def _chance(p: float) -> str:
    if p > 0.995:
        return "over 99%"
    if p < 0.005:
        return "under 1%"
    return f"{p:.0%}"


def staffed_agents(man: Mapping[str, Any]) -> int | None:
    """Today's agents on shift, for a simulation: the scenario's contact centre (the most on shift in
    any hour of an agents table); None for real data or a scenario without a contact centre."""
    if not man.get("scenario"):
        return None
    from ..scenario.loader import load_scenario

    try:
        centre = load_scenario(man.get("scenario_path") or man["scenario"]).contact_center
    except Exception:
        return None
    if centre is None:
        return None
    a = centre.agents
    return int(max(max(row) for row in a)) if isinstance(a, tuple) else int(a)


def decision_of(provenance: Mapping[str, Any]) -> RunDecision | None:
    """The run's decision stored in a page's provenance (the run's manifest); None when not made."""
    d = provenance.get("decision")
    return RunDecision.from_dict(d) if d else None

"""What a report says: its data, its analysis (one correction family), the verdict and its tables."""

from __future__ import annotations

import contextlib
import html
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import DataError, NoVarianceError, ParameterError, check_param
from ..simulation.population import IDENTITY_COLUMNS
from ..stats.analysis import AnalysisResult, analyze
from ..stats.guardrails import NonInferiorityResult, non_inferiority
from ..stats.survival import TimeToBookResult, time_to_book
from .labels import ASSUMED_EQUAL, arm_label, metric_label, p_text, split_text, text_label, upper_first

__all__ = [
    "REPORT_METRICS",
    "ReportAnalysis",
    "ReportData",
    "analyse_report",
    "data_quality_text",
    "family_metrics",
    "family_size",
    "guardrail_table",
    "headline",
    "key_numbers",
    "load_report_data",
    "methods_note",
    "segment_table",
]


REPORT_METRICS = ("booked_30d", "contacted", "attended", "opted_out")


def family_metrics(metric: str, guardrail: str = "opted_out", columns: Any = None) -> list[str]:
    """The metrics of a report's correction family: the primary metric first, then the other
    :data:`REPORT_METRICS`, never the guardrail (it has its own non-inferiority test). ``columns``:
    keep only the metrics the data have."""
    wanted = [m for m in dict.fromkeys([metric, *REPORT_METRICS]) if m != guardrail]
    return wanted if columns is None else [m for m in wanted if m in set(columns)]


def family_size(n_arms: int, metric: str, guardrail: str = "opted_out", columns: Any = None) -> int:
    """How many comparisons a report's correction family holds: every non-control arm against the
    control, on each of :func:`family_metrics` (before any metric the data leave constant is dropped)."""
    return max(n_arms - 1, 0) * len(family_metrics(metric, guardrail, columns))


@dataclass
class ReportData:
    """What one report is about: the line's leads (no identifiers), its truth if simulated, provenance."""

    service_line: str
    leads: pd.DataFrame
    truth: pd.DataFrame | None
    control: str
    arm: str = "arm"
    metric: str = "booked_30d"
    guardrail: str = "opted_out"
    guardrail_margin: float = 0.01
    alpha: float = 0.05
    provenance: dict[str, Any] = field(default_factory=dict)
    sequential: bool = False
    #: staff cost per hour (in ``currency``), for the cost per booking; 0: not shown
    staff_cost_per_hour: float = 0.0
    #: the simulator's truth at full rollout (every lead on one arm with the same staff); ``truth``
    #: holds the experiment setting. Split from a truth table with a ``setting`` column.
    truth_rollout: pd.DataFrame | None = None
    #: ISO 4217 code of ``staff_cost_per_hour``: money is shown in it ("$17.58")
    currency: str = "USD"
    #: the planned share per arm, for the sample-ratio check (None: equal shares)
    allocation: dict[str, float] | None = None

    def __post_init__(self) -> None:
        from ..simulation.engine import truth_in

        t = self.truth
        if t is not None and "setting" in t.columns:
            self.truth_rollout = truth_in(t, "rollout")
            self.truth = truth_in(t, "experiment")

    @property
    def simulated(self) -> bool:
        return self.truth is not None


@dataclass
class ReportAnalysis:
    main: AnalysisResult
    guardrail: NonInferiorityResult | None
    time: TimeToBookResult | None
    segments: dict[str, AnalysisResult]
    #: what the data left nothing to test on, in words ("no opt-outs in any arm")
    notes: list[str] = field(default_factory=list)


def load_report_data(
    service_line: str,
    leads_path: str,
    truth_path: str = "",
    manifest: Mapping[str, Any] | None = None,
    *,
    arm: str = "arm",
    control: str = "",
    metric: str = "booked_30d",
    guardrail: str = "opted_out",
    guardrail_margin: float = 0.01,
    alpha: float = 0.05,
    sequential: bool = False,
    staff_cost_per_hour: float = 0.0,
    currency: str = "USD",
    allocation: Mapping[str, float] | str | None = None,
) -> ReportData:
    """Load the prepared data of one service line (see :func:`prepare_data`)."""
    leads = pd.read_parquet(leads_path)
    leads = leads.drop(columns=[c for c in IDENTITY_COLUMNS if c in leads.columns])
    if "service_line" in leads.columns:
        lines = sorted(map(str, leads["service_line"].unique()))
        if service_line not in lines:
            raise DataError(f"Service line {service_line!r} is not in the data; lines: {', '.join(lines)}.")
        leads = leads[leads["service_line"].astype(str) == service_line].reset_index(drop=True)
    truth = None
    if truth_path:
        t = pd.read_csv(truth_path)
        truth = t[t["service_line"] == service_line].reset_index(drop=True)
    man = dict(manifest or {})
    ctrl = control or man.get("control", "")
    if not ctrl:
        raise DataError("The report needs the control arm's label (parameter 'control').")
    return ReportData(
        service_line,
        leads,
        truth,
        ctrl,
        arm,
        metric,
        guardrail,
        guardrail_margin,
        alpha,
        man,
        sequential,
        float(staff_cost_per_hour),
        currency=str(currency),
        allocation=parse_allocation(allocation),
    )


def parse_allocation(value: Mapping[str, float] | str | None) -> dict[str, float] | None:
    """The planned split of a report's arms: a mapping, or ``"Control=0.8, Fast Call=0.2"`` as the
    CLI's ``--param allocation=...`` gives it (``:`` for ``=`` too); None or "" for equal shares. Shares need not sum to 1."""

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    where, example = "a report (--param NAME=VALUE)", "allocation='Control=0.8,Fast Call=0.2'"
    if isinstance(value, str):
        pairs = [p.partition("=" if "=" in p else ":") for p in value.split(",") if p.strip()]
        if not pairs or not all(sep and a.strip() for a, sep, _ in pairs):
            raise ParameterError(
                f"The 'allocation' parameter of {where} must be ARM=SHARE (or ARM:SHARE) pairs separated by commas, as in "
                f"{example}. Got {value!r} instead."
            )
        try:
            value = {a.strip(): float(v) for a, _, v in pairs}
        except ValueError:
            raise ParameterError(
                f"The 'allocation' parameter of {where} must give each arm a number, as in {example}. "
                f"Got {value!r} instead."
            ) from None
    if not isinstance(value, Mapping) or not value:
        raise ParameterError(f"The 'allocation' parameter of {where} must be ARM=SHARE pairs, as in {example}.")
    shares = {str(a): float(check_param(where, f"allocation['{a}']", v, low=0)) for a, v in value.items()}
    if sum(shares.values()) <= 0:
        raise ParameterError(f"The 'allocation' parameter of {where} needs shares with a positive sum; got {shares}.")
    return shares


def analyse_report(rd: ReportData) -> ReportAnalysis:
    """Every number of a report, from :func:`nurture_lab.analyze` and friends (one correction family)."""
    df = rd.leads
    wanted = family_metrics(rd.metric, rd.guardrail, df.columns)
    notes = [_constant_note(df, m) for m in [*wanted, rd.guardrail] if m in df.columns and _is_constant(df[m])]
    metrics = [m for m in wanted if not _is_constant(df[m]) or m == rd.metric]
    while True:  # a secondary metric with no variance between two arms is said, not fatal
        try:
            main = analyze(
                df,
                arm=rd.arm,
                control=rd.control,
                metrics=metrics,
                alpha=rd.alpha,
                sequential=rd.sequential,
                allocation=line_allocation(rd.allocation, df[rd.arm]),
            )
            break
        except NoVarianceError as e:
            if e.metric == rd.metric or e.metric not in metrics:
                raise
            metrics.remove(e.metric)
            notes.append(_no_variance_note(e))
    guard = None
    if rd.guardrail in df.columns and not _is_constant(df[rd.guardrail]):
        try:
            guard = non_inferiority(df, rd.arm, rd.control, rd.guardrail, rd.guardrail_margin, alpha=rd.alpha)
        except NoVarianceError as e:
            notes.append(_no_variance_note(e))
    ttb = None
    if {"days_to_book", "booked"} <= set(df.columns):
        horizon = float(rd.provenance.get("horizon_days", 0)) or None
        if "followup_days" in df.columns and df["followup_days"].notna().any():  # real data: as far as observed
            longest = float(df["followup_days"].max())
            horizon = min(horizon, longest) if horizon else longest
        ttb = time_to_book(df, rd.arm, rd.control, horizon_days=horizon, alpha=rd.alpha)
    segments = {}
    for col in ("source", "audience"):  # the segment tables a page shows (notebook.REPORT_SEGMENTS), no other
        if col in df.columns:
            with contextlib.suppress(DataError):
                segments[col] = analyze(
                    df,
                    arm=rd.arm,
                    control=rd.control,
                    metrics=[rd.metric],
                    by=col,
                    alpha=rd.alpha,
                    sequential=rd.sequential,
                )
    return ReportAnalysis(main, guard, ttb, segments, notes)


def line_allocation(allocation: Mapping[str, float] | None, arms: pd.Series) -> dict[str, float] | None:
    """The planned split restricted to the arms a line has (a line may lack an arm of the run)."""
    if allocation is None:
        return None
    present = set(map(str, arms.unique()))
    return {a: v for a, v in allocation.items() if a in present} or None


def _no_variance_note(e: NoVarianceError) -> str:
    """A metric with no variation between two arms, said in words for the report."""
    a, b = (text_label(x) for x in e.arms)
    return (
        f"{upper_first(metric_label(e.metric))}: every lead in {a} and {b} has the same value ({e.value:g}); "
        "nothing to compare there."
    )


def _is_constant(col: pd.Series) -> bool:
    values = col.dropna()
    return bool(len(values) == 0 or (values == values.iloc[0]).all())


def _constant_note(df: pd.DataFrame, metric: str) -> str:
    """A metric the data gave no variation in, said plainly: the best guardrail result is a fact, not an error."""
    value = df[metric].dropna()
    v = value.iloc[0] if len(value) else None
    what = metric_label(metric)
    if v is not None and float(v) == 0:
        return f"No {what} in any arm: there is nothing to compare (and nothing to worry about)."
    return f"{upper_first(what)} is the same for every lead ({v}); there is nothing to compare."


def _pts(x: float, binary: bool = True) -> str:
    return f"{x * 100:.1f} points" if binary else f"{x:.2f}"


def headline(rd: ReportData, ra: ReportAnalysis, target: float | None = None) -> str:
    """The plain-language verdict, honest when the result is inconclusive (then it says, in leads,
    what would settle it: for ``target``, e.g. the effect found over all service lines, or for the
    difference observed here)."""
    r = ra.main.results
    r = r[r["metric"] == rd.metric]
    binary = bool((r["metric_type"] == "binary").all())
    what = metric_label(rd.metric)
    line = text_label(rd.service_line)
    ctrl = text_label(rd.control)
    level = f"{100 * (1 - rd.alpha):.0f}% CI"
    winners = r[(r["significant"]) & (r["diff"] > 0)].sort_values("diff", ascending=False)
    losers = r[(r["significant"]) & (r["diff"] < 0)]
    guard_ok = True
    guard_text = ""
    if ra.guardrail is not None:
        g = ra.guardrail.results.set_index("arm")
        gl = metric_label(rd.guardrail)
        if not winners.empty:
            best = winners.iloc[0]["arm"]
            guard_ok = bool(g.loc[best, "non_inferior"])
            gd = g.loc[best, "diff"]
            guard_text = (
                f"; {gl} did not rise by more than {rd.guardrail_margin * 100:.1f} points "
                f"(change {gd * 100:+.2f} points)"
                if guard_ok
                else f"; but {gl} may have risen (change {gd * 100:+.2f} points, upper bound "
                f"{g.loc[best, 'diff_ci_high'] * 100:.2f} above the {rd.guardrail_margin * 100:.1f}-point margin)"
            )
    if not winners.empty:
        w = winners.iloc[0]
        verb = "raised"
        text = (
            f"**{text_label(w['arm'])}** {verb} {what} by {_pts(w['diff'], binary)} ({level} "
            f"{w['diff_ci_low'] * (100 if binary else 1):.1f} to {w['diff_ci_high'] * (100 if binary else 1):.1f}) "
            f"for {line}, compared with {ctrl} ({w['control_value'] * 100:.1f}% → {w['arm_value'] * 100:.1f}%)"
            if binary
            else f"**{text_label(w['arm'])}** raised {what} by {w['diff']:.3g} ({level} {w['diff_ci_low']:.3g} to "
            f"{w['diff_ci_high']:.3g}) for {line}, compared with {ctrl}"
        )
        rec = (
            f"; recommend **{text_label(w['arm'])}**."
            if guard_ok
            else f". Review the guardrail before adopting {text_label(w['arm'])}."
        )
        return text + guard_text + rec
    if not losers.empty:
        w = losers.sort_values("diff").iloc[0]
        return (
            f"**{ctrl}** did better: {text_label(w['arm'])} lowered {what} by {_pts(-w['diff'], binary)} "
            f"({level} {w['diff_ci_low'] * 100:.1f} to {w['diff_ci_high'] * 100:.1f}) for {line}; keep {ctrl}."
        )
    if r.empty:
        return f"No comparison could be made for {line}."
    best = r.sort_values("diff", ascending=False).iloc[0]
    n_per_arm = int(np.median(r["n_arm"]))
    return (
        f"**Inconclusive** for {line}: no cadence changed {what} detectably. The best, "
        f"{text_label(best['arm'])}, differs from {ctrl} by {best['diff'] * 100:+.1f} points ({level} "
        f"{best['diff_ci_low'] * 100:+.1f} to {best['diff_ci_high'] * 100:+.1f}, adjusted p = "
        f"{best['p_adjusted']:.2f}) with about {n_per_arm:,} leads per arm. {power_note(ra, rd.metric, target)}"
        if binary
        else f"**Inconclusive** for {line}: no cadence changed {what} detectably; keep the current cadence."
    )


def planned_effect(rd: ReportData) -> float | None:
    """The effect a line's test should be able to detect: for a simulation, the scenario's true
    effect over all service lines of the arm that does best there; for real data, None (then the
    line's own observed difference is used)."""
    t = rd.truth
    if not rd.simulated or t is None or t.empty:
        return None
    rows = t[(t["metric"] == rd.metric) & (t["service_line"] == "all") & (t["arm"] != rd.control)]
    if rows.empty:
        return None
    best = float(rows["true_diff"].abs().max())
    return best if math.isfinite(best) and best > 0 else None


def level_text(ra: ReportAnalysis) -> str:
    """The confidence level of the report's plain intervals, from its alpha (e.g. '95%')."""
    return _level(ra.main)


def power_note(ra: ReportAnalysis, metric: str, target: float | None = None) -> str:
    """What an inconclusive binary result can and cannot say, in leads: a precise null ("no effect
    larger than X"), or how many leads per arm would detect ``target`` (default: the best arm's
    observed difference) — a number from the power functions, never "run a larger test"."""
    from ..stats.power import mde, sample_size

    r = ra.main.results
    r = r[(r["metric"] == metric) & (r["metric_type"] == "binary")]
    if r.empty:
        return ""
    best = r.sort_values("diff", ascending=False).iloc[0]
    base, n = float(best["control_value"]), int(min(best["n_arm"], best["n_control"]))
    alpha = float(ra.main.settings["alpha"])
    if not 0 < base < 1 or n < 2:
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detectable = mde(base, n, alpha=alpha)
    bound = max(abs(float(best["adj_ci_low"])), abs(float(best["adj_ci_high"])))
    if math.isfinite(detectable) and bound <= 1.5 * detectable and bound <= 0.02:
        return f"No effect larger than {bound * 100:.1f} points either way: keep the current cadence."
    if target is None:
        target = float(best["diff"]) if abs(float(best["diff"])) >= 0.002 else detectable
    target = abs(target)
    if not (math.isfinite(target) and 0 < base + target < 1):
        return "Keep the current cadence."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        need = sample_size(base, target, alpha=alpha)
    if need <= n:
        return f"No effect as large as {target * 100:.1f} points: keep the current cadence."
    return (
        f"Too few leads to settle it: about {need:,} per arm would detect a change of {target * 100:.1f} points "
        f"(80% power); keep the current cadence meanwhile."
    )


def detectable_text(ra: ReportAnalysis, metric: str) -> str:
    """What this test could detect, in words (80% power at the analysis' alpha)."""
    from ..stats.power import mde

    r = ra.main.results
    r = r[(r["metric"] == metric) & (r["metric_type"] == "binary")]
    if r.empty:
        return ""
    base, n = float(r["control_value"].iloc[0]), int(r[["n_arm", "n_control"]].min(axis=1).min())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = mde(base, n, alpha=float(ra.main.settings["alpha"]))
    return (
        f"With about {n:,} leads per arm this test could detect a change of {d * 100:.1f} points in "
        f"{metric_label(metric)} or more (from {base:.1%}; 80% power)."
    )


#: The window each booking metric names, for labels such as "staff minutes per booking within 30 days".
BOOKING_WINDOWS = {"booked_30d": "within 30 days", "booked_7d": "within 7 days"}


def business_terms(rd: ReportData, ra: ReportAnalysis) -> tuple[str, pd.DataFrame]:
    """The result in a leader's units: test dates, bookings per 1,000 leads, extra bookings per month
    at this line's lead volume, staff minutes (and cost) per booking, time to first response.

    Staff minutes per booking is a ratio metric (delta method) with its interval.
    """
    df = rd.leads
    created = pd.to_datetime(df["created_at"], utc=True) if "created_at" in df.columns else None
    days = max(((created.max() - created.min()).total_seconds() / 86400) if created is not None else 0.0, 1.0)
    dates = (
        f"Test period {created.min():%Y-%m-%d} to {created.max():%Y-%m-%d} ({days:.0f} days, "
        f"{len(df):,} leads: about {len(df) / days * 30.4:,.0f} a month)."
        if created is not None
        else f"{len(df):,} leads."
    )
    r = ra.main.results
    r = r[r["metric"] == rd.metric].set_index("arm")
    per_month = len(df) / days * 30.4
    binary = bool((r["metric_type"] == "binary").all())
    arms = [rd.control, *[a for a in r.index if a != rd.control]]
    staff = None
    # per booking of the decision's window when it is one (the column beside it), else any booking
    bk = rd.metric if rd.metric in BOOKING_WINDOWS and rd.metric in df.columns else "booked"
    per_bk = f"per booking {BOOKING_WINDOWS.get(bk, 'in the follow-up')}"
    if {"staff_minutes", bk} <= set(df.columns) and df[bk].astype(bool).groupby(df[rd.arm]).sum().min() > 0:
        from ..stats.ratio import Ratio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            staff = analyze(
                df.assign(**{bk: df[bk].astype(int)}),
                arm=rd.arm,
                control=rd.control,
                metrics=[Ratio("staff_minutes", bk)],
                correction="none",
                alpha=rd.alpha,
            ).results.set_index("arm")
    rows = []
    for a in arms:
        is_ctrl = a == rd.control
        rate = float(r["control_value"].iloc[0]) if is_ctrl else float(r.loc[a, "arm_value"])
        n = int(r["n_control"].iloc[0]) if is_ctrl else int(r.loc[a, "n_arm"])
        row: dict[str, Any] = {
            "Arm": arm_label(a),
            f"{upper_first(metric_label(rd.metric))} per 1,000 leads": f"{rate * 1000:,.0f}"
            + (f"\n{round(rate * n):,} / {n:,}" if binary else ""),
        }
        row["Relative lift"] = ""
        if is_ctrl:
            row["Extra per month, all leads on this arm"] = "(control)"
        else:
            d, lo, hi = (float(r.loc[a, k]) for k in ("diff", "adj_ci_low", "adj_ci_high"))
            row["Extra per month, all leads on this arm"] = (
                f"{d * per_month:+,.0f} ({lo * per_month:+,.0f} to {hi * per_month:+,.0f})"
            )
            row["Relative lift"] = f"{float(r.loc[a, 'rel_lift']):+.1%}"
        if staff is not None:
            v = float(staff["control_value"].iloc[0]) if is_ctrl else float(staff.loc[a, "arm_value"])
            row[f"Staff minutes {per_bk}"] = f"{v:,.1f}"
            if rd.staff_cost_per_hour > 0:
                row[f"Staff cost {per_bk}"] = money(v / 60 * rd.staff_cost_per_hour, rd.currency)
        if "staff_minutes" in df.columns:
            # the staff a rollout needs: every lead of a week on this arm, at its staff minutes per lead
            per_lead = float(df.loc[df[rd.arm].astype(str) == a, "staff_minutes"].mean())
            row["Staff hours a week, all leads on this arm"] = f"{per_lead * per_month / 30.4 * 7 / 60:,.0f}"
        speed = next((c for c in ("first_call_minutes", "first_response_minutes") if c in df.columns), None)
        if speed is not None:
            mins = df.loc[df[rd.arm].astype(str) == a, speed].median()
            what = "first call" if speed == "first_call_minutes" else "first response"
            row[f"Median time to {what} (leads with one)"] = _duration(float(mins))
        rows.append(row)
    table = pd.DataFrame(rows).fillna("")
    return dates, table


#: Staffed hours a week assumed when turning staff hours into agents on shift (8:00-18:00, Monday-Friday).
STAFFED_HOURS_A_WEEK = 50.0


def money(amount: float, currency: str = "USD") -> str:
    """An amount as money in ``currency`` (ISO 4217), as an English-language reader writes it: $17.58,
    €17.58, CHF 17.58 (Babel's formats)."""
    from babel.numbers import format_currency

    if not math.isfinite(amount):
        return "–"
    return str(format_currency(amount, currency.upper(), locale="en_US"))


def check_currency(currency: str) -> str:
    """The currency code, upper-cased; a ParameterError when it is no ISO 4217 code Babel knows."""
    from babel.numbers import list_currencies

    from ..errors import ParameterError

    code = str(currency).strip().upper()
    if code not in list_currencies():
        raise ParameterError(
            f"Unknown report parameter value currency={currency!r}: expected an ISO 4217 currency code "
            "such as USD, EUR or GBP."
        )
    return code


def _duration(minutes: float) -> str:
    """Minutes as a person says them: 4 min, 2.5 h, 1.2 days."""
    if not math.isfinite(minutes):
        return "–"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def rate_with_counts(value: float, n: int, binary: bool, digits: int = 1) -> str:
    """A rate with its raw counts on the line under it ("27.8%" over "76 / 273"), as a results page
    shows numerator and denominator; a mean of a numeric metric, with its leads."""
    if not math.isfinite(value):
        return "–"
    if binary:
        return f"{value * 100:.{digits}f}%\n{round(value * n):,} / {int(n):,}"
    return f"{value:.2f}\nn = {int(n):,}"


def key_numbers(ra: ReportAnalysis, decision: Any = None, line: str = "") -> pd.DataFrame:
    """The key numbers table: per metric and arm, value (with its counts), difference with CI, adjusted p.

    With the run's ``decision`` (:class:`~nurture_lab.reporting.decision.RunDecision`) a *Verdict*
    column reads it: the decision's status on the primary metric's row of the decision's arm, and on
    every other row that it does not decide. The intervals here are this line's own: when the decision
    is made over more leads than the page's (``line`` is one of its lines) their titles say they do
    not decide."""
    r = ra.main.results
    binary = r["metric_type"] == "binary"
    out = pd.DataFrame(
        {
            "Metric": r["metric"].map(metric_label).map(upper_first),
            "Arm": r["arm"].map(arm_label),
            "Control": [rate_with_counts(v, n, b) for v, n, b in zip(r["control_value"], r["n_control"], binary)],
            "Arm value": [rate_with_counts(v, n, b) for v, n, b in zip(r["arm_value"], r["n_arm"], binary)],
            "Difference": [f"{d * 100:+.1f} pts" if b else f"{d:+.2f}" for d, b in zip(r["diff"], binary)],
            f"{_level(ra.main)} CI": [
                f"{lo * 100:+.1f} to {hi * 100:+.1f}" if b else f"{lo:+.2f} to {hi:+.2f}"
                for lo, hi, b in zip(r["diff_ci_low"], r["diff_ci_high"], binary)
            ],
            "Adjusted p": [_p_text(p) for p in r["p_adjusted"]],
            _adjusted_label(ra.main): [
                f"{lo * 100:+.1f} to {hi * 100:+.1f}" if b else f"{lo:+.2f} to {hi:+.2f}"
                for lo, hi, b in zip(r["adj_ci_low"], r["adj_ci_high"], binary)
            ],
        }
    )
    if decision is None:
        return out
    own = line in decision.lines  # a line of a larger run: its intervals describe, the run's decide
    if own:
        out = out.rename(columns=lambda c: f"{c}, this line (does not decide)" if "CI" in c else c)
    else:
        out = out.rename(columns={f"{_level(ra.main)} CI": f"{_level(ra.main)} CI (does not decide)"})
    decides = (r["metric"] == decision.metric) & (r["arm"].astype(str) == decision.arm)
    out["Verdict"] = np.where(
        decides,
        decision.short_status() + ("\n(over all lines)" if own else ""),
        np.where(r["metric"] == decision.metric, "not the\ndecision's arm", "secondary:\ndoes not decide"),
    )
    return out


def _level(res: AnalysisResult) -> str:
    """The confidence level of a result's plain intervals, from its alpha (95% for alpha 0.05)."""
    return f"{100 * (1 - float(res.settings['alpha'])):.3g}%"


def _adjusted_label(res: AnalysisResult) -> str:
    """The column title of the intervals that go with the adjusted p-values (their level)."""
    level = 100 * (1 - float(res.settings.get("adjusted_alpha", res.settings["alpha"])))
    return f"Adjusted CI ({level:.4g}%)"


def guardrail_table(ra: ReportAnalysis) -> pd.DataFrame:
    if ra.guardrail is None:
        return pd.DataFrame({"Guardrail": ra.notes or ["No guardrail metric in the data."]})
    g = ra.guardrail.results
    m = ra.main.results  # the same leads: each arm's and the control's count of leads
    n_arm = g["arm"].map(m.groupby("arm")["n_arm"].first())
    n_ctrl = int(m["n_control"].iloc[0])
    return pd.DataFrame(
        {
            "Guardrail": g["metric"].map(metric_label).map(upper_first),
            "Arm": g["arm"].map(arm_label),
            "Control": [rate_with_counts(v, n_ctrl, True, 2) for v in g["control_value"]],
            "Arm value": [rate_with_counts(v, n, True, 2) for v, n in zip(g["arm_value"], n_arm)],
            "Change (90% CI)": [
                f"{d * 100:+.2f} ({lo * 100:+.2f} to {hi * 100:+.2f}) pts"
                for d, lo, hi in zip(g["diff"], g["diff_ci_low"], g["diff_ci_high"])
            ],
            "Margin": (g["margin"] * 100).map("{:.1f} pts".format),
            "Verdict": np.where(g["non_inferior"], "no meaningful rise", "cannot rule out a rise"),
        }
    )


def data_quality_text(rd: ReportData, ra: ReportAnalysis) -> str:
    srm = ra.main.srm
    counts = ", ".join(f"{text_label(a)} {n:,}" for a, n in srm["counts"].items())
    planned = split_text(srm["expected_share"]) + ("" if rd.allocation else f" ({ASSUMED_EQUAL})")
    verdict = (
        "**Sample ratio mismatch**: the arms' sizes differ from the plan more than chance allows "
        "— check the assignment before trusting any effect."
        if srm["flagged"]
        else "No sample ratio mismatch (the check flags p < 0.001)."
    )
    notes = "".join(f" {n}" for n in ra.notes)
    return f"Leads per arm: {counts}; planned split: {planned}. Sample ratio check: {p_text(srm['p_value'])}. {verdict}{notes}"


def segment_table(ra: ReportAnalysis, column: str) -> pd.DataFrame:
    """One row per group and arm, with its leads; groups too small to test show "–" instead of numbers."""
    res = ra.segments[column].results
    binary = res["metric_type"] == "binary"
    small = res["small_group"].to_numpy(bool)

    def cell(text: str, i: int) -> str:
        return "–" if small[i] else text

    def diff(d: float, lo: float, hi: float, b: bool) -> str:
        if not math.isfinite(d):
            return "–"
        return f"{d * (100 if b else 1):+.1f} ({_interval(lo, hi, b)}){' pts' if b else ''}"

    adjusted = _adjusted_label(ra.segments[column])
    return pd.DataFrame(
        {
            column.replace("_", " ").title(): res[column].map(arm_label),
            "Arm": res["arm"].map(arm_label),
            "Control": [rate_with_counts(v, n, b) for v, n, b in zip(res["control_value"], res["n_control"], binary)],
            "Arm value": [rate_with_counts(v, n, b) for v, n, b in zip(res["arm_value"], res["n_arm"], binary)],
            f"Difference ({_level(ra.segments[column])} CI)": [
                cell(diff(d, lo, hi, b), i)
                for i, (d, lo, hi, b) in enumerate(zip(res["diff"], res["diff_ci_low"], res["diff_ci_high"], binary))
            ],
            "Adjusted p": [cell(_p_text(p), i) for i, p in enumerate(res["p_adjusted"])],
            adjusted: [
                cell(_interval(lo, hi, b), i)
                for i, (lo, hi, b) in enumerate(zip(res["adj_ci_low"], res["adj_ci_high"], binary))
            ],
            "Note": _segment_notes(res, small, binary.to_numpy(bool)),
        }
    )


#: Below this many events (or non-events) in an arm a rate's normal-approximation interval is rough.
FEW_EVENTS = 5


def _segment_notes(res: pd.DataFrame, small: np.ndarray, binary: np.ndarray) -> list[str]:
    """A segment row's note: too small to test, or (a rate) fewer than :data:`FEW_EVENTS` events or
    non-events in an arm, where the interval is rough."""
    counts = [
        np.rint(res[v].to_numpy(float) * res[n].to_numpy(float))
        for v, n in (("control_value", "n_control"), ("arm_value", "n_arm"))
    ]
    sizes = [res["n_control"].to_numpy(float), res["n_arm"].to_numpy(float)]
    with np.errstate(invalid="ignore"):
        few = np.minimum.reduce([np.minimum(k, n - k) for k, n in zip(counts, sizes, strict=True)]) < FEW_EVENTS
    return [
        "too small to test" if s else (f"fewer than {FEW_EVENTS} events in an arm: a rough interval" if b and f else "")
        for s, b, f in zip(small, binary, few, strict=True)
    ]


def _interval(lo: float, hi: float, binary: bool) -> str:
    """An interval for a table, in points for a rate; '–' when it does not exist."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    k = 100 if binary else 1
    return f"{lo * k:+.1f} to {hi * k:+.1f}"


def _p_text(p: float) -> str:
    """A p-value for a table: '–' when there is none, '<0.001' when tiny."""
    if not math.isfinite(p):
        return "–"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def methods_note(rd: ReportData, ra: ReportAnalysis) -> str:
    s = ra.main.settings
    p = rd.provenance
    src = (
        f"simulated: scenario `{p.get('scenario', '?')}` (sha256 `{str(p.get('scenario_sha256', ''))[:12]}…`), "
        f"seed {p.get('seed')}, {p.get('n_leads', 0):,} leads in all service lines"
        if rd.simulated
        else f"real data: `{text_label(p.get('data_file', '?'))}` (identifiers dropped at import)"
    )
    notes = [*p.get("import_notes", []), *p.get("report_notes", [])]
    return "\n".join(
        [
            f"- **Data**: {src}; this report: {len(rd.leads):,} leads of {text_label(rd.service_line)}.",
            *(
                ["- **Import** (all service lines):", *(f"    - {html.escape(str(n))}" for n in notes)]
                if notes and not rd.simulated
                else []
            ),
            f"- **Tests**: {', '.join(sorted(set(ra.main.results['test'])))}; CI method {s['ci_method']}; "
            f"{s['correction']} correction over {s['family_size']} comparison{'s' if s['family_size'] != 1 else ''}; "
            f"alpha {s['alpha']}.",
            "- **Relative lift**: Fieller's interval from each row's own test (MOVER-R when the CI method is "
            "Newcombe), "
            "so it agrees with the row's p-value; the verdict's relative interval is Fieller's at the decision "
            "interval's level, so it excludes 0 exactly when the decision interval does.",
            (
                f"- **Guardrail**: one-sided non-inferiority of {metric_label(rd.guardrail)}, margin "
                f"{rd.guardrail_margin * 100:.1f} points, at alpha {rd.alpha}."
                if ra.guardrail is not None
                else f"- **Guardrail**: none tested ({metric_label(rd.guardrail)}: not in the data or the same for "
                "every lead)."
            ),
            (
                "- **Time to book**: Kaplan–Meier, log-rank test, Cox proportional hazards (statsmodels)."
                if ra.time is not None
                else "- **Time to book**: not shown (the data have no booking times)."
            ),
            "- **Sample ratio**: chi-square goodness of fit against the planned allocation (the report's "
            "`allocation` parameter; equal shares unless given), flagged at p < 0.001.",
            *(
                [
                    "- **Monitoring**: always-valid p-values and confidence sequences (asymptotic confidence "
                    "sequences, Waudby-Smith et al. 2021): valid however often the running test is looked at."
                ]
                if rd.sequential
                else []
            ),
            f"- **Software**: nurture_lab {__version__}. Re-run with the same parameters to reproduce every number.",
        ]
    )

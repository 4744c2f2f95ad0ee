"""Results for people: tables with human labels and reading paragraphs generated from the numbers.

The notebooks call these instead of printing raw frames and reprs, so that when papermill changes a
parameter (a scenario, a seed, a metric) the text still says what the numbers say.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..simulation.population import local_arrival
from ..stats.analysis import AnalysisResult
from .content import _interval
from .content import _level as content_level
from .content import _p_text as p_text
from .labels import arm_label, metric_label, text_label

__all__ = [
    "effects_table",
    "guardrail_text",
    "import_summary",
    "leads_for_power_table",
    "p_text",
    "power_table",
    "reading_ab",
    "reading_cadence",
    "reading_population",
    "reading_power",
    "sample_size_table",
    "srm_table",
    "time_to_book_table",
    "truth_settings",
]


def _level(res: AnalysisResult, adjusted: bool = False) -> str:
    """The level of a result's plain intervals, or of the adjusted ones (from alpha)."""
    if not adjusted:
        return content_level(res)
    return f"{100 * (1 - float(res.settings.get('adjusted_alpha', res.settings['alpha']))):.4g}%"


def _value(v: float, binary: bool) -> str:
    return "–" if not math.isfinite(v) else (f"{v * 100:.1f}%" if binary else f"{v:.2f}")


def _diff(v: float, binary: bool) -> str:
    return "–" if not math.isfinite(v) else (f"{v * 100:+.1f} pts" if binary else f"{v:+.2f}")


def effects_table(res: AnalysisResult) -> pd.DataFrame:
    """Per metric (and group) and arm: the values, the difference with its CI, the relative lift,
    the adjusted p-value and the interval that goes with it, and the leads behind them."""
    r = res.results
    binary = (r["metric_type"] == "binary").to_numpy()
    cols: dict[str, Any] = {}
    if "group" in r.columns:
        cols[str(res.settings.get("by") or "Group").replace("_", " ").capitalize()] = r["group"].map(text_label)
    cols["Metric"] = r["metric"].map(metric_label)
    cols["Arm"] = r["arm"].map(arm_label)
    cols["Control"] = [_value(v, b) for v, b in zip(r["control_value"], binary)]
    cols["Arm value"] = [_value(v, b) for v, b in zip(r["arm_value"], binary)]
    cols[f"Difference ({_level(res)} CI)"] = [
        f"{_diff(d, b)} ({_interval(lo, hi, b)})" if math.isfinite(d) else "–"
        for d, lo, hi, b in zip(r["diff"], r["diff_ci_low"], r["diff_ci_high"], binary)
    ]
    cols["Relative lift"] = [f"{x * 100:+.0f}%" if math.isfinite(x) else "–" for x in r["rel_lift"]]
    cols["Adjusted p"] = [p_text(p) for p in r["p_adjusted"]]
    cols[f"Adjusted CI ({_level(res, True)})"] = [
        _interval(lo, hi, b) for lo, hi, b in zip(r["adj_ci_low"], r["adj_ci_high"], binary)
    ]
    cols["Leads (arm / control)"] = [f"{a:,} / {c:,}" for a, c in zip(r["n_arm"], r["n_control"])]
    return pd.DataFrame(cols)


def time_to_book_table(ttb: Any) -> pd.DataFrame:
    """Per arm: leads, bookings, the median days to book ('not reached' when under half book),
    the hazard ratio vs control with its CI and p, and the restricted mean days to book."""
    t = ttb.to_pandas()
    out = pd.DataFrame(
        {
            "Arm": t["arm"].map(arm_label),
            "Leads": t["n"].map(lambda v: f"{int(v):,}"),
            "Booked": t["n_booked"].map(lambda v: f"{int(v):,}"),
            "Median days to book": t["median_days"].map(
                lambda v: f"{v:.1f}" if math.isfinite(v) else "not reached (under half booked)"
            ),
            "Hazard ratio (CI)": [
                "control" if not math.isfinite(h) else f"{h:.2f} ({lo:.2f} to {hi:.2f})"
                for h, lo, hi in zip(t["hazard_ratio"], t["hr_ci_low"], t["hr_ci_high"])
            ],
            "p": [p_text(p) for p in t["p_value"]],
        }
    )
    if "rmst_diff_days" in t.columns:
        horizon = ttb.settings.get("horizon_days")
        out[f"Days sooner within {horizon:g} days (CI)"] = [
            "–" if not math.isfinite(d) else f"{-d:+.1f} ({-hi:+.1f} to {-lo:+.1f})"
            for d, lo, hi in zip(t["rmst_diff_days"], t["rmst_ci_low"], t["rmst_ci_high"])
        ]
    return out


def reading_ab(res: AnalysisResult, metric: str, truth: pd.DataFrame | None = None, also: str | None = None) -> str:
    """A reading paragraph for an A/B(/n) result, written from its numbers (markdown)."""
    r = res.results
    alpha = float(res.settings["alpha"])
    rows = r[r["metric"] == metric]
    if "group" in rows.columns:
        rows = rows[rows["group"].isna()] if rows["group"].isna().any() else rows
    binary = bool((rows["metric_type"] == "binary").all())
    ctrl = arm_label(str(res.settings["control"]))
    parts = []
    for _, x in rows.sort_values("diff", ascending=False).iterrows():
        sig = x["p_adjusted"] < alpha
        verdict = "a difference the test detects" if sig else "not distinguishable from no difference"
        sentence = (
            f"**{arm_label(x['arm'])}**: {metric_label(metric)} {_value(x['arm_value'], binary)} vs "
            f"{_value(x['control_value'], binary)} under {ctrl}, {_diff(x['diff'], binary)} "
            f"({_level(res)} CI {_interval(x['diff_ci_low'], x['diff_ci_high'], binary)}, adjusted p "
            f"{p_text(x['p_adjusted'])}) — {verdict}"
        )
        if truth is not None and len(truth):
            from ..simulation.engine import truth_in

            t_exp = truth_in(truth)
            tr = t_exp[(t_exp["metric"] == metric) & (t_exp["arm"] == x["arm"]) & (t_exp["service_line"] == "all")]
            if len(tr):
                true = float(tr["true_diff"].iloc[0])
                covered = x["diff_ci_low"] <= true <= x["diff_ci_high"]
                sentence += f"; the simulator's true effect is {_diff(true, binary)}, {'inside' if covered else 'outside'} the interval"
        parts.append(sentence + ".")
    text = "**Reading.** " + " ".join(parts)
    if also is not None:
        a = r[r["metric"] == also]
        if len(a):
            best = a.loc[a["diff"].idxmax()]
            b2 = bool(best["metric_type"] == "binary")
            text += (
                f" For {metric_label(also)}, the largest difference is {arm_label(best['arm'])}'s "
                f"{_diff(best['diff'], b2)} (adjusted p {p_text(best['p_adjusted'])})."
            )
    widths = (rows["diff_ci_high"] - rows["diff_ci_low"]).abs()
    if len(widths) and math.isfinite(float(widths.max())):
        half = float(widths.max()) / 2
        text += (
            f" With {int(rows['n_control'].iloc[0]):,} leads in the control arm the intervals are about "
            f"±{half * (100 if binary else 1):.1f}{' points' if binary else ''} wide: effects smaller than that "
            "cannot be told from chance at this size."
        )
    return text


def reading_population(leads: pd.DataFrame, staffed_hours: tuple[float, float]) -> str:
    """A reading paragraph for the population explorer, from the leads."""
    local = local_arrival(leads)
    hour = local.dt.hour + local.dt.minute / 60
    after = ~hour.between(staffed_hours[0], staffed_hours[1] - 1e-9)
    by_line = after.groupby(leads["service_line"], observed=True).mean().sort_values()
    lines = ", ".join(f"{text_label(k).replace('_', ' ')} {v:.0%}" for k, v in by_line.items())
    top = leads["service_line"].value_counts(normalize=True)
    return (
        f"**Reading.** {after.mean():.0%} of inquiries arrive outside staffed hours "
        f"({staffed_hours[0]:g}:00–{staffed_hours[1]:g}:00 local); by service line: {lines}. The largest line is "
        f"{str(top.index[0]).replace('_', ' ')} ({top.iloc[0]:.0%} of leads). SMS consent is the scarcest "
        f"({leads['consent_sms'].mean():.0%} of leads), so texting steps reach a minority and call and e-mail "
        "steps carry the cadence."
    )


def reading_cadence(touches: pd.DataFrame, leads: pd.DataFrame) -> str:
    """A reading paragraph for the cadence anatomy, from the touch log."""
    status = touches["status"].astype(str)
    reason = touches["reason"].astype(str)
    n = len(touches)
    sent = status == "sent"
    deferred = sent & (reason != "")
    skipped = status == "skipped"
    top_skip = reason[skipped].value_counts().head(3)
    top_defer = reason[deferred].str.split("+").explode().value_counts().head(3)
    skip_txt = ", ".join(f"{k.replace('_', ' ')} ({v:,})" for k, v in top_skip.items())
    defer_txt = ", ".join(f"{k.replace('_', ' ')} ({v:,})" for k, v in top_defer.items())
    wait = touches.loc[deferred, "deferred_minutes"].median()
    return (
        f"**Reading.** Of {n:,} planned touches, {sent.mean():.0%} were sent, {skipped.mean():.0%} skipped by a "
        f"policy rule and {(status == 'not_selected').mean():.0%} not selected by a step's conditions. The main "
        f"reasons to skip: {skip_txt}. {deferred.sum():,} sends were deferred (median wait "
        f"{wait / 60:.1f} h), mostly for {defer_txt}. Leads received {leads['n_touches'].mean():.1f} touches on "
        f"average and cost {leads['staff_minutes'].mean():.1f} staff minutes each."
    )


def guardrail_text(ni: Any, label: str = "opt-outs") -> str:
    """One sentence per arm for a non-inferiority guardrail result."""
    s = ni.settings
    r = ni.results
    if r.empty:
        return f"_No arm to compare on {label}._"
    parts = []
    for _, x in r.iterrows():
        ok = bool(x["non_inferior"])
        parts.append(
            f"{arm_label(x['arm'])}: {_diff(x['diff'], True)} ({'within' if ok else 'not shown to be within'} "
            f"the {s['margin'] * 100:g}-point margin, one-sided p {p_text(x['p_value'])})"
        )
    return f"**Guardrail — {label}.** " + "; ".join(parts) + "."


def reading_power(power: Any, monthly_leads: int, target: float = 0.8) -> str:
    """A reading paragraph for the power planning notebook, from the simulated power table."""
    t = power.table
    top = t[t["n_leads"] == t["n_leads"].max()]
    best = top.loc[top["power"].idxmax()]
    need = power.n_for_power(target)
    base = float(power.settings["control_rate"])
    arms = t["arm"].nunique() + 1
    n_arm = monthly_leads // arms
    from ..stats.power import mde

    detect = mde(base, n_arm) * 100
    need_txt = ", ".join(
        f"{arm_label(a)} {'more than ' + format(int(t['n_leads'].max()), ',') + ' leads' if not math.isfinite(v) else format(int(round(v, -2)), ',') + ' leads'}"
        for a, v in need.items()
    )
    return (
        f"**Reading.** At the largest size simulated ({int(best['n_leads']):,} leads in all) the best arm, "
        f"{arm_label(best['arm'])}, is detected in {best['power']:.0%} of simulated experiments. "
        f"{target:.0%} power needs: {need_txt}. With a control rate of {base:.1%}, a month of leads "
        f"({n_arm:,} per arm) can detect differences of about {detect:.1f} points or more."
    )


def truth_settings(truth: pd.DataFrame, metric: str, control: str, agents: Any = None) -> tuple[pd.DataFrame, str]:
    """The simulator's true effects in the experiment and at full rollout, side by side, and a reading.

    ``experiment``: every lead on the arm while the arms share the contact centre as randomised;
    ``rollout``: every lead on the arm with the same staff (see ``nl.truth_in``).
    """
    from ..simulation.engine import truth_in

    binary = metric not in ("n_touches", "staff_minutes")
    rows = []
    for setting in ("experiment", "rollout"):
        t = truth_in(truth, setting)
        t = t[(t["metric"] == metric) & (t["service_line"] == "all")].set_index("arm")
        rows.append(t)
    exp, roll = rows
    arms = [a for a in exp.index if a != control]
    table = pd.DataFrame(
        {
            "Arm": [arm_label(a) for a in arms],
            f"True {metric_label(metric)}, in the test": [_value(float(exp.loc[a, "mean"]), binary) for a in arms],
            "… at full rollout": [_value(float(roll.loc[a, "mean"]), binary) for a in arms],
            "True effect in the test": [_diff(float(exp.loc[a, "true_diff"]), binary) for a in arms],
            "True effect at full rollout": [_diff(float(roll.loc[a, "true_diff"]), binary) for a in arms],
        }
    )
    gaps = {a: float(roll.loc[a, "true_diff"]) - float(exp.loc[a, "true_diff"]) for a in arms}
    worst = min(gaps, key=lambda a: gaps[a])
    staff = "" if agents is None else f" with {agents} agents"
    if abs(gaps[worst]) < (0.001 if binary else 0.01):
        text = (
            f"In the test the arms shared one contact centre{staff}; at full rollout every lead would be on one arm. "
            "The true effects agree: this staff carries any arm, so the test's effect is what a rollout would deliver."
        )
    else:
        text = (
            f"In the test the arms shared one contact centre{staff}; at full rollout every lead would be on one arm, "
            f"all calling through the same staff. {arm_label(worst)}: {_diff(float(exp.loc[worst, 'true_diff']), binary)} "
            f"in the test, {_diff(float(roll.loc[worst, 'true_diff']), binary)} at rollout"
            + (
                " — the test overstates what rolling it out would deliver without more staff."
                if gaps[worst] < 0
                else "."
            )
        )
    return table, text


def srm_table(res: AnalysisResult) -> tuple[pd.DataFrame, str]:
    """The sample ratio check for people: leads per arm against the planned share, and a sentence."""
    srm = res.srm
    total = sum(srm["counts"].values())
    table = pd.DataFrame(
        {
            "Arm": [arm_label(a) for a in srm["counts"]],
            "Leads": [f"{n:,}" for n in srm["counts"].values()],
            "Share": [f"{n / total:.2%}" for n in srm["counts"].values()],
            "Planned share": [f"{srm['expected_share'][a]:.2%}" for a in srm["counts"]],
        }
    )
    verdict = (
        "the arms' sizes differ from the plan more than chance allows: check the assignment"
        if srm["flagged"]
        else "the arms' sizes match the plan (no sample ratio mismatch)"
    )
    return table, f"Sample ratio check (chi-square): p = {srm['p_value']:.3f}; {verdict}."


def power_table(power: Any) -> pd.DataFrame:
    """The simulated power table for people: leads, arm, power with its Monte Carlo interval, the
    true effect, the mean estimate and how often the interval covered the truth."""
    t = power.table
    pct = 100.0
    return pd.DataFrame(
        {
            "Leads (all arms)": [f"{int(n):,}" for n in t["n_leads"]],
            "Arm": t["arm"].map(arm_label),
            "Power": [
                f"{p:.0%} ({max(p - 1.96 * se, 0):.0%} to {min(p + 1.96 * se, 1):.0%})"
                for p, se in zip(t["power"], t["power_se"])
            ],
            "True effect": [f"{v * pct:+.2f} pts" for v in t["true_effect"]],
            "Mean estimate": [f"{v * pct:+.2f} pts" for v in t["mean_estimate"]],
            "Interval covered the truth": [f"{c:.0%}" for c in t["coverage"]],
            "Experiments": t["replications"].map("{:,}".format),
        }
    )


def leads_for_power_table(power: Any, target: float = 0.8) -> pd.DataFrame:
    """Leads each arm needs for ``target`` power, in words where the sizes simulated never reach it."""
    need = power.n_for_power(target)
    largest = int(power.table["n_leads"].max())
    return pd.DataFrame(
        {
            "Arm": [arm_label(a) for a in need],
            f"Leads for {target:.0%} power": [
                f"about {int(round(v, -2)):,}" if math.isfinite(v) else f"more than {largest:,} (not reached)"
                for v in need.values()
            ],
        }
    )


def import_summary(imp: Any) -> str:
    """What reading an export did, for people: the identifier columns dropped, and each note (the date orders,
    as_of, the follow-up, then each fix), as a list."""
    dropped = ", ".join(f"`{text_label(c)}`" for c in imp.dropped_identifiers) or "none"
    fixes = "".join(f"\n- {text_label(f)}" for f in imp.notes)
    return f"**Identifier columns dropped at import:** {dropped}.\n\n**What the import did:**{fixes or ' nothing.'}"


def sample_size_table(
    baselines: Any = (0.10, 0.20, 0.30), effects: Any = (0.01, 0.02, 0.03, 0.05), alpha: float = 0.05
) -> pd.DataFrame:
    """Leads per arm to detect each effect (points) from each control rate, 80% power (the Wald test)."""
    from ..stats.power import sample_size

    return pd.DataFrame(
        {
            "Control rate": [f"{b:.0%}" for b in baselines],
            **{f"+{d * 100:g} points": [f"{sample_size(b, d, alpha=alpha):,}" for b in baselines] for d in effects},
        }
    )

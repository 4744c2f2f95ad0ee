"""The one decision of a report run: its rules, its interval, its lines, and its worth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import nurture_lab as nl
from nurture_lab.reporting.decision import KEEP, ROLL_BACK, SHIP, STOP, RunDecision, decide, status_rule
from nurture_lab.stats.power import sample_size

LINES = [f"line_{i}" for i in range(8)]


def _leads(
    effects: dict[str, float], n: int = 2000, base: float = 0.25, seed: int = 1, line_shift=None
) -> pd.DataFrame:
    """Leads of 8 service lines and 3 arms; ``effects``: each arm's true difference from the control;
    ``line_shift``: an extra difference for one (line, arm)."""
    rng = np.random.default_rng(seed)
    arms = ["control", *effects]
    rows = len(LINES) * len(arms) * n
    line = np.repeat(LINES, len(arms) * n)
    arm = np.tile(np.repeat(arms, n), len(LINES))
    p = base + np.array([0.0 if a == "control" else effects[a] for a in arm])
    if line_shift:
        (ln, a), d = next(iter(line_shift.items()))
        p = p + np.where((line == ln) & (arm == a), d, 0.0)
    start = pd.Timestamp("2026-01-05", tz="UTC")
    return pd.DataFrame(
        {
            "arm": arm,
            "service_line": line,
            "booked_30d": (rng.random(rows) < p).astype(int),
            "opted_out": (rng.random(rows) < 0.02).astype(int),
            "created_at": start + pd.to_timedelta(rng.uniform(0, 28, rows), unit="D"),
            "staff_minutes": rng.gamma(2.0, 3.0, rows) + np.where(arm == "fast", 1.0, 0.0),
        }
    )


def test_status_rules_one_by_one() -> None:
    d = {"a": 0.02, "b": 0.01}
    assert status_rule({"a": 0.005, "b": -0.01}, {"a": 0.04, "b": 0.03}, d, 0.02) == (SHIP, "a")
    # a shown gain whose guardrail is not shown safe is not shipped
    assert status_rule({"a": 0.005, "b": -0.01}, {"a": 0.04, "b": 0.03}, d, 0.02, {"a": False, "b": True})[0] == KEEP
    assert status_rule({"a": -0.05, "b": -0.04}, {"a": -0.001, "b": -0.002}, {"a": -0.02, "b": -0.03}, 0.02) == (
        ROLL_BACK,
        "a",
    )
    assert status_rule({"a": -0.01, "b": -0.02}, {"a": 0.015, "b": 0.01}, {"a": 0.002, "b": -0.005}, 0.02)[0] == STOP
    assert status_rule({"a": -0.01, "b": -0.02}, {"a": 0.03, "b": 0.01}, {"a": 0.01, "b": -0.005}, 0.02)[0] == KEEP


def test_the_decision_quotes_the_adjusted_interval_of_analyze() -> None:
    leads = _leads({"fast": 0.04, "slow": 0.0})
    dec = decide(leads, control="control")
    a = nl.analyze(leads, arm="arm", control="control", metrics=["booked_30d"])  # the family: one metric, 2 arms
    row = a.row("booked_30d", "fast")
    assert dec.status == SHIP and dec.arm == "fast"
    assert dec.low == pytest.approx(row["adj_ci_low"]) and dec.high == pytest.approx(row["adj_ci_high"])
    assert dec.level == pytest.approx(1 - a.settings["adjusted_alpha"]) and dec.comparisons == 2
    text = dec.run_sentence()
    assert f"{dec.level * 100:.4g}% interval, adjusted for 2 comparisons" in text
    assert f"{row['adj_ci_low'] * 100:+.1f} to {row['adj_ci_high'] * 100:+.1f}" in text
    if a.settings["adjusted_alpha"] < 0.049:  # Holm's last step may be alpha itself: then the two agree
        assert f"{row['diff_ci_low'] * 100:+.1f} to {row['diff_ci_high'] * 100:+.1f}" not in text
    # relative lift beside the points, over the control's rate
    assert f"relative {row['diff'] / row['control_value']:+.1%}" in text
    assert "Chance that fast beats control" in text
    # stored and read back: the same sentences
    back = RunDecision.from_dict(json.loads(json.dumps(dec.to_dict())))
    assert back.run_sentence() == text and back.line_sentence("line_3") == dec.line_sentence("line_3")


def test_no_gain_states_the_gains_ruled_out_and_the_status_against_the_target() -> None:
    leads = _leads({"fast": 0.0, "slow": -0.002}, n=3000)
    stop = decide(leads, control="control", target_effect=0.06)  # far above anything plausible here
    assert stop.status == STOP and stop.best_high < 0.06
    assert f"rules out gains larger than {stop.best_high * 100:+.1f} points" in stop.run_sentence()
    assert "No gain to bank" in stop.worth_text() and "per arm" not in stop.worth_text()
    keep = decide(leads, control="control", target_effect=0.005)  # a small target is still plausible
    assert keep.status == KEEP
    n = min(int((leads["arm"] == "control").sum()), int((leads["arm"] == keep.arm).sum()))
    power = sample_size(keep.control_rate, 0.005, alpha=1 - keep.level)
    h, gap = (keep.high - keep.low) / 2, max(keep.diff, 0.005 - keep.diff)
    need = max(power, n * (h / gap) ** 2)  # 80% power for the target, or where the interval settles
    assert need > n and keep.more_leads == math.ceil((need - n) * 3 / 100) * 100
    assert f"about {keep.more_leads:,} more leads" in keep.run_sentence()
    assert keep.more_days == pytest.approx(keep.more_leads / (len(leads) / keep.worth["days"]), rel=1e-6)


def test_a_gain_held_back_by_its_guardrail_says_so_and_not_that_no_gain_is_shown() -> None:
    leads = _leads({"fast": 0.06, "slow": 0.0}, n=1500, seed=3)
    rng = np.random.default_rng(4)
    fast = (leads["arm"] == "fast").to_numpy()
    leads.loc[fast, "opted_out"] = (rng.random(int(fast.sum())) < 0.045).astype(int)  # opt-outs rise
    dec = decide(leads, control="control")
    assert dec.arm == "fast" and dec.low > 0 and dec.guardrail_ok is False and dec.status == KEEP
    text = dec.run_sentence()
    assert "a gain is shown, but a rise in opt-outs" in text and "so it does not ship yet" in text
    assert "a gain is not shown" not in text
    assert text.count("rise") == 1  # the guardrail stated once


def test_an_unplanned_split_is_stated_before_the_decision_and_a_planned_one_is_not() -> None:
    leads = _leads({"fast": 0.03}, n=1500, seed=6)
    drop = leads.index[(leads["arm"] == "fast").to_numpy()][::4]  # a quarter of the new arm lost
    leads = leads.drop(drop).reset_index(drop=True)
    n = leads["arm"].value_counts()
    flagged = decide(leads, control="control")
    chi = ((n - n.sum() / 2) ** 2 / (n.sum() / 2)).sum()  # chi-square against 50/50, by hand
    assert flagged.srm_flagged and flagged.srm_p == pytest.approx(stats.chi2.sf(chi, 1), rel=1e-9)
    text = flagged.run_sentence()
    assert text.startswith("**Check the assignment before acting on this.**")
    assert f"control {n['control']:,}, fast {n['fast']:,}" in text and "equal shares, assumed" in text
    assert "If the assignment is sound, the result reads: **" in text
    planned = decide(leads, control="control", allocation={"control": 4, "fast": 3})  # shares need not sum to 1
    assert not planned.srm_flagged and "Check the assignment" not in planned.run_sentence()


def test_the_relative_interval_is_fiellers_at_the_decisions_level() -> None:
    """Checked by solving Fieller's inequality numerically: the ratios r with
    |p1 - r p0| <= q sqrt(v1 + r^2 v0), q the decision interval's half-width over the difference's SE."""
    for effects, seed in (({"fast": 0.04, "slow": 0.0}, 2), ({"fast": 0.0, "slow": -0.01}, 3)):
        leads = _leads(effects, n=900, seed=seed)
        dec = decide(leads, control="control")
        g = leads.groupby("arm")["booked_30d"].agg(["mean", "count"])
        p1, n1, p0, n0 = *g.loc[dec.arm], *g.loc["control"]
        v1, v0 = p1 * (1 - p1) / n1, p0 * (1 - p0) / n0
        q = (dec.high - dec.low) / 2 / np.sqrt(v1 + v0)

        def f(r: float, p1: float = p1, p0: float = p0, v1: float = v1, v0: float = v0, q: float = q) -> float:
            return abs(p1 - r * p0) - q * np.sqrt(v1 + r * r * v0)

        r0 = p1 / p0
        lo, hi = optimize.brentq(f, 1e-9, r0), optimize.brentq(f, r0, 50)
        assert dec.rel_low == pytest.approx(lo - 1, abs=1e-9) and dec.rel_high == pytest.approx(hi - 1, abs=1e-9)
        assert (dec.low > 0) == (dec.rel_low > 0) and (dec.high < 0) == (dec.rel_high < 0)
        assert f"{dec.rel_low:+.1%} to {dec.rel_high:+.1%}" in dec.run_sentence()


def test_the_planned_mde_counts_an_unequal_split_as_it_ran() -> None:
    """The default target: what the arm's leads against the control's detect with 80% power, solved
    here from the Wald sample-size formula n1 = (z_a + z_b)^2 (p1 q1 + p0 q0 / r) / d^2, r = n0 / n1."""
    leads = _leads({"fast": 0.02}, n=4000, seed=9)
    drop = leads.index[(leads["arm"] == "fast").to_numpy()][: int((leads["arm"] == "fast").sum() * 0.75)]
    leads = leads.drop(drop).reset_index(drop=True)  # 4 controls per new-arm lead
    dec = decide(leads, control="control", allocation={"control": 0.8, "fast": 0.2})
    n0, n1 = int((leads["arm"] == "control").sum()), int((leads["arm"] == "fast").sum())
    p0, r = dec.control_rate, n0 / n1
    z = stats.norm.ppf(1 - 0.05 / dec.comparisons / 2) + stats.norm.ppf(0.8)

    def n_needed(d: float) -> float:
        p1 = p0 + d
        return z**2 * (p1 * (1 - p1) + p0 * (1 - p0) / r) / d**2 - n1

    assert dec.target == pytest.approx(optimize.brentq(n_needed, 1e-4, 0.5), rel=1e-4)  # mde solves to ~1e-6
    equal = math.sqrt(2 * p0 * (1 - p0) / n1) * z  # roughly what an equal split of n1 per arm would say
    assert dec.target < equal


def test_a_line_gets_its_own_verdict_only_when_it_differs() -> None:
    same = decide(_leads({"fast": 0.04, "slow": 0.0}, seed=2), control="control")
    assert not any(ld.differs for ld in same.lines.values())
    assert "No service line differs detectably" in same.lines_sentence()
    for line in same.lines:
        assert same.line_sentence(line).startswith("**Ship fast**, as over all service lines")
    odd = decide(_leads({"fast": 0.04, "slow": 0.0}, seed=2, line_shift={("line_5", "fast"): -0.12}), control="control")
    assert odd.lines["line_5"].differs and odd.heterogeneity_p < 0.05
    for line, ld in odd.lines.items():  # the stated rule, line by line
        assert ld.differs == (not ld.pooled_low <= odd.diff <= ld.pooled_high)
        if not ld.differs:
            assert odd.line_sentence(line).startswith("**Ship fast**, as over all service lines")
    ld = odd.lines["line_5"]
    assert not ld.pooled_low <= odd.diff <= ld.pooled_high
    assert odd.line_sentence("line_5").startswith(f"**{ld.own_status}**: Line 5 differs from the whole")
    assert ld.own_status == "Keep the control here"


def test_worth_counts_bookings_staff_and_cost() -> None:
    leads = _leads({"fast": 0.04, "slow": 0.0})
    dec = decide(leads, control="control", staff_cost_per_hour=30, currency="EUR")
    w = dec.worth
    per_month = len(leads) / w["days"] * 30.4
    assert w["extra"] == pytest.approx(dec.diff * per_month)
    assert (w["extra_low"], w["extra_high"]) == pytest.approx((dec.low * per_month, dec.high * per_month))
    hours = leads.groupby("arm")["staff_minutes"].mean() * len(leads) / w["days"] * 7 / 60
    assert w["hours_arm"] == pytest.approx(hours["fast"]) and w["hours_control"] == pytest.approx(hours["control"])
    text = dec.worth_text()
    assert f"{w['extra']:+,.0f} bookings within 30 days a month" in text
    assert (
        f"{w['hours_arm']:,.0f} hours of agent work a week ({w['hours_arm'] - w['hours_control']:+,.0f} against" in text
    )
    assert "€" in w["cost_per_extra"] and w["cost_per_extra"] in text


def test_target_effect_is_checked_before_anything_runs(tmp_path) -> None:
    from nurture_lab.reporting import render

    with pytest.raises(nl.ParameterError, match="target_effect"):
        render.render_reports(service_lines=["orthopedics"], out=tmp_path, parameters={"target_effect": -0.01})


def test_a_sequential_decision_quotes_the_confidence_sequence() -> None:
    leads = _leads({"fast": 0.03, "slow": 0.0}, n=800)
    dec = decide(leads, control="control", sequential=True)
    a = nl.analyze(leads, arm="arm", control="control", metrics=["booked_30d"], sequential=True)
    row = a.row("booked_30d", dec.arm)
    assert (dec.low, dec.high) == pytest.approx((row["adj_ci_low"], row["adj_ci_high"]))
    assert "confidence sequence, valid at every look and adjusted for 2 comparisons" in dec.run_sentence()


def test_leads_followed_less_than_the_window_are_said_beside_the_decision() -> None:
    leads = _leads({"fast": 0.03}, n=600, seed=12)
    leads["followup_days"] = np.random.default_rng(1).uniform(10, 60, len(leads))
    dec = decide(leads, control="control")
    short = int((leads["followup_days"] < 30).sum())
    assert dec.short_followup == short > 0
    assert (
        f"Note: {short:,} of {len(leads):,} leads were followed less than 30 days, so their bookings within 30 days count"
        in dec.run_sentence()
    )
    leads["followup_days"] = 45.0
    assert "Note:" not in decide(leads, control="control").run_sentence()


def test_points_show_their_side_of_zero() -> None:
    from nurture_lab.reporting.decision import _pts

    assert [_pts(x) for x in (0.0004, -0.0003, 0.0, -0.0, -0.00001, 0.0123, -0.0456)] == [
        "+0.04",
        "-0.03",
        "+0.0",
        "+0.0",
        "+0.0",
        "+1.2",
        "-4.6",
    ]

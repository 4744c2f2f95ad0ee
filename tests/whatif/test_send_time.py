"""Send-time policies compared under randomisation (issue 25, section 3).

Bounds: a policy is "at least as good" as another when the paired 95% t interval of its bookings
minus the other's (per replication, same leads and draws) reaches 0 or above; "better" when the
interval is above 0. Engagement ties use a two-sample binomial bound (3 standard errors, ignoring
the positive correlation of common random numbers: conservative). Local times come from zoneinfo
through pandas, never from the engine's offsets.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.errors import ParameterError, ScenarioError
from nurture_lab.scenario.loader import scenario_from_dict
from nurture_lab.whatif.send_time import fixed_schedule, policy_scenario, schedule_bias

from ..simulation.invariants import check_invariants, local_time

POLICIES = ["random", "audience_best", "lead_best", "oracle", "planned"]
HOURS = {"patient": 9, "caregiver": 19, "referral_partner": 13}


def data(mult: float, hours: dict[str, int] | None = None) -> dict[str, Any]:
    """One service line, five steps a day or more after the inquiry (speed to lead is spent)."""
    return {
        "name": "send_time_check",
        "horizon_days": 30,
        "population": {"start_date": "2026-03-02", "arrival_days": 21},
        "service_lines": {"primary_care": {"share": 1.0}},
        "contents": {"qualification": {"education": False}},
        "behaviour": {
            "preferred_hour_multiplier": mult,
            "preferred_hour_by_audience": dict(HOURS if hours is None else hours),
        },
        "cadences": {
            "c": {
                "steps": [
                    {"channel": "sms", "content": "booking_link", "anchor": "inquiry", "delay_minutes": 1440},
                    {
                        "channel": "email",
                        "content": "booking_link",
                        "anchor": "inquiry",
                        "delay_minutes": 2880,
                        "window": [7, 22],
                    },
                    {"channel": "sms", "content": "booking_link", "anchor": "inquiry", "delay_minutes": 4320},
                    {"channel": "call", "content": "qualification", "anchor": "inquiry", "delay_minutes": 5760},
                    {"channel": "sms", "content": "reactivation", "anchor": "inquiry", "delay_minutes": 10080},
                ]
            }
        },
        "experiment": {"control": "a"},
        "arms": {"a": {"cadence": "c"}},
    }


def _paired(res: nl.SendTimeResult, a: str, b: str) -> tuple[float, float, float]:
    """Mean and 95% t interval of bookings per 1,000 of ``a`` minus ``b``, paired by replication."""
    r = res.runs.assign(v=1000 * res.runs["bookings"] / res.runs["n"]).pivot(index="rep", columns="policy", values="v")
    d = (r[a] - r[b]).to_numpy()
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def _engaged_tie(res: nl.SendTimeResult, a: str, b: str) -> None:
    g = res.runs.groupby("policy")[["engaged", "sent"]].sum()
    pa, pb = g.loc[a, "engaged"] / g.loc[a, "sent"], g.loc[b, "engaged"] / g.loc[b, "sent"]
    se = math.sqrt(pa * (1 - pa) / g.loc[a, "sent"] + pb * (1 - pb) / g.loc[b, "sent"])
    assert abs(pa - pb) <= 3 * se, (a, b, pa, pb, se)


@pytest.fixture(scope="module")
def timed() -> nl.SendTimeResult:
    """Audiences with their own hours, engagement x2.5 within 2 hours of the lead's."""
    return nl.compare_send_times(scenario_from_dict(data(2.5)), POLICIES, replications=4, n_leads=3000, seed=3, jobs=1)


def test_policies_tie_when_timing_does_not_matter() -> None:
    # no preferred-hour effect, no competitor (whose clock would reward an earlier send), steps a day on
    d = data(1.0)
    d["behaviour"]["competitor_daily_hazard"] = {"high": 0.0, "medium": 0.0, "low": 0.0}
    res = nl.compare_send_times(scenario_from_dict(d), POLICIES, replications=3, n_leads=2000, seed=5, jobs=1)
    for p in POLICIES[1:]:
        mean, lo, hi = _paired(res, p, "random")
        assert (lo <= 0 <= hi) or mean == 0, (p, mean, lo, hi)
        _engaged_tie(res, p, "random")
    assert (res.table["gate_violations"] == 0).all()


def test_retimed_policies_tie_with_a_competitor_when_hours_do_not_matter() -> None:
    res = nl.compare_send_times(
        scenario_from_dict(data(1.0)), POLICIES[:4], replications=3, n_leads=2000, seed=6, jobs=1
    )
    for p in POLICIES[1:4]:
        mean, lo, hi = _paired(res, p, "random")
        assert (lo <= 0 <= hi) or mean == 0, (p, mean, lo, hi)


def test_oracle_beats_lead_best_beats_audience_best_beats_random(timed: nl.SendTimeResult) -> None:
    # "a >= b": the paired interval of a - b reaches 0 or above; strict where the learning pays
    for a, b in (("oracle", "lead_best"), ("lead_best", "audience_best"), ("audience_best", "random")):
        mean, lo, hi = _paired(timed, a, b)
        assert hi >= 0, (a, b, mean, lo, hi)
    assert _paired(timed, "oracle", "lead_best")[1] > 0
    assert _paired(timed, "audience_best", "random")[1] > 0
    t = timed.table.set_index("policy")
    # the mechanism: more messages meet the lead's hour (oracle: all but the calls of leads whose hour
    # lies 2 hours or more past the end of staffed hours, placed at its edge)
    assert t.loc["oracle", "near_preferred_hour"] > 0.9
    assert t.loc["audience_best", "near_preferred_hour"] > t.loc["random", "near_preferred_hour"] + 0.03
    assert (t["gate_violations"] == 0).all()


def test_the_table_is_the_runs_summed(timed: nl.SendTimeResult) -> None:
    runs = timed.runs
    for p, g in runs.groupby("policy"):
        row = timed.table.set_index("policy").loc[p]
        assert row["bookings_per_1000"] == pytest.approx((1000 * g["bookings"] / g["n"]).mean())
        assert row["engaged_per_send"] == pytest.approx(g["engaged"].sum() / g["sent"].sum())
        assert row["diff"] == pytest.approx(_paired(timed, str(p), "random")[0], abs=1e-9)
    # the same leads under every policy: the same number of leads per replication
    assert runs.groupby("rep")["n"].nunique().eq(1).all()


def test_every_send_passes_the_gate_independently() -> None:
    # a tight sms window, a late audience hour (its optimum lies in quiet hours), calls in staffed hours
    d = data(2.5, {"patient": 23, "caregiver": 6, "referral_partner": 13})
    d["cadences"]["c"]["steps"][2]["window"] = [10, 12]
    sc = scenario_from_dict(d)
    for p in ("random", "audience_best", "lead_best", "oracle"):
        res = nl.simulate(policy_scenario(sc, p), seed=2, n_leads=1500, truth=False, jobs=1)
        check_invariants(res)


def test_learned_policies_with_a_contact_centre_pass_the_gate() -> None:
    sc = nl.load_scenario("content_test")
    beh = dataclasses.replace(sc.behaviour, preferred_hour_by_audience=HOURS)
    sc = dataclasses.replace(sc, behaviour=beh)
    for p in ("audience_best", "lead_best"):
        res = nl.simulate(policy_scenario(sc, p, steps=[2, 3, 4, 8]), seed=4, n_leads=1500, truth=False, jobs=1)
        check_invariants(res)


def test_an_optimum_in_quiet_hours_moves_to_the_window_edge_never_past_it() -> None:
    # every patient prefers 23:00, outside the calling hours: their texts go at the evening edge
    d = data(2.5, {"patient": 23, "caregiver": 19, "referral_partner": 13})
    d["behaviour"]["preferred_hour_spread"] = 0
    sc = scenario_from_dict(d)
    res = nl.simulate(policy_scenario(sc, "oracle"), seed=1, n_leads=1500, truth=False, jobs=1)
    t = res.touches
    sms = t[(t["status"] == "sent") & (t["channel"] == "sms") & (t["reason"] == "")]
    sms = sms[sms["lead_id"].map(res.leads.set_index("lead_id")["audience"]).astype(str) == "patient"]
    hour = local_time(sms, res.leads)["hour"]
    state = sms["lead_id"].map(res.leads.set_index("lead_id")["state"]).astype(str)
    end = np.where(state.isin(["FL", "OK"]), 20.0, 21.0)
    assert len(sms) > 100
    # the last minute of the window, local (zoneinfo)
    assert ((hour < end) & (hour >= end - 1 / 60 - 1e-6)).all(), hour.describe()


def test_results_are_identical_on_one_or_two_processes() -> None:
    sc = scenario_from_dict(data(2.5))
    one = nl.compare_send_times(sc, ["random", "audience_best"], replications=2, n_leads=800, seed=9, jobs=1)
    two = nl.compare_send_times(sc, ["random", "audience_best"], replications=2, n_leads=800, seed=9, jobs=2)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.table, two.table)
    assert one.settings == two.settings
    with ThreadPoolExecutor(2) as ex:
        pooled = nl.compare_send_times(
            sc, ["random", "audience_best"], replications=2, n_leads=800, seed=9, executor=ex
        )
    pd.testing.assert_frame_equal(one.runs, pooled.runs)


def test_compare_designs_compares_send_time_policies_by_randomisation() -> None:
    sc = scenario_from_dict(data(2.5))
    direct = nl.compare_send_times(sc, ["random", "oracle"], replications=2, n_leads=600, seed=4, jobs=1, steps=[1, 2])
    named = [{"send_time": "random", "steps": [1, 2]}, {"send_time": "oracle", "steps": [1, 2]}]
    via = nl.compare_designs(sc, named, replications=2, n_leads=600, seed=4, jobs=1)
    assert isinstance(via, nl.SendTimeResult)
    pd.testing.assert_frame_equal(direct.runs, via.runs)
    pd.testing.assert_frame_equal(direct.table, via.table)
    assert via.settings == direct.settings
    plain = nl.compare_designs(sc, ["random", "oracle"], replications=1, n_leads=300, seed=4, jobs=1)
    assert list(plain.table["policy"]) == ["random", "oracle"] and plain.settings["steps"] is None
    with pytest.raises(ParameterError, match="make two calls"):
        nl.compare_designs(sc, ["fixed", "random"], replications=1, n_leads=300)
    with pytest.raises(ParameterError, match="same 'steps'"):
        nl.compare_designs(sc, ["random", {"send_time": "oracle", "steps": [1]}], replications=1, n_leads=300)
    with pytest.raises(ParameterError, match="keys among"):
        nl.compare_designs(sc, [{"send_time": "oracle", "label": "x"}], replications=1, n_leads=300)


def test_a_fixed_schedule_history_picks_the_schedule_hour() -> None:
    sc = scenario_from_dict(data(2.5))
    bias = schedule_bias(sc, hour=11, n_leads=6000, seed=2).set_index("audience")
    assert (bias["naive_pick"] == 11).all()
    # randomised sends find each large audience's own hour (within the behaviour's 2-hour reach)
    for aud in ("patient", "caregiver"):
        assert abs(bias.loc[aud, "randomised_pick"] - HOURS[aud]) <= 2, bias
    # the fixed schedule really sent every step at 11:00-12:00 local (zoneinfo)
    res = nl.simulate(fixed_schedule(sc, 11), seed=2, n_leads=500, truth=False, jobs=1)
    sent = res.touches[res.touches["status"] == "sent"]
    hour = local_time(sent[sent["step"] >= 0], res.leads)["hour"]
    assert ((hour >= 11) & (hour < 12)).all()


def test_bad_arguments_are_refused_by_name() -> None:
    sc = scenario_from_dict(data(1.0))
    with pytest.raises(ParameterError, match="policies"):
        nl.compare_send_times(sc, ["random", "best_hour"], replications=2, n_leads=100)
    with pytest.raises(ParameterError, match="policies"):
        nl.compare_send_times(sc, "random", replications=2, n_leads=100)
    with pytest.raises(ParameterError, match="replications"):
        nl.compare_send_times(sc, ["random"], replications=0, n_leads=100)
    with pytest.raises(ParameterError, match="steps"):
        nl.compare_send_times(sc, ["random"], replications=1, n_leads=100, steps=[7])


def test_the_loader_refuses_an_unknown_send_time_with_file_table_key_expected() -> None:
    d = copy.deepcopy(data(1.0))
    d["cadences"]["c"]["steps"][1]["send_time"] = "best"
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(d, "x.toml")
    msg = str(e.value)
    for part in ("'send_time'", "[cadences.c.steps.1]", "x.toml", "planned, random, audience_best", "'best'"):
        assert part in msg, msg
    d = copy.deepcopy(data(1.0))
    d["behaviour"]["preferred_hour_by_audience"] = {"patients": 9}
    with pytest.raises(ScenarioError, match="preferred_hour_by_audience"):
        scenario_from_dict(d, "x.toml")


def test_lint_warns_when_the_window_leaves_no_room() -> None:
    d = data(1.0, {})
    d["cadences"]["c"]["steps"][0] |= {"window": [5, 7], "send_time": "random"}
    d["cadences"]["c"]["steps"][2] |= {"window": [10, 10.5], "send_time": "audience_best"}
    found = [f for f in nl.lint_scenario(scenario_from_dict(d)) if f.rule == "send_time"]
    where: dict[str, str] = {}
    for f in found:
        where[f.where.split(" ")[0]] = where.get(f.where.split(" ")[0], "") + f.message
    assert "no room" in where["arms.a.steps.0"]
    assert "less than an hour" in where["arms.a.steps.2"]
    assert any(f.severity == "note" and "preferred_hour_by_audience" in f.message for f in found)

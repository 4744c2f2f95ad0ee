from __future__ import annotations

import dataclasses
import math

import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.scenario import Arm, Step


def test_sample_size_and_mde() -> None:
    assert nl.sample_size(baseline=0.10, mde=0.02, alpha=0.05, power=0.8) == 3841
    # the textbook formula with unpooled variance under the alternative gives the same ballpark
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    pbar = 0.11
    hand = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(0.1 * 0.9 + 0.12 * 0.88)) ** 2 / 0.02**2
    assert nl.sample_size(0.10, 0.02) == pytest.approx(hand, rel=0.01)
    assert nl.mde(baseline=0.10, n=3841) == pytest.approx(0.02, abs=1e-4)
    assert nl.sample_size(0.10, 0.02, ratio=2) < 3841
    with pytest.raises(
        ValueError, match=r"The 'baseline' parameter of sample_size must be a float in the range \(0, 1\). Got 1.5"
    ):
        nl.sample_size(1.5, 0.02)
    with pytest.raises(ValueError, match=r"'mde' parameter of sample_size must be a non-zero float"):
        nl.sample_size(0.1, 0.0)


def test_analytic_and_simulated_power_agree_for_a_single_touch(speed: nl.Scenario) -> None:
    # one call, within 5 minutes vs after 4 hours; the metric: booked within 30 days
    fast = Step(channel="call", content="confirmation", anchor="inquiry", delay_minutes=5)
    slow = Step(channel="call", content="confirmation", anchor="inquiry", delay_minutes=240)
    exp = nl.scenario.Experiment(arms=(Arm("slow", (slow,)), Arm("fast", (fast,))), control="slow")
    sc = dataclasses.replace(speed, experiment=exp)
    truth = nl.simulate(sc, seed=0, n_leads=200_000).truth
    t = truth[(truth["metric"] == "booked_30d") & (truth["service_line"] == "all")].set_index("arm")["mean"]
    p0, d = float(t["slow"]), float(t["fast"] - t["slow"])
    n_arm = nl.sample_size(p0, d, power=0.6)
    reps = 300
    res = nl.simulate_power(sc, [2 * n_arm], replications=reps, metric="booked_30d", seed=2, truth_leads=200_000)
    sim = float(res.table["power"].iloc[0])
    analytic = nl.power_at(p0, d, n_arm)
    se = (analytic * (1 - analytic) / reps) ** 0.5
    assert abs(sim - analytic) <= 3.5 * se, (sim, analytic)

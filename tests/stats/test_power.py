from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.scenario import Arm, Step


def test_sample_size_matches_the_default_analysis() -> None:
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    # wald (the default analysis): the unpooled variance, written out by hand
    hand = (za + zb) ** 2 * (0.12 * 0.88 + 0.10 * 0.90) / 0.02**2
    assert nl.sample_size(baseline=0.10, mde=0.02, alpha=0.05, power=0.8) == math.ceil(hand) == 3839
    # the score test: pooled under the null (Fleiss), statsmodels' formula
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    sm = samplesize_proportions_2indep_onetail(
        diff=0.02, prop2=0.10, power=0.8, ratio=1, alpha=0.05, alternative="two-sided"
    )
    assert nl.sample_size(0.10, 0.02, test="score") == math.ceil(sm) == 3841
    assert nl.sample_size(0.10, 0.2, relative=True) == 3839  # +20% of 10% is 2 points
    assert nl.sample_size(0.10, 0.02, ratio=2) < 3839
    assert nl.mde(baseline=0.10, n=3839) == pytest.approx(0.02, abs=1e-4)
    assert nl.mde(baseline=0.10, n=3839, relative=True) == pytest.approx(0.2, abs=1e-3)
    assert nl.power_at(0.10, 0.02, 3839) == pytest.approx(0.8, abs=1e-3)


def test_planned_power_is_the_power_of_the_analysis() -> None:
    """Simulate 4,000 two-arm tests at the planned n and analyse each as analyze does (Wald)."""
    from statsmodels.stats.proportion import test_proportions_2indep as sm_test

    n = nl.sample_size(0.10, 0.03)
    gen = np.random.default_rng(0)
    c0, c1 = gen.binomial(n, 0.10, 4000), gen.binomial(n, 0.13, 4000)
    p = np.array([sm_test(k1, n, k0, n, method="wald").pvalue for k0, k1 in zip(c0, c1)])
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 4000, 0.8) / 4000
    assert lo <= (p < 0.05).mean() <= hi


def test_numeric_and_ratio_planning() -> None:
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    assert nl.sample_size(mde=0.5, sd=4.0) == math.ceil((za + zb) ** 2 * 16 * 2 / 0.25)
    assert nl.sample_size(baseline=20.0, mde=0.1, sd=4.0, relative=True) == nl.sample_size(mde=2.0, sd=4.0)
    pilot = pd.DataFrame({"x": np.tile([1.0, 3.0, 5.0, 7.0], 50)})
    assert nl.sample_size(mde=1.0, pilot=pilot, metric="x") == math.ceil((za + zb) ** 2 * pilot["x"].var() * 2)
    gen = np.random.default_rng(1)
    touches = gen.integers(1, 6, 2000)
    pilot = pd.DataFrame({"booked": gen.binomial(1, 0.3, 2000), "n_touches": touches})
    n_ratio = nl.sample_size(mde=0.1, relative=True, pilot=pilot, metric=nl.Ratio("booked", "n_touches"))
    assert 1000 < n_ratio < 20000


def test_planning_arguments_and_warnings() -> None:
    with pytest.raises(
        nl.ParameterError,
        match=r"The 'baseline' parameter of sample_size must be a float in the range \(0, 1\)\. Got 1.5",
    ):
        nl.sample_size(1.5, 0.02)
    with pytest.raises(nl.ParameterError, match=r"'mde' parameter of sample_size must be a non-zero absolute effect"):
        nl.sample_size(0.1, 0.0)
    with pytest.raises(
        nl.ParameterError, match=r"The 'test' parameter of mde must be one of: wald, score\. Got 'pooled'"
    ):
        nl.mde(0.1, 1000, test="pooled")
    with pytest.warns(UserWarning, match=r"mde: 10 units in an arm .* too few for the normal approximation"):
        nl.mde(0.01, n=10)


def test_analytic_and_simulated_power_agree_for_a_single_touch(speed: nl.Scenario) -> None:
    # one call, within 5 minutes vs after 4 hours; the metric: booked within 30 days
    fast = Step(channel="call", content="confirmation", anchor="inquiry", delay_minutes=5)
    slow = Step(channel="call", content="confirmation", anchor="inquiry", delay_minutes=240)
    exp = nl.scenario.Experiment(arms=(Arm("slow", (slow,)), Arm("fast", (fast,))), control="slow")
    # unlimited staff: the comparison is about the power functions, not the contact centre
    sc = dataclasses.replace(speed, experiment=exp, contact_center=None)
    truth = nl.truth_in(nl.simulate(sc, seed=0, n_leads=200_000).truth)
    t = truth[(truth["metric"] == "booked_30d") & (truth["service_line"] == "all")].set_index("arm")["mean"]
    p0, d = float(t["slow"]), float(t["fast"] - t["slow"])
    n_arm = nl.sample_size(p0, d, power=0.6)
    reps = 300
    res = nl.simulate_power(sc, [2 * n_arm], replications=reps, metric="booked_30d", seed=2, truth_leads=200_000)
    sim = float(res.table["power"].iloc[0])
    analytic = nl.power_at(p0, d, n_arm)
    se = (analytic * (1 - analytic) / reps) ** 0.5
    assert abs(sim - analytic) <= 3.5 * se, (sim, analytic)

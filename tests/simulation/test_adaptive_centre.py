"""Adaptive designs with a contact centre (issue 25, section 2): wave by wave, verified on the final run.

The centre is run once per wave with the waves decided so far (:func:`run_centre`); the final run is
the observed run, and every wave's inputs are counted again in it. Checked here: the final run is an
ordinary centre run with that assignment (the ``arms`` hook); the recorded inputs are what the lead
table says was observable at each wave's start (counted with pandas alone); the same numbers on one
process or two; a wave whose inputs the final run does not reproduce is refused (a doctored plan);
and with very scarce staff (one agent 9:00-13:00 in Los Angeles for 3,000 leads over 60 days,
Thompson weekly) the design verifies: it was refused before a run was made causal in time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.errors import ParameterError
from nurture_lab.scenario.design import Design
from nurture_lab.simulation.adaptive import CentreRun, arrivals, centre_metric, run_centre, verify_waves
from nurture_lab.simulation.chunks import observed_centre, simulate_centre

N_LEADS, SEED, DAYS, EVERY = 2000, 1, 70, 14


def _scenario() -> nl.Scenario:
    """speed_to_lead with 8 agents on its hours, 10 weeks of arrivals, Thompson on ``contacted`` every 14 days."""
    sc = nl.load_scenario("speed_to_lead")
    assert sc.contact_center is not None
    return dataclasses.replace(
        sc,
        contact_center=dataclasses.replace(sc.contact_center, agents=8),
        population=dataclasses.replace(sc.population, arrival_days=DAYS),
        design=Design("thompson", update_every_days=EVERY, metric="contacted"),
    )


@pytest.fixture(scope="module")
def sc() -> nl.Scenario:
    return _scenario()


@pytest.fixture(scope="module")
def done(sc: nl.Scenario) -> tuple[CentreRun, np.ndarray]:
    """The adaptive run and its final run's metric per lead (read before the frames consume the run)."""
    run = run_centre(sc, SEED, N_LEADS, truth=False)
    return run, centre_metric(run.runs, N_LEADS, "contacted", 1.0)


@pytest.fixture(scope="module")
def observed(sc: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(sc, seed=SEED, n_leads=N_LEADS, truth=False, jobs=1)


def test_the_design_learns_and_costs_one_run_per_wave(done: tuple[CentreRun, np.ndarray]) -> None:
    plan = done[0].plan
    n_waves = plan.probs.shape[0]
    assert n_waves == 5 and plan.centre_runs == n_waves  # waves 1-4 each a run, plus the final
    np.testing.assert_allclose(plan.probs[0], 1 / 3)
    assert plan.inputs[1:, 0].sum(axis=1).min() > 300  # every later wave learned from leads observed by then
    assert plan.probs[1:].max() > 0.8  # and moved away from the planned allocation
    np.testing.assert_allclose(plan.probs.sum(axis=1), 1.0)


def test_the_run_is_an_ordinary_centre_run_with_its_assignment(sc: nl.Scenario, observed: nl.SimulationResult) -> None:
    arms = observed.leads["arm"].cat.codes.to_numpy().astype(np.int64)
    leads, touches = observed_centre(sc, simulate_centre(sc, SEED, N_LEADS, False, arms=arms)[0])
    pd.testing.assert_frame_equal(observed.leads.drop(columns=["assignment_probability", "wave"]), leads)
    pd.testing.assert_frame_equal(observed.touches, touches)


def test_simulate_records_the_plan(done: tuple[CentreRun, np.ndarray], observed: nl.SimulationResult) -> None:
    plan, leads = done[0].plan, observed.leads
    np.testing.assert_array_equal(leads["arm"].cat.codes.to_numpy(), plan.arm)
    np.testing.assert_array_equal(leads["wave"].to_numpy(), plan.wave)
    np.testing.assert_array_equal(leads["assignment_probability"].to_numpy(), plan.probs[plan.wave, plan.arm])


def test_recorded_inputs_are_what_the_final_run_shows_at_each_wave(
    sc: nl.Scenario, done: tuple[CentreRun, np.ndarray], observed: nl.SimulationResult
) -> None:
    """Counted with pandas from the lead table: at wave w's start (first inquiry + 14 w days) the leads
    created at least a day before, and those of them contacted within a day, per arm."""
    leads = observed.leads
    created = leads["created_at"]
    day = pd.Timedelta(days=1)
    success = leads["contacted"].astype(bool) & (leads["contacted_minutes"] <= 24 * 60)
    plan = done[0].plan
    for w in range(plan.probs.shape[0]):
        seen = created + day <= created.min() + pd.Timedelta(days=EVERY * w)
        g = pd.DataFrame({"arm": leads["arm"][seen], "y": success[seen]}).groupby("arm", observed=False)["y"]
        counts = np.stack([g.size().to_numpy(), g.sum().to_numpy()]).astype(float)
        np.testing.assert_array_equal(plan.inputs[w], counts, err_msg=f"wave {w}")


def test_same_numbers_on_one_process_or_two(sc: nl.Scenario, observed: nl.SimulationResult) -> None:
    two = nl.simulate(sc, seed=SEED, n_leads=N_LEADS, truth=False, jobs=2)
    pd.testing.assert_frame_equal(observed.leads, two.leads)
    pd.testing.assert_frame_equal(observed.touches, two.touches)


def test_a_wave_the_final_run_does_not_reproduce_is_refused(
    sc: nl.Scenario, done: tuple[CentreRun, np.ndarray]
) -> None:
    """A doctored plan: wave 2 said to have seen one more contact on the second arm than the final run has."""
    run, y = done
    created, _, _ = arrivals(sc, SEED, N_LEADS)
    verify_waves(sc, run.plan, created, y)  # the real plan passes
    inputs = run.plan.inputs.copy()
    inputs[2, 1, 1] += 1
    with pytest.raises(ParameterError) as e:
        verify_waves(sc, dataclasses.replace(run.plan, inputs=inputs), created, y)
    msg = str(e.value)
    for words in ("wave 2", "'within_1_hour'", "causal in time", "Add agents", "delay_days", "1 of 15"):
        assert words in msg, words
    # a changed outcome instead: the final run's metric of one lead observable at wave 1
    seen = created - created.min() <= EVERY * 1440 - 1440
    flipped = y.copy()
    flipped[np.flatnonzero(seen)[0]] ^= True
    with pytest.raises(ParameterError, match="wave 1"):
        verify_waves(sc, run.plan, created, flipped)


@pytest.mark.parametrize("metric", ["contacted", "booked_7d"])
def test_scarce_staff_the_design_verifies(metric: str) -> None:
    """One agent four hours a weekday for 50 leads a day: calls wait past the waves' starts. Before the
    engine held a lead's next steps behind its waiting call (tests/simulation/test_causality.py) the
    ``contacted`` run was refused (wave 2, 'within_5_min': 72 successes among 330 then, 73 in the final
    run). Now it verifies, and every wave's inputs are what the final run's lead table shows at the
    wave's start, counted with pandas alone."""
    sc = nl.load_scenario("speed_to_lead")
    table = [[0] * 9 + [1] * 4 + [0] * 11] * 5 + [[0] * 24] * 2
    design = Design("thompson", update_every_days=7, metric=metric)
    sc = dataclasses.replace(
        sc,
        contact_center=nl.ContactCenter(agents=table, timezone="America/Los_Angeles"),
        population=dataclasses.replace(sc.population, arrival_days=60),
        design=design,
    )
    run = run_centre(sc, 1, 3000, truth=False)
    leads, _ = observed_centre(sc, run.runs)
    created = leads["created_at"]
    if metric == "contacted":
        success = leads["contacted"].astype(bool) & (leads["contacted_minutes"] <= 24 * 60)
    else:
        success = leads["booked_7d"].astype(bool)
    plan = run.plan
    assert plan.probs.shape[0] == 9 and plan.probs[1:].max() > 0.5  # nine weekly waves, and it adapted
    for w in range(plan.probs.shape[0]):
        seen = created + pd.Timedelta(days=design.delay) <= created.min() + pd.Timedelta(days=7 * w)
        g = pd.DataFrame({"arm": leads["arm"][seen], "y": success[seen]}).groupby("arm", observed=False)["y"]
        counts = np.stack([g.size().to_numpy(), g.sum().to_numpy()]).astype(float)
        np.testing.assert_array_equal(plan.inputs[w], counts, err_msg=f"wave {w}")


def test_the_truth_of_an_adaptive_centre_run(sc: nl.Scenario) -> None:
    """With the truth: both settings, every arm (the final run's truth passes)."""
    res = nl.simulate(sc, seed=SEED, n_leads=N_LEADS, truth=True, jobs=1)
    t = res.truth[(res.truth["metric"] == "booked_30d") & (res.truth["service_line"] == "all")]
    assert set(zip(t["setting"], t["arm"], strict=True)) == {
        (s, a) for s in ("experiment", "rollout") for a in sc.experiment.arm_names
    }
    assert (t["n"] == N_LEADS).all() and t["mean"].between(0, 1).all()


# ---------------------------------------------------------------------------------------------
# compare_designs with a contact centre


@pytest.fixture(scope="module")
def compared(sc: nl.Scenario) -> nl.DesignsResult:
    res = nl.compare_designs(
        sc,
        ["fixed", {"allocation": "thompson", "metric": "contacted", "update_every_days": EVERY}],
        replications=1,
        n_leads=N_LEADS,
        seed=3,
        jobs=1,
    )
    assert isinstance(res, nl.DesignsResult)
    return res


def test_compare_designs_with_a_centre_judges_against_the_rollout_truth(
    sc: nl.Scenario, compared: nl.DesignsResult
) -> None:
    """The truth per arm is simulate's rollout truth (every lead on the arm, same staff); regret is
    recounted from the per-arm sums with pandas; the adaptive test is what simulate runs."""
    (seed,) = compared.settings["replication_seeds"]
    runs = compared.runs
    fixed = dataclasses.replace(sc, design=Design())
    truth = nl.simulate(fixed, seed=seed, n_leads=N_LEADS, truth=True, jobs=1).truth
    roll = truth[(truth["setting"] == "rollout") & (truth["metric"] == "booked_30d") & (truth["service_line"] == "all")]
    p = roll.set_index("arm")["mean"].reindex(list(sc.experiment.arm_names)).to_numpy()
    ab = runs[runs["version"] == "ab"]
    for _, g in ab.groupby("design", observed=True):
        np.testing.assert_allclose(g.sort_values("arm")["truth"].to_numpy(), p, rtol=0, atol=1e-12)
    regret = ab.assign(lost=ab["n"] * (p.max() - ab["truth"])).groupby("design", observed=True)["lost"].sum()
    table = compared.table.set_index("design")
    np.testing.assert_allclose(table["regret"].to_numpy(), regret.reindex(table.index).to_numpy(), atol=1e-9)
    assert np.isfinite(table["regret"]).all() and (table["regret"] >= 0).all()
    assert table["regret"].iloc[1] < table["regret"].iloc[0]  # Thompson on contact moves leads to the fast arm
    # the adaptive test: the arms and bookings simulate gives the same seed
    own = nl.simulate(sc, seed=seed, n_leads=N_LEADS, truth=False, jobs=1)  # sc's design is the one compared
    got = own.leads.groupby("arm", observed=False)["booked_30d"].agg(["size", "sum"])
    th = ab[ab["design"] == table.index[1]].sort_values("arm")
    np.testing.assert_array_equal(th["n"].to_numpy(), got["size"].to_numpy())
    np.testing.assert_array_equal(th["s"].to_numpy(), got["sum"].to_numpy())


def test_compare_designs_with_a_centre_aa_version(sc: nl.Scenario, compared: nl.DesignsResult) -> None:
    """The A/A version's truth is the control's rollout on every arm; its adaptive run took one centre run
    (decided from the control's rollout and verified), the A/B one a run per wave plus the final."""
    runs = compared.runs
    aa = runs[runs["version"] == "aa"]
    control = runs[(runs["version"] == "ab") & (runs["arm"] == sc.experiment.control)]["truth"].iloc[0]
    assert (aa["truth"] == control).all()
    runs_taken = runs.groupby(["design", "version"], observed=True)["centre_runs"].first()
    assert list(runs_taken.items()) == [
        (("fixed", "aa"), 1),
        (("fixed", "ab"), 1),
        (("thompson (contacted, every 14d)", "aa"), 1),
        (("thompson (contacted, every 14d)", "ab"), 5),
    ]


def test_compare_designs_with_a_centre_same_on_one_process_or_two(sc: nl.Scenario) -> None:
    kw: dict = {
        "designs": ["fixed", {"allocation": "exploration", "metric": "contacted", "update_every_days": EVERY}],
        "replications": 2,
        "n_leads": 1500,
        "seed": 9,
    }
    one, two = nl.compare_designs(sc, jobs=1, **kw), nl.compare_designs(sc, jobs=2, **kw)
    assert isinstance(one, nl.DesignsResult) and isinstance(two, nl.DesignsResult)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.table, two.table)

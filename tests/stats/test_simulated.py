from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl


def test_results_identical_for_any_executor(speed: nl.Scenario) -> None:
    kw = {"n_leads": [1500, 3000], "replications": 12, "seed": 5, "truth_leads": 5000}
    serial = nl.simulate_power(speed, jobs=1, **kw)
    with ProcessPoolExecutor(2) as ex:
        par = nl.simulate_power(speed, executor=ex, **kw)
    pd.testing.assert_frame_equal(serial.table, par.table)
    pd.testing.assert_frame_equal(serial.replications, par.replications)
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = nl.simulate_power(speed, executor=client.get_executor(), **kw)
    pd.testing.assert_frame_equal(serial.table, dask.table)


def test_power_table_and_interpolation(speed: nl.Scenario) -> None:
    res = nl.simulate_power(speed, [2000, 8000], replications=20, seed=1, jobs=1, truth_leads=20_000)
    t = res.table
    assert set(t["arm"]) == {"within_5_min", "within_1_hour"}
    assert t["power"].between(0, 1).all() and (t["replications"] == 20).all()
    assert (t["power_se"] >= 0).all()
    need = res.n_for_power(0.8)
    assert set(need) == {"within_5_min", "within_1_hour"}
    # more leads, more power (within the Monte Carlo error of 20 replications)
    for _, g in t.groupby("arm"):
        small, large = g.sort_values("n_leads").to_dict("records")
        assert large["power"] >= small["power"] - 2 * max(small["power_se"], 0.05)
    # the true effect is the truth run's, the same for every size
    assert (t.groupby("arm")["true_effect"].nunique() == 1).all()


def test_n_for_power_interpolates_in_log_n() -> None:
    import numpy as np
    import pandas as pd

    table = pd.DataFrame(
        {
            "arm": ["b", "b", "b", "c", "c"],
            "n_leads": [1000, 4000, 16000, 1000, 4000],
            "power": [0.2, 0.6, 0.9, 0.85, 0.95],
        }
    )
    res = nl.PowerResult(table, pd.DataFrame(), {})
    need = res.n_for_power(0.8)
    # 0.8 lies 2/3 of the way from 0.6 (n=4000) to 0.9 (n=16000) on a log-n scale
    assert need["b"] == pytest.approx(float(np.exp(np.log(4000) + 2 / 3 * np.log(4))))
    assert need["c"] == 1000  # already reached at the smallest size
    assert np.isnan(res.n_for_power(0.99)["b"])


@pytest.mark.slow
def test_calibration_within_binomial_bounds(speed: nl.Scenario) -> None:
    reps = 200
    # unlimited staff: the check is about the statistics; the contact centre only makes it slower
    cal = nl.calibrate(dataclasses.replace(speed, contact_center=None), n_leads=3000, replications=reps, seed=11)
    t = cal.table.set_index("check")
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.05) / reps
    fpr = t.loc["A/A false-positive rate", "observed"]
    assert lo <= fpr <= hi
    for check, row in t.iterrows():
        if check.startswith("CI coverage"):
            clo, chi = stats.binom.ppf([0.0005, 0.9995], reps, 0.95) / reps
            assert clo <= row["observed"] <= chi, check


#: A Los Angeles centre with 1-3 agents on weekdays 8:00-18:00 (a weekday x hour table): the queue binds.
LA_TABLE = [[0] * 8 + [1] * 2 + [3] * 2 + [2] * 4 + [1] * 2 + [0] * 6] * 5 + [[0] * 24] * 2


def _scarce() -> nl.Scenario:
    sc = nl.load_scenario("speed_to_lead")
    return dataclasses.replace(sc, contact_center=nl.ContactCenter(agents=LA_TABLE, timezone="America/Los_Angeles"))


def test_a_replications_own_truth_is_its_runs_experiment_truth() -> None:
    """``simulate_stats(..., truth=True)`` gives the arm means of ``simulate(...).truth`` (setting
    ``experiment``) for the same seed and size: the truth of the experiment that ran."""
    from nurture_lab.simulation.engine import simulate_stats

    sc = _scarce()
    st = simulate_stats(sc, 7, 900, ["contacted", "booked_30d"], truth=True)
    res = nl.simulate(sc, seed=7, n_leads=900)
    for arm in sc.experiment.arm_names:
        for m in ("contacted", "booked_30d"):
            t = nl.truth_in(res.truth)
            want = t[(t["arm"] == arm) & (t["metric"] == m) & (t["service_line"] == "all")]["mean"].iloc[0]
            assert st[arm][f"{m}:true"] == pytest.approx(want, abs=1e-12)
        got = res.leads[res.leads["arm"] == arm]["contacted"]
        assert st[arm]["contacted:sum"] == got.sum() and st[arm]["n"] == len(got)


@pytest.mark.slow
def test_calibration_on_a_scarce_centre_within_binomial_bounds() -> None:
    """With a binding centre (1-3 agents), ``calibrate``'s A/A false-alarm rate and the A/B intervals'
    coverage of each replication's own experiment truth lie within the 99.9% binomial bounds (scipy)
    of 100 replications. (Its truth came from a separate 200,000-lead run before: another queue.)"""
    reps = 100
    cal = nl.calibrate(_scarce(), n_leads=600, replications=reps, metric="contacted", seed=3, jobs=2)
    t = cal.table.set_index("check")
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.05) / reps
    assert lo <= t.loc["A/A false-positive rate", "observed"] <= hi, t
    cover = [c for c in t.index if c.startswith("CI coverage")]
    assert len(cover) == 2
    clo, chi = stats.binom.ppf([0.0005, 0.9995], reps, 0.95) / reps
    for check in cover:
        assert clo <= t.loc[check, "observed"] <= chi, t


def test_replications_estimate_their_own_truth_without_bias() -> None:
    """On the 1-3-agent centre each replication's estimate minus its own experiment truth averages 0
    within 4 Monte Carlo standard errors (numpy over 60 replications), for both arms: the truth
    describes the experiment that ran. (A separate 200,000-lead truth, another queue, put
    ``within_5_min``'s true effect on contact at +0.5 points against +2.8 estimated, some 6 standard
    errors away, in the same setting.)"""
    res = nl.simulate_power(_scarce(), [600], 60, "contacted", seed=4, jobs=2, own_truth=True)
    reps = res.replications
    assert res.settings["own_truth"] and reps["true_effect"].nunique() > 10  # a truth per replication
    for arm, g in reps.groupby("arm"):
        d = (g["diff"] - g["true_effect"]).to_numpy()
        assert abs(d.mean()) <= 4 * d.std(ddof=1) / np.sqrt(d.size), (arm, d.mean(), d.std(ddof=1))


def test_own_truth_needs_a_centre(speed: nl.Scenario) -> None:
    from nurture_lab.errors import ParameterError

    with pytest.raises(ParameterError, match=r"own_truth=True needs a \[contact_center\]"):
        nl.simulate_power(dataclasses.replace(speed, contact_center=None), [1000], replications=2, own_truth=True)


def test_bad_arguments(speed: nl.Scenario) -> None:
    with pytest.raises(
        ValueError, match=r"The 'replications' parameter of simulate_power must be an int in the range \[2, inf\)"
    ):
        nl.simulate_power(speed, [1000], replications=1)
    with pytest.raises(TypeError, match=r"'scenario' parameter of simulate_power must be a Scenario"):
        nl.simulate_power("x", [1000])  # type: ignore[arg-type]

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor

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


def test_bad_arguments(speed: nl.Scenario) -> None:
    with pytest.raises(
        ValueError, match=r"The 'replications' parameter of simulate_power must be an int in the range \[2, inf\)"
    ):
        nl.simulate_power(speed, [1000], replications=1)
    with pytest.raises(TypeError, match=r"'scenario' parameter of simulate_power must be a Scenario"):
        nl.simulate_power("x", [1000])  # type: ignore[arg-type]

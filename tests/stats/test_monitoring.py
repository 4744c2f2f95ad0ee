"""Monitoring you can plan (issue 23, item 2): sequential sample size checked by simulation, and a
series of looks whose always-valid p is the running minimum (the interval the running intersection)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl

from ..conftest import binary_frame, run_cli


def _hand_always_valid_p(d: np.ndarray, var: np.ndarray, t: float, alpha: float, tuning: float) -> np.ndarray:
    """Waudby-Smith et al. (2021) normal-mixture p-value, written out here from the paper."""
    r2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    tr = t * r2
    return np.minimum(1.0, np.sqrt(tr + 1) * np.exp(-(d**2) * tr / (2 * var * (tr + 1))))


def test_sequential_sample_size_gives_its_power_by_simulation() -> None:
    """Planned n for +2 points over 10% with sequential=True: 80% +/- 3% of simulated tests reject."""
    n = nl.sample_size(0.10, 0.02, sequential=True)
    assert n > nl.sample_size(0.10, 0.02)  # monitoring costs units
    assert nl.power_at(0.10, 0.02, 3839, sequential=True) == pytest.approx(0.42, abs=0.03)  # the 41-45%
    assert nl.mde(0.10, n, sequential=True) == pytest.approx(0.02, rel=1e-3)
    gen = np.random.default_rng(2023)
    reps = 20_000
    c1, c0 = gen.binomial(n, 0.12, reps), gen.binomial(n, 0.10, reps)
    p1, p0 = c1 / n, c0 / n
    var = p1 * (1 - p1) / n + p0 * (1 - p0) / n
    power = float((_hand_always_valid_p(p1 - p0, var, 2 * n, 0.05, 5000) < 0.05).mean())
    assert abs(power - 0.80) <= 0.03
    # and analyze(..., sequential=True) gives the same p-values as the hand formula
    for k in range(5):
        df = binary_frame({"c": (int(c0[k]), n), "t": (int(c1[k]), n)})
        row = nl.analyze(df, arm="arm", control="c", metrics=["y"], sequential=True).row("y", "t")
        assert row["p_value"] == pytest.approx(_hand_always_valid_p(p1[k] - p0[k], var[k], 2 * n, 0.05, 5000), rel=1e-9)


def test_sequential_numeric_plan_and_tuning() -> None:
    n = nl.sample_size(mde=0.5, sd=4.0, sequential=True, sequential_tuning=20_000)
    gen = np.random.default_rng(7)
    reps = 20_000
    d = gen.normal(0.5, 4.0 * math.sqrt(2 / n), reps)  # the difference of two means of n draws
    s2 = 4.0**2 * gen.chisquare(n - 1, (reps, 2)) / (n - 1)  # each arm's sample variance
    var = (s2[:, 0] + s2[:, 1]) / n
    power = float((_hand_always_valid_p(d, var, 2 * n, 0.05, 20_000) < 0.05).mean())
    assert abs(power - 0.80) <= 0.03
    assert nl.sample_size(mde=0.5, sd=4.0, sequential=True) != n  # the tuning matters
    with pytest.raises(nl.ParameterError, match="sequential_tuning"):
        nl.sample_size(0.1, 0.02, sequential=True, sequential_tuning=0)


def test_cli_power_sequential() -> None:
    res = run_cli("power", "--baseline", "0.1", "--mde", "0.02", "--sequential")
    assert res.returncode == 0, res.stderr
    assert f"{nl.sample_size(0.1, 0.02, sequential=True):,}" in res.stdout and "always valid" in res.stdout


def _running_test(seed: int = 0, n: int = 6000) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "arm": gen.choice(["c", "t", "u"], n),
            "created_at": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(gen.uniform(0, 60, n), unit="D"),
        }
    )
    df["y"] = (gen.random(n) < np.where(df["arm"] == "t", 0.25, 0.2)).astype(int)
    return df


def test_monitor_gives_running_minimum_p_and_running_intersection() -> None:
    df = _running_test()
    m = nl.monitor(df, "arm", "c", ["y"], time="created_at", every="7D")
    r = m.results
    assert sorted(r["look"].unique()) == list(range(1, 10)) and (r.groupby("look").size() == 2).all()
    # each look alone is analyze on the units that had arrived by then (independent loop here)
    start = df["created_at"].min()
    for k in (1, 4):
        sub = df[df["created_at"] <= start + pd.Timedelta(days=7 * k)]
        one = nl.analyze(sub, arm="arm", control="c", metrics=["y"], sequential=True).results.set_index("arm")
        look = r[r["look"] == k].set_index("arm")
        assert look.loc["t", "p_value_at_look"] == pytest.approx(one.loc["t", "p_value"], rel=1e-12)
        assert look.loc["t", "n_arm"] == one.loc["t", "n_arm"]
    last = nl.analyze(df, arm="arm", control="c", metrics=["y"], sequential=True).results.set_index("arm")
    assert r[r["look"] == 9].set_index("arm").loc["t", "p_value_at_look"] == pytest.approx(last.loc["t", "p_value"])
    for _arm, g in r.groupby("arm"):
        g = g.sort_values("look")
        assert np.allclose(g["p_value"], np.minimum.accumulate(g["p_value_at_look"]))
        assert np.allclose(g["diff_ci_low"], np.maximum.accumulate(g["diff_ci_low_at_look"]))
        assert np.allclose(g["diff_ci_high"], np.minimum.accumulate(g["diff_ci_high_at_look"]))
        # the running p never goes back up; the running interval excludes 0 exactly when p < alpha
        assert (np.diff(g["p_value"]) <= 0).all()
        excl = (g["diff_ci_low"] > 0) | (g["diff_ci_high"] < 0)
        assert (excl == (g["p_value"] < 0.05)).all()


def test_monitor_false_alarm_rate_over_looks_within_alpha() -> None:
    """A/A tests looked at 8 times: the running always-valid p is below 0.05 in at most
    alpha + 3 binomial standard errors of 100 replications (it is conservative)."""
    gen = np.random.default_rng(11)
    alarms = 0
    reps = 100
    for _ in range(reps):
        n = 1600
        df = pd.DataFrame({"arm": gen.choice(["c", "t"], n), "day": gen.uniform(0, 56, n)})
        df["y"] = (gen.random(n) < 0.3).astype(int)
        r = nl.monitor(df, "arm", "c", ["y"], time="day", every=7).results
        alarms += bool((r["p_value"] < 0.05).any())
    assert alarms / reps <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_monitor_arguments() -> None:
    df = _running_test()
    with pytest.raises(nl.ParameterError, match="'every' parameter of monitor"):
        nl.monitor(df, "arm", "c", ["y"], every="soon")
    with pytest.raises(nl.ParameterError, match="'covariates' parameter of monitor"):
        nl.monitor(df, "arm", "c", ["y"], covariates=["x"])
    with pytest.raises(nl.DataError, match="Time \\(monitor\\) column 'when' not found"):
        nl.monitor(df, "arm", "c", ["y"], time="when")

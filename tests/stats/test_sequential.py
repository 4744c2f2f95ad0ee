"""Always-valid monitoring: confidence sequences that hold however often the analyst looks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.stats.sequential import always_valid_p, cs_halfwidth, rho_squared

from ..conftest import KNOWN, binary_frame, run_cli


def test_boundary_written_out_and_p_value_at_the_edge() -> None:
    alpha, tuning, t, var = 0.05, 5000, 3000, 2e-4
    r2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    assert rho_squared(alpha, tuning) == pytest.approx(r2)
    # Waudby-Smith et al. (2021), Theorem 2.2, written out from the paper
    hand = math.sqrt(var * t) * math.sqrt((2 * (t * r2 + 1)) / (t**2 * r2) * math.log(math.sqrt(t * r2 + 1) / alpha))
    assert cs_halfwidth(var, t, alpha, tuning) == pytest.approx(hand, rel=1e-12)
    assert always_valid_p(hand, var, t, alpha, tuning) == pytest.approx(alpha, rel=1e-9)  # p = alpha on the edge
    assert always_valid_p(0.0, var, t, alpha, tuning) == 1.0


def test_sequential_rows_are_wider_and_agree_with_their_p_values() -> None:
    fixed = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], correction="none").row("y", "treat")
    seq = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], correction="none", sequential=True)
    r = seq.row("y", "treat")
    assert r["diff"] == fixed["diff"]
    assert r["diff_ci_low"] < fixed["diff_ci_low"] and r["diff_ci_high"] > fixed["diff_ci_high"]
    assert r["p_value"] > fixed["p_value"]
    assert (r["diff_ci_low"] > 0) == (r["p_value"] < 0.05)
    assert r["ci_method"] == "confidence sequence" and "always valid" in r["test"]
    assert "asymptotic confidence sequence" in seq.settings["sequential"]


def test_peeking_inflates_false_positives_and_the_sequence_does_not() -> None:
    """800 A/A tests on 10% conversion, looked at 10 times each (no engine: plain Bernoulli draws)."""
    gen = np.random.default_rng(11)
    reps, looks, n = 800, 10, 4000
    a = gen.random((reps, n)) < 0.10
    b = gen.random((reps, n)) < 0.10
    naive = np.zeros(reps, bool)
    seq = np.zeros(reps, bool)
    for k in range(1, looks + 1):
        m = n * k // looks
        p1, p0 = a[:, :m].mean(1), b[:, :m].mean(1)
        var = p1 * (1 - p1) / m + p0 * (1 - p0) / m
        z = (p1 - p0) / np.sqrt(var)
        naive |= 2 * stats.norm.sf(np.abs(z)) < 0.05
        seq |= np.array([always_valid_p(d, v, 2 * m, 0.05) < 0.05 for d, v in zip(p1 - p0, var)])
    hi_seq = stats.binom.ppf(0.9995, reps, 0.05) / reps
    lo_naive = stats.binom.ppf(0.9995, reps, 0.05) / reps  # naive peeking lies well above alpha's upper bound
    assert seq.mean() <= hi_seq
    assert naive.mean() > lo_naive


@pytest.mark.slow
def test_calibrate_with_looks_on_the_engine(speed: nl.Scenario) -> None:
    # unlimited staff: the check is about the sequential intervals; the contact centre only makes it slower
    cal = nl.calibrate(dataclasses.replace(speed, contact_center=None), n_leads=4000, replications=100, looks=8, seed=3)
    t = cal.table.set_index("check")
    naive = t.loc["A/A false-positive rate, naive peeking at 8 looks"]
    seq = t.loc["A/A false-positive rate, always-valid at 8 looks"]
    assert naive["observed"] > 0.05 and seq["ci_low"] <= 0.05 and naive["consistent"] and seq["consistent"]
    assert list(cal.looks["look"]) == list(range(1, 9))
    assert cal.looks["naive_fpr"].is_monotonic_increasing and cal.looks["sequential_fpr"].is_monotonic_increasing
    fig = cal.plot_peeking()
    assert fig.axes[0].get_title()


def test_sequential_arguments_and_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(nl.ParameterError, match=r"The 'sequential' parameter of analyze must be true or false"):
        nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], sequential="yes")  # type: ignore[arg-type]
    df = binary_frame({"c": (200, 2000), "t": (260, 2000)}).assign(x=np.arange(4000) % 7)
    with pytest.raises(nl.ParameterError, match=r"empty with sequential=True"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["x"], sequential=True)
    path = tmp_path / "d.csv"
    pd.DataFrame(df).to_csv(path, index=False)
    res = run_cli(
        "analyze", str(path), "--arm", "arm", "--control", "c", "--metric", "y", "--sequential", "--format", "json"
    )
    assert res.returncode == 0 and '"ci_method": "confidence sequence"' in res.stdout

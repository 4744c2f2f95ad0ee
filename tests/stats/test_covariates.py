"""Covariates cannot invent effects (issue 23, item 1): collinear and imbalanced covariates are refused,
``force=True`` is recorded, and each covariate's variance reduction is checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl

from ..conftest import run_cli


def _trial(seed: int, n: int = 2000, effect: float = 0.5) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    arm = np.repeat(["c", "t"], n // 2)
    pre = gen.normal(10, 2, n)  # a pre-treatment value, balanced by the randomisation
    y = 2 + 0.8 * pre + effect * (arm == "t") + gen.normal(0, 2, n)
    return pd.DataFrame({"arm": arm, "y": y, "pre": pre, "region": gen.choice(["n", "s", "e"], n)})


def test_a_covariate_equal_to_the_metric_is_refused() -> None:
    df = _trial(1).assign(copy=lambda d: d["y"])
    with pytest.raises(nl.DataError, match=r"Covariate 'copy' is collinear with metric 'y'"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["copy"])
    # two covariates that add up to the metric are refused together
    df = df.assign(part=lambda d: d["y"] - d["pre"])
    with pytest.raises(nl.DataError, match=r"together are collinear with metric 'y'"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["pre", "part"])


def test_an_outcome_of_the_arm_is_refused_unless_forced_and_then_recorded() -> None:
    df = _trial(2)
    gen = np.random.default_rng(3)
    df["staff_minutes"] = 5 + 3 * (df["arm"] == "t") + 0.5 * df["y"] + gen.normal(0, 1, len(df))  # changed by the arm
    with pytest.raises(nl.DataError, match=r"Covariate 'staff_minutes' is not balanced across arms \(welch t"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["pre", "staff_minutes"])
    forced = nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["pre", "staff_minutes"], force=True)
    assert forced.settings["forced_covariates"] == ["staff_minutes"]
    assert any("staff_minutes" in w and "force=True" in w for w in forced.warnings)
    # the independent balance test: Welch's t of the covariate between arms
    p = stats.ttest_ind(df.loc[df.arm == "t", "staff_minutes"], df.loc[df.arm == "c", "staff_minutes"], equal_var=False)
    rec = {r["covariate"]: r for r in forced.settings["covariate_checks"]}
    assert rec["staff_minutes"]["balance_p"] == pytest.approx(p.pvalue, rel=1e-9, abs=1e-300)
    assert rec["staff_minutes"]["forced"] and not rec["pre"]["forced"]


def test_a_categorical_covariate_is_checked_by_chi_square() -> None:
    df = _trial(4)
    df.loc[df["arm"] == "t", "region"] = np.where(np.arange((df["arm"] == "t").sum()) % 2, "n", "s")
    with pytest.raises(nl.DataError, match=r"Covariate 'region' is not balanced across arms \(chi-square"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["region"])


def test_variance_reduction_against_statsmodels() -> None:
    import statsmodels.api as sm

    df = _trial(5)
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["pre"])
    row = res.row("y", "t")
    # the row's reduction: Lin's HC2 variance (statsmodels, built here) against Welch's
    t = (df["arm"] == "t").to_numpy(float)
    x = df["pre"].to_numpy() - df["pre"].mean()
    fit = sm.OLS(df["y"].to_numpy(), np.column_stack([np.ones_like(t), t, x, x * t])).fit(cov_type="HC2")
    y1, y0 = df.loc[df.arm == "t", "y"], df.loc[df.arm == "c", "y"]
    welch = stats.ttest_ind(y1, y0, equal_var=False)
    welch_var = ((y1.mean() - y0.mean()) / welch.statistic) ** 2
    assert row["variance_reduction"] == pytest.approx(1 - fit.bse[1] ** 2 / welch_var, rel=1e-9)
    assert row["variance_reduction"] > 0.3  # pre explains a lot of y: about 0.8**2*4 / (0.8**2*4 + 4)
    # each covariate's own reduction: the within-arm R² of statsmodels fits per arm
    rss = sum(sm.OLS(g["y"], sm.add_constant(g["pre"])).fit().ssr for _, g in df.groupby("arm"))
    tss = sum(((g["y"] - g["y"].mean()) ** 2).sum() for _, g in df.groupby("arm"))
    (rec,) = res.settings["covariate_checks"]
    assert rec["variance_reduction"] == pytest.approx(1 - rss / tss, rel=1e-9)
    assert rec["balanced"] and rec["balance_test"].startswith("welch t")


def test_balance_check_false_refusals_are_rare() -> None:
    """A truly pre-treatment covariate is refused with probability 0.001 per arm: in 400 trials of
    two arms, at most 4 refusals (binomial(400, 0.001) exceeds 4 with probability < 1e-4)."""
    refused = 0
    gen = np.random.default_rng(6)
    for _ in range(400):
        df = pd.DataFrame({"arm": np.repeat(["c", "t"], 100), "y": gen.normal(0, 1, 200), "x": gen.normal(0, 1, 200)})
        try:
            nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["x"])
        except nl.DataError:
            refused += 1
    assert refused <= 4


def test_rare_outcome_relative_interval_stays_above_minus_100_percent_and_agrees() -> None:
    gen = np.random.default_rng(7)
    n = 3000
    arm = np.repeat(["c", "t"], n // 2)
    x = gen.normal(0, 1, n)
    y = (gen.random(n) < np.where(arm == "t", 0.004, 0.012) * np.exp(0.3 * x)).astype(int)
    r = nl.analyze(pd.DataFrame({"arm": arm, "y": y, "x": x}), arm="arm", control="c", metrics=["y"], covariates=["x"])
    row = r.row("y", "t")
    assert row["rel_ci_low"] >= -1.0
    assert (row["rel_ci_low"] > 0 or row["rel_ci_high"] < 0) == (row["p_value"] < 0.05)
    assert (row["diff_ci_low"] > 0 or row["diff_ci_high"] < 0) == (row["p_value"] < 0.05)


def test_cli_force_covariate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = _trial(8)
    df["after"] = df["y"] * 0.3 + 2 * (df["arm"] == "t") + np.random.default_rng(9).normal(0, 1, len(df))
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    base = ["analyze", str(path), "--arm", "arm", "--control", "c", "--metric", "y", "--covariate", "after"]
    refused = run_cli(*base)
    assert refused.returncode == 2 and "Covariate 'after' is not balanced" in refused.stderr
    forced = run_cli(*base, "--force-covariate", "--format", "json")
    assert forced.returncode == 0, forced.stderr
    assert '"forced_covariates": [\n      "after"\n    ]' in forced.stdout or '"after"' in forced.stdout

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.proportion import test_proportions_2indep as sm_test_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

import nurture_lab as nl
from nurture_lab.stats.estimators import sufficient_stats

from ..conftest import KNOWN


def test_wald_against_hand_calculation() -> None:
    r = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"]).row("y", "treat")
    se = math.sqrt(0.1 * 0.9 / 2000 + 0.125 * 0.875 / 2000)
    z = stats.norm.ppf(0.975)
    assert r["diff"] == pytest.approx(0.025)
    assert r["diff_ci_low"] == pytest.approx(0.025 - z * se, rel=1e-9)
    assert r["diff_ci_high"] == pytest.approx(0.025 + z * se, rel=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(0.025 / se), rel=1e-9)
    # relative lift: Fieller's interval — at each bound R the Wald statistic of p1 - R p0 is exactly z
    assert r["rel_lift"] == pytest.approx(0.25)
    for bound in (r["rel_ci_low"], r["rel_ci_high"]):
        ratio = 1 + bound
        stat = abs(0.125 - ratio * 0.1) / math.sqrt(0.125 * 0.875 / 2000 + ratio**2 * 0.1 * 0.9 / 2000)
        assert stat == pytest.approx(z, rel=1e-9)
    assert r["rel_ci_low"] < 0.25 < r["rel_ci_high"]
    assert r["test"].startswith("two-proportion z (wald") and r["ci_method"] == "wald"


@pytest.mark.parametrize(
    ("method", "sm_ci", "sm_test"),
    [("wald", "wald", "wald"), ("newcombe", "newcomb", "score"), ("agresti-caffo", "agresti-caffo", "agresti-caffo")],
)
def test_every_ci_method_matches_statsmodels(method: str, sm_ci: str, sm_test: str) -> None:
    r = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], ci_method=method).row("y", "treat")
    lo, hi = confint_proportions_2indep(250, 2000, 200, 2000, method=sm_ci, compare="diff")
    p = sm_test_2indep(250, 2000, 200, 2000, method=sm_test, compare="diff").pvalue
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
    if method == "newcombe":  # Newcombe's interval inverted: close to the score test, the same as its interval
        assert r["p_value"] == pytest.approx(p, rel=0.05)
        at_p = confint_proportions_2indep(250, 2000, 200, 2000, method=sm_ci, compare="diff", alpha=r["p_value"])
        assert at_p[0] == pytest.approx(0.0, abs=1e-10)
    else:
        assert r["p_value"] == pytest.approx(p, rel=1e-12)
    assert r["ci_method"] == method


def test_welch_matches_scipy_and_statsmodels(rng: np.random.Generator) -> None:
    a = rng.gamma(2.0, 3.0, 400)
    b = rng.gamma(2.2, 3.0, 650)
    df = pd.DataFrame({"arm": ["c"] * 400 + ["t"] * 650, "spend": np.r_[a, b]})
    r = nl.analyze(df, arm="arm", control="c", metrics=["spend"]).row("spend", "t")
    assert r["p_value"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(usevar="unequal")
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    assert r["test"] == "welch t" and r["metric_type"] == "numeric"
    # relative lift: Fieller's interval — the ratios r that Welch's test of (mean_t - r * mean_c) keeps
    m1, m0 = b.mean(), a.mean()
    welch_df = stats.ttest_ind(b, a, equal_var=False).df
    q = stats.t.ppf(0.975, welch_df)
    assert r["rel_lift"] == pytest.approx(m1 / m0 - 1, rel=1e-12)
    for bound in (r["rel_ci_low"], r["rel_ci_high"]):
        ratio = bound + 1
        t_stat = (m1 - ratio * m0) / math.sqrt(b.var(ddof=1) / 650 + ratio**2 * a.var(ddof=1) / 400)
        assert abs(t_stat) == pytest.approx(q, rel=1e-9)  # each bound sits exactly on the test's edge


def test_numeric_relative_interval_stays_above_minus_100_and_agrees_with_welch() -> None:
    """Small skewed data: the old symmetric z interval excluded 0 while Welch's p was 0.22."""
    for seed in range(100):
        gen = np.random.default_rng(seed)
        c, t = gen.lognormal(0, 1.5, 12), gen.lognormal(-0.6, 1.5, 12)
        df = pd.DataFrame({"arm": ["c"] * 12 + ["t"] * 12, "y": np.r_[c, t]})
        r = nl.analyze(df, arm="arm", control="c", metrics=["y"]).row("y", "t")
        if np.isnan(r["rel_ci_low"]):  # the control mean is not distinguishable from 0: unbounded
            assert np.isnan(r["rel_ci_high"]) and r["p_value"] >= 0.05
            continue
        assert r["rel_ci_low"] >= -1
        assert r["rel_ci_low"] <= r["rel_lift"] <= r["rel_ci_high"]
        covers_zero = r["rel_ci_low"] < 0 < r["rel_ci_high"]
        assert covers_zero == (r["p_value"] >= 0.05), seed  # the interval and Welch's test agree


def test_lin_estimator_against_hand_calculation(rng: np.random.Generator) -> None:
    n = 600
    x1, x2 = rng.normal(size=n), rng.exponential(size=n)
    t = rng.integers(0, 2, n)
    y = 1 + 0.5 * t + 0.8 * x1 + 0.3 * x2 + 0.4 * t * x1 + rng.normal(scale=1 + t, size=n)
    df = pd.DataFrame({"arm": np.where(t == 1, "t", "c"), "y": y, "x1": x1, "x2": x2})
    r = nl.analyze(df, arm="arm", control="c", metrics=["y"], covariates=["x1", "x2"]).row("y", "t")
    xc = np.c_[x1 - x1.mean(), x2 - x2.mean()]
    X = np.c_[np.ones(n), t, xc, xc * t[:, None]]
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    e = y - X @ beta
    xtx_inv = np.linalg.inv(X.T @ X)
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)
    meat = X.T @ (X * (e**2 / (1 - h))[:, None])
    se = math.sqrt((xtx_inv @ meat @ xtx_inv)[1, 1])
    tq = stats.t.ppf(0.975, n - X.shape[1])
    assert r["diff"] == pytest.approx(beta[1], rel=1e-10)
    assert r["diff_ci_high"] - r["diff"] == pytest.approx(tq * se, rel=1e-8)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(beta[1] / se), n - X.shape[1]), rel=1e-8)
    assert r["test"] == "lin ols (hc2)"


def test_sufficient_stats_are_one_pass_totals() -> None:
    s = sufficient_stats(KNOWN.assign(v=KNOWN["y"] * 3.0), "arm", ["y", "v"]).set_index(["metric", "arm"])
    assert s.loc[("y", "treat"), "sum"] == 250 and s.loc[("v", "treat"), "sumsq"] == 250 * 9
    assert s.loc[("y", "control"), "n"] == 2000

"""Results that never mislead at the edges: tiny and 0%/100% arms, infinities, allocations, declared
types, adjusted intervals, covariate-adjusted relative lift — each against an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep

import nurture_lab as nl

from ..conftest import KNOWN, binary_frame, run_cli


def test_an_arm_with_one_unit_is_refused() -> None:
    df = binary_frame({"c": (50, 100), "t": (1, 1)})
    with pytest.raises(nl.DataError, match=r"Arm\(s\) t \(1\) of column 'arm' have fewer than 2 units"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"])


def test_zero_and_hundred_percent_arms_get_an_interval_that_does_not_collapse() -> None:
    df = binary_frame({"c": (0, 5), "t": (5, 5)})
    r = nl.analyze(df, arm="arm", control="c", metrics=["y"]).row("y", "t")
    lo, hi = confint_proportions_2indep(5, 5, 0, 5, method="newcomb", compare="diff")
    assert r["ci_method"] == "newcombe" and r["test"] == "newcombe hybrid score (interval inverted)"
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((lo, hi))
    assert r["diff_ci_high"] - r["diff_ci_low"] > 0.3 and r["p_value"] > 1e-6
    # the p-value is Newcombe's interval inverted: at level 1 - p statsmodels' interval touches 0
    at_p = confint_proportions_2indep(5, 5, 0, 5, method="newcomb", compare="diff", alpha=r["p_value"])
    assert at_p[0] == pytest.approx(0.0, abs=1e-9)


def test_four_of_twenty_against_none_gives_one_answer() -> None:
    """Issue 23: 4/20 vs 0/20 gave score p 0.037 beside a Newcombe interval that held 0."""
    r = nl.analyze(binary_frame({"c": (0, 20), "t": (4, 20)}), arm="arm", control="c", metrics=["y"]).row("y", "t")
    lo, _hi = confint_proportions_2indep(4, 20, 0, 20, method="newcomb", compare="diff")
    assert r["diff_ci_low"] == pytest.approx(lo) and lo < 0
    assert r["p_value"] > 0.05 and not r["significant"]
    # away from the edges the default stays Wald
    assert nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"]).row("y", "treat")["ci_method"] == "wald"


def test_infinities_and_bad_allocations_are_refused() -> None:
    df = pd.DataFrame({"arm": ["c", "c", "t", "t"], "spend": [1.0, 2.0, np.inf, 3.0]})
    with pytest.raises(nl.DataError, match=r"Column 'spend' has 1 infinite value\(s\) \(row positions 2 \(inf\)\)"):
        nl.analyze(df, arm="arm", control="c", metrics=["spend"])
    for bad in (-0.5, float("nan")):
        with pytest.raises(
            nl.ParameterError, match=r"The 'allocation\['t'\]' parameter of analyze must be a finite share >= 0"
        ):
            nl.analyze(
                KNOWN.replace({"treat": "t"}),
                arm="arm",
                control="control",
                metrics=["y"],
                allocation={"control": 0.5, "t": bad},
            )
    with pytest.raises(nl.ParameterError, match=r"shares with a positive sum"):
        nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], allocation={"control": 0, "treat": 0})


def test_a_declared_binary_metric_with_a_stray_value_is_refused() -> None:
    df = binary_frame({"c": (20, 100), "t": (30, 100)})
    df.loc[3, "y"] = 2
    assert nl.analyze(df, arm="arm", control="c", metrics=["y"]).row("y", "t")["metric_type"] == "numeric"
    with pytest.raises(
        nl.DataError, match=r"Metric 'y' is declared binary but has values other than 0/1 in 1 row\(s\) \(e.g. 2\)"
    ):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], metric_types={"y": "binary"})
    with pytest.raises(
        nl.ParameterError, match=r"metric_types\['y'\]' parameter of analyze must be one of: binary, numeric"
    ):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], metric_types={"y": "rate"})


def test_cli_declares_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = binary_frame({"c": (20, 100), "t": (30, 100)})
    df.loc[3, "y"] = 2
    df.to_csv(tmp_path / "d.csv", index=False)
    res = run_cli(
        "analyze", str(tmp_path / "d.csv"), "--arm", "arm", "--control", "c", "--metric", "y", "--binary", "y"
    )
    assert res.returncode == 2 and "declared binary" in res.stderr


@pytest.mark.parametrize("method", ["wald", "newcombe", "agresti-caffo"])
def test_holm_intervals_are_at_holms_last_step(method: str) -> None:
    df = binary_frame({"c": (200, 2000), "t1": (240, 2000), "t2": (260, 2000), "t3": (205, 2000)})
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], ci_method=method)
    rejected = int(res.results["significant"].sum())
    assert 1 <= rejected < 3
    level = 0.05 / (3 - rejected)
    sm = {"wald": "wald", "newcombe": "newcomb", "agresti-caffo": "agresti-caffo"}[method]
    for arm, k in (("t1", 240), ("t2", 260), ("t3", 205)):
        r = res.row("y", arm)
        lo, hi = confint_proportions_2indep(k, 2000, 200, 2000, method=sm, compare="diff", alpha=level)
        assert (r["adj_ci_low"], r["adj_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
        assert r["adj_ci_low"] <= r["diff_ci_low"] and r["diff_ci_high"] <= r["adj_ci_high"]
        assert (lo > 0 or hi < 0) == bool(r["significant"])  # the interval and Holm's verdict agree
    assert res.settings["adjusted_alpha"] == pytest.approx(level)
    plain = nl.analyze(df, arm="arm", control="c", metrics=["y"], correction="none")
    assert (plain.results["adj_ci_low"] == plain.results["diff_ci_low"]).all()


def test_bh_intervals_are_false_coverage_rate_intervals() -> None:
    df = binary_frame({"c": (200, 2000), "t1": (205, 2000), "t2": (280, 2000), "t3": (300, 2000)})
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], correction="bh")
    rejected = int(res.results["significant"].sum())
    assert rejected == 2
    level = rejected * 0.05 / 3
    r = res.row("y", "t3")
    lo, hi = confint_proportions_2indep(300, 2000, 200, 2000, method="wald", compare="diff", alpha=level)
    assert (r["adj_ci_low"], r["adj_ci_high"]) == pytest.approx((lo, hi), rel=1e-10)


def test_covariate_adjusted_relative_lift_carries_the_control_means_uncertainty() -> None:
    hs = nl.datasets.hillstrom()
    hs = hs[hs["segment"].isin(["Mens E-Mail", "No E-Mail"])].copy()
    hs["segment"] = hs["segment"].cat.remove_unused_categories()
    adj = nl.analyze(hs, arm="segment", control="No E-Mail", metrics=["conversion"], covariates=["history"])
    raw = nl.analyze(hs, arm="segment", control="No E-Mail", metrics=["conversion"])
    a, r = adj.row("conversion", "Mens E-Mail"), raw.row("conversion", "Mens E-Mail")
    # tea-tasting's CUPED gives about (0.764, 1.701); dividing by a fixed control mean gave (0.870, 1.500)
    assert a["rel_ci_low"] == pytest.approx(0.764, abs=0.06) and a["rel_ci_high"] == pytest.approx(1.701, abs=0.08)
    assert (a["rel_ci_high"] - a["rel_ci_low"]) > 0.9 * (r["rel_ci_high"] - r["rel_ci_low"]) - 0.2


arms_counts = st.lists(st.tuples(st.integers(5, 60), st.integers(60, 120)), min_size=2, max_size=4)


@settings(max_examples=25, deadline=None)
@given(counts=arms_counts, correction=st.sampled_from(["holm", "bh", "none"]))
def test_properties_of_analyze(counts: list[tuple[int, int]], correction: str) -> None:
    labels = [f"a{i}" for i in range(len(counts))]
    df = binary_frame({lab: (min(k, n - 1), n) for lab, (k, n) in zip(labels, counts)})
    res = nl.analyze(df, arm="arm", control="a0", metrics=["y"], correction=correction)
    t = res.results.set_index("arm")
    # permuting rows changes nothing
    perm = df.sample(frac=1.0, random_state=np.random.RandomState(len(df)))
    pd.testing.assert_frame_equal(
        nl.analyze(perm, arm="arm", control="a0", metrics=["y"], correction=correction)
        .results.set_index("arm")
        .sort_index(),
        t.sort_index(),
    )
    # relabelling arms permutes the results
    rename = {lab: f"z{len(labels) - i}" for i, lab in enumerate(labels)}
    rel = nl.analyze(
        df.replace({"arm": rename}), arm="arm", control=rename["a0"], metrics=["y"], correction=correction
    ).results.set_index("arm")
    for lab in labels[1:]:
        assert rel.loc[rename[lab], "diff"] == pytest.approx(t.loc[lab, "diff"])
        assert rel.loc[rename[lab], "p_adjusted"] == pytest.approx(t.loc[lab, "p_adjusted"])
    # the decision and the adjusted p agree; adjusted intervals contain the plain ones
    assert (t["significant"] == (t["p_adjusted"] < 0.05)).all()
    assert (t["adj_ci_low"] <= t["diff_ci_low"] + 1e-12).all() and (t["adj_ci_high"] >= t["diff_ci_high"] - 1e-12).all()


def test_a_small_spread_around_a_large_mean_is_variance() -> None:
    """sd 1 around 1e7 with a real 0.1 shift: scipy's Welch test finds it; so must analyze."""
    from scipy import stats

    gen = np.random.default_rng(5)
    c, t = 1e7 + gen.normal(0, 1, 3000), 1e7 + 0.1 + gen.normal(0, 1, 3000)
    df = pd.DataFrame({"arm": ["c"] * 3000 + ["t"] * 3000, "x": np.r_[c, t]})
    r = nl.analyze(df, arm="arm", control="c", metrics=["x"]).row("x", "t")
    assert r["p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-4)
    assert r["diff"] == pytest.approx(t.mean() - c.mean(), abs=1e-6)
    const = pd.DataFrame({"arm": ["c"] * 5 + ["t"] * 5, "x": [1e7] * 10})
    with pytest.raises(nl.DataError, match="has no variance"):
        nl.analyze(const, arm="arm", control="c", metrics=["x"])

"""Degenerate data (issue 23, item 4): each case gets the right number or one clear error, checked
against statsmodels, scipy or a hand formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

import nurture_lab as nl

from ..conftest import binary_frame


def _bookings(seed: int = 1, n: int = 400) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "arm": np.repeat(["c", "t", "u"], n),
            "booked": gen.random(3 * n) < 0.3,
            "days_to_book": gen.exponential(5, 3 * n),
        }
    )


def test_time_to_book_with_no_bookings_in_an_arm() -> None:
    from statsmodels.duration.survfunc import survdiff

    df = _bookings()
    df.loc[df["arm"] == "t", "booked"] = False
    res = nl.time_to_book(df, "arm", "c", horizon_days=30)
    cox = res.cox.set_index("arm")
    assert cox.loc["t", "hazard_ratio"] == 0.0 and np.isnan(cox.loc["t", "ci_high"])
    assert "no bookings in arm 't'" in cox.loc["t", "test"]
    pair = df[df["arm"].isin(["c", "t"])]
    t = np.where(pair["booked"] & (pair["days_to_book"] <= 30), pair["days_to_book"], 30.0)
    ev = (pair["booked"] & (pair["days_to_book"] <= 30)).astype(int).to_numpy()
    assert cox.loc["t", "p_value"] == pytest.approx(survdiff(t, ev, pair["arm"].to_numpy())[1], rel=1e-9, abs=1e-300)
    # the other arm keeps its Cox estimate, fitted without the arm that never booked
    alone = nl.time_to_book(df[df["arm"] != "t"], "arm", "c", horizon_days=30).cox.set_index("arm")
    assert cox.loc["u", "hazard_ratio"] == pytest.approx(alone.loc["u", "hazard_ratio"], rel=1e-9)
    assert 0 < cox.loc["u", "ci_low"] < cox.loc["u", "ci_high"] < np.inf


def test_time_to_book_with_no_bookings_in_the_control_or_anywhere() -> None:
    df = _bookings()
    df.loc[df["arm"].isin(["c", "t"]), "booked"] = False
    cox = nl.time_to_book(df, "arm", "c", horizon_days=30).cox.set_index("arm")
    assert np.isinf(cox.loc["u", "hazard_ratio"]) and np.isnan(cox.loc["t", "hazard_ratio"])
    assert cox.loc["u", "p_value"] < 1e-6 and np.isnan(cox.loc["t", "p_value"])
    with pytest.raises(nl.DataError, match="no lead booked within its follow-up"):
        nl.time_to_book(df.assign(booked=False), "arm", "c", horizon_days=30)
    with pytest.raises(nl.DataError, match="every lead's follow-up is 0 days"):
        nl.time_to_book(df.assign(f=0.0), "arm", "c", followup_days="f")


def test_non_inferiority_at_one_event_and_at_none() -> None:
    # 1/200 vs 0/200, margin 0.02: one answer — Newcombe's interval and its inverted p agree
    r = nl.non_inferiority(binary_frame({"c": (0, 200), "t": (1, 200)}), "arm", "c", "y", margin=0.02).results.iloc[0]
    lo, hi = confint_proportions_2indep(1, 200, 0, 200, method="newcomb", compare="diff", alpha=0.10)
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    assert (r["p_value"] < 0.05) == bool(r["non_inferior"]) == (hi < 0.02)
    # at the p-value's level statsmodels' interval reaches the margin exactly
    at_p = confint_proportions_2indep(1, 200, 0, 200, method="newcomb", compare="diff", alpha=2 * r["p_value"])
    assert at_p[1] == pytest.approx(0.02, abs=1e-10)
    # 0/20,000 vs 0/20,000: an opt-out guardrail with no opt-outs passes
    z = nl.non_inferiority(binary_frame({"c": (0, 20000), "t": (0, 20000)}), "arm", "c", "y", margin=0.02)
    row = z.results.iloc[0]
    assert row["non_inferior"] and row["diff_ci_high"] < 0.001 and row["p_value"] < 1e-10
    # away from the edges the p-value is statsmodels' one-sided Wald test against the margin
    from statsmodels.stats.proportion import test_proportions_2indep

    w = nl.non_inferiority(binary_frame({"c": (20, 200), "t": (25, 200)}), "arm", "c", "y", margin=0.02)
    p = test_proportions_2indep(25, 200, 20, 200, value=0.02, method="wald", alternative="smaller").pvalue
    assert w.results.iloc[0]["p_value"] == pytest.approx(p, rel=1e-9)


def test_ratio_with_all_zero_denominators_is_refused() -> None:
    df = pd.DataFrame({"arm": ["c"] * 4 + ["t"] * 4, "num": [1, 0, 1, 0] * 2, "den": [1, 2, 1, 1, 0, 0, 0, 0]})
    with pytest.raises(nl.DataError, match=r"Ratio metric 'num/den' has a denominator that is 0 .* arm 't'"):
        nl.analyze(df, arm="arm", control="c", metrics=[nl.Ratio("num", "den")])


def test_centring_is_per_arm_so_row_order_does_not_matter() -> None:
    gen = np.random.default_rng(2)
    a, b = gen.normal(0, 1, 500), 1e8 + gen.normal(0, 1, 500)
    df = pd.DataFrame({"arm": ["c"] * 500 + ["t"] * 500, "x": np.r_[a, b]})
    first = nl.analyze(df, arm="arm", control="c", metrics=["x"]).row("x", "t")
    flipped = nl.analyze(df.iloc[::-1], arm="arm", control="c", metrics=["x"]).row("x", "t")
    width = lambda r: r["diff_ci_high"] - r["diff_ci_low"]  # noqa: E731
    se = np.sqrt(a.var(ddof=1) / 500 + b.var(ddof=1) / 500)  # each arm's own variance, scipy-free by hand
    df_w = se**4 / ((a.var(ddof=1) / 500) ** 2 / 499 + (b.var(ddof=1) / 500) ** 2 / 499)
    assert width(first) == pytest.approx(2 * stats.t.ppf(0.975, df_w) * se, rel=1e-6)
    assert width(flipped) == pytest.approx(width(first), rel=1e-6)


def test_one_constant_arm_pair_does_not_abort_the_others_and_names_both_values() -> None:
    gen = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "arm": ["c"] * 50 + ["t"] * 50 + ["u"] * 50,
            "x": np.r_[np.full(50, 5.0), np.full(50, 5.0), gen.normal(6, 1, 50)],
        }
    )
    res = nl.analyze(df, arm="arm", control="c", metrics=["x"])
    u = res.row("x", "u")
    assert u["p_value"] == pytest.approx(
        stats.ttest_ind(df.x[df.arm == "u"], df.x[df.arm == "c"], equal_var=False).pvalue
    )
    assert np.isnan(res.row("x", "t")["p_value"])
    assert any("every value is 5" in w for w in res.warnings)
    two = df[df["arm"] != "u"].assign(x=lambda d: np.where(d["arm"] == "t", 7.0, 5.0))
    with pytest.raises(nl.DataError, match=r"arms 't' \(every value 7\) and 'c' \(every value 5\)"):
        nl.analyze(two, arm="arm", control="c", metrics=["x"])

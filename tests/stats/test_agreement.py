"""One answer per row (issue 23, item 3): every row's intervals and p-value come from one method and
agree on the decision at the row's level, for every combination of options, checked over random
tables (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nurture_lab as nl

from ..conftest import binary_frame


def _excludes_zero(lo: float, hi: float) -> bool | None:
    """Does (lo, hi) exclude 0? A NaN bound is unbounded on its side; None when both are NaN."""
    if math.isnan(lo) and math.isnan(hi):
        return None
    return (not math.isnan(lo) and lo > 0) or (not math.isnan(hi) and hi < 0)


def _near(p: float, level: float) -> bool:
    return abs(p - level) <= 1e-7 * level


def check_agreement(res: nl.AnalysisResult) -> int:
    """Assert the rule on every row; return how many rows were checked."""
    alpha = res.settings["alpha"]
    level = res.settings["adjusted_alpha"]
    checked = 0
    for r in res.results.to_dict(orient="records"):
        p, pa = r["p_value"], r["p_adjusted"]
        if not np.isfinite(p):
            continue
        if not _near(p, alpha):
            assert _excludes_zero(r["diff_ci_low"], r["diff_ci_high"]) == (p < alpha), r
            rel = _excludes_zero(r["rel_ci_low"], r["rel_ci_high"])
            assert rel is None or rel == (p < alpha), r
        if not (_near(p, level) or _near(pa, alpha)):
            assert _excludes_zero(r["adj_ci_low"], r["adj_ci_high"]) == bool(r["significant"]), r
            assert bool(r["significant"]) == (pa < alpha)
        checked += 1
    return checked


tables = st.lists(st.tuples(st.integers(0, 250), st.integers(20, 250)), min_size=2, max_size=6)
options = st.fixed_dictionaries(
    {
        "ci_method": st.sampled_from(["wald", "newcombe", "agresti-caffo"]),
        "correction": st.sampled_from(["holm", "bh", "none"]),
        "sequential": st.booleans(),
        "alpha": st.sampled_from([0.01, 0.05, 0.1]),
    }
)


@settings(max_examples=120, deadline=None)
@given(counts=tables, opts=options)
def test_binary_rows_agree_for_every_option(counts: list[tuple[int, int]], opts: dict) -> None:  # type: ignore[type-arg]
    df = binary_frame({f"a{i}": (min(k, n), n) for i, (k, n) in enumerate(counts)})
    try:
        res = nl.analyze(df, arm="arm", control="a0", metrics=["y"], **opts)
    except nl.DataError:  # every arm at the control's constant rate: nothing to test
        return
    check_agreement(res)


@settings(max_examples=60, deadline=None)
@given(
    spec=st.lists(st.tuples(st.floats(-5, 5), st.floats(0.1, 5), st.integers(5, 200)), min_size=2, max_size=5),
    seed=st.integers(0, 10**6),
    opts=options,
)
def test_numeric_rows_agree_for_every_option(spec: list[tuple[float, float, int]], seed: int, opts: dict) -> None:  # type: ignore[type-arg]
    gen = np.random.default_rng(seed)
    parts = [pd.DataFrame({"arm": f"a{i}", "x": gen.normal(m, s, n)}) for i, (m, s, n) in enumerate(spec)]
    df = pd.concat(parts, ignore_index=True)
    res = nl.analyze(df, arm="arm", control="a0", metrics=["x"], **opts)
    assert check_agreement(res) == len(spec) - 1


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), correction=st.sampled_from(["holm", "bh", "none"]))
def test_covariate_and_ratio_rows_agree(seed: int, correction: str) -> None:
    gen = np.random.default_rng(seed)
    n = 600
    arm = gen.choice(["c", "t1", "t2"], n)
    x = gen.normal(0, 1, n)
    y = 1 + 0.5 * x + 0.3 * (arm == "t1") + gen.normal(0, 1, n)
    touches = gen.integers(1, 6, n)
    booked = (gen.random(n) < 0.2 + 0.05 * (arm == "t2")).astype(int)
    df = pd.DataFrame({"arm": arm, "y": y, "x": x, "touches": touches, "booked": booked})
    lin = nl.analyze(
        df, arm="arm", control="c", metrics=["y", "booked"], covariates=["x"], correction=correction, force=True
    )
    assert check_agreement(lin) == 4
    ratio = nl.analyze(df, arm="arm", control="c", metrics=[nl.Ratio("booked", "touches")], correction=correction)
    assert check_agreement(ratio) == 2


def test_sequential_holm_five_arms_of_250_agree() -> None:
    """Issue 23: adjusted p 0.103 beside an adjusted interval of (+0.001, +0.287)."""
    gen = np.random.default_rng(23)
    for _ in range(40):
        rates = [0.2, *gen.uniform(0.2, 0.4, 4)]
        df = binary_frame({f"a{i}": (int(gen.binomial(250, r)), 250) for i, r in enumerate(rates)})
        for correction in ("holm", "bh"):
            res = nl.analyze(df, arm="arm", control="a0", metrics=["y"], sequential=True, correction=correction)
            assert check_agreement(res) == 4


def test_binary_relative_interval_is_mover_for_newcombe_and_agrees_at_zero() -> None:
    r = nl.analyze(binary_frame({"c": (0, 20), "t": (4, 20)}), arm="arm", control="c", metrics=["y"]).row("y", "t")
    assert np.isnan(r["rel_lift"]) and np.isnan(r["rel_ci_high"])  # no finite ratio over a 0% control
    assert r["rel_ci_low"] <= 0 and not r["significant"]


@pytest.mark.parametrize("method", ["wald", "agresti-caffo", "newcombe"])
def test_relative_bounds_invert_the_rows_own_test(method: str) -> None:
    """At each relative bound R the method's own test of p1 - R p0 sits exactly on its critical value
    (hand formulas: Wald/Agresti-Caffo variances, Wilson bounds for MOVER-R)."""
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    c1, n1, c0, n0 = 130, 900, 100, 1000
    r = nl.analyze(
        binary_frame({"c": (c0, n0), "t": (c1, n1)}), arm="arm", control="c", metrics=["y"], ci_method=method
    ).row("y", "t")
    z = stats.norm.ppf(0.975)
    for side, bound in (("lo", r["rel_ci_low"]), ("hi", r["rel_ci_high"])):
        ratio = 1 + bound
        if method == "newcombe":
            l1, u1 = proportion_confint(c1, n1, 0.05, method="wilson")
            l0, u0 = proportion_confint(c0, n0, 0.05, method="wilson")
            p1, p0 = c1 / n1, c0 / n0
            if side == "lo":
                edge = p1 - ratio * p0 - math.sqrt((p1 - l1) ** 2 + ratio**2 * (u0 - p0) ** 2)
            else:
                edge = p1 - ratio * p0 + math.sqrt((u1 - p1) ** 2 + ratio**2 * (p0 - l0) ** 2)
            assert edge == pytest.approx(0.0, abs=1e-12)
        else:
            k = 0 if method == "wald" else 1
            p1, p0 = (c1 + k) / (n1 + 2 * k), (c0 + k) / (n0 + 2 * k)
            se = math.sqrt(p1 * (1 - p1) / (n1 + 2 * k) + ratio**2 * p0 * (1 - p0) / (n0 + 2 * k))
            assert abs(p1 - ratio * p0) / se == pytest.approx(z, rel=1e-9)

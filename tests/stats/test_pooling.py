"""Segments pooled toward the whole (issue 23): Cochran's Q and DerSimonian–Laird shrinkage against
statsmodels' meta-analysis, and by simulation with no true heterogeneity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

import nurture_lab as nl


def _segmented(seed: int, effects: list[float], n: int = 600, base: float = 0.2) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    parts = []
    for g, eff in enumerate(effects):
        arm = gen.choice(["c", "t"], n)
        y = (gen.random(n) < base + eff * (arm == "t")).astype(int)
        parts.append(pd.DataFrame({"arm": arm, "y": y, "line": f"s{g}"}))
    return pd.concat(parts, ignore_index=True)


def test_heterogeneity_and_overall_effect_match_statsmodels() -> None:
    df = _segmented(1, [0.0, 0.03, 0.08, 0.01, 0.12, 0.05])
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], by="line")
    (het,) = res.settings["heterogeneity"]
    t = res.results.sort_values("line")
    # each segment's effect and its unpooled (Wald) variance, computed here from the data
    g = df.groupby(["line", "arm"])["y"].agg(["mean", "count"])
    d = np.array([g.loc[(s, "t"), "mean"] - g.loc[(s, "c"), "mean"] for s in sorted(df.line.unique())])
    var = np.array(
        [
            sum(g.loc[(s, a), "mean"] * (1 - g.loc[(s, a), "mean"]) / g.loc[(s, a), "count"] for a in ("c", "t"))
            for s in sorted(df.line.unique())
        ]
    )
    ref = combine_effects(d, var, method_re="dl")
    assert het["q"] == pytest.approx(ref.q, rel=1e-9)
    assert het["tau2"] == pytest.approx(ref.tau2, rel=1e-9)
    assert het["p_value"] == pytest.approx(stats.chi2.sf(ref.q, len(d) - 1), rel=1e-9)
    assert het["overall_diff"] == pytest.approx(ref.mean_effect_re, rel=1e-9)
    half = stats.norm.ppf(0.975) * ref.sd_eff_w_re
    assert (het["overall_ci_low"], het["overall_ci_high"]) == pytest.approx(
        (ref.mean_effect_re - half, ref.mean_effect_re + half), rel=1e-9
    )
    # Morris' empirical Bayes: each segment moves toward the overall effect by (k-3)/(k-1) se²/(se² + tau2)
    k = len(d)
    shrink = (k - 3) / (k - 1) * var / (var + ref.tau2)
    assert t["pooled_diff"].to_numpy() == pytest.approx(d - shrink * (d - ref.mean_effect_re), rel=1e-9)
    assert (np.abs(t["pooled_diff"] - het["overall_diff"]) <= np.abs(t["diff"] - het["overall_diff"]) + 1e-15).all()
    assert (t["heterogeneity_p"] == het["p_value"]).all()


def test_no_true_heterogeneity_pooled_error_below_raw_and_q_false_alarms_within_bounds() -> None:
    """8 segments with the same +3-point effect, 200 simulated tests: the pooled segment effects'
    mean squared error is below the raw ones', and Q's 5% false-alarm rate is within the 99.9%
    binomial interval of 200 draws."""
    reps = 200
    alarms = 0
    raw_se = pooled_se = 0.0
    for rep in range(reps):
        df = _segmented(100 + rep, [0.03] * 8, n=400)
        t = nl.analyze(df, arm="arm", control="c", metrics=["y"], by="line").results
        alarms += bool(t["heterogeneity_p"].iloc[0] < 0.05)
        raw_se += float(((t["diff"] - 0.03) ** 2).sum())
        pooled_se += float(((t["pooled_diff"] - 0.03) ** 2).sum())
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.05)
    assert lo <= alarms <= hi
    assert pooled_se < 0.5 * raw_se


def test_pooled_intervals_cover_the_true_segment_effects_under_heterogeneity() -> None:
    """Real differences between lines: the shrunk intervals cover each line's true effect about
    as often as stated (at least 90% of 95% intervals over 60 tests x 6 lines)."""
    effects = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10]
    covered = total = 0
    for rep in range(60):
        t = nl.analyze(_segmented(500 + rep, effects, n=800), arm="arm", control="c", metrics=["y"], by="line").results
        truth = np.array(effects)[t["line"].str[1:].astype(int).to_numpy()]
        covered += int(((t["pooled_ci_low"] <= truth) & (truth <= t["pooled_ci_high"])).sum())
        total += len(t)
    assert covered / total >= 0.90

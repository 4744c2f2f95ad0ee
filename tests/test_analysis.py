from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.proportion import test_proportions_2indep as sm_test_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

import nurture_lab as nl
from nurture_lab.analysis import sufficient_stats


def binary_frame(counts: dict[str, tuple[int, int]], metric: str = "y") -> pd.DataFrame:
    parts = []
    for arm, (k, n) in counts.items():
        parts.append(pd.DataFrame({"arm": arm, metric: np.r_[np.ones(k, dtype=int), np.zeros(n - k, dtype=int)]}))
    return pd.concat(parts, ignore_index=True)


KNOWN = binary_frame({"control": (200, 2000), "treat": (250, 2000)})


def test_wald_against_hand_calculation() -> None:
    r = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"]).row("y", "treat")
    se = math.sqrt(0.1 * 0.9 / 2000 + 0.125 * 0.875 / 2000)
    z = stats.norm.ppf(0.975)
    assert r["diff"] == pytest.approx(0.025)
    assert r["diff_ci_low"] == pytest.approx(0.025 - z * se, rel=1e-9)
    assert r["diff_ci_high"] == pytest.approx(0.025 + z * se, rel=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(0.025 / se), rel=1e-9)
    # relative lift: log of the ratio
    se_log = math.sqrt(1 / 250 - 1 / 2000 + 1 / 200 - 1 / 2000)
    assert r["rel_lift"] == pytest.approx(0.25)
    assert r["rel_ci_low"] == pytest.approx(1.25 * math.exp(-z * se_log) - 1, rel=1e-9)
    assert r["rel_ci_high"] == pytest.approx(1.25 * math.exp(z * se_log) - 1, rel=1e-9)
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
    assert r["p_value"] == pytest.approx(p, rel=1e-12)
    assert r["ci_method"] == method


@pytest.mark.parametrize("method", ["wald", "agresti-caffo", "newcombe"])
def test_ci_and_p_value_agree(method: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        n0, n1 = rng.integers(50, 3000, 2)
        k0, k1 = rng.binomial(n0, 0.1), rng.binomial(n1, rng.uniform(0.06, 0.16))
        if k0 == 0 or k1 == 0:
            continue
        r = nl.analyze(
            binary_frame({"c": (k0, n0), "t": (k1, n1)}), arm="arm", control="c", metrics=["y"], ci_method=method
        ).row("y", "t")
        excludes = r["diff_ci_low"] > 0 or r["diff_ci_high"] < 0
        if method == "newcombe":  # the score test and Newcombe's interval may disagree right at the edge
            if abs(r["p_value"] - 0.05) > 0.005:
                assert excludes == (r["p_value"] < 0.05)
        else:
            assert excludes == (r["p_value"] < 0.05), (k0, n0, k1, n1)


def test_three_arm_holm() -> None:
    df = binary_frame({"control": (200, 2000), "a": (250, 2000), "b": (215, 2000), "c": (180, 2000)})
    res = nl.analyze(df, arm="arm", control="control", metrics=["y"]).to_pandas().set_index("arm")
    p = res["p_value"].sort_values()
    m = len(p)
    holm = np.maximum.accumulate([min(1, (m - i) * v) for i, v in enumerate(p)])
    assert res.loc[p.index, "p_adjusted"].to_numpy() == pytest.approx(holm)
    assert res["significant"].tolist() == (res["p_adjusted"] < 0.05).tolist()
    from statsmodels.stats.multitest import multipletests

    assert res["p_adjusted"].to_numpy() == pytest.approx(multipletests(res["p_value"], method="holm")[1])
    bh = nl.analyze(df, arm="arm", control="control", metrics=["y"], correction="bh").to_pandas().set_index("arm")
    assert bh["p_adjusted"].to_numpy() == pytest.approx(multipletests(bh["p_value"], method="fdr_bh")[1])
    assert (bh["p_adjusted"] <= res["p_adjusted"] + 1e-12).all()
    none = nl.analyze(df, arm="arm", control="control", metrics=["y"], correction="none").to_pandas()
    assert (none["p_adjusted"] == none["p_value"]).all()


def test_welch_matches_scipy_and_statsmodels(rng: np.random.Generator) -> None:
    a = rng.gamma(2.0, 3.0, 400)
    b = rng.gamma(2.2, 3.0, 650)
    df = pd.DataFrame({"arm": ["c"] * 400 + ["t"] * 650, "spend": np.r_[a, b]})
    r = nl.analyze(df, arm="arm", control="c", metrics=["spend"]).row("spend", "t")
    assert r["p_value"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(usevar="unequal")
    assert (r["diff_ci_low"], r["diff_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    assert r["test"] == "welch t" and r["metric_type"] == "numeric"
    # delta-method relative lift
    m1, m0 = b.mean(), a.mean()
    se = math.sqrt(b.var(ddof=1) / 650 / m0**2 + m1**2 / m0**4 * a.var(ddof=1) / 400)
    assert r["rel_ci_high"] - r["rel_lift"] == pytest.approx(stats.norm.ppf(0.975) * se, rel=1e-9)


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


def test_hillstrom_published_rates_and_covariates_narrow_intervals() -> None:
    hs = nl.datasets.hillstrom()
    assert len(hs) == 64_000
    res = nl.analyze(hs, arm="segment", control="No E-Mail", metrics=["visit", "conversion", "spend"])
    mens, womens = res.row("visit", "Mens E-Mail"), res.row("visit", "Womens E-Mail")
    # published: visit 18.3% / 15.1% / 10.6%; conversion 1.25% / 0.88% / 0.57%; spend $1.42 / $1.08 / $0.65
    assert (mens["arm_value"], womens["arm_value"], mens["control_value"]) == pytest.approx(
        (0.1828, 0.1514, 0.1062), abs=5e-4
    )
    conv = res.row("conversion", "Mens E-Mail")
    assert (conv["arm_value"], conv["control_value"]) == pytest.approx((0.0125, 0.0057), abs=1e-4)
    assert res.row("spend", "Mens E-Mail")["arm_value"] == pytest.approx(1.42, abs=0.005)
    assert not res.srm["flagged"]
    adj = nl.analyze(
        hs,
        arm="segment",
        control="No E-Mail",
        metrics=["visit", "conversion", "spend"],
        covariates=["recency", "history"],
    )
    w0 = res.results["diff_ci_high"] - res.results["diff_ci_low"]
    w1 = adj.results["diff_ci_high"] - adj.results["diff_ci_low"]
    assert (w1 < w0).all()
    assert adj.results["diff"].to_numpy() == pytest.approx(res.results["diff"].to_numpy(), abs=0.01)


def test_cli_on_the_shipped_dataset() -> None:
    path = str(nl.datasets.hillstrom_path())
    base = [
        sys.executable,
        "-m",
        "nurture_lab",
        "analyze",
        path,
        "--arm",
        "segment",
        "--control",
        "No E-Mail",
        "--metric",
        "visit",
        "--metric",
        "conversion",
        "--metric",
        "spend",
        "--format",
        "json",
    ]
    out = json.loads(subprocess.run(base, capture_output=True, text=True, check=True).stdout)
    assert set(out) >= {"results", "srm", "settings"}
    need = {
        "metric",
        "arm",
        "control",
        "n_control",
        "n_arm",
        "control_value",
        "arm_value",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_adjusted",
        "test",
        "ci_method",
    }
    assert len(out["results"]) == 6 and need <= set(out["results"][0])
    visit = next(r for r in out["results"] if r["metric"] == "visit" and r["arm"] == "Womens E-Mail")
    assert visit["diff"] == pytest.approx(0.0452, abs=1e-4)
    adj = json.loads(
        subprocess.run(
            [*base, "--covariate", "recency", "--covariate", "history"], capture_output=True, text=True, check=True
        ).stdout
    )
    for r0, r1 in zip(out["results"], adj["results"]):
        assert r1["diff_ci_high"] - r1["diff_ci_low"] < r0["diff_ci_high"] - r0["diff_ci_low"]
    bad = subprocess.run(
        [*base[:5], "--arm", "segment", "--control", "Nope", "--metric", "visit"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "Control label 'Nope' is not a value of column 'segment'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_srm_is_reported_and_flagged() -> None:
    ok = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"])
    assert ok.srm["p_value"] == pytest.approx(1.0) and not ok.srm["flagged"]
    skew = binary_frame({"control": (200, 2000), "treat": (250, 2300)})
    res = nl.analyze(skew, arm="arm", control="control", metrics=["y"])
    assert res.srm["flagged"] and res.srm["p_value"] < 0.001
    assert any("Sample ratio mismatch" in w for w in res.warnings)
    planned = nl.analyze(skew, arm="arm", control="control", metrics=["y"], allocation={"control": 20, "treat": 23})
    assert not planned.srm["flagged"]


def test_segments_share_one_family_and_warn_when_small() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    df = pd.DataFrame(
        {
            "arm": rng.choice(["c", "t"], n),
            "y": rng.integers(0, 2, n),
            "seg": rng.choice(["big", "tiny"], n, p=[0.99, 0.01]),
        }
    )
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], by="seg")
    assert set(res.results["seg"]) == {"big", "tiny"}
    assert res.settings["family_size"] == 2
    assert res.results.set_index("seg").loc["tiny", "small_group"]
    assert any("too small to say anything" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (KNOWN, {"metrics": ["z"]}, r"Metric column 'z' not found in the data; available columns: arm, y"),
        (KNOWN, {"arm": "group", "metrics": ["y"]}, r"Arm column 'group' not found"),
        (
            KNOWN,
            {"control": "placebo", "metrics": ["y"]},
            r"Control label 'placebo' is not a value of column 'arm'; values: control, treat",
        ),
        (
            KNOWN.assign(y=KNOWN["y"] * 2),
            {"metrics": {"y": "binary"}},
            r"Metric 'y' is declared binary but has values other than 0/1 in 450 row\(s\) \(e.g. 2\)",
        ),
        (KNOWN.assign(y=1), {"metrics": ["y"]}, r"Metric 'y' has no variance"),
        (
            KNOWN.assign(y=KNOWN["y"].where(KNOWN.index % 500 != 7)),
            {"metrics": ["y"]},
            r"Column 'y' has 8 missing value\(s\) \(row positions 7, 507, 1007, 1507, 2007, ...\)",
        ),
        (
            KNOWN.assign(arm=pd.Categorical(KNOWN["arm"], categories=["control", "treat", "empty"])),
            {"metrics": ["y"]},
            r"Arm 'empty' .* has no rows",
        ),
        (KNOWN.assign(y=KNOWN["y"].astype(str)), {"metrics": ["y"]}, r"Metric column 'y' is not numeric or boolean"),
    ],
)
def test_bad_input_gets_a_located_error(frame: pd.DataFrame, kwargs: dict, match: str) -> None:
    kw = {"arm": "arm", "control": "control"} | kwargs
    with pytest.raises(nl.DataError, match=match):
        nl.analyze(frame, **kw)


def test_bad_arguments() -> None:
    with pytest.raises(
        ValueError,
        match=r"The 'ci_method' parameter of analyze must be one of: wald, newcombe, agresti-caffo. Got 'exact'",
    ):
        nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], ci_method="exact")
    with pytest.raises(ValueError, match=r"'alpha' parameter of analyze must be a float in the range \(0, 0.5\)"):
        nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"], alpha=0.7)
    with pytest.raises(TypeError, match=r"'data' parameter of analyze must be a pandas DataFrame"):
        nl.analyze([1, 2], arm="arm", control="control", metrics=["y"])  # type: ignore[arg-type]


def test_sufficient_stats_are_one_pass_totals() -> None:
    s = sufficient_stats(KNOWN.assign(v=KNOWN["y"] * 3.0), "arm", ["y", "v"]).set_index(["metric", "arm"])
    assert s.loc[("y", "treat"), "sum"] == 250 and s.loc[("v", "treat"), "sumsq"] == 250 * 9
    assert s.loc[("y", "control"), "n"] == 2000


@pytest.mark.parametrize("seed", [0, 1])
def test_aa_false_positive_rate_within_binomial_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reps, rejections = 400, 0
    for _ in range(reps):
        k = rng.binomial(1500, 0.12, 2)
        r = nl.analyze(binary_frame({"a": (k[0], 1500), "b": (k[1], 1500)}), arm="arm", control="a", metrics=["y"])
        rejections += r.results["p_value"].iloc[0] < 0.05
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.05)
    assert lo <= rejections <= hi


def test_ci_covers_a_known_effect_within_binomial_bounds() -> None:
    rng = np.random.default_rng(3)
    reps, covered = 400, 0
    for _ in range(reps):
        k0, k1 = rng.binomial(1500, 0.10), rng.binomial(1500, 0.13)
        r = nl.analyze(binary_frame({"a": (k0, 1500), "b": (k1, 1500)}), arm="arm", control="a", metrics=["y"]).row(
            "y", "b"
        )
        covered += r["diff_ci_low"] <= 0.03 <= r["diff_ci_high"]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.95)
    assert lo <= covered <= hi


def test_sample_size_and_mde() -> None:
    assert nl.sample_size(baseline=0.10, mde=0.02, alpha=0.05, power=0.8) == 3841
    # the textbook formula with unpooled variance under the alternative gives the same ballpark
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    pbar = 0.11
    hand = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(0.1 * 0.9 + 0.12 * 0.88)) ** 2 / 0.02**2
    assert nl.sample_size(0.10, 0.02) == pytest.approx(hand, rel=0.01)
    assert nl.mde(baseline=0.10, n=3841) == pytest.approx(0.02, abs=1e-4)
    assert nl.sample_size(0.10, 0.02, ratio=2) < 3841
    with pytest.raises(
        ValueError, match=r"The 'baseline' parameter of sample_size must be a float in the range \(0, 1\). Got 1.5"
    ):
        nl.sample_size(1.5, 0.02)
    with pytest.raises(ValueError, match=r"'mde' parameter of sample_size must be a non-zero float"):
        nl.sample_size(0.1, 0.0)


def test_non_inferiority_of_opt_outs(speed_run: nl.SimulationResult) -> None:
    res = nl.non_inferiority(speed_run.leads, "arm", "next_business_day", "opted_out", margin=0.01)
    t = res.results.set_index("arm")
    assert t["non_inferior"].all()  # the cadences differ only in the first call's timing
    assert (t["ci_high"] < 0.01).all()
    strict = nl.non_inferiority(speed_run.leads, "arm", "next_business_day", "opted_out", margin=1e-5)
    assert not strict.results["non_inferior"].any()


def test_time_to_book(speed_run: nl.SimulationResult) -> None:
    from statsmodels.duration.survfunc import survdiff

    L = speed_run.leads
    res = nl.time_to_book(L, "arm", "next_business_day", horizon_days=60)
    assert set(res.curves["arm"]) == set(L["arm"].astype(str))
    assert (res.curves.groupby("arm")["survival"].apply(lambda s: (s.diff().dropna() <= 1e-12).all())).all()
    t = np.where(L["booked"], L["days_to_book"], 60.0)
    _chi2, p = survdiff(np.maximum(t, 1e-9), L["booked"].astype(int).to_numpy(), L["arm"].astype(str).to_numpy())
    assert res.logrank_p == pytest.approx(p)
    hr = res.cox.set_index("arm")["hazard_ratio"]
    assert hr["within_5_min"] > 1  # faster calls book sooner

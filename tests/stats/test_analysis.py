from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl

from ..conftest import KNOWN, binary_frame


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

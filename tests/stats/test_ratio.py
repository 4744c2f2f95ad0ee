"""Ratio metrics equal tea-tasting's RatioOfMeans (same estimator and interval) to 1e-6."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl

from ..conftest import run_cli

tt = pytest.importorskip("tea_tasting")  # installed by the dev extras: the independent check


@pytest.fixture(scope="module")
def leads(speed_run: nl.SimulationResult) -> pd.DataFrame:
    df = speed_run.analysis_frame()
    return df.assign(booked=df["booked"].astype(int))


@pytest.mark.parametrize(("num", "den"), [("booked", "n_touches"), ("staff_minutes", "booked")])
def test_ratio_equals_tea_tasting(leads: pd.DataFrame, num: str, den: str) -> None:
    data = leads[["arm", num, den]].astype({"arm": str})
    res = nl.analyze(data, arm="arm", control="next_business_day", metrics=[nl.Ratio(num, den)], correction="none")
    exp = tt.Experiment(r=tt.RatioOfMeans(numer=num, denom=den), variant="arm")
    for arm in ("within_5_min", "within_1_hour"):
        pair = data[data["arm"].isin([arm, "next_business_day"])]
        ref = exp.analyze(pair, control="next_business_day").to_dicts()[0]
        row = res.row(f"{num}/{den}", arm)
        assert row["metric_type"] == "ratio" and row["ci_method"] == "delta"
        assert row["control_value"] == pytest.approx(ref["control"], rel=1e-6)
        assert row["arm_value"] == pytest.approx(ref["treatment"], rel=1e-6)
        assert row["diff"] == pytest.approx(ref["effect_size"], rel=1e-6)
        assert row["diff_ci_low"] == pytest.approx(ref["effect_size_ci_lower"], rel=1e-6)
        assert row["diff_ci_high"] == pytest.approx(ref["effect_size_ci_upper"], rel=1e-6)
        assert row["rel_lift"] == pytest.approx(ref["rel_effect_size"], rel=1e-6)
        # the relative interval is Fieller's (it agrees with the difference's test); tea-tasting's is
        # on the log scale: at this size the two are close
        assert row["rel_ci_low"] == pytest.approx(ref["rel_effect_size_ci_lower"], rel=2e-3, abs=2e-4)
        assert row["rel_ci_high"] == pytest.approx(ref["rel_effect_size_ci_upper"], rel=2e-3, abs=2e-4)
        assert (row["rel_ci_low"] > 0 or row["rel_ci_high"] < 0) == (row["p_value"] < 0.05)
        assert row["p_value"] == pytest.approx(ref["pvalue"], rel=1e-6, abs=1e-300)


def test_ratio_with_plain_metrics_shares_the_family(leads: pd.DataFrame) -> None:
    res = nl.analyze(
        leads, arm="arm", control="next_business_day", metrics=["booked_30d", nl.Ratio("booked", "n_touches")]
    )
    assert len(res.results) == 4 and res.settings["family_size"] == 4
    assert res.settings["metrics"]["booked/n_touches"] == "ratio"


def test_ratio_arguments_and_cli(leads: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(nl.ParameterError, match=r"The 'numerator' parameter of Ratio must be a string\. Got 3"):
        nl.Ratio(3, "n_touches")  # type: ignore[arg-type]
    with pytest.raises(nl.DataError, match=r"nope"):
        nl.analyze(leads, arm="arm", control="next_business_day", metrics=[nl.Ratio("booked", "nope")])
    with pytest.raises(nl.ParameterError, match=r"covariates.*empty with ratio metrics"):
        nl.analyze(
            leads, arm="arm", control="next_business_day", metrics=[nl.Ratio("booked", "n_touches")], covariates=["fit"]
        )
    path = tmp_path / "l.parquet"
    leads[["arm", "booked", "n_touches"]].to_parquet(path)
    out = run_cli(
        "analyze",
        str(path),
        "--arm",
        "arm",
        "--control",
        "next_business_day",
        "--ratio",
        "booked/n_touches",
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    assert '"metric": "booked/n_touches"' in out.stdout
    bad = run_cli("analyze", str(path), "--arm", "arm", "--control", "next_business_day", "--ratio", "booked")
    assert bad.returncode == 2 and "--ratio expects NUMERATOR/DENOMINATOR" in bad.stderr


def test_ratio_stats_survive_large_offsets() -> None:
    gen = np.random.default_rng(2)
    n = 4000
    den = 1e6 + gen.integers(1, 5, n)
    num = den * (0.5 + gen.normal(0, 0.01, n))
    df = pd.DataFrame({"arm": np.repeat(["c", "t"], n // 2), "x": num, "y": den})
    r = nl.analyze(df, arm="arm", control="c", metrics=[nl.Ratio("x", "y")]).row("x/y", "t")
    assert np.isfinite(r["diff_ci_low"]) and r["diff_ci_low"] < r["diff"] < r["diff_ci_high"]

"""Bayesian decision metrics (issue 23): GrowthBook's gbstats Gaussian model to 1e-9 on references
computed with gbstats 0.8.0 in its own environment (tests/fixtures/gbstats_reference.py), and the
model's properties against hand formulas."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import nurture_lab as nl
from nurture_lab.stats.bayes import ArmStats, bayes_rows

from ..conftest import binary_frame, run_cli

REF = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "gbstats_reference.json").read_text())


def _stats(case: dict, side: str) -> ArmStats:  # type: ignore[type-arg]
    x = case[side]
    n = x["n"]
    m = x["sum"] / n
    var = m * (1 - m) if case["kind"] == "binary" else (x["sum_squares"] - x["sum"] ** 2 / n) / (n - 1)
    return ArmStats(m, var, n)


def _prior(case: dict) -> tuple[float, float] | None:  # type: ignore[type-arg]
    p = case["prior"]
    return None if p is None else (p["mean"], math.sqrt(p["variance"]))


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['kind']}-{c['relative']}-{c['inverse']}-{c['prior']}")
def test_matches_gbstats(case: dict) -> None:  # type: ignore[type-arg]
    (row,), _ = bayes_rows(
        _stats(case, "a"), [_stats(case, "b")], alpha=REF["alpha"], prior=_prior(case), lower_is_better=case["inverse"]
    )
    k = "rel_" if case["relative"] else ""
    assert row[k + "chance_to_win"] == pytest.approx(case["chance_to_win"], abs=1e-9)
    assert row[k + "post_mean"] == pytest.approx(case["expected"], abs=1e-9)
    assert (row[k + "cred_low"], row[k + "cred_high"]) == pytest.approx(tuple(case["ci"]), abs=1e-9)
    # gbstats' risk = [loss of keeping the control, loss of shipping the arm]
    assert (row[k + "risk_keep"], row[k + "risk_ship"]) == pytest.approx(tuple(case["risk"]), abs=1e-9)


def test_analyze_binary_rows_match_gbstats_end_to_end() -> None:
    for case in REF["cases"]:
        if case["kind"] != "binary":
            continue
        a, b = case["a"], case["b"]
        df = binary_frame({"a": (a["sum"], a["n"]), "b": (b["sum"], b["n"])})
        res = nl.analyze(
            df,
            arm="arm",
            control="a",
            metrics=["y"],
            bayesian=True,
            prior=_prior(case),
            lower_is_better=["y"] if case["inverse"] else [],
        )
        row = res.row("y", "b")
        k = "rel_" if case["relative"] else ""
        assert row[k + "chance_to_win"] == pytest.approx(case["chance_to_win"], abs=1e-9)
        assert row[k + "post_mean"] == pytest.approx(case["expected"], abs=1e-9)
        assert (row[k + "risk_keep"], row[k + "risk_ship"]) == pytest.approx(tuple(case["risk"]), abs=1e-9)


def test_flat_prior_chance_to_win_is_one_minus_one_sided_p_and_risks_add_up() -> None:
    gen = np.random.default_rng(4)
    df = pd.DataFrame(
        {"arm": np.repeat(["c", "t"], [800, 900]), "x": np.r_[gen.gamma(2, 3, 800), gen.gamma(2.1, 3, 900)]}
    )
    df = pd.concat([df, binary_frame({"c": (80, 800), "t": (105, 900)}, metric="y").drop(columns="arm")], axis=1)
    res = nl.analyze(df, arm="arm", control="c", metrics=["x", "y"], bayesian=True)
    for m in ("x", "y"):
        r = res.row(m, "t")
        x1, x0 = df.loc[df.arm == "t", m], df.loc[df.arm == "c", m]
        ddof = 0 if m == "y" else 1
        se = math.sqrt(x1.var(ddof=ddof) / len(x1) + x0.var(ddof=ddof) / len(x0))
        one_sided_p = stats.norm.sf((x1.mean() - x0.mean()) / se)  # the z-test of the same effect
        assert r["chance_to_win"] == pytest.approx(1 - one_sided_p, abs=1e-12)
        assert r["risk_keep"] - r["risk_ship"] == pytest.approx(r["post_mean"], abs=1e-12)
        assert r["rel_risk_keep"] - r["rel_risk_ship"] == pytest.approx(r["rel_post_mean"], abs=1e-12)
        # the expected losses by numerical integration of the normal posterior
        mu, sd = float(r["post_mean"]), se
        ship = integrate.quad(
            lambda e, mu=mu, sd=sd: max(0.0, -e) * stats.norm.pdf(e, mu, sd), -50 * sd, 50 * sd, points=[0.0]
        )[0]
        assert r["risk_ship"] == pytest.approx(ship, rel=1e-6, abs=1e-12)
    flipped = nl.analyze(df, arm="arm", control="c", metrics=["x", "y"], bayesian=True, lower_is_better=["y"])
    a, b = res.row("y", "t"), flipped.row("y", "t")
    assert b["chance_to_win"] == pytest.approx(1 - a["chance_to_win"], abs=1e-12)
    assert (b["risk_ship"], b["risk_keep"]) == pytest.approx((a["risk_keep"], a["risk_ship"]), abs=1e-15)
    assert b["prob_best"] + a["prob_best"] == pytest.approx(1.0, abs=0.01)


def test_probability_of_being_best_sums_to_one_and_matches_quadrature() -> None:
    counts = {"c": (200, 2000), "t1": (240, 2000), "t2": (250, 2100), "t3": (210, 1900)}
    res = nl.analyze(binary_frame(counts), arm="arm", control="c", metrics=["y"], bayesian=True)
    best = {a: res.row("y", a)["prob_best"] for a in ("t1", "t2", "t3")}
    best["c"] = res.settings["prob_best_control"]["y"]
    assert sum(best.values()) == pytest.approx(1.0, abs=1e-12)
    # flat prior: each arm's mean is independently normal; P(arm i best) = ∫ f_i(x) Π_j F_j(x) dx
    post = {a: (k / n, math.sqrt(k / n * (1 - k / n) / n)) for a, (k, n) in counts.items()}
    for a in counts:
        m, s = post[a]

        def f(x: float, a: str = a, m: float = m, s: float = s) -> float:
            out = stats.norm.pdf(x, m, s)
            for b, (mb, sb) in post.items():
                if b != a:
                    out *= stats.norm.cdf(x, mb, sb)
            return out

        exact = integrate.quad(f, m - 12 * s, m + 12 * s, limit=200)[0]
        assert best[a] == pytest.approx(exact, abs=4 * math.sqrt(max(exact * (1 - exact), 1e-6) / 200_000) + 1e-4)
    # two arms: P(arm best) is the chance to win, within Monte Carlo error
    two = nl.analyze(
        binary_frame({"c": (200, 2000), "t": (226, 2000)}), arm="arm", control="c", metrics=["y"], bayesian=True
    )
    r = two.row("y", "t")
    assert r["prob_best"] == pytest.approx(r["chance_to_win"], abs=4 * math.sqrt(0.25 / 200_000))


def test_bayesian_arguments_and_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = binary_frame({"c": (200, 2000), "t": (250, 2000)})
    with pytest.raises(nl.ParameterError, match="'prior' parameter of analyze"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, prior=(0, -1))
    with pytest.raises(nl.ParameterError, match="'prior' parameter of analyze must be None unless bayesian"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], prior=(0, 0.3))
    with pytest.raises(nl.ParameterError, match="'lower_is_better' parameter"):
        nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, lower_is_better=["z"])
    plain = nl.analyze(df, arm="arm", control="c", metrics=["y"])
    assert "chance_to_win" not in plain.results.columns
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    res = run_cli(
        "analyze", str(path), "--arm", "arm", "--control", "c", "--metric", "y", "--bayesian", "--prior", "0,0.3",
        "--format", "json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    shrunk = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, prior=(0, 0.3)).row("y", "t")
    assert out["results"][0]["chance_to_win"] == pytest.approx(shrunk["chance_to_win"])
    assert 0 < shrunk["post_mean"] < 0.025  # pulled toward 0 from +2.5 points


def test_probability_of_being_best_with_a_proper_prior() -> None:
    counts = {"c": (200, 2000), "t1": (240, 2000), "t2": (250, 2100)}
    df = binary_frame(counts)
    flat = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True)
    wide = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, prior=(0.0, 100.0))
    tight = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, prior=(0.0, 0.01))
    for res in (wide, tight):
        total = res.settings["prob_best_control"]["y"] + res.results["prob_best"].sum()
        assert total == pytest.approx(1.0, abs=1e-12)
    # a very wide prior is the flat one (draws vs integration, within Monte Carlo error)
    for a in ("t1", "t2"):
        assert wide.row("y", a)["prob_best"] == pytest.approx(flat.row("y", a)["prob_best"], abs=0.005)
    # a tight prior at 0 pulls every effect to 0: the best arm is much less certain
    assert tight.row("y", "t2")["prob_best"] < flat.row("y", "t2")["prob_best"]


def test_the_table_shows_the_posterior_and_an_unbounded_relative_interval_in_words() -> None:
    df = binary_frame({"c": (3, 2000), "t": (6, 2000)})  # a control rate not distinguishable from 0
    res = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True)
    t = res.summary()
    row = res.row("y", "t")
    assert t.loc[0, "chance to beat control"] == f"{row['chance_to_win']:.1%}"
    assert t.loc[0, "risk if shipped"] == f"{row['risk_ship'] * 100:.2f} pts"
    assert t.loc[0, "relative lift (CI)"] == "+100.0% (interval unbounded)" and "nan" not in t.to_string()
    flipped = nl.analyze(df, arm="arm", control="c", metrics=["y"], bayesian=True, lower_is_better=["y"])
    assert flipped.summary().loc[0, "chance to beat control"] == f"{1 - row['chance_to_win']:.1%}"
    assert "chance to beat control" not in nl.analyze(df, arm="arm", control="c", metrics=["y"]).summary()

"""Adaptive allocation against a fixed test (issue 25, section 2), each figure checked independently.

Monte Carlo bounds are stated beside each check: ``4 se`` for means (a false failure about 1 in
16,000 for a normal mean), and for rates the one-sided binomial bound ``alpha + 3 sqrt(alpha (1 -
alpha) / R)``. Seeds are fixed, so each check is deterministic; the bounds say how far it is from
failing by chance.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import nurture_lab as nl
from nurture_lab.errors import ParameterError, ScenarioError
from nurture_lab.scenario.design import Design
from nurture_lab.simulation.adaptive import assign_waves
from nurture_lab.simulation.engine import potential_outcomes

DAYS = 112


@pytest.fixture(scope="module")
def open_sc() -> nl.Scenario:
    """speed_to_lead with unlimited staff and 16 weeks of arrivals (room for bookings to come back)."""
    sc = nl.load_scenario("speed_to_lead")
    return dataclasses.replace(
        sc, contact_center=None, population=dataclasses.replace(sc.population, arrival_days=DAYS)
    )


def _two_arms(sc: nl.Scenario) -> nl.Scenario:
    arms = tuple(a for a in sc.experiment.arms if a.name != "within_1_hour")
    return dataclasses.replace(sc, experiment=dataclasses.replace(sc.experiment, arms=arms))


# ---------------------------------------------------------------------------------------------
# the [design] table


def _file(tmp_path: Path, design: str) -> Path:
    text = nl.scenario.scenario_path("speed_to_lead").read_text()
    p = tmp_path / "s.toml"
    p.write_text(text + "\n[design]\n" + design + "\n")
    return p


def test_design_table_loads_and_defaults(tmp_path: Path) -> None:
    sc = nl.load_scenario(_file(tmp_path, 'allocation = "thompson"\nupdate_every_days = 3\nmetric = "contacted"'))
    assert sc.design == Design("thompson", update_every_days=3, metric="contacted")
    assert sc.design.delay == 1.0 and math.isclose(sc.design.floor(3), 0.1 / 3)
    assert nl.load_scenario("speed_to_lead").design == Design()


@pytest.mark.parametrize(
    ("design", "words"),
    [
        ('allocation = "greedy"', ["'allocation'", "[design]", "thompson"]),
        ('allocation = "thompson"\nupdate_every_days = 0', ["'update_every_days'", "[design]"]),
        ('allocation = "thompson"\nmetric = "booked"', ["'metric'", "booked_30d"]),
        ('allocation = "thompson"\ndelay_days = 10', ["'delay_days'", "at least 30"]),
        ('allocation = "thompson"\nmin_probability = 0.5', ["'min_probability'", "at most 1 / 3"]),
        ('allocation = "thompson"\nspeed = 1', ["Unknown key 'speed'", "[design]"]),
        ('allocation = "fixed"\nupdate_every_days = 3', ["'update_every_days'", 'allocation = "fixed"']),
    ],
)
def test_design_table_refuses_bad_values(tmp_path: Path, design: str, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as e:
        nl.load_scenario(_file(tmp_path, design))
    for w in [*words, "s.toml"]:
        assert w in str(e.value)


# ---------------------------------------------------------------------------------------------
# the engine: waves, recorded probabilities, exact outcomes


@pytest.fixture(scope="module")
def adaptive_run(open_sc: nl.Scenario) -> nl.SimulationResult:
    sc = dataclasses.replace(open_sc, design=Design("thompson", update_every_days=7, metric="contacted"))
    return nl.simulate(sc, seed=5, n_leads=3000, truth=False, jobs=1)


def test_adaptive_outcomes_are_each_leads_potential_outcome_under_its_arm(
    open_sc: nl.Scenario, adaptive_run: nl.SimulationResult
) -> None:
    """Common random numbers: the lead table equals every-arm potential outcomes picked at the assigned arm."""
    pot = potential_outcomes(open_sc, seed=5, n_leads=3000)  # the fixed scenario: outcomes do not depend on design
    cols = ["booked_30d", "contacted", "qualified", "n_touches", "staff_minutes"]
    got = adaptive_run.leads[["lead_id", "arm", *cols]].astype({"arm": str})
    picked = got[["lead_id", "arm"]].merge(pot[["lead_id", "arm", *cols]], on=["lead_id", "arm"], how="left")
    assert len(picked) == 3000
    pd.testing.assert_frame_equal(got.reset_index(drop=True), picked[got.columns], check_dtype=False)
    # and the run is the fixed engine with that assignment: the same leads' segments as the fixed run
    fixed = nl.simulate(open_sc, seed=5, n_leads=3000, truth=False, jobs=1).leads
    assert (fixed["created_at"].to_numpy() == adaptive_run.leads["created_at"].to_numpy()).all()


def test_waves_and_recorded_probabilities(adaptive_run: nl.SimulationResult) -> None:
    """Waves of 7 days from the first inquiry; each lead's probability is its arm's in its wave; a wave's
    Thompson probabilities match 400,000 Beta draws from what was observable at its start (pandas, scipy)."""
    d = adaptive_run.leads
    days = (d["created_at"] - d["created_at"].min()).dt.total_seconds() / 86400
    assert (d["wave"].to_numpy() == np.floor(days / 7).astype(int)).all()
    assert (d.loc[d["wave"] == 0, "assignment_probability"] == 1 / 3).all()  # the planned allocation
    # one probability per (wave, arm)
    assert d.groupby(["wave", "arm"], observed=True)["assignment_probability"].nunique().max() == 1
    w = 6
    start = d["created_at"].min() + pd.Timedelta(days=7 * w)
    seen = d[d["created_at"] + pd.Timedelta(days=1) <= start]
    y = seen["contacted"] & (seen["contacted_minutes"] <= 1440)
    arms = list(d["arm"].cat.categories)
    s = y.groupby(seen["arm"], observed=False).sum().reindex(arms).to_numpy(float)
    n = seen.groupby("arm", observed=False).size().reindex(arms).to_numpy(float)
    draws = stats.beta.rvs(1 + s[:, None], 1 + (n - s)[:, None], size=(3, 400_000), random_state=3)
    p_best = np.bincount(draws.argmax(axis=0), minlength=3) / 400_000
    q = 0.1 / 3 + (1 - 0.1) * p_best  # floor 0.1 / K
    got = d[d["wave"] == w].groupby("arm", observed=True)["assignment_probability"].first().reindex(arms)
    # 4 se of a share of 400,000 draws (at most 0.0032), times 0.9
    assert np.allclose(got.to_numpy(), q, atol=0.003)


def test_adaptive_run_same_on_one_or_two_processes_over_chunks(open_sc: nl.Scenario) -> None:
    """51,000 leads: two chunks, whose potential outcomes and observed runs go to different processes."""
    sc = dataclasses.replace(open_sc, design=Design("top_two", metric="booked_7d", update_every_days=3))
    one = nl.simulate(sc, seed=9, n_leads=51_000, truth=False, jobs=1)
    two = nl.simulate(sc, seed=9, n_leads=51_000, truth=False, jobs=2)
    assert one.leads.equals(two.leads) and one.touches.equals(two.touches)  # (assert_frame_equal: 40 s here)
    assert one.leads["wave"].max() == DAYS // 3 and one.leads["assignment_probability"].min() >= 0.1 / 3 - 1e-12


def test_exploration_sampling_with_two_arms_assigns_half_and_half(open_sc: nl.Scenario) -> None:
    sc = dataclasses.replace(_two_arms(open_sc), design=Design("exploration", metric="contacted"))
    d = nl.simulate(sc, seed=8, n_leads=4000, truth=False, jobs=1).leads
    assert np.allclose(d["assignment_probability"], 0.5, atol=1e-9)  # p(1 - p) is the same for both arms
    share = float((d["arm"] == "within_5_min").mean())
    assert abs(share - 0.5) <= 4 * math.sqrt(0.25 / len(d))  # binomial, 4 se


# ---------------------------------------------------------------------------------------------
# the analysis of adaptive data


def test_analyze_weights_adaptive_data_as_weighted_least_squares_does(adaptive_run: nl.SimulationResult) -> None:
    """IPW rows against statsmodels: WLS of the metric on arm dummies, weights 1 / probability, HC0 errors."""
    d = adaptive_run.leads
    res = nl.analyze(d, control="next_business_day", metrics=["booked_30d"], correction="none")
    assert "assignment_probability" in res.warnings[0]
    for arm in ("within_5_min", "within_1_hour"):
        sub = d[d["arm"].isin([arm, "next_business_day"])]
        x = sm.add_constant((sub["arm"] == arm).astype(float).to_numpy())
        fit = sm.WLS(sub["booked_30d"].astype(float).to_numpy(), x, weights=1 / sub["assignment_probability"]).fit(
            cov_type="HC0"
        )
        row = res.row("booked_30d", arm)
        assert row["diff"] == pytest.approx(fit.params[1], abs=1e-12)
        se = (row["diff_ci_high"] - row["diff_ci_low"]) / (2 * stats.norm.ppf(0.975))
        assert se == pytest.approx(fit.bse[1], rel=1e-9)
        assert row["p_value"] == pytest.approx(fit.pvalues[1], rel=1e-7)
        assert row["test"].startswith("IPW")


def test_analyze_refuses_what_has_no_weighted_version(adaptive_run: nl.SimulationResult) -> None:
    for kwargs in ({"bayesian": True}, {"sequential": True}, {"ci_method": "newcombe"}):
        with pytest.raises(nl.DataError, match=r"assignment_probability.*as if fixed"):
            nl.analyze(adaptive_run.leads, control="next_business_day", **kwargs)
    bad = adaptive_run.leads.assign(assignment_probability=0.0)
    with pytest.raises(nl.DataError, match=r"outside \(0, 1\]"):
        nl.analyze(bad, control="next_business_day")


def _synthetic(seed: int, design: Design, rates: list[float], reps: int, n: int = 2000) -> np.ndarray:
    """``reps`` tests of ``n`` leads arriving uniformly over 112 days, 0/1 outcomes at ``rates``;
    per test and arm: naive mean, its variance, Hajek mean, its variance (written here with numpy)."""
    rng = np.random.default_rng(seed)
    k = len(rates)
    out = np.empty((reps, k, 4))
    for r in range(reps):
        created = rng.uniform(0, DAYS * 1440, n)
        y = rng.random((n, 1)) < np.array(rates)[None, :]
        plan = assign_waves(design, np.full(k, 1 / k), created, y, rng.random(n))
        yo, w = y[np.arange(n), plan.arm].astype(float), 1 / plan.probability
        for a in range(k):
            m = plan.arm == a
            nm, hm = yo[m].mean(), np.average(yo[m], weights=w[m])
            out[r, a] = nm, nm * (1 - nm) / m.sum(), hm, (w[m] ** 2 * (yo[m] - hm) ** 2).sum() / w[m].sum() ** 2
    return out


THOMPSON_FAST = Design("thompson", metric="contacted", delay_days=1)


def test_aa_false_alarms_ipw_within_the_binomial_bound_naive_above() -> None:
    reps = 400
    res = _synthetic(5, THOMPSON_FAST, [0.2, 0.2], reps)
    z_naive = (res[:, 1, 0] - res[:, 0, 0]) / np.sqrt(res[:, 1, 1] + res[:, 0, 1])
    z_ipw = (res[:, 1, 2] - res[:, 0, 2]) / np.sqrt(res[:, 1, 3] + res[:, 0, 3])
    naive, ipw = np.mean(np.abs(z_naive) > 1.96), np.mean(np.abs(z_ipw) > 1.96)
    bound = 3 * math.sqrt(0.05 * 0.95 / reps)  # 0.033
    assert 0.05 - bound <= ipw <= 0.05 + bound
    assert naive > ipw  # seen: 0.0875 vs 0.035 — unweighted means of a bandit's arms overstate differences


def test_naive_means_biased_under_thompson_ipw_unbiased() -> None:
    reps = 400
    res = _synthetic(6, THOMPSON_FAST, [0.2, 0.25], reps)
    naive, ipw = res[:, 0, 0] - 0.2, res[:, 0, 2] - 0.2  # the worse arm: starved once it looks bad
    se = lambda x: x.std(ddof=1) / math.sqrt(reps)  # noqa: E731
    assert naive.mean() < -4 * se(naive)  # seen: -0.0077, 7 se
    assert abs(ipw.mean()) <= 4 * se(ipw)  # seen: -0.0008, 0.5 se


# ---------------------------------------------------------------------------------------------
# compare_designs


@pytest.fixture(scope="module")
def compared(open_sc: nl.Scenario) -> nl.DesignsResult:
    designs = [
        "fixed",
        {"allocation": "thompson", "metric": "contacted", "label": "thompson, 1 day"},
        {"allocation": "thompson", "metric": "contacted", "delay_days": 30, "label": "thompson, 30 days"},
    ]
    return nl.compare_designs(open_sc, designs, replications=30, n_leads=3000, seed=2, jobs=1)


def test_fixed_regret_is_n_times_the_mean_gap(open_sc: nl.Scenario, compared: nl.DesignsResult) -> None:
    """Regret of the fixed (stratified, equal-share) design against N sum_k (p* - p_k) / K from each
    replication's potential outcomes (pandas): per replication within the rounding of stratified counts,
    and the mean within 4 se."""
    runs = compared.runs
    fixed = runs[(runs["design"] == "fixed") & (runs["version"] == "ab")]
    best = compared.settings["best_arm"]
    expected = []
    for r, seed in enumerate(compared.settings["replication_seeds"]):
        p = potential_outcomes(open_sc, seed=seed, n_leads=3000).groupby("arm")["booked_30d"].mean()
        gap = float((p[best] - p).sum())
        expected.append(3000 * gap / 3)
        g = fixed[fixed["rep"] == r].set_index("arm")
        got = float((g["n"] * (p[best] - p.reindex(g.index))).sum())
        assert abs(got - expected[-1]) <= 8 * gap  # stratified counts are N / K up to one lead per service line
    row = compared.table.set_index("design").loc["fixed"]
    e = np.array(expected)
    assert abs(row["regret"] - e.mean()) <= 4 * e.std(ddof=1) / math.sqrt(e.size) + 1e-9
    assert row["fixed_regret_expected"] == pytest.approx(float(e.mean()), rel=0.25)


def test_thompsons_advantage_shrinks_as_the_outcome_delay_grows(compared: nl.DesignsResult) -> None:
    """The same proxy observed after 1 day and after 30: regret per replication (recomputed from the
    runs' counts and truth) lower with the short delay, paired over the same leads, beyond 4 se."""
    runs = compared.runs[compared.runs["version"] == "ab"]
    best = compared.settings["best_arm"]

    def regret(label: str) -> np.ndarray:
        g = runs[runs["design"] == label]
        p_best = g[g["arm"] == best].set_index("rep")["truth"]
        return (g["n"] * (g["rep"].map(p_best) - g["truth"])).groupby(g["rep"]).sum().to_numpy()

    fixed, fast, slow = regret("fixed"), regret("thompson, 1 day"), regret("thompson, 30 days")
    gain_fast, gain_slow = fixed - fast, fixed - slow
    diff = gain_fast - gain_slow
    assert diff.mean() > 4 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert gain_fast.mean() > 0
    t = compared.table.set_index("design")
    assert t.loc["thompson, 1 day", "regret"] == pytest.approx(fast.mean())


def test_same_result_on_one_or_two_processes_or_threads(open_sc: nl.Scenario) -> None:
    args = dict(designs=["fixed", "exploration"], replications=3, n_leads=800, seed=4)
    one = nl.compare_designs(open_sc, jobs=1, **args)
    two = nl.compare_designs(open_sc, jobs=2, **args)
    with ThreadPoolExecutor(2) as ex:
        threads = nl.compare_designs(open_sc, executor=ex, **args)
    for other in (two, threads):
        pd.testing.assert_frame_equal(one.table, other.table)
        pd.testing.assert_frame_equal(one.runs, other.runs)


def test_designs_argument_is_checked(open_sc: nl.Scenario) -> None:
    for bad, words in [
        ([], "non-empty list"),
        (["greedy"], "designs[0]"),
        ([{"allocation": "thompson", "speed": 2}], "keys among"),
        ([{"allocation": "thompson", "update_every_days": -1}], "designs[0].update_every_days"),
        (["fixed", "fixed"], "distinct labels"),
    ]:
        with pytest.raises(ParameterError) as e:
            nl.compare_designs(open_sc, bad, replications=1, n_leads=300)
        assert words in str(e.value)


def test_result_faces(compared: nl.DesignsResult) -> None:
    import json

    obj = json.loads(compared.to_json())
    assert [r["design"] for r in obj["results"]] == ["fixed", "thompson, 1 day", "thompson, 30 days"]
    assert len(obj["bias_rows"]) == 9 and obj["settings"]["best_arm"] == "within_5_min"
    assert "bookings lost" in compared.summary()
    fig = compared.plot()
    assert len(fig.axes) == 3
    assert compared.to_frame().equals(compared.table)


def test_cli_designs(tmp_path: Path) -> None:
    from ..conftest import run_cli

    got = run_cli(
        "designs", "speed_to_lead", *("--designs", "fixed,thompson", "--replications", "1", "--n-leads", "600")
    )
    assert got.returncode == 0, got.stderr  # with its contact centre: run through the centre
    assert "note: 1 replication(s): the 95% Monte Carlo intervals are rough" in got.stderr
    got = run_cli(
        *("designs", "speed_to_lead", "--no-contact-center", "--arrival-days", "60", "--designs", "fixed,exploration"),
        *("--replications", "2", "--n-leads", "600", "--jobs", "1", "--format", "csv", "--out", str(tmp_path)),
    )
    assert got.returncode == 0, got.stderr
    table = pd.read_csv(tmp_path / "designs.csv")
    assert list(table["design"]) == ["fixed", "exploration"] and (tmp_path / "designs.png").stat().st_size > 0
    assert run_cli("designs", "speed_to_lead", "--designs", "fixed,greedy").returncode == 2
    mixed = run_cli("designs", "speed_to_lead", "--designs", "fixed,random")
    assert mixed.returncode == 2 and "make two calls" in mixed.stderr


def test_cli_designs_compares_send_time_policies(tmp_path: Path) -> None:
    from ..conftest import run_cli

    got = run_cli(
        *("designs", "content_test", "--no-contact-center", "--designs", "random,oracle", "--steps", "3,4"),
        *("--replications", "2", "--n-leads", "300", "--jobs", "1", "--format", "csv", "--out", str(tmp_path)),
    )
    assert got.returncode == 0, got.stderr
    table = pd.read_csv(tmp_path / "designs.csv")
    assert list(table["policy"]) == ["random", "oracle"] and (tmp_path / "designs.png").stat().st_size > 0
    assert (table["gate_violations"] == 0).all()


def test_lint_names_designs_that_cannot_run_or_learn(open_sc: nl.Scenario) -> None:
    def rules(sc: nl.Scenario) -> set[str]:
        return {f.rule for f in nl.lint_scenario(sc) if f.rule.startswith("design")}

    centre = dataclasses.replace(nl.load_scenario("speed_to_lead"), design=Design("thompson"))
    assert rules(centre) == {"design_centre", "design_delay"}  # 28 days of arrivals, bookings known at 30
    (note,) = [f for f in nl.lint_scenario(centre) if f.rule == "design_centre"]
    assert note.severity == "note" and "counted again in the final run" in note.message
    assert "up to 1 centre run for up to 5 waves" in note.message  # weekly waves over 28 days, nothing seen before 30
    assert rules(dataclasses.replace(open_sc, design=Design("thompson"))) == set()
    assert rules(dataclasses.replace(open_sc, design=Design("thompson", update_every_days=200))) == {"design_waves"}
    assert rules(open_sc) == set()


def test_a_database_table_of_adaptive_data_is_refused(adaptive_run: nl.SimulationResult) -> None:
    ibis = pytest.importorskip("ibis")
    table = ibis.memtable(adaptive_run.leads[["arm", "booked_30d", "assignment_probability"]].astype({"arm": str}))
    with pytest.raises(nl.DataError, match=r"assignment_probability.*to_pandas"):
        nl.analyze(table, control="next_business_day")

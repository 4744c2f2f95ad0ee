from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.simulation.population import LEAD_COLUMNS


def gof(observed: pd.Series, expected_share: dict[str, float]) -> float:
    cats = list(expected_share)
    obs = np.array([observed.get(c, 0) for c in cats], dtype=float)
    exp = np.array([expected_share[c] for c in cats]) * obs.sum()
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep]).pvalue)


@pytest.fixture(scope="module")
def leads(speed: nl.Scenario) -> pd.DataFrame:
    return nl.make_leads(speed, n_leads=120_000, seed=3)


def test_columns_and_types(leads: pd.DataFrame) -> None:
    assert list(leads.columns) == list(LEAD_COLUMNS)
    assert leads["lead_id"].is_unique
    assert str(leads["created_at"].dt.tz) == "UTC"
    for c in ("service_line", "audience", "source", "intent", "coverage", "state", "timezone", "preferred_channel"):
        assert isinstance(leads[c].dtype, pd.CategoricalDtype), c
    assert leads["name"].str.len().gt(3).all()
    assert leads["email"].str.endswith("@example.org").all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marginal_mixes_match_the_scenario(speed: nl.Scenario, seed: int) -> None:
    # chi-square goodness of fit; a correct generator fails one check with probability 1e-4
    df = nl.make_leads(speed, n_leads=60_000, seed=seed)
    pop = speed.population
    assert gof(df["service_line"].value_counts(), {k: v.share for k, v in pop.service_lines.items()}) > 1e-4
    assert gof(df["state"].value_counts(), dict(pop.states)) > 1e-4
    assert gof(df["preferred_channel"].value_counts(), dict(pop.preferred_channel)) > 1e-4
    for name, line in pop.service_lines.items():
        sub = df[df["service_line"] == name]
        assert gof(sub["audience"].value_counts(), dict(line.audiences)) > 1e-4, name
        assert gof(sub["coverage"].value_counts(), dict(line.coverage)) > 1e-4, name
        assert gof(sub["intent"].value_counts(), dict(line.intents)) > 1e-4, name
        for ch in ("email", "sms", "call"):
            k, n = int(sub[f"consent_{ch}"].sum()), len(sub)
            assert stats.binomtest(k, n, line.consent[ch]).pvalue > 1e-4, (name, ch)
        assert stats.binomtest(int(sub["fit"].sum()), len(sub), line.fit_rate).pvalue > 1e-4
        med = float(np.median(sub["decision_days"]))
        assert med == pytest.approx(line.decision_days_median, rel=0.08)


def test_arrivals_follow_the_local_hour_profile(leads: pd.DataFrame, speed: nl.Scenario) -> None:
    local = leads["created_at"] + pd.to_timedelta(leads["utc_offset_minutes"].astype(int), unit="min")
    hours = local.dt.hour
    sub = hours[leads["service_line"] != "behavioral_health"]
    prof = np.array(speed.population.hour_profile)
    share = dict(zip(range(24), prof / prof.sum(), strict=True))
    assert gof(sub.value_counts(), share) > 1e-4
    after_hours = ((hours < 8) | (hours >= 18)).mean()
    assert 0.15 < after_hours < 0.45
    bh = hours[leads["service_line"] == "behavioral_health"]
    assert ((bh < 8) | (bh >= 18)).mean() > after_hours  # behavioral health inquiries come later
    assert ((bh < 8) | (bh >= 18)).mean() < 0.43  # within DOMAIN.md's "up to 40%" [VENDOR] (expected 38.8%)


def test_same_seed_same_frame_other_seed_differs(speed: nl.Scenario) -> None:
    a = nl.make_leads(speed, n_leads=5000, seed=9)
    b = nl.make_leads(speed, n_leads=5000, seed=9)
    pd.testing.assert_frame_equal(a, b)
    c = nl.make_leads(speed, n_leads=5000, seed=10)
    assert not a["created_at"].equals(c["created_at"])


def test_chunks_are_stable(speed: nl.Scenario) -> None:
    small = nl.make_leads(speed, n_leads=50_000, seed=4)
    big = nl.make_leads(speed, n_leads=120_000, seed=4)
    pd.testing.assert_frame_equal(small, big.iloc[:50_000])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            {"n_leads": 0},
            ValueError,
            r"The 'n_leads' parameter of make_leads must be an int in the range \[1, inf\). Got 0",
        ),
        ({"n_leads": 2.5}, TypeError, r"'n_leads' parameter of make_leads must be an int"),
        (
            {"n_leads": 10, "seed": -1},
            ValueError,
            r"'seed' parameter of make_leads must be an int in the range \[0, inf\)",
        ),
    ],
)
def test_bad_arguments(speed: nl.Scenario, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        nl.make_leads(speed, **kwargs)


def test_population_object_is_accepted(speed: nl.Scenario) -> None:
    df = nl.make_leads(speed.population, n_leads=100, seed=1)
    assert len(df) == 100
    with pytest.raises(TypeError, match="'population' parameter of make_leads must be a Population or a Scenario"):
        nl.make_leads("simulations/speed_to_lead.toml", n_leads=10)  # type: ignore[arg-type]

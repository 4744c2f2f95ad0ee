"""The behaviour room's shared formulas, checked against their closed forms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import nurture_lab as nl
from nurture_lab.simulation.behaviour import near_preferred_hour, time_factor
from nurture_lab.simulation.draws import N_UNIFORMS, U_DUP_ENGAGE, U_DUP_VOICEMAIL, U_READ, U_VOICEMAIL


def test_speed_to_lead_halves_towards_its_floor() -> None:
    t = np.array([0.0, 30.0, 60.0, 1e9])
    got = time_factor(t, 0.5, 30.0)
    want = [0.5 + 0.5 * math.pow(2.0, -x / 30.0) for x in t]
    assert np.allclose(got, want) and got[0] == 1.0 and got[-1] == 0.5


def test_the_preferred_hour_window_is_two_hours_either_side() -> None:
    assert near_preferred_hour(np.array([7.0, 8.5, 11.0, 11.01, 4.99]), np.full(5, 9.0)).tolist() == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_shared_draws_say_so_by_name() -> None:
    assert U_VOICEMAIL == U_READ  # a call's voicemail draw is its step's read draw
    assert {U_DUP_ENGAGE, U_DUP_VOICEMAIL} < set(range(N_UNIFORMS))


def test_intent_raises_readiness_to_book() -> None:
    """High-intent leads book more than low-intent ones with the default readiness multipliers (a
    two-proportion z-test, statsmodels, z > 4), while with the multipliers set to 1 intent acts
    through the competitor hazard alone and high intent books less: a scenario can say so."""
    from statsmodels.stats.proportion import test_proportions_2indep

    sc = nl.load_scenario("speed_to_lead")

    def booked(s: nl.Scenario) -> tuple[float, float]:
        g = nl.simulate(s, seed=3, n_leads=12_000, truth=False).leads.groupby("intent", observed=True)["booked"]
        k, n = g.sum(), g.count()
        return k["high"] / n["high"] - k["low"] / n["low"], test_proportions_2indep(
            k["high"], n["high"], k["low"], n["low"]
        ).statistic

    gap, z = booked(sc)
    assert gap > 0 and z > 4
    flat = dataclasses.replace(sc.behaviour, intent_book_multiplier={"high": 1.0, "medium": 1.0, "low": 1.0})
    gap, _ = booked(dataclasses.replace(sc, behaviour=flat))
    assert gap < 0
    with pytest.raises(TypeError, match=r"intent_book_multiplier.*keys high, medium, low"):
        dataclasses.replace(sc.behaviour, intent_book_multiplier={"high": 1.0})

"""The behaviour room's shared formulas, checked against their closed forms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
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
    """High-intent leads book more than low-intent ones with the default readiness odds ratios (a
    two-proportion z-test, statsmodels, z > 3), while with the odds ratios set to 1 intent acts
    through the competitor hazard alone and high intent books less: a scenario can say so."""
    from statsmodels.stats.proportion import test_proportions_2indep

    sc = nl.load_scenario("speed_to_lead")

    def booked(s: nl.Scenario) -> tuple[float, float]:
        g = nl.simulate(s, seed=3, n_leads=20_000, truth=False).leads.groupby("intent", observed=True)["booked"]
        k, n = g.sum(), g.count()
        return k["high"] / n["high"] - k["low"] / n["low"], test_proportions_2indep(
            k["high"], n["high"], k["low"], n["low"]
        ).statistic

    gap, z = booked(sc)
    assert gap > 0 and z > 3
    flat = dataclasses.replace(sc.behaviour, intent_book_odds_ratio={"high": 1.0, "medium": 1.0, "low": 1.0})
    gap, _ = booked(dataclasses.replace(sc, behaviour=flat))
    assert gap < 0
    with pytest.raises(TypeError, match=r"intent_book_odds_ratio.*keys high, medium, low"):
        dataclasses.replace(sc.behaviour, intent_book_odds_ratio={"high": 1.0})


def test_visits_spread_over_clinic_hours() -> None:
    """No minute of the week (in each lead's own zone, zoneinfo via pandas) holds more than 3% of the
    visits; every visit is in clinic hours on a clinic day, no sooner than its appointment lead time."""
    sc = nl.load_scenario("speed_to_lead")
    leads = nl.simulate(sc, seed=1, n_leads=6000, truth=False).leads
    booked = leads[leads["booked"]]
    assert len(booked) > 1000
    parts = []
    for tz, g in booked.groupby("timezone", observed=True):
        loc = g["visit_at"].dt.tz_convert(str(tz))
        parts.append(pd.DataFrame({"day": loc.dt.day_of_week, "minute": loc.dt.hour * 60 + loc.dt.minute}))
    local = pd.concat(parts)
    share = (local["day"] * 1440 + local["minute"]).value_counts(normalize=True)
    assert share.max() < 0.03, share.head()
    lo, hi = sc.policy.clinic_hours
    assert local["day"].isin(sc.policy.clinic_days).all()
    assert ((local["minute"] >= lo * 60) & (local["minute"] < hi * 60)).all()
    wait_days = (booked["visit_at"] - booked["booked_at"]).dt.total_seconds() / 86400
    assert (wait_days >= booked["appointment_lead_days"] - 1e-6).all()


@pytest.mark.parametrize("name", ["speed_to_lead", "content_test"])
def test_bookings_spread_over_the_day(name: str) -> None:
    """No minute of the week (in the contact centre's zone, pandas alone) holds more than 3% of the
    bookings: staff book on the call or when the lead phones, not all when the lines open (43.7% of
    bookings fell at 08:00:00 before), and self-booking leads ready at night book during the next day."""
    sc = nl.load_scenario(name)
    assert sc.contact_center is not None
    leads = nl.simulate(sc, seed=1, n_leads=6000, truth=False).leads
    booked = leads[leads["booked"]]
    assert len(booked) > 800
    loc = booked["booked_at"].dt.tz_convert(sc.contact_center.timezone)
    share = (loc.dt.day_of_week * 1440 + loc.dt.hour * 60 + loc.dt.minute).value_counts(normalize=True)
    assert share.max() < 0.03, share.head()


@pytest.mark.parametrize("centre", [True, False])
def test_a_booking_on_a_call_is_at_the_call(centre: bool) -> None:
    """When leads can book only on a call (calls alone, ready at once, no self-booking, no inbound
    calls), every booked lead's ``booked_at`` is the ``sent_at`` of one of its connected calls in the
    touch log (pandas alone), with the contact centre's queue and with unlimited staff."""
    sc = nl.load_scenario("speed_to_lead")
    assert sc.contact_center is not None
    pop = sc.population
    lines = {
        k: dataclasses.replace(v, self_book_rate=0.0, decision_days_median=1e-4) for k, v in pop.service_lines.items()
    }
    arms = tuple(
        dataclasses.replace(a, steps=tuple(s for s in a.steps if s.channel == "call")) for a in sc.experiment.arms
    )
    cc = dataclasses.replace(sc.contact_center, inbound_calls=False) if centre else None
    sc = dataclasses.replace(
        sc,
        population=dataclasses.replace(pop, service_lines=lines),
        experiment=dataclasses.replace(sc.experiment, arms=arms),
        contact_center=cc,
    )
    res = nl.simulate(sc, seed=2, n_leads=3000, truth=False)
    booked, t = res.leads[res.leads["booked"]], res.touches
    assert len(booked) > 300
    calls = t[(t["channel"] == "call") & (t["status"] == "sent") & t["engaged"].astype(bool)]
    pairs = booked[["lead_id", "booked_at"]].merge(calls[["lead_id", "sent_at"]], on="lead_id")
    at_call = set(pairs.loc[pairs["booked_at"] == pairs["sent_at"], "lead_id"])
    assert at_call == set(booked["lead_id"])

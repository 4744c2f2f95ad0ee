"""The behaviour room's shared formulas, checked against their closed forms."""

from __future__ import annotations

import math

import numpy as np

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

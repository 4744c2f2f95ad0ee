"""Notebook tables checked against independent computations on the same frames."""

from __future__ import annotations

import numpy as np
import pytest

import nurture_lab as nl
from nurture_lab.reporting import tables

from ..conftest import KNOWN


@pytest.fixture(scope="module")
def run(tiny: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(tiny, seed=8, n_leads=3000, truth=False)


def test_funnel_table(run: nl.SimulationResult) -> None:
    t = tables.funnel_table(run.leads)
    for arm in ("slow", "fast"):
        mine = run.leads[run.leads["arm"] == arm]
        assert t.loc[arm, "leads"] == len(mine)
        for stage in ("contacted", "qualified", "booked", "attended"):
            assert t.loc[arm, stage] == pytest.approx(round(100 * np.mean(mine[stage].to_numpy(bool)), 1))
    assert (t[["contacted", "qualified", "booked", "attended"]].to_numpy() <= 100).all()


def test_policy_table_accounts_for_every_planned_touch(run: nl.SimulationResult) -> None:
    t = tables.policy_table(run.touches)
    assert t["all"].sum() == len(run.touches)
    for ch in t.columns.drop("all"):
        assert t[ch].sum() == (run.touches["channel"].astype(str) == ch).sum()
    skipped = run.touches["status"].astype(str) == "skipped"
    assert t.xs("skipped", level="action")["all"].sum() == skipped.sum()


def test_staff_table(run: nl.SimulationResult) -> None:
    t = tables.staff_table(run.leads)
    for arm in ("slow", "fast"):
        mine = run.leads[run.leads["arm"] == arm]
        assert t.loc[arm, "staff minutes per booking"] == pytest.approx(
            round(mine["staff_minutes"].to_numpy().sum() / mine["booked"].to_numpy().sum(), 2)
        )


def test_golden_text_carries_the_rounded_numbers() -> None:
    res = nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"])
    text = tables.golden(res)
    # 250/2000 - 200/2000 = 0.025, written out independently
    assert "y | treat vs control: diff +0.0250 [" in text
    assert text.splitlines()[-1] == f"SRM p = {res.srm['p_value']:.4f}"


def test_segment_notes_mark_small_groups_and_few_events() -> None:
    """A segment row says why its numbers are weak: too small to test, or a rate with fewer than 5 events
    (or non-events) in an arm (3 bookings of 73: the normal-approximation interval is rough)."""
    import numpy as np
    import pandas as pd

    from nurture_lab.reporting.content import _segment_notes

    res = pd.DataFrame(
        {
            "control_value": [3 / 73, 0.25, 0.25, 70 / 73],
            "n_control": [73, 400, 8, 73],
            "arm_value": [0.30, 0.30, 0.5, 0.5],
            "n_arm": [97, 400, 6, 90],
        }
    )
    notes = _segment_notes(res, np.array([False, False, True, False]), np.array([True, True, True, True]))
    assert notes[0].startswith("fewer than 5 events") and notes[1] == "" and notes[2] == "too small to test"
    assert notes[3].startswith("fewer than 5 events")  # 3 non-events of 73
    assert _segment_notes(res.iloc[:1], np.array([False]), np.array([False])) == [""]  # a mean: no event count

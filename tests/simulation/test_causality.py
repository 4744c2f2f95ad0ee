"""Is a run with a contact centre causal in time? (issue 25, section 2: adaptive designs with a centre)

An adaptive design decides wave ``w`` at its start ``t`` from what is observable then. With a
contact centre it could be run wave by wave — the centre simulated with the waves decided so far
and any arms for the later leads, wave ``w`` decided from that run — only if what happens before
``t`` depends on the leads created before ``t`` and their arms alone. Two full runs whose
assignments agree for the leads created before ``t`` and differ for every later lead check it.

It holds where calls do not wait past ``t`` (first test: 8 agents on the same hours). It does not
hold with scarce staff (second test, the witness): a lead's cadence runs its steps in order, each
resolved before the next, so a call of an early lead that waits in the queue past ``t`` holds the
lead's later steps behind it when it is made and releases them at their own plan (before ``t``)
when it is skipped at the moment an agent reaches it (lost, responded, opted out, no agent); and the
later leads' calls, which share the agents after ``t``, decide which. So an adaptive design with a
``[contact_center]`` is run wave by wave and verified on its final run, and refused when a wave's
inputs differ there (:func:`nurture_lab.simulation.adaptive.run_centre`). A step
so released takes an agent, so other early leads' calls before ``t`` may move by a minute or more
(knock-on). Frames are compared with pandas alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.simulation.chunks import observed_centre, simulate_centre

#: A Los Angeles centre with 1-3 agents on weekdays 8:00-18:00 (a weekday x hour table): calls wait.
LA_TABLE = [[0] * 8 + [1] * 2 + [3] * 2 + [2] * 4 + [1] * 2 + [0] * 6] * 5 + [[0] * 24] * 2
N_LEADS, SEED = 3000, 1


def _two_runs(table: list[list[int]]) -> tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The planned assignment, and the same with every lead created from ``t`` on moved to the next arm."""
    sc = nl.load_scenario("speed_to_lead")
    cc = nl.ContactCenter(agents=table, timezone="America/Los_Angeles")
    sc = dataclasses.replace(sc, contact_center=cc, population=dataclasses.replace(sc.population, arrival_days=60))
    la, ta = observed_centre(sc, simulate_centre(sc, SEED, N_LEADS, False)[0])
    created = la["created_at"]
    t = (created.min().tz_convert("America/Los_Angeles").normalize() + pd.Timedelta(days=40, hours=10.5)).tz_convert(
        "UTC"
    )
    arm = la["arm"].cat.codes.to_numpy().astype(np.int64)
    late = (created >= t).to_numpy()
    moved = np.where(late, (arm + 1) % len(sc.experiment.arms), arm)
    lb, tb = observed_centre(sc, simulate_centre(sc, SEED, N_LEADS, False, arms=moved)[0])
    assert (lb["arm"].cat.codes.to_numpy() != arm).sum() == late.sum() > 500  # the later leads really moved
    return t, la, ta, lb, tb


@pytest.fixture(scope="module")
def two_runs() -> tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scarce staff: 1-3 agents."""
    return _two_runs(LA_TABLE)


def _sent_before(touches: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    s = touches[touches["sent_at"] < t].drop(columns="arm")
    s = s.astype({c: str for c in s.columns if isinstance(s[c].dtype, pd.CategoricalDtype)})
    return s.sort_values(["lead_id", "step", "sent_at"]).reset_index(drop=True)


def test_with_ample_staff_what_happens_before_t_depends_only_on_the_leads_created_before_t() -> None:
    """8 agents on the same hours (no call waits past ``t``): the measures an adaptive design learns from
    and every message sent before ``t`` are the same whatever the later leads' arms."""
    t, la, ta, lb, tb = _two_runs([[8 if v else 0 for v in row] for row in LA_TABLE])
    old = (la["created_at"] + pd.Timedelta(days=30) <= t).to_numpy()
    assert old.sum() > 300
    for col in ("booked_30d", "contacted", "contacted_minutes", "booked_at"):
        pd.testing.assert_series_equal(la.loc[old, col], lb.loc[old, col])
    pd.testing.assert_frame_equal(_sent_before(ta, t), _sent_before(tb, t))


def test_a_call_waiting_past_t_releases_the_leads_later_steps_before_t(two_runs: tuple) -> None:
    """The witness: a lead created before ``t`` whose call, requested before ``t``, is made after ``t`` in
    one run and skipped (when an agent reached it, after ``t``) in the other — where a later step of the
    lead then goes out before ``t``, as it does not in the first run."""
    t, la, ta, _lb, tb = two_runs
    early = set(la.loc[(la["created_at"] < t).to_numpy(), "lead_id"])
    key = ["lead_id", "step"]
    both = ta[[*key, "channel", "planned_at", "sent_at", "status"]].merge(
        tb[[*key, "sent_at", "status"]], on=key, suffixes=("_a", "_b")
    )
    made_after = (both["status_a"] == "sent") & (both["sent_at_a"] >= t)
    skipped = both["status_b"] == "skipped"
    waiting = both[(both["channel"] == "call") & (both["planned_at"] < t) & made_after & skipped]
    witnesses = []
    for lead, step in zip(waiting["lead_id"], waiting["step"], strict=True):
        later = both[(both["lead_id"] == lead) & (both["step"] > step)]
        released = (later["sent_at_b"] < t) & ~(later["sent_at_a"] < t)
        if lead in early and released.any():
            witnesses.append(lead)
    assert witnesses, "no call waiting past t released a later step before t"

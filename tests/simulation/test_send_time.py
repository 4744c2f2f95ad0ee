"""The engine's send-time room (simulation/send_time.py) and the audience-specific preferred hours.

Independent checks: local times from zoneinfo (pandas ``tz_convert``), a chi-square test of
uniformity (false-alarm rate 0.1%), the learner's table against counts by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl
from nurture_lab.scenario.loader import scenario_from_dict
from nurture_lab.simulation.calendar import DAY
from nurture_lab.simulation.chunks import prepare_chunk
from nurture_lab.simulation.population import make_leads
from nurture_lab.simulation.send_time import PRIOR_SENDS, SendHistory, next_local
from nurture_lab.whatif.send_time import policy_scenario

from ..whatif.test_send_time import HOURS, data
from .invariants import local_time


def test_the_learner_reads_only_days_before_the_lead_arrived() -> None:
    h = SendHistory()
    # audience 0: day 2, hour 9: 10 sends, all engaged; day 5, hour 15: 10 sends, none engaged
    h.add("sms", np.zeros(10, dtype=np.int64), np.full(10, 2), np.full(10, 9), np.ones(10, dtype=bool))
    h.add("sms", np.zeros(10, dtype=np.int64), np.full(10, 5), np.full(10, 15), np.zeros(10, dtype=bool))
    rate, engaged = h.rates("sms", 2, 8)
    assert engaged[0].tolist() == [0, 0, 0, 10, 10, 10, 10, 10]  # from day 3 on
    # before day 3 nothing is known: every hour at the (empty) audience rate
    assert np.all(rate[0, :3] == 0)
    # day 3: all sends engaged, every hour's rate is 1 (the audience's rate is 1)
    assert np.allclose(rate[0, 3], 1.0)
    # day 6 on: hour 15's own sends (none engaged) pull it down; by hand, two levels of shrinkage
    base = 10 / 20
    near15 = (0 + PRIOR_SENDS * base) / (10 + PRIOR_SENDS)  # hours 13..17 hold only hour 15's sends
    assert np.isclose(rate[0, 6, 15], (0 + PRIOR_SENDS * near15) / (10 + PRIOR_SENDS))
    near9 = (10 + PRIOR_SENDS * base) / (10 + PRIOR_SENDS)
    assert np.isclose(rate[0, 6, 9], (10 + PRIOR_SENDS * near9) / (10 + PRIOR_SENDS))
    assert rate[0, 6].argmax() == 9
    # another channel and another audience learn nothing from these
    assert h.rates("email", 2, 8)[1].sum() == 0 and engaged[1].sum() == 0


def test_random_send_times_are_uniform_in_the_window() -> None:
    d = data(1.0)
    d["cadences"]["c"]["steps"] = [d["cadences"]["c"]["steps"][1] | {"send_time": "random"}]  # e-mail, 7:00-22:00
    sc = scenario_from_dict(d)
    res = nl.simulate(sc, seed=3, n_leads=3000, truth=False, jobs=1)
    sent = res.touches[res.touches["status"] == "sent"]
    hour = local_time(sent, res.leads)["hour"].to_numpy(dtype=float)
    assert hour.min() >= 7 and hour.max() < 22
    counts = np.bincount(np.floor(hour).astype(int) - 7, minlength=15)
    assert stats.chisquare(counts).pvalue > 1e-3, counts


def test_a_planned_send_time_is_todays_behaviour() -> None:
    sc = scenario_from_dict(data(2.5))
    explicit = policy_scenario(sc, "planned")
    a = nl.simulate(sc, seed=1, n_leads=1000, truth=False, jobs=1)
    b = nl.simulate(explicit, seed=1, n_leads=1000, truth=False, jobs=1)
    pd.testing.assert_frame_equal(a.leads.drop(columns="arm"), b.leads.drop(columns="arm"))
    cols = ["lead_id", "step", "sent_at", "engaged"]
    pd.testing.assert_frame_equal(a.touches[cols], b.touches[cols])


def test_audience_hours_change_only_the_listed_audiences_preferred_hours() -> None:
    sc = scenario_from_dict(data(2.5))
    plain = dataclasses.replace(sc, behaviour=dataclasses.replace(sc.behaviour, preferred_hour_by_audience={}))
    with_hours, without = make_leads(sc, 2000, seed=4), make_leads(plain, 2000, seed=4)
    pd.testing.assert_frame_equal(with_hours.drop(columns="preferred_hour"), without.drop(columns="preferred_hour"))
    assert without["preferred_hour"].between(8, 20).all()
    aud = with_hours["audience"].astype(str)
    for name, centre in HOURS.items():
        h = with_hours.loc[aud == name, "preferred_hour"]
        assert h.between(centre - 2, centre + 2).all() and h.nunique() == 5, (name, h.value_counts())
    other = ~aud.isin(list(HOURS))
    assert (with_hours.loc[other, "preferred_hour"] == without.loc[other, "preferred_hour"]).all()


@pytest.mark.parametrize("start", ["2026-03-02", "2026-10-26"])
def test_the_next_time_of_day_is_zoneinfos_across_daylight_saving(start: str) -> None:
    """``next_local`` against zoneinfo: for leads in four US zones around a spring-forward and a
    fall-back change, the first moment at or after a random plan whose wall time is the target (some
    in the hour the clocks skip or repeat), a skipped wall time read as zoneinfo reads it (fold 0: the
    moment it would have been). Before, a skipped 2:xx came out 1:xx (17 of 400 here)."""
    sc = nl.load_scenario("speed_to_lead")
    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, start_date=start, arrival_days=10))
    ch = prepare_chunk(sc, 1, 0, 0, 400, identities=False)
    rng = np.random.default_rng(0)
    planned = rng.uniform(0, 3 * DAY, ch.lead.n)
    target = rng.choice([90.0, 150.0, 170.0, 600.0, 1380.0], ch.lead.n) + rng.uniform(0, 5, ch.lead.n)
    got = next_local(ch.lead, np.arange(ch.lead.n), planned, target)
    created = pd.to_datetime(ch.df["created_at"], utc=True)
    skipped = 0
    for i in range(ch.lead.n):
        zone, p = ZoneInfo(ch.df["timezone"].iloc[i]), created.iloc[i] + pd.Timedelta(minutes=planned[i])
        day = p.tz_convert(zone).date()
        for k in range(3):
            wall = dt.datetime.combine(day + dt.timedelta(days=k), dt.time()) + dt.timedelta(minutes=target[i])
            want = pd.Timestamp(wall.replace(tzinfo=zone))  # fold 0
            if want >= p - pd.Timedelta(microseconds=1):
                break
        skipped += want.tz_convert(zone).replace(tzinfo=None) != wall
        assert abs((created.iloc[i] + pd.Timedelta(minutes=got[i]) - want).total_seconds()) < 1e-3, (i, want)
    assert skipped >= 5 if start.startswith("2026-03") else skipped == 0

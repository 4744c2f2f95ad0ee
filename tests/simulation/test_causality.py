"""Is a run with a contact centre causal in time? (issue 25, section 2: adaptive designs with a centre;
issue 21, section 2: a truth that holds where staff are short)

An adaptive design decides wave ``w`` at its start ``t`` from what is observable then. With a
contact centre it is run wave by wave — the centre simulated with the waves decided so far and any
arms for the later leads, wave ``w`` decided from that run — which is what a live test would do only
if what happens before ``t`` depends on the leads created before ``t`` and their arms alone. Two full
runs whose assignments agree for the leads created before ``t`` and differ for every later lead
check it, with pandas alone.

Three ways it failed with scarce staff, each closed and tested here:

* a call of an early lead waiting in the queue past ``t`` held the lead's later steps behind it when
  it was made (the gate spaces touches after a call) but released them at their own plan, before
  ``t``, when it was skipped at the moment an agent reached it — and the later leads' calls, sharing
  the agents after ``t``, decided which. A sequence moves on from a call task once it is done, so the
  engine holds the lead's next steps until then (deferred ``queue``; :func:`.cadence.gate_held`);
* the queue's rounds were counted per arm's run by the batches of calls it had, so an arm whose
  leads had no call at some step (a step for a rare segment, no failed handoff, nobody booked) fell
  a round behind — and whether it had any depended on the later leads. Every arm now takes its turn
  in every round (:func:`.cadence.idle_rounds`);
* the queue's passes between where agents reach calls and the calls' agent minutes stopped after 4
  and kept an unsettled placement; they now run up to 12 (``contact_center.MAX_PASSES``).

What remains: where calls wait a week or more the passes may still not settle (README, known
limits); an adaptive design's final run is verified for that reason.
"""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.scenario.model import Step
from nurture_lab.simulation.chunks import observed_centre, simulate_centre

#: A Los Angeles centre with 1-3 agents on weekdays 8:00-18:00 (a weekday x hour table): calls wait.
LA_TABLE = [[0] * 8 + [1] * 2 + [3] * 2 + [2] * 4 + [1] * 2 + [0] * 6] * 5 + [[0] * 24] * 2
N_LEADS, SEED = 3000, 1


def _two_runs(
    table: list[list[int]], queue: str = "fifo", day: int = 40
) -> tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The planned assignment, and the same with every lead created from ``t`` (``day`` days after the
    first inquiry's day, 10:30 in Los Angeles) on moved to the next arm."""
    sc = nl.load_scenario("speed_to_lead")
    points = {"new_lead": 5, "intent.high": 3} if queue == "score" else {}
    cc = nl.ContactCenter(agents=table, timezone="America/Los_Angeles", queue=queue, score_points=points)
    sc = dataclasses.replace(sc, contact_center=cc, population=dataclasses.replace(sc.population, arrival_days=60))
    la, ta = observed_centre(sc, simulate_centre(sc, SEED, N_LEADS, False)[0])
    created = la["created_at"]
    t = (created.min().tz_convert("America/Los_Angeles").normalize() + pd.Timedelta(days=day, hours=10.5)).tz_convert(
        "UTC"
    )
    arm = la["arm"].cat.codes.to_numpy().astype(np.int64)
    late = (created >= t).to_numpy()
    moved = np.where(late, (arm + 1) % len(sc.experiment.arms), arm)
    lb, tb = observed_centre(sc, simulate_centre(sc, SEED, N_LEADS, False, arms=moved)[0])
    assert (lb["arm"].cat.codes.to_numpy() != arm).sum() == late.sum() > 300  # the later leads really moved
    return t, la, ta, lb, tb


def _sent_before(touches: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    s = touches[touches["sent_at"] < t].drop(columns="arm")
    s = s.astype({c: str for c in s.columns if isinstance(s[c].dtype, pd.CategoricalDtype)})
    return s.sort_values(["lead_id", "step", "sent_at"]).reset_index(drop=True)


def _assert_causal(t: pd.Timestamp, la: pd.DataFrame, ta: pd.DataFrame, lb: pd.DataFrame, tb: pd.DataFrame) -> None:
    """The measures an adaptive design learns from (30-day booking, contact within a day), for leads
    whose 30 days ended by ``t``, and every message sent before ``t`` are the same whatever the later
    leads' arms (a contact or booking after ``t`` may differ: it happened after ``t``)."""
    old = (la["created_at"] + pd.Timedelta(days=30) <= t).to_numpy()
    assert old.sum() > 200
    for leads in (la, lb):
        leads["_day1"] = leads["contacted"].astype(bool) & (leads["contacted_minutes"] <= 1440)
    for col in ("booked_30d", "_day1"):
        pd.testing.assert_series_equal(la.loc[old, col], lb.loc[old, col])
    pd.testing.assert_frame_equal(_sent_before(ta, t), _sent_before(tb, t))


def test_with_ample_staff_what_happens_before_t_depends_only_on_the_leads_created_before_t() -> None:
    """8 agents on the same hours: no call waits past ``t``."""
    _assert_causal(*_two_runs([[8 if v else 0 for v in row] for row in LA_TABLE]))


@pytest.mark.parametrize(("queue", "day"), [("fifo", 40), ("fifo", 50), ("score", 40)])
def test_with_scarce_staff_what_happens_before_t_depends_only_on_the_leads_created_before_t(
    queue: str, day: int
) -> None:
    """1-3 agents: calls requested before ``t`` wait past it (checked: the test is not vacuous), and
    still nothing before ``t`` depends on the later leads' arms."""
    t, la, ta, lb, tb = _two_runs(LA_TABLE, queue, day)
    for touches in (ta, tb):
        calls = touches[(touches["channel"] == "call") & (touches["planned_at"] < t)]
        waited_past = calls[(calls["sent_at"] >= t) & (calls["queue_minutes"] > 0)]
        assert len(waited_past) >= 2
    # the later leads' arms did change what happened after t
    assert not _sent_before(ta, t + pd.Timedelta(days=7)).equals(_sent_before(tb, t + pd.Timedelta(days=7)))
    _assert_causal(t, la, ta, lb, tb)


def test_a_call_skipped_when_an_agent_reached_it_holds_the_leads_next_steps() -> None:
    """Read from one scarce run's touch log alone: texts and e-mails deferred ``queue`` exist (only a
    held step can be: they never wait for an agent themselves), and each belongs to a lead with an
    earlier call step skipped (the call that held it), sent after that call's planned time."""
    _, _, ta, _, _ = _two_runs(LA_TABLE)
    ta = ta[ta["step"] >= 0]
    held = ta[(ta["channel"] != "call") & (ta["status"] == "sent") & ta["reason"].astype(str).str.contains("queue")]
    assert len(held) >= 20
    calls = ta[(ta["channel"] == "call") & (ta["status"] == "skipped")][["lead_id", "step", "planned_at"]]
    pairs = held[["lead_id", "step", "sent_at"]].merge(calls, on="lead_id", suffixes=("", "_call"))
    pairs = pairs[(pairs["step_call"] < pairs["step"]) & (pairs["planned_at"] <= pairs["sent_at"])]
    assert set(held["lead_id"]) == set(pairs["lead_id"])


def _local_minute(times: pd.Series, zones: np.ndarray) -> np.ndarray:
    """Each moment's local minute of the day in its zone (zoneinfo)."""
    wall = [t.astimezone(ZoneInfo(z)) for t, z in zip(times, zones, strict=True)]
    return np.array([w.hour * 60 + w.minute + (w.second + w.microsecond / 1e6) / 60 for w in wall])


def _oracle_texts(sc: nl.Scenario, text_step: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The sent texts of step ``text_step`` (``send_time = "oracle"``) behind 1-3 LA agents, each with its
    local send minute and the minute the policy wants: the lead's preferred hour within its state's
    texting hours. Also checks that a text behind its lead's earlier call that waited for an agent (over
    all its passes) and was made after the text's plan is at that hour, unless the hour came within the
    30 minutes the gate keeps after a call (then 30 minutes after it)."""
    cc = nl.ContactCenter(agents=LA_TABLE, timezone="America/Los_Angeles")
    sc = dataclasses.replace(sc, contact_center=cc)
    la, ta = observed_centre(sc, simulate_centre(sc, seed, N_LEADS, False)[0])
    assert (ta[ta["step"] == text_step]["channel"] == "sms").all()
    texts = ta[(ta["step"] == text_step) & (ta["status"] == "sent")].merge(
        la[["lead_id", "timezone", "state", "preferred_hour"]], on="lead_id"
    )
    tz = texts["timezone"].to_numpy()
    minute = _local_minute(texts["sent_at"], tz)
    lo, hi = (
        np.array([sc.policy.state_quiet_hours.get(s, sc.policy.quiet_hours)[i] for s in texts["state"]]) * 60
        for i in (0, 1)
    )
    want = np.clip(texts["preferred_hour"].to_numpy(dtype=float) * 60, lo, hi - 1)
    calls = ta[(ta["channel"] == "call") & (ta["status"] == "sent") & (ta["step"] < text_step)]
    last = calls.sort_values("sent_at").groupby("lead_id").tail(1).set_index("lead_id")
    call_at, waited = texts["lead_id"].map(last["sent_at"]), texts["lead_id"].map(last["queue_minutes"]) >= 1
    behind = ((call_at > texts["planned_at"]) & waited).to_numpy()
    call_minute = _local_minute(call_at[behind], tz[behind])
    gap = (texts["sent_at"][behind] - call_at[behind]).dt.total_seconds().to_numpy() / 60
    hour_in_gap = (want[behind] - call_minute) % 1440 < 30
    on_hour = np.abs(minute[behind] - want[behind]) < 1e-6
    assert (on_hour | (hour_in_gap & (np.abs(gap - 30) < 1e-6))).all(), texts[behind][~on_hour].head()
    return texts.assign(behind=behind), minute, want


def test_a_held_step_with_a_send_time_policy_goes_out_at_its_time_of_day() -> None:
    """The day-1 text with ``send_time = "oracle"`` (the lead's preferred hour) behind scarce staff:
    a text held only by its lead's waiting call (reason exactly ``queue``), skipped or made, goes out at
    the policy's local time, read with zoneinfo in the lead's zone: the preferred hour within the
    state's legal texting hours. Before, it went out when a skipped call settled (3 of 3 such texts off
    the hour, seed 1), and 30 minutes after a made one whatever the hour (all 225)."""
    sc = nl.load_scenario("speed_to_lead")
    arms = tuple(
        dataclasses.replace(
            a, steps=tuple(dataclasses.replace(s, send_time="oracle") if k == 3 else s for k, s in enumerate(a.steps))
        )
        for a in sc.experiment.arms
    )
    sc = dataclasses.replace(sc, experiment=dataclasses.replace(sc.experiment, arms=arms))
    texts, minute, want = _oracle_texts(sc, 3, SEED)
    reason = texts["reason"].astype(str).to_numpy()
    for why, least in (("queue", 200), ("", 300)):  # held by the call alone; not moved at all
        rows = reason == why
        assert rows.sum() >= least, (why, rows.sum())
        np.testing.assert_allclose(minute[rows], want[rows], atol=1e-6, err_msg=why)
    assert texts["behind"].sum() >= 200


def test_a_call_put_back_by_the_gate_after_it_waited_still_holds_a_send_time_step() -> None:
    """A call in a 9-11 window that waits for an agent past its window is put back to the next morning
    by the gate and then made at once; it waited all the same, so the oracle text behind it goes out at
    the lead's hour. Before, only a wait in the call's last pass counted (seed 3: 2 such texts 30
    minutes after the call, off their hour; found by a review)."""
    sc = nl.load_scenario("speed_to_lead")
    steps = (
        Step(
            channel="call",
            content="qualification",
            anchor="inquiry",
            delay_minutes=5,
            owner="contact_center",
            window=(9, 11),
        ),
        Step(
            channel="sms",
            content="booking_link",
            anchor="inquiry",
            delay_minutes=60,
            owner="contact_center",
            send_time="oracle",
        ),
    )
    arms = tuple(dataclasses.replace(a, steps=steps) for a in sc.experiment.arms)
    sc = dataclasses.replace(sc, experiment=dataclasses.replace(sc.experiment, arms=arms))
    texts, _, _ = _oracle_texts(sc, 1, 3)
    assert texts["behind"].sum() >= 200


def test_an_arm_with_no_call_at_a_step_still_takes_its_round() -> None:
    """``content_test`` with 0-2 agents and, in its second arm only, an escalation call for a rare
    segment (dental implants x employer): whether an arm's run has any lead at that step depends on
    the leads; before every arm took its turn in every round, moving the later leads between arms
    moved the early leads' later calls into another round (123 and 119 touches before ``t`` differed,
    seed 1). Checked here: the rare step selects leads in one run's second arm and not the other's,
    and nothing before ``t`` differs."""
    sc = nl.load_scenario("content_test")
    table = [[0] * 9 + [1] * 3 + [2] * 2 + [1] * 3 + [0] * 7] * 5 + [[0] * 24] * 2
    a0, a1 = sc.experiment.arms
    steps = list(a1.steps)
    rare = dataclasses.replace(
        steps[1],
        delay_minutes=30.0,
        intent=None,
        audience=("employer",),
        service_line=("dental_implants",),
        match="all",
    )
    steps.insert(2, rare)
    sc = dataclasses.replace(
        sc,
        contact_center=nl.ContactCenter(agents=table, timezone="America/New_York"),
        population=dataclasses.replace(sc.population, arrival_days=60),
        experiment=dataclasses.replace(sc.experiment, arms=(a0, dataclasses.replace(a1, steps=tuple(steps)))),
    )
    la, ta = observed_centre(sc, simulate_centre(sc, 1, N_LEADS, False)[0])
    created = la["created_at"]
    t = (created.min().tz_convert("America/New_York").normalize() + pd.Timedelta(days=4, hours=10.5)).tz_convert("UTC")
    arm = la["arm"].cat.codes.to_numpy()
    late = (created >= t).to_numpy()
    _, tb = observed_centre(sc, simulate_centre(sc, 1, N_LEADS, False, arms=np.where(late, 1 - arm, arm))[0])
    rare_step = [(tt["step"] == 2) & (tt["status"] != "not_selected") & (tt["arm"] == a1.name) for tt in (ta, tb)]
    assert (
        sorted([int(rare_step[0].sum()), int(rare_step[1].sum())])[0]
        == 0
        < int(rare_step[0].sum() + rare_step[1].sum())
    )
    assert (_sent_before(ta, t).shape[0]) > 300
    pd.testing.assert_frame_equal(_sent_before(ta, t), _sent_before(tb, t))

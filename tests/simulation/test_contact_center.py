"""The contact centre: finite agents, one queue shared by every arm, missed inbound calls, two truths.

Capacity is checked minute by minute from the event log alone, with the centre's local time from
zoneinfo (pandas ``tz_convert``), never with the engine's own clock or capacity grid.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.errors import ScenarioError
from nurture_lab.scenario.loader import scenario_from_dict
from nurture_lab.simulation.contact_center import erlang_c_agents, erlang_c_wait
from nurture_lab.simulation.engine import truth_in

from .invariants import agents_on_shift, check_invariants, concurrent_calls


def _erlang_c_closed_form(n: int, a: float) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def test_erlang_c_agrees_with_the_closed_form() -> None:
    assert erlang_c_wait(3, 2.0) == pytest.approx(4 / 9)
    for n, a in ((5, 3.2), (12, 10.5), (40, 31.0)):
        assert erlang_c_wait(n, a) == pytest.approx(_erlang_c_closed_form(n, a), rel=1e-9)
    n = erlang_c_agents(calls_per_hour=120, handle_minutes=4, target_wait=0.2)
    load = 120 * 4 / 60
    assert _erlang_c_closed_form(n, load) <= 0.2 < _erlang_c_closed_form(n - 1, load) if n - 1 > load else True


def _with_centre(**kw: object) -> nl.Scenario:
    sc = nl.load_scenario("speed_to_lead")
    return dataclasses.replace(sc, contact_center=nl.ContactCenter(**kw))


@pytest.fixture(scope="module")
def scarce() -> nl.SimulationResult:
    """Two agents for 8,000 leads: the queue binds."""
    return nl.simulate(_with_centre(agents=2), seed=5, n_leads=8000)


def test_calls_never_exceed_the_agents_on_shift(scarce: nl.SimulationResult) -> None:
    check_invariants(scarce)  # includes calls in progress <= agents, minute by minute
    minutes, busy = concurrent_calls(scarce)
    agents = agents_on_shift(scarce.scenario, minutes)
    assert busy.max() == 2 and (busy == agents)[agents > 0].mean() > 0.3  # the queue does bind
    calls = scarce.touches[(scarce.touches["channel"] == "call") & (scarce.touches["status"] == "sent")]
    assert (calls["queue_minutes"] > 60).mean() > 0.1
    assert "queue" in set("+".join(calls["reason"].astype(str)).split("+"))
    # staff time is the agents' handle time (plus the inbound calls answered live)
    live = (scarce.leads["source"] == "phone") & ~scarce.leads["missed_call"]
    per_lead = calls.groupby("lead_id")["handle_minutes"].sum().reindex(scarce.leads["lead_id"], fill_value=0)
    expect = per_lead.to_numpy() + np.where(live, 8, 0)
    other = scarce.leads["staff_minutes"].to_numpy() - expect
    assert other.min() >= -1e-6  # texts and e-mails add their own staff time, calls add exactly theirs


@pytest.mark.parametrize(
    "centre",
    [
        # a weekday x hour table in Los Angeles with the score queue, over a daylight-saving change
        dict(
            agents=[[0] * 7 + [1] * 2 + [2] * 8 + [1] * 3 + [0] * 4] * 5 + [[0] * 9 + [1] * 4 + [0] * 11] + [[0] * 24],
            timezone="America/Los_Angeles",
            queue="score",
        ),
        dict(agents=1, timezone="America/Chicago", handle_minutes={"connected": 15}),
    ],
)
def test_the_rules_hold_with_a_centre_anywhere(centre: dict[str, object]) -> None:
    sc = _with_centre(**centre)
    sc = dataclasses.replace(
        sc, population=dataclasses.replace(sc.population, start_date="2026-03-02", arrival_days=10)
    )
    res = nl.simulate(sc, seed=11, n_leads=2500)
    check_invariants(res)


def _two_arm_centre() -> nl.Scenario:
    sc = _with_centre(agents=32, queue="score")  # the queue binds at peaks: calls wait
    two = (sc.experiment.arm("within_5_min"), sc.experiment.arm("next_business_day"))
    return dataclasses.replace(sc, experiment=dataclasses.replace(sc.experiment, arms=two))


def test_one_seed_one_result_whatever_the_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """On 2 processes the truth's rollouts run in a forked worker beside the observed run (a run of
    more than one chunk): the same frames and the same truth as on one — also for two runs started
    at once from two threads, each forking while the other sets up (a pause in the pool's first
    submission stands for the thread switch)."""
    from nurture_lab.simulation import truth_runs

    forked: list[int] = []
    real, real_pool = truth_runs.Rollouts.__init__, truth_runs.make_pool

    def spy(self: truth_runs.Rollouts, inp: truth_runs.TruthInputs, workers: int) -> None:
        forked.append(workers)
        real(self, inp, workers)

    def slow_pool(*args: Any, **kw: Any) -> Any:
        pool = real_pool(*args, **kw)
        submit = pool.submit

        def late(*sa: Any, **sk: Any) -> Any:
            time.sleep(0.3)
            return submit(*sa, **sk)

        pool.submit = late  # type: ignore[method-assign]
        return pool

    monkeypatch.setattr(truth_runs.Rollouts, "__init__", spy)
    monkeypatch.setattr(truth_runs, "make_pool", slow_pool)
    sc = _two_arm_centre()
    a = nl.simulate(sc, seed=9, n_leads=52_000, jobs=1)
    assert forked == []
    b = nl.simulate(sc, seed=9, n_leads=52_000, jobs=2)
    assert forked == [1]
    assert (a.touches["queue_minutes"] > 0).mean() > 0.05
    # DataFrame.equals: values, dtypes and categories (assert_frame_equal takes seconds per frame here)
    assert a.leads.equals(b.leads) and a.touches.equals(b.touches)
    pd.testing.assert_frame_equal(a.truth, b.truth, check_exact=True)
    with ThreadPoolExecutor(2) as ex:
        runs = list(ex.map(lambda seed: nl.simulate(sc, seed=seed, n_leads=52_000, jobs=2).truth, (9, 10)))
    assert forked == [1, 1, 1]
    pd.testing.assert_frame_equal(runs[0], a.truth, check_exact=True)
    pd.testing.assert_frame_equal(runs[1], nl.simulate(sc, seed=10, n_leads=52_000, jobs=1).truth, check_exact=True)


def test_no_rollout_worker_from_a_daemonic_process() -> None:
    """A multiprocessing.Pool (or Dask) worker may not have children: the rollouts run in it instead."""
    import multiprocessing

    from nurture_lab.simulation.truth_runs import Rollouts

    assert Rollouts.possible(2, ("experiment", "rollout"))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(Rollouts.possible, (2, ("experiment", "rollout"))) is False


def test_the_score_queue_serves_higher_scores_first() -> None:
    def waits(queue: str) -> pd.Series:
        sc = _with_centre(agents=1, queue=queue, score_points={"intent.high": 3})
        res = nl.simulate(sc, seed=2, n_leads=3000, truth=False)
        calls = res.touches[(res.touches["channel"] == "call") & (res.touches["status"] == "sent")]
        intent = calls["lead_id"].map(res.leads.set_index("lead_id")["intent"]).astype(str)
        return calls.groupby(intent)["queue_minutes"].mean()

    score, fifo = waits("score"), waits("fifo")
    assert score["high"] < 0.6 * score["low"]
    # fifo does not look at the score: high-intent leads wait about as long (their cadence's extra early
    # call shifts the mix a little: 0.79-0.85 over seeds 2-4), far from the score queue's ~0.5-0.6
    assert 0.7 < fifo["high"] / fifo["low"] < 1.3
    assert score["high"] / score["low"] < 0.8 * fifo["high"] / fifo["low"]


def test_inbound_calls_are_missed_when_the_centre_is_closed_or_full(scarce: nl.SimulationResult) -> None:
    L = scarce.leads
    phone = L["source"] == "phone"
    assert not L.loc[~phone, "missed_call"].any()
    ring = L["created_at"].dt.ceil("min")
    loc = ring.dt.tz_convert(scarce.scenario.contact_center.timezone)  # type: ignore[union-attr]
    pol = scarce.scenario.policy
    hour = loc.dt.hour + loc.dt.minute / 60
    open_ = loc.dt.day_of_week.isin(pol.staffed_days) & (hour >= pol.staffed_hours[0]) & (hour < pol.staffed_hours[1])
    assert L.loc[phone & ~open_, "missed_call"].all()
    answered = L[phone & ~L["missed_call"]]
    assert len(answered) > 20 and (answered["contacted_minutes"] == 0).all()
    assert 0.3 < L.loc[phone, "missed_call"].mean() < 0.9
    # a missed call rang while every agent on shift was busy (or none was on shift): the roster from
    # the scenario's table and zoneinfo, the calls in progress from the log
    minutes, busy = concurrent_calls(scarce)
    agents = agents_on_shift(scarce.scenario, minutes)
    missed = L.loc[phone & L["missed_call"], "created_at"].dt.ceil("min")
    at = ((missed - minutes[0]) // pd.Timedelta(minutes=1)).to_numpy()
    inside = (at >= 0) & (at < minutes.size)
    assert inside.mean() > 0.95
    assert (busy[at[inside]] >= agents[at[inside]]).all(), "an inbound call missed with an agent free"
    # an agent answers near a shift's end and finishes after it: some calls run past a shift
    ring = (answered["created_at"].dt.ceil("min") - minutes[0]) // pd.Timedelta(minutes=1)
    end = pd.Series(agents).shift(-8, fill_value=0).to_numpy()  # agents 8 minutes later
    assert (end[ring.to_numpy()] < agents[ring.to_numpy()]).any(), "no inbound call answered near a shift's end"


def test_without_a_centre_the_two_truths_coincide() -> None:
    res = nl.simulate(dataclasses.replace(nl.load_scenario("speed_to_lead"), contact_center=None), seed=1, n_leads=3000)
    e, r = truth_in(res.truth), truth_in(res.truth, "rollout")
    pd.testing.assert_frame_equal(e.drop(columns="setting"), r.drop(columns="setting"))


def test_rollout_truth_shows_the_queue_a_fast_arm_would_meet(scarce: nl.SimulationResult) -> None:
    t = scarce.truth
    mean = t[(t["metric"] == "contacted") & (t["service_line"] == "all")].set_index(["setting", "arm"])["mean"]
    # every lead wanting a call within 5 minutes, with the same two agents: more waiting, less contact
    assert mean[("rollout", "within_5_min")] < mean[("experiment", "within_5_min")]
    # the true effects of both settings are reported beside each other
    assert {"experiment", "rollout"} == set(t["setting"])
    assert scarce.true_effect("contacted", "within_5_min", setting="rollout") == pytest.approx(
        mean[("rollout", "within_5_min")] - mean[("rollout", "next_business_day")]
    )


def test_plenty_of_agents_change_little() -> None:
    sc = dataclasses.replace(nl.load_scenario("speed_to_lead"), contact_center=None)
    free = nl.simulate(sc, seed=4, n_leads=4000)
    ample = nl.simulate(_with_centre(agents=200, inbound_calls=False), seed=4, n_leads=4000)
    calls = ample.touches[(ample.touches["channel"] == "call") & (ample.touches["status"] == "sent")]
    # nobody waits beyond the next whole minute, except a call asked for in the last minutes of a
    # shift (agents start no call they could not finish before it ends); most are not kept waiting at all
    assert (calls["queue_minutes"] < 1.0).mean() > 0.99
    assert (calls["queue_minutes"] == 0).mean() > 0.9
    a = free.true_effect("booked_30d", "within_5_min")
    b = ample.true_effect("booked_30d", "within_5_min")
    assert abs(a - b) < 0.01


def _doc(centre: dict[str, object]) -> dict[str, object]:
    return {
        "service_lines": {"primary_care": {"share": 1.0}},
        "arms": {"a": {"steps": [{"channel": "call", "content": "generic", "delay_minutes": 5}]}},
        "experiment": {"control": "a"},
        "contact_center": centre,
    }


@pytest.mark.parametrize(
    ("centre", "words"),
    [
        ({"timezone": "Mars/Base"}, ["contact_center", "timezone", "IANA"]),
        ({"agents": [[1] * 24] * 6}, ["contact_center", "agents", "7 rows"]),
        ({"agents": 0}, ["contact_center", "agents"]),
        ({"agents": "many"}, ["contact_center", "agents", "7 rows", "'many'"]),
        ({"queue": "lifo"}, ["contact_center", "queue", "fifo"]),
        ({"handle_minutes": {"talking": 3}}, ["contact_center", "handle_minutes", "connected"]),
        ({"score_points": {"zip.10001": 3}}, ["contact_center", "score_points"]),
        ({"staff": 3}, ["Unknown key 'staff'", "contact_center"]),
    ],
)
def test_a_bad_contact_center_table_names_the_key(centre: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(_doc(centre), "x.toml")
    for w in words:
        assert w in str(e.value)
    assert "x.toml" in str(e.value)


def test_potential_outcomes_refuses_a_shared_queue() -> None:
    from nurture_lab.simulation.engine import potential_outcomes

    with pytest.raises(nl.ParameterError, match="contact_center"):
        potential_outcomes(_with_centre(agents=2), seed=1, n_leads=100)


def test_a_run_with_a_centre_shows_its_progress(speed: nl.Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """``progress=True`` (what ``nurture-lab simulate`` asks on a terminal) shows a bar with a contact centre
    too: the chunk, the observed run and the truth's 2 settings x 3 arms, each a pass."""
    assert speed.contact_center is not None
    nl.simulate(speed, seed=1, n_leads=300, truth=True, progress=True)
    err = capsys.readouterr().err
    assert "simulate" in err and "8/8" in err, err
    nl.simulate(speed, seed=1, n_leads=300, truth=False, progress=False)
    assert capsys.readouterr().err == ""


def test_calls_keep_their_second(speed: nl.Scenario) -> None:
    """A call an agent reaches in the minute the gate allows it starts then, to the second: every
    first call of the within_5_min arm that no rule deferred and no queue held is made within 5
    minutes of the inquiry (from the log: sent_at - created_at), and so is a good share of the arm."""
    res = nl.simulate(speed, seed=1, n_leads=4000, truth=False)
    L, T = res.leads, res.touches
    arm = L[L["arm"] == "within_5_min"].set_index("lead_id")
    calls = T[(T["channel"] == "call") & (T["status"] == "sent") & T["lead_id"].isin(arm.index)]
    first = calls.sort_values("sent_at").drop_duplicates("lead_id")
    wait = (first["sent_at"] - first["lead_id"].map(arm["created_at"])).dt.total_seconds() / 60
    prompt = (first["deferred_minutes"] <= 1e-6).to_numpy()
    assert prompt.sum() > 200 and (wait[prompt] <= 5 + 1e-6).all()
    assert (first.loc[prompt, "sent_at"].dt.second != 0).mean() > 0.9  # not rounded to the minute
    assert (wait <= 5 + 1e-6).sum() / len(arm) > 0.25


def test_the_queue_pass_equals_a_loop_over_every_minute() -> None:
    """The pass that jumps over minutes where every call starts on joining reaches every call in the
    minute the loop over every minute does (tests/simulation/queue_reference.py): random batches of
    one to three levels, handle minutes 0-3, 0-3 agents free per minute, queues that never wait
    and queues that wait for hours."""
    from nurture_lab.simulation.queue_pass import place

    from .queue_reference import place_reference

    rng = np.random.default_rng(5)
    seen = {"all on joining": 0, "some wait": 0, "none on joining": 0}
    for case in range(600):
        q = SimpleNamespace(n=int(rng.integers(5, 200)), hmax=3, g0=1000)
        n_calls = int(rng.integers(1, (4 if case % 2 else 1) * q.n))
        a = np.sort(rng.integers(0, q.n, n_calls)) if case % 5 else rng.integers(0, q.n, n_calls)
        handle = rng.integers(0, 4, n_calls)
        cap = rng.integers(0 if case % 2 else 1, 2 + case % 6, q.n)
        level = rng.integers(0, 1 + case % 3, n_calls)
        orders = [np.flatnonzero(level == lv)[np.argsort(a[level == lv], kind="stable")] for lv in (2, 1, 0)]
        orders = [o for o in orders if o.size]
        pos = np.where(cap > 0, np.arange(q.n), q.n)
        loop = (np.minimum.accumulate(pos[::-1])[::-1], [np.cumsum(np.bincount(a[o], minlength=q.n)) for o in orders])
        want = place_reference(q.n, q.hmax, q.g0, a, orders, handle, cap, *loop)
        got = place(a, orders, handle, cap, loop[0], q.hmax) + q.g0
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}")
        on_joining = want == a + q.g0
        seen["all on joining" if on_joining.all() else "some wait" if on_joining.any() else "none on joining"] += 1
    assert seen["all on joining"] > 30 and seen["some wait"] > 300, seen


@pytest.mark.parametrize(
    ("values", "hmax"),
    [((0, 2, 7), 7), (tuple(range(10)), 9), ((0,), 3), ((5,), 5), ((3, 8), 8), ((0, 1, 2, 3), 9)],
    ids=["0-2-7", "0-9", "all-zero", "all-5", "3-8", "0-3-hmax9"],
)
def test_the_queue_pass_equals_the_loop_for_any_agent_minutes(values: tuple[int, ...], hmax: int) -> None:
    """The pass equals the loop over every minute (tests/simulation/queue_reference.py) whatever agent
    minutes the calls take (gaps between the values, one value, none, fewer than ``hmax``): rows not
    in minute order, ties in a minute served in any order, 1-4 levels (empty ones left out as the
    centre does), no agent ever, agents by the billion, agents in rare minutes, bursts of calls."""
    from nurture_lab.simulation.queue_pass import place

    from .queue_reference import place_reference

    rng = np.random.default_rng(sum(values) + 100 * hmax)
    seen = {"some wait": 0, "none reached": 0}
    for case in range(240):
        n = int(rng.integers(1, 300)) if case % 7 else int(rng.integers(300, 2000))
        n_calls = int(rng.integers(1, max(2, int(rng.choice([0.3, 1, 4, 10]) * n))))
        a = rng.integers(0, n, n_calls) if case % 3 else rng.choice(rng.integers(0, n, 3), n_calls)
        handle = rng.choice(np.array(values), n_calls)
        cap = [
            rng.integers(0, 4, n),
            np.zeros(n, dtype=np.int64),
            np.full(n, 10**12) - rng.integers(0, 3, n),
            np.where(rng.random(n) < 0.05, rng.integers(1, 6, n), 0),
            np.where(rng.random(n) < 0.2, 0, 2**60),
            rng.integers(0, 40, n),
        ][case % 6].astype(np.int64)
        n_levels = int(rng.integers(1, 5))
        level = rng.integers(0, n_levels, n_calls)
        tie = rng.permutation(n_calls)  # the order of a minute's calls within a level
        orders = [np.flatnonzero(level == lv) for lv in range(n_levels - 1, -1, -1)]
        orders = [o[np.lexsort((tie[o], a[o]))] for o in orders if o.size]
        pos = np.where(cap > 0, np.arange(n), n)
        open_next = np.minimum.accumulate(pos[::-1])[::-1]
        cums = [np.cumsum(np.bincount(a[o], minlength=n)) for o in orders]
        want = place_reference(n, hmax, 1000, a, orders, handle, cap, open_next, cums)
        got = place(a, orders, handle, cap, open_next, hmax) + 1000
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}")
        seen["some wait"] += bool((np.isfinite(want) & (want != a + 1000)).any())
        seen["none reached"] += bool(np.isnan(want).all())
    assert seen["some wait"] > 60 and seen["none reached"] >= 40, seen


@pytest.mark.parametrize("slack", [1, 60])
def test_the_queue_window_changes_nothing(slack: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's queue solved over a short window first (falling back to the whole timeline when a
    call still waits at its end) gives the frames of the queue solved over the whole timeline: a
    scarce centre whose calls wait for days, and the shipped one."""
    from nurture_lab.simulation import contact_center

    scarce = nl.ContactCenter(agents=2, timezone="America/Los_Angeles")
    for sc, truth in (
        (dataclasses.replace(nl.load_scenario("speed_to_lead"), contact_center=scarce), True),
        (nl.load_scenario("speed_to_lead"), False),
    ):
        runs = []
        for size in (10**9, slack):
            monkeypatch.setattr(contact_center, "WINDOW_SLACK", size)
            runs.append(
                (
                    nl.simulate(sc, seed=2, n_leads=1200, truth=False),
                    nl.simulate(sc, seed=2, n_leads=1200).truth if truth else None,
                )
            )
        (whole, whole_truth), (short, short_truth) = runs
        pd.testing.assert_frame_equal(whole.leads, short.leads)
        pd.testing.assert_frame_equal(whole.touches, short.touches)
        if truth:
            pd.testing.assert_frame_equal(whole_truth, short_truth)


@pytest.mark.parametrize("zone", ["America/New_York", "America/Los_Angeles", "Australia/Adelaide"])
def test_agents_on_shift_per_minute_over_a_year(zone: str) -> None:
    """The queue's agents per UTC minute over a year (both daylight-saving changes) equal the
    scenario's table read in the centre's zone by zoneinfo (pandas), minute by minute."""
    from nurture_lab.simulation.calendar import CentreClock

    sc = nl.load_scenario("speed_to_lead")
    table = [[0] * 8 + [1] * 2 + [3] * 2 + [2] * 4 + [1] * 2 + [0] * 6] * 5 + [[0] * 24] * 2
    sc = dataclasses.replace(sc, contact_center=nl.ContactCenter(agents=table, timezone=zone))
    g0 = int(pd.Timestamp("2026-01-01 00:00", tz="UTC").timestamp() // 60)
    clock = CentreClock(sc.contact_center, sc.policy, float(g0), 366)
    n = 366 * 1440
    minutes = pd.DatetimeIndex(pd.to_datetime((g0 + np.arange(n)) * 60, unit="s", utc=True))
    np.testing.assert_array_equal(clock.capacity(g0, n), agents_on_shift(sc, minutes))


def test_agents_on_shift_from_any_minute_and_the_week_cache_keys_on_the_staffing() -> None:
    """Windows starting at odd minutes across a daylight-saving change, and two staffings in turn in
    one process (the week is cached per process): each equals its own table read by zoneinfo."""
    from nurture_lab.simulation.calendar import CentreClock

    sc = nl.load_scenario("speed_to_lead")
    table = [[0] * 9 + [2] * 8 + [0] * 7] * 6 + [[0] * 24]
    g0 = int(pd.Timestamp("2026-03-05 17:23", tz="UTC").timestamp() // 60)  # 3 days before the change
    n = 9 * 1440 + 17
    minutes = pd.DatetimeIndex(pd.to_datetime((g0 + np.arange(n)) * 60, unit="s", utc=True))
    for cc in (nl.ContactCenter(agents=table), nl.ContactCenter(agents=5), nl.ContactCenter(agents=table)):
        for days in ((0, 1, 2, 3, 4), (2, 5)):
            s = dataclasses.replace(sc, contact_center=cc, policy=dataclasses.replace(sc.policy, staffed_days=days))
            clock = CentreClock(cc, s.policy, float(g0 - 1441), 12)
            got = clock.capacity(g0, n)
            np.testing.assert_array_equal(got, agents_on_shift(s, minutes))
            assert not clock.week.flags.writeable and got.flags.writeable


@pytest.mark.parametrize("agents", [1, 3])
def test_inbound_calls_answered_as_a_loop_over_every_minute_would(agents: int) -> None:
    """Inbound calls ringing in bursts: answered exactly when a minute-by-minute count of the agents
    on shift and the answered calls still on (each ``connected`` minutes) leaves one free, in ring order."""
    from nurture_lab.simulation.calls import centre_of

    sc = nl.load_scenario("speed_to_lead")
    sc = dataclasses.replace(sc, contact_center=dataclasses.replace(sc.contact_center, agents=agents))
    g0 = float(pd.Timestamp("2026-03-02 12:00", tz="UTC").timestamp() // 60)
    made = centre_of(sc, g0, 10)
    assert made is not None
    q = made[1]
    rng = np.random.default_rng(5)
    ring = g0 + np.sort(rng.choice(np.arange(0.0, 6 * 1440, 3.7), 3000)) + rng.random(3000)
    ring = rng.permutation(ring)  # not in time order
    agents_then = q.agents[: q.n].copy()
    got = q.inbound(ring)
    h, minute = q.mdl.connected, (np.ceil(ring) - g0).astype(np.int64)
    on_call = np.zeros(q.n + h + 1, dtype=np.int64)
    want = np.zeros(ring.size, dtype=bool)
    for m in np.unique(minute):
        for i in np.flatnonzero(minute == m):  # ring order within a minute: the batch's order
            if agents_then[m] - on_call[m] > 0:
                want[i] = True
                on_call[m : m + h] += 1
    assert 0 < want.sum() < want.size
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(q.busy[: q.n], on_call[: q.n])

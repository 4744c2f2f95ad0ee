from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import nurture_lab as nl
from nurture_lab.scenario import Policy, Step
from nurture_lab.simulation.calendar import next_in_window
from nurture_lab.simulation.engine import potential_outcomes
from tests.simulation.invariants import check_invariants


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_policy_invariants_hold_for_any_seed(speed: nl.Scenario, seed: int) -> None:
    check_invariants(nl.simulate(speed, seed=seed, n_leads=3000, truth=False))


def test_policy_invariants_with_strict_policy(tiny: nl.Scenario) -> None:
    pol = Policy(
        opt_out_scope="channel",
        sensitive_content_action="block",
        handoff_failure_rate=0.3,
        handoff_failure_mode="duplicate",
    )
    arms = tuple(
        dataclasses.replace(a, steps=tuple(dataclasses.replace(s, owner=f"team{i % 2}") for i, s in enumerate(a.steps)))
        for a in tiny.experiment.arms
    )
    sc = dataclasses.replace(tiny, policy=pol, experiment=dataclasses.replace(tiny.experiment, arms=arms))
    res = nl.simulate(sc, seed=5, n_leads=4000, truth=False)
    check_invariants(res)
    assert (res.touches["reason"] == "sensitive_blocked").any()
    dup = res.touches[res.touches["duplicate"]]
    assert (dup["status"] == "sent").any() and dup["reason"].astype(str).str.contains("handoff_duplicate").any()
    default = nl.simulate(tiny, seed=5, n_leads=4000, truth=False)  # default: replace
    check_invariants(default)
    t = default.touches.merge(default.leads[["lead_id", "service_line", "confidential"]], on="lead_id")
    rep = t[t["reason"].astype(str).str.contains("sensitive_replaced")]
    assert len(rep) > 0 and (rep["status"] == "sent").all() and (rep["content"] == "generic").all()
    assert ((rep["service_line"] == "behavioral_health") | rep["confidential"]).all()
    assert set(rep["channel"].astype(str)) <= {"sms", "email", "call"}


def test_policy_log_has_the_expected_reasons(speed_run: nl.SimulationResult) -> None:
    check_invariants(speed_run)
    reasons = set(speed_run.touches["reason"].astype(str))
    for r in ("quiet_hours", "staffed_hours", "no_consent", "booked", "lost", "confidential", "send_window"):
        assert r in reasons, r


def test_outcome_columns(speed_run: nl.SimulationResult) -> None:
    L = speed_run.leads
    for c in (
        "arm",
        "first_response_minutes",
        "contacted",
        "qualified",
        "booked",
        "booked_at",
        "days_to_book",
        "booked_7d",
        "booked_30d",
        "attended",
        "opted_out",
        "lost",
        "n_touches",
        "staff_minutes",
    ):
        assert c in L, c
    assert (L["booked_30d"] <= L["booked"]).all() and (L["booked_7d"] <= L["booked_30d"]).all()
    assert (L["attended"] <= L["booked"]).all() and (L["qualified"] <= L["contacted"]).all()
    assert not (L["booked"] & L["lost"]).any()
    assert L.loc[L["booked"], "days_to_book"].between(0, 60).all()
    sent = speed_run.touches[speed_run.touches["status"] == "sent"].groupby("lead_id").size()
    assert (L.set_index("lead_id")["n_touches"] == sent.reindex(L["lead_id"]).fillna(0).to_numpy()).all()
    # plausible levels (DOMAIN.md: ~40% of inbound healthcare leads book [VENDOR]; no-show ~23% [PR])
    assert 0.15 < L["booked"].mean() < 0.5
    no_show = 1 - L.loc[L["booked"], "attended"].mean()
    assert 0.1 < no_show < 0.4


def test_faster_first_call_means_more_contact_and_bookings(speed_run: nl.SimulationResult) -> None:
    eff = speed_run.true_effect
    assert eff("contacted", "within_5_min") > eff("contacted", "within_1_hour") > 0
    assert eff("booked_30d", "within_5_min") > eff("booked_30d", "within_1_hour") > 0
    assert eff("lost", "within_5_min") < 0
    t = speed_run.truth
    assert (t.loc[(t.arm == "next_business_day"), "true_diff"] == 0).all()


def test_more_touches_mean_more_opt_outs(tiny: nl.Scenario) -> None:
    sms = Step(channel="sms", content="booking_link", delay_minutes=2880)
    base = tiny.experiment.arm("slow")
    more = dataclasses.replace(base, name="more", steps=base.steps + (sms,) * 4)
    exp = dataclasses.replace(tiny.experiment, arms=(base, more))
    res = nl.simulate(dataclasses.replace(tiny, experiment=exp), seed=2, n_leads=40_000)
    assert res.true_effect("opted_out", "more") > 0.005
    assert res.true_effect("n_touches", "more") > 0.5


def test_relevant_content_raises_bookings_in_its_segment(tiny: nl.Scenario) -> None:
    base = tiny.experiment.arm("slow")
    steps = list(base.steps)
    steps[3] = dataclasses.replace(steps[3], content="prep_guide")
    other = dataclasses.replace(base, name="prep", steps=tuple(steps))
    exp = dataclasses.replace(tiny.experiment, arms=(base, other), control="prep")
    pot = potential_outcomes(dataclasses.replace(tiny, experiment=exp), seed=3, n_leads=100_000)
    pivot = pot.pivot_table(index="lead_id", columns="arm", values="booked", aggfunc="first")
    seg = pot.drop_duplicates("lead_id").set_index("lead_id")["coverage"]
    d = pivot["slow"].astype(int) - pivot["prep"].astype(int)
    diff = d.groupby(seg, observed=True).mean()
    # coverage_faq speaks to self-pay, Medicaid and Marketplace leads, not to the commercially insured:
    # with common random numbers the effect outside its segments is exactly zero
    assert diff["commercial"] == 0 and diff["medicare"] == 0
    rel = d[seg.reindex(d.index).isin(["self_pay", "medicaid", "marketplace"]).to_numpy()]
    assert rel.mean() > 0 and diff["self_pay"] > 0
    assert rel.mean() / (rel.std() / np.sqrt(len(rel))) > 3  # paired t statistic


def test_identical_arm_has_true_effect_zero_and_estimate_near_zero(tiny: nl.Scenario) -> None:
    a = tiny.experiment.arm("slow")
    twin = dataclasses.replace(a, name="twin")
    exp = dataclasses.replace(tiny.experiment, arms=(a, twin), control="slow")
    res = nl.simulate(dataclasses.replace(tiny, experiment=exp), seed=8, n_leads=20_000)
    t = res.truth
    assert (t.loc[t.arm == "twin", "true_diff"] == 0).all()
    g = res.leads.groupby("arm", observed=True)["booked_30d"].agg(["sum", "count"])
    p = stats.chi2_contingency(np.c_[g["sum"], g["count"] - g["sum"]]).pvalue
    assert p > 0.001


def test_same_seed_same_frames(tiny: nl.Scenario) -> None:
    a = nl.simulate(tiny, seed=4, n_leads=3000)
    b = nl.simulate(tiny, seed=4, n_leads=3000)
    pd.testing.assert_frame_equal(a.leads, b.leads)
    pd.testing.assert_frame_equal(a.touches, b.touches)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = nl.simulate(tiny, seed=5, n_leads=3000)
    assert not a.leads["booked"].equals(c.leads["booked"])


def test_parallel_run_equals_serial(tiny: nl.Scenario) -> None:
    serial = nl.simulate(tiny, seed=6, n_leads=60_000)  # two chunks
    with ProcessPoolExecutor(2) as ex:
        par = nl.simulate(tiny, seed=6, n_leads=60_000, executor=ex)
    pd.testing.assert_frame_equal(serial.leads, par.leads)
    pd.testing.assert_frame_equal(serial.touches, par.touches)
    pd.testing.assert_frame_equal(serial.truth, par.truth)


def test_holdout_arm_gets_no_touches(tiny_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "h.toml"
    p.write_text(tiny_path.read_text() + "\n[arms.holdout]\nholdout = true\n")
    res = nl.simulate(nl.load_scenario(p), seed=1, n_leads=6000)
    held = res.leads[res.leads["arm"] == "holdout"]
    assert len(held) == 2000
    assert not res.touches["lead_id"].isin(held["lead_id"]).any()
    assert held["booked"].mean() > 0  # self-booking still happens
    assert res.true_effect("booked", "holdout") < 0


def test_assignment_is_stratified_and_follows_allocation(speed_run: nl.SimulationResult) -> None:
    ct = pd.crosstab(speed_run.leads["service_line"], speed_run.leads["arm"])
    assert (ct.max(axis=1) - ct.min(axis=1)).max() <= 2 * 1  # per chunk at most one off per line


def test_quiet_hours_hold_across_daylight_saving_changes(speed: nl.Scenario) -> None:
    # arrivals in the three weeks before the US spring-forward (2026-03-08): sends straddle the change
    pop = dataclasses.replace(speed.population, start_date="2026-02-23", arrival_days=14)
    res = nl.simulate(dataclasses.replace(speed, population=pop), seed=3, n_leads=6000, truth=False)
    sent = res.touches[res.touches["status"] == "sent"]
    assert (sent["sent_at"] > pd.Timestamp("2026-03-09", tz="UTC")).sum() > 1000
    check_invariants(res)


def test_next_in_window_crosses_days_and_weekends() -> None:
    days = np.array([True] * 5 + [False] * 2)
    fri_2130 = (1 * 1440) + 21.5 * 60  # 1970-01-02 is a Friday
    out = next_in_window(np.array([fri_2130]), 8 * 60, 18 * 60, days)
    assert out[0] == (4 * 1440) + 8 * 60  # Monday 8:00
    inside = 1 * 1440 + 9 * 60
    assert next_in_window(np.array([inside]), 8 * 60, 18 * 60, days)[0] == inside
    assert np.isnan(next_in_window(np.array([inside]), 10 * 60, 9 * 60, days)[0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (
            {"n_leads": 0},
            ValueError,
            r"The 'n_leads' parameter of simulate must be an int in the range \[1, 20000000\]. Got 0",
        ),
        ({"seed": "x"}, TypeError, r"'seed' parameter of simulate must be an int"),
    ],
)
def test_bad_arguments(tiny: nl.Scenario, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        nl.simulate(tiny, **kwargs)
    with pytest.raises(TypeError, match="'scenario' parameter of simulate must be a Scenario"):
        nl.simulate("simulations/speed_to_lead.toml")  # type: ignore[arg-type]


def test_observed_only_run_equals_the_run_with_truth(tiny: nl.Scenario) -> None:
    full = nl.simulate(tiny, seed=9, n_leads=7000)
    fast = nl.simulate(tiny, seed=9, n_leads=7000, truth=False)
    pd.testing.assert_frame_equal(full.leads, fast.leads)
    key = ["lead_id", "step", "planned_at"]
    pd.testing.assert_frame_equal(
        full.touches.sort_values(key).reset_index(drop=True), fast.touches.sort_values(key).reset_index(drop=True)
    )


def _event_log(rng: np.random.Generator, n_leads: int, batches: int, defer_bits: list[int]) -> list:
    """A synthetic event log of one arm: ``batches`` batches of random rows over ``n_leads`` leads,
    deferral masks drawn from ``defer_bits``, some skipped, queue minutes in every other batch."""
    from nurture_lab.simulation.touchlog import log_rows

    log: list = []
    for b in range(batches):
        k = int(rng.integers(1, 40))
        planned = rng.uniform(0, 5000, k)
        skipped = rng.random(k) < 0.2
        call = b % 2 == 0
        log_rows(
            log,
            rng.integers(0, n_leads, k),
            step=b,
            ch=3 if call else 0,
            content=rng.integers(0, 3, k),
            owner=1,
            planned=planned,
            sent=np.where(skipped, np.nan, planned + rng.uniform(0, 90, k)),
            skip=np.where(skipped, 1 + rng.integers(0, 3, k), 0),
            defer=np.where(skipped, 0, rng.choice(defer_bits, k)),
            status=np.where(skipped, 1, 0),
            engaged=rng.random(k) < 0.3,
            queue=np.where(skipped, np.nan, rng.uniform(0, 30, k)) if call else None,
            handle=rng.uniform(0, 12, k) if call else None,
        )
    return log


def test_touch_log_written_in_place_equals_pandas_concat_of_chunk_frames(speed: nl.Scenario) -> None:
    """The centre run writes every chunk's event log straight into the touch log's columns (to hold
    the log once); the result equals pandas' concatenation of the chunks' frames, the reason
    categories unified to their sorted union where chunks' deferral combinations differ, and kept in
    order where they agree. A chunk with no touch (its leads all in a holdout arm) joins the others."""
    from nurture_lab.simulation.policy import BIT, REASONS
    from nurture_lab.simulation.touchlog import TouchColumns, log_size, touch_frame

    rng = np.random.default_rng(4)
    arms = speed.experiment.arms
    quiet, gap = BIT["quiet_hours"], BIT["min_gap"]
    for masks in ([[0, quiet], [0, quiet | gap], [], [0, gap]], [[0, quiet | gap], [0, quiet | gap]]):
        chunks = []
        for i, bits in enumerate(masks):
            n = 60 + 10 * i
            logs = [(a, _event_log(rng, n, 4, bits)) for a in range(2)] if bits else []
            chunks.append((np.arange(n, dtype=np.int64) + 1000 * i, rng.uniform(2.9e7, 2.91e7, n), logs))
        written = TouchColumns(speed, arms, sum(log_size(logs) for _i, _c, logs in chunks))
        for ids, created, logs in chunks:
            written.write(ids, created, logs)
        got = written.frame()
        frames = [touch_frame(speed, ids, created, arms, logs) for ids, created, logs in chunks]
        labels = [list(f["reason"].cat.categories) for f in frames]
        expected = pd.concat([f.astype({"reason": object}) for f in frames], ignore_index=True)
        agree = all(c == labels[0] for c in labels)
        cats = labels[0] if agree else sorted({x for c in labels for x in c})
        expected["reason"] = pd.Categorical(expected["reason"], categories=cats)
        assert len(got) > 0 and got["reason"].nunique() > 2 and got["queue_minutes"].isna().any()
        pd.testing.assert_frame_equal(got, expected)
        assert list(got["reason"].cat.categories[: len(REASONS)]) == (list(REASONS) if agree else cats[: len(REASONS)])


def test_times_from_minutes_agree_with_pandas() -> None:
    from nurture_lab.simulation.touchlog import utc_from_minutes

    base = np.array([29_000_000.0, 29_000_000.5, 29_100_000.0, 28_000_000.0])
    off = np.array([0.0, 1.25, np.nan, 59.999999])
    got = utc_from_minutes(base, off)
    ms = np.round((base + off) * 60_000)
    expected = pd.Series(pd.to_datetime(ms, unit="ms", utc=True)).dt.as_unit("ms")
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert got.isna().tolist() == [False, False, True, False]


def test_next_in_window_is_the_first_allowed_minute() -> None:
    """Against a walk over whole minutes (Python alone): random local times, windows (per lead, as
    the quiet hours are) and allowed weekdays, including a single allowed weekday and none."""
    rng = np.random.default_rng(8)
    for case in range(60):
        days = rng.random(7) < (0.15 if case % 4 == 0 else 0.6)
        if case % 10 == 0:
            days[:] = False
        local = np.floor(rng.uniform(0, 30 * 1440, 40))
        lo = rng.integers(0, 20, 40) * 60.0
        hi = lo + rng.integers(1, 6, 40) * 60.0
        got = next_in_window(local, lo, hi, days)
        for x, a, b, g in zip(local, lo, hi, got, strict=True):
            want = next(
                (t for t in range(int(x), int(x) + 15 * 1440) if days[(t // 1440 + 3) % 7] and a <= t % 1440 < b),
                None,
            )
            assert (np.isnan(g) and want is None) or g == want, (case, x, a, b, days)

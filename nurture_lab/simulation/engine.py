"""The cadence engine: a vectorised simulation of multi-channel follow-up.

Time unit: minutes since the lead's inquiry (``t``). Local wall-clock minutes are
``created_at + utc_offset + t``. Steps are processed in cadence order for all leads at once
(arrays, never a Python loop per lead); a lead's sends are monotone in time, so the state at a
send is known from the sends before it. Ties: a step planned at the same minute as the previous
one is sent after it.

Per step and lead: the policy layer first (stop states, consent, confidentiality, sensitive
content, ownership handoff, send window / quiet hours / staffed hours, frequency caps — each
skip or deferral logged with a reason), then delivery, engagement, opt-out, qualification and
booking. After the cadence: self-booking, loss to a competitor, the visit reminder and attendance.

Common random numbers: every random draw a lead meets at step slot ``k`` comes from the stream
``(seed, chunk, STEP, k)``, whatever the arm, so running every lead through every arm gives the
true effect of each arm, and an arm identical to the control has a true effect of exactly 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._memory import release_free_memory, small_pages
from .._parallel import DEFAULT_JOBS, map_tasks
from ..scenario.model import Arm, Scenario
from .calendar import DAY, WEEK
from .calls import CallTask, CentreView, centre_of, drive
from .contact_center import Queue, VirtualQueue
from .draws import (
    K_INBOUND,
    K_REMINDER,
    U_BOOK,
    U_DELIVER,
    U_DUP_DELIVER,
    U_DUP_ENGAGE,
    U_DUP_OPT_OUT,
    U_DUP_VOICEMAIL,
    U_ENGAGE,
    U_HANDOFF,
    U_OPT_OUT,
    U_READ,
    U_VOICEMAIL,
    Draws,
)
from .leads import Ids, Leads, subset_leads, timeline_days
from .policy import REASON_CODE, REASONS, Message, gate
from .population import IDENTITY_COLUMNS, make_leads_chunk
from .results import (
    OUTCOME_COLUMNS,
    SETTINGS,
    TRUTH_METRICS,
    SimulationResult,
    concat_cats,
    concat_columns,
    truth_in,
    truth_sums,
    truth_table,
)
from .state import CH, ArmState, loss_time
from .touchlog import (
    NOT_SELECTED,
    SENT,
    SKIPPED,
    TOUCH_COLUMNS,
    log_gated,
    log_rows,
    owner_categories,
    touch_columns,
    touch_frame,
    utc_from_minutes,
)

__all__ = ["OUTCOME_COLUMNS", "REASONS", "SETTINGS", "TOUCH_COLUMNS", "SimulationResult", "simulate", "truth_in"]

#: The most leads one run simulates (about 30 GB of memory with the touch log).
MAX_LEADS = 20_000_000
INF = np.inf


# --------------------------------------------------------------------------------------
# Result


# --------------------------------------------------------------------------------------
# One chunk, one arm


def _run_arm(
    sc: Scenario, arm: Arm, lead: Leads, uniforms: Draws, record: np.ndarray | None
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Run every lead of a chunk through one arm with unlimited staff (no contact centre)."""
    gen = _arm_gen(sc, arm, lead, uniforms, record)
    try:
        next(gen)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    raise AssertionError("an arm without a contact centre never waits for agents")


def _p_static(
    sc: Scenario, st: ArmState, channel: str, content: Any, idx: np.ndarray, pref_all: np.ndarray, replaced: Any = False
) -> np.ndarray:
    """The engagement probability of a message without its time-dependent factors (speed to lead and
    the lead's preferred hour), which the contact centre applies when an agent reaches the call."""
    beh, lead = sc.behaviour, st.lead
    cb = beh.channels[channel]
    rel = lead.relevant(content, idx) & ~np.asarray(replaced, dtype=bool)
    return (
        cb.engage_rate
        * lead.responsiveness[idx]
        * beh.fatigue ** st.n_sent[idx].astype(np.float64)
        * np.where(pref_all[idx] == CH[channel], beh.preferred_multiplier, 1.0)
        * np.where(rel, beh.relevance_multiplier, 1.0)
    )


def _inbound_conversation(sc: Scenario, st: ArmState, ans: np.ndarray, uniforms: Draws, centre: CentreView) -> None:
    """Inbound phone inquiries answered live: a conversation at the inquiry (contact, qualification, and a
    booking by staff as on any answered call)."""
    if ans.size == 0:
        return
    beh, lead = sc.behaviour, st.lead
    st.contacted[ans] = 0.0
    st.first_sent[ans] = 0.0
    st.staff[ans] += centre.handle["connected"]
    fit = lead.fit[ans]
    st.qualified_at[ans[fit]] = 0.0
    st.disqualified_at[ans[~fit]] = 0.0
    u = uniforms(K_INBOUND)[lead.pos[ans]]
    books = fit & (u[:, U_BOOK] < min(beh.book_rate, 1.0))
    b = ans[books]
    ready = np.maximum(st.decision[b], 0.0)
    when = np.where(st.decision[b] <= 0, 0.0, st.next_staffed(b, ready))
    when = np.where(np.isnan(when), INF, when)
    st.booked_at[b] = np.minimum(st.booked_at[b], when)


def _arm_gen(
    sc: Scenario,
    arm: Arm,
    lead: Leads,
    uniforms: Draws,
    record: np.ndarray | None,
    centre: CentreView | None = None,
    inbound: np.ndarray | None = None,
) -> Generator[CallTask, None, tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]]:
    """Run every lead of a chunk through one arm. ``record`` selects the leads whose touches are logged.

    With a contact centre (``centre``) every call waits for an agent: the generator yields each
    batch of calls (a :class:`CallTask`) and resumes once the shared queue has served it
    (:func:`_drive`). ``inbound`` per lead: 0 not an inbound phone inquiry, 1 answered live, 2 missed.

    Steps are taken in cadence order for all leads at once; every message goes through the
    policy gate (:func:`~nurture_lab.simulation.policy.gate`), which also spaces touches by
    ``min_gap_minutes``, so a lead's sends are increasing in time and the state at a send is
    known from the sends before it.
    """
    n = lead.n
    beh, pol = sc.behaviour, sc.policy
    horizon = sc.horizon_days * DAY
    st = ArmState(sc, lead, None if centre is None else centre.clock)
    pref_all = np.array([CH[c] for c in lead.cats["preferred_channel"]])[lead.codes["preferred_channel"]]
    last_event = np.zeros(n)  # anchor of "previous" steps: the previous step's send, else its plan
    log: list[dict[str, np.ndarray]] = []
    owners: dict[str, int] = {}
    content_codes = {c: i for i, c in enumerate(sc.contents)}
    owner_codes = {o: i for i, o in enumerate(owner_categories(sc))}
    generic = sc.contents["generic"]
    everyone = np.arange(n)
    rec = record if record is not None else None
    if inbound is not None and centre is not None:
        st.missed = inbound == 2
        _inbound_conversation(sc, st, np.flatnonzero(inbound == 1), uniforms, centre)

    for k, step in enumerate(arm.steps):
        ch = CH[step.channel]
        cb = beh.channels[step.channel]
        content = sc.contents[step.content]
        owner = owners.setdefault(step.owner, len(owners))
        planned_all = (
            np.full(n, float(step.delay_minutes)) if step.anchor == "inquiry" else last_event + step.delay_minutes
        )
        sel = lead.matches(step)
        if rec is not None and not sel.all():
            out = np.flatnonzero(~sel & rec)
            log_rows(
                log,
                out,
                step=k,
                ch=ch,
                content=content_codes[step.content],
                owner=owner_codes[step.owner],
                planned=planned_all[out],
                sent=np.nan,
                skip=0,
                defer=0,
                status=NOT_SELECTED,
            )
        idx = np.flatnonzero(sel)
        m = idx.size
        if m == 0:
            st.record_send(ch, idx, np.zeros(0), None)  # a step nobody gets: a column of no sends
            uniforms.done(k)
            continue
        u = uniforms(k)[lead.pos[idx]]
        failed = None
        if pol.handoff_failure_rate > 0:
            po = st.prev_owner[idx]
            failed = (po >= 0) & (po != owner) & (u[:, U_HANDOFF] < pol.handoff_failure_rate)
        msg = Message(
            "step",
            step.channel,
            idx,
            planned_all[idx],
            reveals=content.reveals_condition,
            window=step.window,
            if_no_response=step.if_no_response,
            if_qualified=step.if_qualified,
            handoff_failed=failed,
        )
        res = gate(msg, st, horizon)
        task = None
        if centre is not None and step.channel == "call":
            p0 = _p_static(sc, st, step.channel, content, idx, pref_all, res.replaced)
            task = CallTask(msg, st, horizon, res, p0, u[:, U_ENGAGE], u[:, U_VOICEMAIL], centre)
            yield task
        send = res.send
        t = np.where(send, res.t, planned_all[idx])
        eff_booking = np.where(res.replaced, generic.booking_multiplier, content.booking_multiplier)
        rel = lead.relevant(content, idx) & ~res.replaced
        educ = content.education & ~res.replaced

        # behaviour at the send
        delivered = send & (u[:, U_DELIVER] < cb.deliver_rate)
        hour = (lead.local(idx, t) % DAY) / 60.0
        speed = beh.speed_floor + (1 - beh.speed_floor) * np.exp2(-t / beh.speed_half_life_minutes)
        c_sent = st.n_sent[idx]
        p_eng = (
            cb.engage_rate
            * lead.responsiveness[idx]
            * speed
            * beh.fatigue ** c_sent.astype(np.float64)
            * np.where(pref_all[idx] == ch, beh.preferred_multiplier, 1.0)
            * np.where(np.abs(hour - lead.preferred_hour[idx]) <= 2, beh.preferred_hour_multiplier, 1.0)
            * np.where(rel, beh.relevance_multiplier, 1.0)
        )
        n_recent = st.count_sent(step.channel, idx, since=t - WEEK)
        p_opt = cb.opt_out_rate * (1 + beh.opt_out_frequency_slope * n_recent)
        opt_now = delivered & (u[:, U_OPT_OUT] < p_opt)
        if task is None:
            engaged = delivered & (u[:, U_ENGAGE] < np.minimum(p_eng, 1.0)) & ~opt_now
            st.staff[idx] += np.where(send, cb.staff_minutes, 0.0) + np.where(engaged, cb.staff_minutes_engaged, 0.0)
        else:  # the outcome was drawn when the agent reached the call; staff time is its handle time
            engaged = delivered & task.connected & ~opt_now
            st.staff[idx] += np.where(send, np.nan_to_num(task.handle), 0.0)
        st.opt_out(ch, idx, np.where(opt_now, t, INF))
        was_qualified = st.qualified_at[idx] <= t
        st.record_send(ch, idx, np.where(send, t, np.nan), owner)
        last_event[idx] = t

        fit_now = engaged & lead.fit[idx]
        for when_at, hit in (
            (st.contacted, engaged),
            (st.qualified_at, fit_now),
            (st.disqualified_at, engaged & ~fit_now),
        ):
            i = idx[hit]  # the first time it happened (leads are distinct within a step)
            when_at[i] = np.minimum(when_at[i], t[hit])
        # a qualified lead who only reads the message: no contact, but the content still works
        read = delivered & ~engaged & ~opt_now & was_qualified & (u[:, U_READ] < cb.read_rate)
        c_dec = st.decision[idx]
        if content.education:
            shrink = (fit_now | read) & rel & educ & (c_dec > t)
            c_dec = np.where(shrink, t + (c_dec - t) * beh.education_decision_factor, c_dec)
            st.decision[idx] = c_dec
        p_book = beh.book_rate * eff_booking * np.where(rel, beh.relevance_multiplier, 1.0)
        p_book = np.where(read, p_book * beh.read_book_factor, p_book)
        books = (fit_now | read) & (u[:, U_BOOK] < np.minimum(p_book, 1.0))
        # who books: on the call itself when the lead is ready; a booking link books online at any
        # hour; otherwise staff book in staffed hours once the lead is ready
        ready = np.maximum(t, c_dec)
        online = eff_booking > 1.0
        on_call = (step.channel == "call") & (c_dec <= t)
        when = ready.copy()
        by_staff = np.flatnonzero(books & ~(online | on_call))
        when[by_staff] = st.next_staffed(idx[by_staff], ready[by_staff])
        web = np.flatnonzero(books & online & ~on_call)
        when[web] = st.next_waking(idx[web], ready[web])
        when = np.where(np.isnan(when), INF, when)
        new = books & (when < st.booked_at[idx])
        st.booked_at[idx[new]] = when[new]

        dup = None
        if failed is not None and pol.handoff_failure_mode == "duplicate" and (send & failed).any():
            # the duplicate is a message like any other: through the gate, drawn like any send
            d = send & failed
            d_idx = idx[d]
            dmsg = dataclasses.replace(msg, kind="duplicate", idx=d_idx, planned=t[d], handoff_failed=None)
            dres = gate(dmsg, st, horizon)
            dtask = None
            if centre is not None and step.channel == "call":
                # the duplicate call takes an agent too; its outcome uses the duplicate's own draws
                dp = _p_static(sc, st, step.channel, content, d_idx, pref_all, res.replaced[d])
                dtask = CallTask(dmsg, st, horizon, dres, dp, u[d][:, U_DUP_ENGAGE], u[d][:, U_DUP_VOICEMAIL], centre)
                yield dtask
            dsend = dres.send
            d_t = np.where(dsend, dres.t, np.nan)
            du = u[d]
            d_del = dsend & (du[:, U_DUP_DELIVER] < cb.deliver_rate)
            d_opt = d_del & (du[:, U_DUP_OPT_OUT] < p_opt[d] * (1 + beh.opt_out_frequency_slope))
            st.opt_out(ch, d_idx, np.where(d_opt, d_t, INF))
            st.staff[d_idx] += np.where(dsend, cb.staff_minutes if dtask is None else np.nan_to_num(dtask.handle), 0.0)
            st.record_send(ch, d_idx, d_t, None)
            last_event[d_idx] = np.where(dsend, d_t, last_event[d_idx])
            dup = (d, d_idx, dres, d_del, d_opt, dtask)

        if rec is not None:
            where = {"step": k, "ch": ch, "owner": owner_codes[step.owner]}
            codes = (content_codes[step.content], content_codes["generic"])
            q = {} if task is None else {"queue": task.queue, "handle": task.handle}
            log_gated(
                log,
                rec,
                idx,
                res,
                msg.planned,
                where,
                codes,
                delivered=delivered,
                engaged=engaged,
                opted_out=opt_now,
                **q,
            )
            if dup is not None:
                d, d_idx, dres, d_del, d_opt, dtask = dup
                dq = {} if dtask is None else {"queue": dtask.queue, "handle": dtask.handle}
                log_gated(
                    log,
                    rec,
                    d_idx,
                    dres,
                    dmsg.planned,
                    where,
                    codes,
                    delivered=d_del,
                    opted_out=d_opt,
                    duplicate=True,
                    **dq,
                )

    # after the cadence: loss, booking, the visit (in clinic hours)
    booked_at = st.booked_at
    loss = loss_time(lead.hazard_per_min, lead.clock, st.contacted, st.mult)
    booked = (booked_at < loss) & (booked_at <= horizon)
    lost = (loss <= horizon) & ~(booked_at < loss)
    booked_min = np.where(booked, booked_at, np.nan)
    clinic_days = np.zeros(7, dtype=bool)
    clinic_days[list(pol.clinic_days)] = True
    ca, cb_ = pol.clinic_hours[0] * 60, pol.clinic_hours[1] * 60
    visit = np.nan_to_num(booked_min + lead.appt_min, nan=0.0)
    for _ in range(3):  # a daylight-saving change in between is caught by the next pass
        visit = st.next_local(everyone, visit, ca, cb_, clinic_days)
    visit = np.where(booked, visit, np.nan)
    reminded = np.zeros(n, dtype=bool)
    if arm.reminder is not None and booked.any():
        rch = arm.reminder.channel
        ri = CH[rch]
        r_idx = np.flatnonzero(booked)
        rt = np.maximum(visit[r_idx] - arm.reminder.hours_before * 60, booked_min[r_idx])
        rmsg = Message("reminder", rch, r_idx, rt, reveals=sc.contents["reminder"].reveals_condition)
        rres = gate(rmsg, st, INF)
        rtask = None
        if centre is not None and rch == "call":
            ur = uniforms(K_REMINDER)[lead.pos[r_idx]]
            rp = _p_static(sc, st, rch, sc.contents["reminder"], r_idx, pref_all)
            rtask = CallTask(rmsg, st, INF, rres, rp, ur[:, U_ENGAGE], ur[:, U_VOICEMAIL], centre)
            yield rtask
        # a reminder must come before the visit, by at least a minute (not at the same instant after rounding)
        too_late = rres.send & ~(rres.t <= visit[r_idx] - 1.0)
        skip = np.where(too_late, REASON_CODE["after_visit"], rres.skip)
        r_send = skip == 0
        r_t = np.where(r_send, rres.t, np.nan)
        st.record_send(ri, r_idx, r_t, None)
        st.staff[r_idx] += np.where(
            r_send, beh.channels[rch].staff_minutes if rtask is None else np.nan_to_num(rtask.handle), 0.0
        )
        reminded[r_idx] = r_send
        if rec is not None:
            rows = rec[r_idx]
            log_rows(
                log,
                r_idx[rows],
                step=-1,
                ch=ri,
                content=content_codes["reminder"],
                owner=owner_codes["scheduling"],
                planned=rt[rows],
                sent=r_t[rows],
                skip=skip[rows],
                defer=rres.defer[rows],
                status=np.where(r_send, SENT, SKIPPED)[rows],
                delivered=r_send[rows],
                **({} if rtask is None else {"queue": rtask.queue[rows], "handle": rtask.handle[rows]}),
            )
    odds0 = lead.base_no_show / (1 - lead.base_no_show)
    weeks = np.nan_to_num(visit - booked_min) / WEEK
    odds = odds0 * beh.no_show_odds_per_week ** (weeks - 1) * np.where(reminded, beh.reminder_odds_ratio, 1.0)
    attended = booked & (lead.show_u >= odds / (1 + odds))
    days_to_book = booked_min / DAY
    first_sent, first_call, contacted = st.first_sent, st.first_call, st.contacted
    return {
        "first_response_minutes": np.where(np.isfinite(first_sent), first_sent, np.nan),
        "first_call_minutes": np.where(np.isfinite(first_call), first_call, np.nan),
        "contacted": np.isfinite(contacted),
        "contacted_minutes": np.where(np.isfinite(contacted), contacted, np.nan),
        "qualified": np.isfinite(st.qualified_at),
        "booked": booked,
        "booked_min": booked_min,
        "visit_min": visit,
        "days_to_book": days_to_book,
        "booked_7d": booked & (days_to_book <= 7),
        "booked_30d": booked & (days_to_book <= 30),
        "attended": attended,
        "reminded": reminded,
        "opted_out": np.isfinite(st.opted_any),
        "opted_out_min": np.where(np.isfinite(st.opted_any), st.opted_any, np.nan),
        "lost": lost,
        "lost_min": np.where(lost, loss, np.nan),
        "n_touches": st.n_sent,
        "staff_minutes": st.staff,
        "missed_call": st.missed,
    }, log


# --------------------------------------------------------------------------------------
# Assignment and chunks


def assign(sc: Scenario, leads: pd.DataFrame, seed: int, chunk: int) -> np.ndarray:
    """Random assignment stratified by service line with the planned allocation (arm index per lead).

    Within each service line of the chunk, arm counts follow the allocation by largest
    remainder and labels are randomly permuted.
    """
    rng = _random.stream(seed, chunk, _random.ASSIGNMENT)
    n = len(leads)
    alloc = np.array(list(sc.experiment.allocation.values()))
    sl = leads["service_line"].cat.codes.to_numpy()
    key = rng.random(n)
    out = np.zeros(n, dtype=np.int64)
    for s in np.unique(sl):
        idx = np.flatnonzero(sl == s)
        m = idx.size
        exact = alloc * m
        counts = np.floor(exact).astype(np.int64)
        rem = m - counts.sum()
        order = np.argsort(-(exact - counts) + rng.random(len(alloc)) * 1e-9, kind="stable")
        counts[order[:rem]] += 1
        labels = np.repeat(np.arange(len(alloc)), counts)
        out[idx[np.argsort(key[idx], kind="stable")]] = labels
    return out


@dataclass(frozen=True)
class _ChunkJob:
    scenario: Scenario
    seed: int
    chunk: int
    first_id: int
    n: int
    truth: bool
    potential: bool = False


def _simulate_chunk(job: _ChunkJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sc = job.scenario
    df = make_leads_chunk(sc, job.seed, job.chunk, job.first_id, job.n)
    lead = Leads.from_frame(df, sc)
    arm_idx = assign(sc, df, job.seed, job.chunk)
    arms = sc.experiment.arms
    logs: list[tuple[int, list[dict[str, np.ndarray]]]] = []
    truth_rows = []
    uniforms = Draws(job.seed, job.chunk, lead.n)
    parts: list[dict[str, np.ndarray]] = []
    positions: list[np.ndarray] = []
    # observed-only runs: gather the chunk once in arm order, so each arm is a slice (views, no copies)
    order = np.argsort(arm_idx, kind="stable")
    bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
    by_arm = None if job.truth else subset_leads(lead, order)
    for a, arm in enumerate(arms):
        mine = arm_idx == a
        pos = order[bounds[a] : bounds[a + 1]]
        if job.truth:
            out, log = _run_arm(sc, arm, lead, uniforms, mine)
            parts.append({k: v[pos] for k, v in out.items()})
        else:
            assert by_arm is not None
            sub = subset_leads(by_arm, slice(bounds[a], bounds[a + 1]))
            out_sub, log = _run_arm(sc, arm, sub, uniforms, np.ones(pos.size, dtype=bool))
            for d in log:
                d["lead_idx"] = pos[d["lead_idx"]]
            parts.append(out_sub)
            out = out_sub
        positions.append(pos)
        logs.append((a, log))
        if job.potential:
            frame = pd.DataFrame({m: out[m] for m in TRUTH_METRICS})
            frame.insert(0, "arm", arm.name)
            frame.insert(0, "lead_id", lead.lead_id)
            truth_rows.append(frame)
        elif job.truth:
            # unlimited staff: nothing is shared, the experiment and the rollout settings coincide
            for setting in SETTINGS:
                truth_rows += truth_sums(arm.name, out, lead, setting)
    if job.potential:
        return df, pd.DataFrame(), pd.concat(truth_rows, ignore_index=True)
    leads, touches = _observed_frames(sc, df, lead, arm_idx, parts, positions, logs)
    truth = pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()
    return leads, touches, truth


def _observed_leads(
    sc: Scenario,
    df: pd.DataFrame,
    lead: Leads | Ids,
    arm_idx: np.ndarray,
    parts: list[dict[str, np.ndarray]],
    positions: list[np.ndarray],
) -> pd.DataFrame:
    """The leads frame of one chunk: each lead's outcome under its own arm."""
    arms = sc.experiment.arms
    inverse = np.empty(lead.n, dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(lead.n)
    observed = {key: np.concatenate([p[key] for p in parts])[inverse] for key in parts[0]}
    leads = df
    leads.insert(1, "arm", pd.Categorical.from_codes(arm_idx, categories=[a.name for a in arms]))
    for key, v in observed.items():
        if key.endswith("_min"):
            leads[key[:-4] + "_at"] = utc_from_minutes(lead.created_min, v).array
        else:
            leads[key] = v
    return leads


def _observed_frames(
    sc: Scenario,
    df: pd.DataFrame,
    lead: Leads,
    arm_idx: np.ndarray,
    parts: list[dict[str, np.ndarray]],
    positions: list[np.ndarray],
    logs: list[tuple[int, list[dict[str, np.ndarray]]]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads frame (each lead's outcome under its own arm) and the touch log of one chunk."""
    leads = _observed_leads(sc, df, lead, arm_idx, parts, positions)
    return leads, touch_frame(sc, lead.lead_id, lead.created_min, sc.experiment.arms, logs)


def _observed_centre(sc: Scenario, per_chunk: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads frame and the touch log of a run with a contact centre (every chunk in this process).

    Each chunk's event log is turned into touch-log columns and let go; the columns are then
    joined column by column, each chunk's piece let go as soon as it has joined (a frame per chunk
    and a concatenated frame would hold the log twice).
    """
    frames, columns = [], []
    let_go = 0  # bytes of event log let go since memory was last handed back
    while per_chunk:
        df, lead, arm_idx, parts, positions, logs, _first = per_chunk.pop(0)
        frames.append(_observed_leads(sc, df, lead, arm_idx, parts, positions))
        columns.append(touch_columns(sc, lead.lead_id, lead.created_min, sc.experiment.arms, logs))
        let_go += sum(v.nbytes for _a, log in logs for d in log for v in d.values() if v.strides[:1] != (0,))
        del logs, parts
        if let_go >= _TRIM_BYTES:  # not after every chunk: pages handed back are paid for when used again
            release_free_memory()
            let_go = 0
    return concat_cats(frames), concat_columns(columns)


#: Event-log bytes let go between two hand-backs of free memory to the OS (see :mod:`nurture_lab._memory`).
_TRIM_BYTES = 64 * 2**20


def _simulate_centre(
    sc: Scenario, seed: int, n_leads: int, truth: bool, progress: bool = False, frames: bool = True
) -> tuple[list[Any], pd.DataFrame]:
    """A run with a contact centre: every chunk and arm in lockstep in this process, one shared queue.

    Returns per chunk ``(df, lead, arm_idx, parts, positions, logs)`` (the observed run) and the
    truth sums. Same seed, same result whatever ``jobs``: the queue is one deterministic pass.
    """
    arms = sc.experiment.arms
    chunks: list[tuple[int, int, pd.DataFrame, Any, np.ndarray]] = []  # (chunk, first id, frame, leads, arms)
    for c, first, n in _random.chunks(n_leads):
        df = make_leads_chunk(sc, seed, c, first, n, identities=frames)
        lead = Leads.from_frame(df, sc)
        chunks.append((c, first, df, lead, assign(sc, df, seed, c)))
    first_abs = min(float(ch[3].created_min.min()) for ch in chunks)
    last_abs = max(float(ch[3].created_min.max()) for ch in chunks)
    span = (last_abs - first_abs) / DAY + max(timeline_days(sc, ch[2]) for ch in chunks) + 2
    cc = sc.contact_center
    assert cc is not None

    def fresh() -> tuple[CentreView, Queue]:
        made = centre_of(sc, first_abs, span)
        assert made is not None
        return made

    ctx, q = fresh()
    # inbound phone inquiries ring first (round 0): answered live when an agent is free that minute
    phones = [
        (ch[2]["source"] == "phone").to_numpy() if cc.inbound_calls else np.zeros(ch[3].n, dtype=bool) for ch in chunks
    ]
    arrivals = np.concatenate([ch[3].created_min[p] for ch, p in zip(chunks, phones, strict=True)])
    answered = q.inbound(arrivals)
    inbound, lo = [], 0
    for ch, p in zip(chunks, phones, strict=True):
        code = np.zeros(ch[3].n, dtype=np.int8)
        k = int(p.sum())
        code[p] = np.where(answered[lo : lo + k], 1, 2)
        lo += k
        inbound.append(code)

    def uniforms_for(c: int, n: int, steps: list[int]) -> Draws:
        users: dict[int, int] = {}
        for n_steps in steps:
            for k in range(n_steps):
                users[k] = users.get(k, 0) + 1
        return Draws(seed, c, n, users)

    # the observed run: each arm's leads of each chunk, one generator each, one queue
    gens, meta = [], []
    for i, (c, _first, _df, lead, arm_idx) in enumerate(chunks):
        order = np.argsort(arm_idx, kind="stable")
        bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
        by_arm = subset_leads(lead, order)
        uni = uniforms_for(c, lead.n, [len(a.steps) for a in arms])
        for a, arm in enumerate(arms):
            pos = order[bounds[a] : bounds[a + 1]]
            sub = subset_leads(by_arm, slice(bounds[a], bounds[a + 1]))
            rec = np.ones(pos.size, dtype=bool) if frames else None
            gens.append(_arm_gen(sc, arm, sub, uni, rec, ctx, inbound[i][pos]))
            meta.append((i, a, pos))
        if not truth:  # the arms hold their own copies: keep only what the observed frames need
            chunks[i] = (c, _first, _df, Ids(lead.n, lead.lead_id, lead.created_min), arm_idx)
        del lead, by_arm
    outs = drive(gens, q)
    release_free_memory()  # the queue rounds' call batches and gate temporaries, before the frames are built
    per_chunk: list[Any] = []
    for i, (_c, first, df, lead, arm_idx) in enumerate(chunks):
        parts, positions, logs = [], [], []
        for (j, a, pos), (out, log) in zip(meta, outs, strict=True):
            if j != i:
                continue
            for d in log:
                d["lead_idx"] = pos[d["lead_idx"]]
            parts.append(out)
            positions.append(pos)
            logs.append((a, log))
        per_chunk.append((df, lead, arm_idx, parts, positions, logs, first))
    truth_rows: list[pd.DataFrame] = []
    if truth:
        # every lead through every arm: with the experiment's queue as the arms shared it
        # (``experiment``), and alone with the same staff (``rollout``)
        for arm in arms:
            for setting in ("experiment", "rollout"):
                if setting == "experiment":
                    server: Queue | VirtualQueue = VirtualQueue(q)
                else:
                    _, server = fresh()
                    server.inbound(arrivals)
                tg = [
                    _arm_gen(sc, arm, lead, uniforms_for(c, lead.n, [len(arm.steps)]), None, ctx, inbound[i])
                    for i, (c, _f, _d, lead, _a) in enumerate(chunks)
                ]
                for (_c, _f, _d, lead, _a), (out, _) in zip(chunks, drive(tg, server), strict=True):
                    truth_rows += truth_sums(arm.name, out, lead, setting)
    return per_chunk, pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()


def simulate(
    scenario: Scenario,
    seed: int = 0,
    n_leads: int = 10_000,
    *,
    truth: bool = True,
    executor: Executor | None = None,
    jobs: int | None = DEFAULT_JOBS,
    progress: bool = False,
) -> SimulationResult:
    """Simulate the scenario's experiment.

    Args:
        scenario: a loaded :class:`Scenario`.
        seed: the run's seed (int >= 0). Same seed, same frames, on one process or many.
        n_leads: number of leads (int >= 1), simulated in chunks of ``CHUNK_SIZE``.
        truth: also run every lead through every arm to compute ``.truth`` (costs one pass per arm).
        executor: an optional ``concurrent.futures.Executor`` to spread chunks over
            (processes, or a Dask ``Client.get_executor()``); results are identical to serial.
        jobs: without an executor, the number of worker processes (default ``None``: every core;
            1 = in this process). A run of one chunk always runs in this process.
        progress: show a tqdm progress bar over chunks.

    Returns:
        A :class:`SimulationResult` with ``.leads``, ``.touches`` and ``.truth``.

    Raises:
        ParameterTypeError: ``scenario`` is not a Scenario (also a ``TypeError``).
        ParameterError: ``n_leads``, ``seed`` or ``jobs`` out of range (also a ``ValueError``).

    Example:
        >>> import nurture_lab as nl
        >>> sc = nl.load_scenario("speed_to_lead")  # doctest: +SKIP
        >>> nl.simulate(sc, seed=7, n_leads=2000)  # doctest: +SKIP
        SimulationResult(scenario='speed_to_lead', seed=7, n_leads=2000, ...)
    """
    from ..errors import check_param

    check_param(
        "simulate", "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)"
    )
    n_leads = check_param("simulate", "n_leads", n_leads, kind="int", low=1, high=MAX_LEADS)
    seed = _random.check_seed(seed, "simulate")
    for name, share in scenario.experiment.allocation.items():
        if round(n_leads * share) < 1:
            from ..errors import ParameterError

            raise ParameterError(
                f"Arm {name!r} of scenario {scenario.name!r} would get 0 of {n_leads:,} leads "
                f"(allocation share {share:.2g}); simulate more leads or raise its allocation."
            )
    if scenario.contact_center is not None:
        with small_pages():  # thousands of fresh mid-size arrays: no huge-page stalls (see _memory)
            per_chunk, tr_parts = _simulate_centre(scenario, seed, n_leads, truth, progress)
            leads, touches = _observed_centre(scenario, per_chunk)
        tr = truth_table([tr_parts] if truth else [], scenario)
        return SimulationResult(scenario, seed, n_leads, leads, touches, tr)
    tasks = [_ChunkJob(scenario, seed, c, first, n, truth) for c, first, n in _random.chunks(n_leads)]
    results = map_tasks(
        _simulate_chunk,
        tasks,
        caller="simulate",
        jobs=jobs,
        executor=executor,
        progress=progress,
        desc="simulate",
        unit="chunk",
    )
    leads = concat_cats([r[0] for r in results])
    touches = concat_cats([r[1] for r in results])
    tr = truth_table([r[2] for r in results], scenario)
    return SimulationResult(scenario, seed, n_leads, leads, touches, tr)


def potential_outcomes(scenario: Scenario, seed: int = 0, n_leads: int = 10_000) -> pd.DataFrame:
    """Every lead's outcome under every arm (common random numbers): ``lead_id, arm, <metrics>``.

    The leads are those of ``simulate(scenario, seed, n_leads)``; this is what ``.truth`` averages.
    Without a contact centre only (with one, a lead's outcome depends on every other lead's calls).
    """
    if scenario.contact_center is not None:
        from ..errors import ParameterError

        raise ParameterError(
            f"potential_outcomes: scenario {scenario.name!r} has a [contact_center], where one lead's outcome "
            "depends on the others' calls; use simulate(...).truth (settings 'experiment' and 'rollout')."
        )
    jobs = [_ChunkJob(scenario, seed, c, first, n, True, True) for c, first, n in _random.chunks(n_leads)]
    parts = [_simulate_chunk(j) for j in jobs]
    pot = pd.concat([p[2] for p in parts], ignore_index=True)
    leads = pd.concat([p[0] for p in parts], ignore_index=True)
    seg = leads.drop(columns=list(IDENTITY_COLUMNS))
    return pot.merge(seg, on="lead_id", how="left")


def simulate_stats(
    scenario: Scenario, seed: int, n_leads: int, metrics: Iterable[str], looks: int = 1
) -> dict[str, dict[str, float]]:
    """A lean observed-only run for replications: per arm and metric, ``n``, ``sum`` and ``sumsq``.

    Same leads, assignment and draws as :func:`simulate` (so the same numbers), without the touch
    log or the data frames. With ``looks = K > 1`` it also gives the running totals an analyst
    would have seen at K equally spaced looks in arrival order (the first ``k * n_leads / K`` leads):
    keys ``n@k``, ``<metric>:sum@k``, ``<metric>:sumsq@k`` for k = 1..K.
    """
    metrics = list(metrics)
    arms = scenario.experiment.arms
    stops = np.ceil(np.arange(1, looks + 1) * n_leads / looks).astype(np.int64)
    keys = [f"{m}:{k}" for m in metrics for k in ("sum", "sumsq")]
    acc = {a.name: {"n": 0.0} | dict.fromkeys(keys, 0.0) for a in arms}
    if looks > 1:
        for st in acc.values():
            st.update({f"{k}@{j}": 0.0 for k in ["n", *keys] for j in range(1, looks + 1)})

    def chunk_outputs() -> Iterable[tuple[int, list[tuple[dict[str, np.ndarray], np.ndarray]]]]:
        """Per chunk: its first lead's number and, per arm, the arm's outcomes and chunk positions."""
        if scenario.contact_center is not None:
            per_chunk, _ = _simulate_centre(scenario, seed, n_leads, truth=False, frames=False)
            for _df, _lead, _arm_idx, parts, positions, _logs, first in per_chunk:
                yield first, list(zip(parts, positions, strict=True))
            return
        for c, first, n in _random.chunks(n_leads):
            df = make_leads_chunk(scenario, seed, c, first, n, identities=False)
            lead = Leads.from_frame(df, scenario)
            arm_idx = assign(scenario, df, seed, c)
            uniforms = Draws(seed, c, lead.n)
            order = np.argsort(arm_idx, kind="stable")
            bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
            by_arm = subset_leads(lead, order)
            outs = []
            for a, arm in enumerate(arms):
                out, _ = _run_arm(scenario, arm, subset_leads(by_arm, slice(bounds[a], bounds[a + 1])), uniforms, None)
                outs.append((out, order[bounds[a] : bounds[a + 1]]))
            yield first, outs

    for first, outs in chunk_outputs():
        for arm, (out, pos) in zip(arms, outs, strict=True):
            st = acc[arm.name]
            st["n"] += float(pos.size)
            # leads of this arm seen by each look: positions ascend within the arm (arrival order)
            seen = np.searchsorted(first + pos, stops) if looks > 1 else None
            if seen is not None:
                for j, k in enumerate(seen, start=1):
                    st[f"n@{j}"] += float(k)
            for m in metrics:
                v = out[m].astype(np.float64)
                st[f"{m}:sum"] += float(v.sum())
                st[f"{m}:sumsq"] += float((v * v).sum())
                if seen is not None:
                    cs, cq = np.r_[0.0, np.cumsum(v)], np.r_[0.0, np.cumsum(v * v)]
                    for j, k in enumerate(seen, start=1):
                        st[f"{m}:sum@{j}"] += float(cs[k])
                        st[f"{m}:sumsq@{j}"] += float(cq[k])
    return acc

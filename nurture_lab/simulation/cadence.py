"""One arm's run over one chunk of leads: the step pipeline and the visit after it.

Time unit: minutes since the lead's inquiry (``t``). Local wall-clock minutes are
``created_at + utc_offset + t``. Steps are processed in cadence order for all leads at once
(arrays, never a Python loop per lead); a lead's sends are monotone in time, so the state at a
send is known from the sends before it. Ties: a step planned at the same minute as the previous
one is sent after it.

Per step and lead: the policy gate first (stop states, consent, confidentiality, sensitive
content, ownership handoff, send window / quiet hours / staffed hours, frequency caps — each
skip or deferral logged with a reason), then delivery, engagement, opt-out, qualification and
booking. After the cadence: self-booking, loss to a competitor, the visit reminder and attendance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import numpy as np

from ..scenario.model import Arm, Scenario
from .calendar import DAY, WEEK
from .calls import CallTask, CentreView
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
from .leads import Leads
from .policy import REASON_CODE, Message, gate
from .state import CH, INF, ArmState, loss_time
from .touchlog import NOT_SELECTED, SENT, SKIPPED, log_gated, log_rows, owner_categories

__all__ = ["run_arm", "run_arm_unlimited"]


def run_arm_unlimited(
    sc: Scenario, arm: Arm, lead: Leads, uniforms: Draws, record: np.ndarray | None
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Run every lead of a chunk through one arm with unlimited staff (no contact centre)."""
    gen = run_arm(sc, arm, lead, uniforms, record)
    try:
        next(gen)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    raise AssertionError("an arm without a contact centre never waits for agents")


def static_engage_p(
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


def inbound_conversation(sc: Scenario, st: ArmState, ans: np.ndarray, uniforms: Draws, centre: CentreView) -> None:
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


def run_arm(
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
        inbound_conversation(sc, st, np.flatnonzero(inbound == 1), uniforms, centre)

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
            p0 = static_engage_p(sc, st, step.channel, content, idx, pref_all, res.replaced)
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
                dp = static_engage_p(sc, st, step.channel, content, d_idx, pref_all, res.replaced[d])
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
            rp = static_engage_p(sc, st, rch, sc.contents["reminder"], r_idx, pref_all)
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

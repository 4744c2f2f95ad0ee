"""One arm's run over one chunk of leads: the step pipeline, then the visit and its reminder.

Each cadence step is a pipeline (:func:`run_step`)::

    select -> gate -> (call) -> respond -> advance -> book -> duplicate -> log

and after the cadence (:func:`finish`): booked or lost, the visit, its reminder, attendance.

Time unit: minutes since the lead's inquiry (``t``). Local wall-clock minutes are
``created_at + utc_offset + t``. Steps are processed in cadence order for all leads at once
(arrays, never a Python loop per lead); every message goes through the policy gate
(:func:`~nurture_lab.simulation.policy.gate`), which also spaces touches by ``min_gap_minutes``,
so a lead's sends are increasing in time and the state at a send is known from the sends before
it. Ties: a step planned at the same minute as the previous one is sent after it.

With a contact centre every call waits for an agent: the run is a generator that yields each batch
of calls (a :class:`~nurture_lab.simulation.calls.CallTask`) and resumes once the shared queue has
served it (:func:`~nurture_lab.simulation.calls.drive`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scenario.model import Arm, Content, Scenario, Step
from .behaviour import (
    Response,
    advance,
    attendance,
    book,
    inbound_conversation,
    read_and_learn,
    record_sends,
    respond,
    settle,
    static_engage_p,
    visit_times,
)
from .calendar import DAY
from .calls import CallTask, CentreView, IdleTask
from .draws import (
    K_REMINDER,
    K_SELF_BOOK_TIME,
    U_DUP_DELIVER,
    U_DUP_ENGAGE,
    U_DUP_OPT_OUT,
    U_DUP_VOICEMAIL,
    U_ENGAGE,
    U_HANDOFF,
    U_VOICEMAIL,
    Draws,
)
from .leads import Leads
from .policy import QUEUE_BIT, REASON_CODE, GateResult, Message, gate, subset
from .results import arm_outcomes
from .send_time import SendHistory, StepTiming, group_count, next_local
from .state import CH, INF, ArmState
from .touchlog import NOT_SELECTED, log_gated, log_rows, owner_categories

__all__ = ["StepContext", "run_arm", "run_arm_unlimited", "run_step"]

#: An arm's event log: batches of touch-log rows (see :func:`~nurture_lab.simulation.touchlog.log_rows`).
Log = list[dict[str, np.ndarray]]
#: What an arm's run returns: per-lead outcomes (name -> array) and its event log.
ArmOutput = tuple[dict[str, np.ndarray], Log]


@dataclass(frozen=True)
class StepContext:
    """What is constant for one arm's run over one chunk."""

    sc: Scenario
    arm: Arm
    lead: Leads
    draws: Draws
    #: the leads whose touches are logged (None: none)
    record: np.ndarray | None
    #: the contact centre (None: unlimited staff)
    centre: CentreView | None
    horizon: float
    #: each lead's preferred channel (a channel code)
    pref_all: np.ndarray
    content_codes: dict[str, int]
    owner_codes: dict[str, int]
    #: per lead, whose randomised sends teach the learning send-time policies (None: every lead's; the
    #: truth's experiment setting: the arm's own leads, as in the experiment)
    teaches: np.ndarray | None = None
    #: the run's randomised sends, which the learning send-time policies read (:mod:`.send_time`)
    history: SendHistory = field(default_factory=SendHistory)

    @classmethod
    def make(
        cls,
        sc: Scenario,
        arm: Arm,
        lead: Leads,
        draws: Draws,
        record: np.ndarray | None,
        centre: CentreView | None,
        teaches: np.ndarray | None = None,
    ) -> StepContext:
        pref = np.array([CH[c] for c in lead.cats["preferred_channel"]])[lead.codes["preferred_channel"]]
        return cls(
            sc,
            arm,
            lead,
            draws,
            record,
            centre,
            sc.horizon_days * DAY,
            pref,
            {c: i for i, c in enumerate(sc.contents)},
            {o: i for i, o in enumerate(owner_categories(sc))},
            teaches,
        )

    def waits_for_agent(self, channel: str) -> bool:
        """A message on ``channel`` waits for an agent of the contact centre."""
        return self.centre is not None and channel == "call"

    @property
    def sends_duplicates(self) -> bool:
        """Failed handoffs are sent twice (a failure rate above 0, ``handoff_failure_mode = "duplicate"``):
        a call step's group then takes a second round of the queue, the duplicates' (:func:`duplicate`)."""
        pol = self.sc.policy
        return pol.handoff_failure_rate > 0 and pol.handoff_failure_mode == "duplicate"


@dataclass(frozen=True)
class StepSpec:
    """One cadence step as the pipeline runs it."""

    k: int
    step: Step
    #: the step's owner team, numbered in order of first appearance in the arm (handoffs compare these)
    owner: int

    @property
    def ch(self) -> int:
        return CH[self.step.channel]


def run_arm_unlimited(
    sc: Scenario, arm: Arm, lead: Leads, draws: Draws, record: np.ndarray | None, teaches: np.ndarray | None = None
) -> ArmOutput:
    """Run every lead of a chunk through one arm with unlimited staff (no contact centre); ``teaches``:
    whose randomised sends the learning send-time policies read (None: every lead's)."""
    gen = run_arm(sc, arm, lead, draws, record, teaches=teaches)
    try:
        next(gen)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    raise AssertionError("an arm without a contact centre never waits for agents")


def run_arm(
    sc: Scenario,
    arm: Arm,
    lead: Leads,
    draws: Draws,
    record: np.ndarray | None,
    centre: CentreView | None = None,
    inbound: np.ndarray | None = None,
    teaches: np.ndarray | None = None,
) -> Generator[CallTask, None, ArmOutput]:
    """Run every lead of a chunk through one arm. ``record`` selects the leads whose touches are logged.

    ``inbound`` per lead (with a contact centre): 0 not an inbound phone inquiry, 1 answered live, 2 missed.
    ``teaches`` per lead: whose randomised sends the learning send-time policies read (None: every lead's).
    """
    ctx = StepContext.make(sc, arm, lead, draws, record, centre, teaches)
    st = ArmState(sc, lead, draws.single(K_SELF_BOOK_TIME), None if centre is None else centre.clock)
    last_event = np.zeros(lead.n)  # anchor of "previous" steps: the previous step's send, else its plan
    log: Log = []
    if inbound is not None and centre is not None:
        st.missed = inbound == 2
        inbound_conversation(sc.behaviour, st, np.flatnonzero(inbound == 1), draws, centre.handle["connected"])
    owners: dict[str, int] = {}
    for k, step in enumerate(arm.steps):
        spec = StepSpec(k, step, owners.setdefault(step.owner, len(owners)))
        yield from run_step(ctx, st, spec, last_event, log)
    outcomes = yield from finish(ctx, st, log)
    return outcomes, log


def run_step(
    ctx: StepContext, st: ArmState, spec: StepSpec, last_event: np.ndarray, log: Log
) -> Generator[CallTask, None, None]:
    """One cadence step for every lead: select -> gate -> (call) -> respond -> advance -> book ->
    duplicate -> log. A step with a ``send_time`` policy first moves each planned time to the
    policy's time of day (:mod:`.send_time`); a learning policy's explorers run the pipeline first,
    then the others, on what the explorers' engagement taught."""
    idx, planned_all = select(ctx, spec, last_event, log)
    if idx.size == 0:
        st.record_send(spec.ch, idx, np.zeros(0), None)  # a step nobody gets: a column of no sends
        ctx.draws.done(spec.k)
        rounds = group_count(spec.step.send_time) * (1 + ctx.sends_duplicates)
        yield from idle_rounds(ctx, spec.step.channel, rounds)
        return
    u = ctx.draws(spec.k)[ctx.lead.pos[idx]]
    msg = step_message(ctx, st, spec, idx, planned_all[idx], u)
    if spec.step.send_time == "planned":
        yield from run_group(ctx, st, spec, msg, u, last_event, log)
        return
    # a send-time policy: its target times; a learning step's explorers go first (see .send_time)
    timing = StepTiming.make(spec.step.send_time, msg, st, ctx.history, ctx.draws, spec.k, ctx.teaches)
    for g, rows in enumerate(timing.groups()):
        if not rows.size:
            yield from idle_rounds(ctx, spec.step.channel, 1 + ctx.sends_duplicates)
        else:
            planned, randomised, target = timing.planned(rows, first=g == 0)
            sub = dataclasses.replace(subset(msg, rows), planned=planned)
            res, t, engaged = yield from run_group(ctx, st, spec, sub, u[rows], last_event, log, target)
            timing.learn(rows, randomised, res, t, engaged)


def run_group(
    ctx: StepContext,
    st: ArmState,
    spec: StepSpec,
    msg: Message,
    u: np.ndarray,
    last_event: np.ndarray,
    log: Log,
    target: np.ndarray | None = None,
) -> Generator[CallTask, None, tuple[GateResult, np.ndarray, np.ndarray]]:
    """The step's messages ``msg`` (``u``: their draws) from the gate on; returns the gate's decision,
    the send (else planned) times and who engaged. ``target``: a send-time policy's local time of day
    per message (NaN: none)."""
    step, beh, idx = spec.step, ctx.sc.behaviour, msg.idx
    res = gate_held(msg, st, ctx.horizon, target)
    content = ctx.sc.contents[step.content]
    task = None
    if ctx.waits_for_agent(step.channel):
        task = yield from queue_calls(ctx, st, msg, res, content, res.replaced, u[:, U_ENGAGE], u[:, U_VOICEMAIL])
    t = np.where(res.send, res.t, msg.planned)
    # a "previous" step's delay counts from this step's send, else from when it was due: its plan, or
    # when the lead's call it waited for, or its own call, was settled
    last_event[idx] = t if st.call_settled is None else np.where(res.send, t, np.maximum(t, st.call_settled[idx]))
    # a message not sent changes nothing more: the rest of the step runs on the sent rows ``s``
    s = np.flatnonzero(res.send)
    s_idx, s_t, s_u, s_repl = idx[s], t[s], u[s], res.replaced[s]
    rel = ctx.lead.relevant(content, s_idx) & ~s_repl
    call = None if task is None else (task.connected[s], task.handle[s])
    r = respond(beh, st, step.channel, rel, s_idx, s_t, s_u, ctx.pref_all, call)
    read_ok = record_sends(st, spec.ch, spec.owner, s_idx, s_t, r)
    fit_now = advance(st, s_idx, s_t, r.engaged)
    educ = content.education & ~s_repl
    read, c_dec = read_and_learn(
        beh, st, content, s_idx, s_t, r, read_ok, fit_now, rel, educ, s_u, beh.channels[step.channel].read_rate
    )
    booking = np.where(s_repl, ctx.sc.contents["generic"].booking_multiplier, content.booking_multiplier)
    connected = r.engaged if step.channel == "call" else None
    book(beh, st, s_idx, s_t, c_dec, fit_now | read, read, rel, booking, s_u, connected)
    r = r.widened(s, idx.size)  # every message's row again (unsent: nothing happened)
    dup = yield from duplicate(ctx, st, spec, msg, res, u, t, r.p_opt, last_event)
    if ctx.record is not None:
        log_step(ctx, spec, msg, res, r, task, dup, log)
    return res, t, r.engaged


def gate_held(msg: Message, st: ArmState, horizon: float, target: np.ndarray | None = None) -> GateResult:
    """The gate, for a cadence step due no earlier than the lead's last waiting call was settled without
    being made (skipped when an agent reached it, never reached, given up; a made call's next steps are
    spaced after it by the gate itself): a sequence moves on from a call task once it is done, so a call
    waiting for an agent holds the lead's next steps (deferred ``queue``), and nothing the queue
    decides at a moment changes what was sent before it. A held step with a send-time policy
    (``target``: its local time of day, NaN: none) goes out at that time of day next after the call
    settled, as it would have gone out after its own delay; so does one behind a call that waited and
    was made (the gate then still spaces it from the call)."""
    hold = None if st.call_settled is None else st.call_settled[msg.idx]
    if target is not None and st.call_made is not None:
        made = np.where(np.isnan(target), -INF, st.call_made[msg.idx])
        hold = made if hold is None else np.maximum(hold, made)
    if hold is None:
        return gate(msg, st, horizon)
    held = hold > msg.planned
    if not held.any():
        return gate(msg, st, horizon)
    never = hold == INF  # the call was never reached within the run: nor is the next step
    planned = np.where(held & ~never, hold, msg.planned)
    if target is not None:
        timed = held & ~never & ~np.isnan(target)
        planned[timed] = next_local(st.lead, msg.idx[timed], hold[timed], target[timed])
    res = gate(dataclasses.replace(msg, planned=planned), st, horizon)
    res.skip[never], res.t[never] = REASON_CODE["after_horizon"], np.nan
    res.defer[held & res.send] |= QUEUE_BIT
    return res


def idle_rounds(ctx: StepContext, channel: str, n: int = 1) -> Generator[CallTask, None, None]:
    """The ``n`` rounds of the shared queue in which this arm's leads have no call (a step none of
    them gets, an empty group, no failed handoff, nobody booked): the arm still takes its turn, so a
    run's rounds follow its arms' cadences whatever leads they hold, and the later leads' arms cannot
    move an earlier lead's calls into another round (see tests/simulation/test_causality.py)."""
    if ctx.waits_for_agent(channel):
        for _ in range(n):
            yield IdleTask()


def select(ctx: StepContext, spec: StepSpec, last_event: np.ndarray, log: Log) -> tuple[np.ndarray, np.ndarray]:
    """The leads the step's conditions select, and every lead's planned time; the others are logged
    ``not_selected``."""
    step, lead, rec = spec.step, ctx.lead, ctx.record
    if step.anchor == "inquiry":
        planned_all = np.full(lead.n, float(step.delay_minutes))
    else:
        planned_all = last_event + step.delay_minutes
    sel = lead.matches(step)
    if rec is not None and not sel.all():
        out = np.flatnonzero(~sel & rec)
        log_rows(
            log,
            out,
            step=spec.k,
            ch=spec.ch,
            content=ctx.content_codes[step.content],
            owner=ctx.owner_codes[step.owner],
            planned=planned_all[out],
            sent=np.nan,
            skip=0,
            defer=0,
            status=NOT_SELECTED,
        )
    return np.flatnonzero(sel), planned_all


def step_message(
    ctx: StepContext, st: ArmState, spec: StepSpec, idx: np.ndarray, planned: np.ndarray, u: np.ndarray
) -> Message:
    """The step's messages to the leads ``idx``, with the handoffs between owner teams that fail."""
    pol, step = ctx.sc.policy, spec.step
    failed = None
    if pol.handoff_failure_rate > 0:
        po = st.prev_owner[idx]
        failed = (po >= 0) & (po != spec.owner) & (u[:, U_HANDOFF] < pol.handoff_failure_rate)
    return Message(
        "step",
        step.channel,
        idx,
        planned,
        reveals=ctx.sc.contents[step.content].reveals_condition,
        window=step.window,
        if_no_response=step.if_no_response,
        if_qualified=step.if_qualified,
        handoff_failed=failed,
    )


def queue_calls(
    ctx: StepContext,
    st: ArmState,
    msg: Message,
    res: GateResult,
    content: Content,
    replaced: Any,
    u_eng: np.ndarray,
    u_vm: np.ndarray,
    horizon: float | None = None,
) -> Generator[CallTask, None, CallTask]:
    """Hand the gated calls to the contact centre and wait until its agents reached them; ``res`` is
    updated with what the gate decided when they did. ``u_eng``, ``u_vm``: the calls' outcome draws."""
    assert ctx.centre is not None
    p = static_engage_p(ctx.sc.behaviour, st, msg.channel, content, msg.idx, ctx.pref_all, replaced)
    task = CallTask(msg, st, ctx.horizon if horizon is None else horizon, res, p, u_eng, u_vm, ctx.centre)
    yield task
    return task


@dataclass(frozen=True)
class Duplicate:
    """The second send of the failed handoffs of a step (``handoff_failure_mode = "duplicate"``)."""

    msg: Message
    res: GateResult
    delivered: np.ndarray
    opted_out: np.ndarray
    task: CallTask | None


def duplicate(
    ctx: StepContext,
    st: ArmState,
    spec: StepSpec,
    msg: Message,
    res: GateResult,
    u: np.ndarray,
    t: np.ndarray,
    p_opt: np.ndarray,
    last_event: np.ndarray,
) -> Generator[CallTask, None, Duplicate | None]:
    """A failed handoff sent twice: the duplicate is a message like any other, through the gate and
    drawn like any send (from the duplicate's own draws)."""
    failed, beh = msg.handoff_failed, ctx.sc.behaviour
    if failed is None or not ctx.sends_duplicates:
        return None
    if not (res.send & failed).any():
        yield from idle_rounds(ctx, msg.channel)
        return None
    d = res.send & failed
    d_idx, du = msg.idx[d], u[d]
    dmsg = dataclasses.replace(msg, kind="duplicate", idx=d_idx, planned=t[d], handoff_failed=None)
    dres = gate(dmsg, st, ctx.horizon)
    dtask = None
    if ctx.waits_for_agent(msg.channel):  # the duplicate call takes an agent too
        content = ctx.sc.contents[spec.step.content]
        dtask = yield from queue_calls(
            ctx, st, dmsg, dres, content, res.replaced[d], du[:, U_DUP_ENGAGE], du[:, U_DUP_VOICEMAIL]
        )
    cb = beh.channels[msg.channel]
    dsend = dres.send
    d_t = np.where(dsend, dres.t, np.nan)
    d_del = dsend & (du[:, U_DUP_DELIVER] < cb.deliver_rate)
    d_opt = d_del & (du[:, U_DUP_OPT_OUT] < p_opt[d] * (1 + beh.opt_out_frequency_slope))
    st.opt_out(spec.ch, d_idx, np.where(d_opt, d_t, INF))
    st.staff[d_idx] += np.where(dsend, cb.staff_minutes if dtask is None else np.nan_to_num(dtask.handle), 0.0)
    st.record_send(spec.ch, d_idx, d_t, None)
    last_event[d_idx] = np.where(dsend, d_t, last_event[d_idx])
    return Duplicate(dmsg, dres, d_del, d_opt, dtask)


def log_step(
    ctx: StepContext,
    spec: StepSpec,
    msg: Message,
    res: GateResult,
    r: Response,
    task: CallTask | None,
    dup: Duplicate | None,
    log: Log,
) -> None:
    """Log the step's gated messages (and their duplicates) for the recorded leads."""
    assert ctx.record is not None
    step = spec.step
    where = {"step": spec.k, "ch": spec.ch, "owner": ctx.owner_codes[step.owner]}
    codes = (ctx.content_codes[step.content], ctx.content_codes["generic"])
    q = {} if task is None else {"queue": task.queue, "handle": task.handle}
    out = {"delivered": r.delivered, "engaged": r.engaged, "opted_out": r.opted_out}
    log_gated(log, ctx.record, msg.idx, res, msg.planned, where, codes, **out, **q)
    if dup is not None:
        dq = {} if dup.task is None else {"queue": dup.task.queue, "handle": dup.task.handle}
        d_out = {"delivered": dup.delivered, "opted_out": dup.opted_out, "duplicate": True}
        log_gated(log, ctx.record, dup.msg.idx, dup.res, dup.msg.planned, where, codes, **d_out, **dq)


def finish(ctx: StepContext, st: ArmState, log: Log) -> Generator[CallTask, None, dict[str, np.ndarray]]:
    """After the cadence: booked or lost, the visit (in clinic hours), its reminder, attendance; the
    per-lead outcomes."""
    booked, lost, loss = settle(st, ctx.horizon)
    booked_min = np.where(booked, st.booked_at, np.nan)
    visit = visit_times(st, ctx.sc.policy, booked, booked_min)
    reminded = np.zeros(ctx.lead.n, dtype=bool)
    if ctx.arm.reminder is not None and booked.any():
        reminded = yield from remind(ctx, st, booked, booked_min, visit, log)
    elif ctx.arm.reminder is not None:
        yield from idle_rounds(ctx, ctx.arm.reminder.channel)
    attended = attendance(ctx.sc.behaviour, ctx.lead, booked, booked_min, visit, reminded)
    return arm_outcomes(st, booked, booked_min, visit, attended, reminded, lost, loss)


def remind(
    ctx: StepContext, st: ArmState, booked: np.ndarray, booked_min: np.ndarray, visit: np.ndarray, log: Log
) -> Generator[CallTask, None, np.ndarray]:
    """The visit reminder of the booked leads, ``hours_before`` the visit (not before the booking);
    returns who was reminded."""
    reminder = ctx.arm.reminder
    assert reminder is not None
    rch, sc = reminder.channel, ctx.sc
    r_idx = np.flatnonzero(booked)
    rt = np.maximum(visit[r_idx] - reminder.hours_before * 60, booked_min[r_idx])
    reveals = sc.contents["reminder"].reveals_condition
    rmsg = Message("reminder", rch, r_idx, rt, reveals=reveals, deadline=visit[r_idx] - 1.0)
    rres = gate(rmsg, st, INF)
    rtask = None
    if ctx.waits_for_agent(rch):
        ur = ctx.draws(K_REMINDER)[ctx.lead.pos[r_idx]]
        rtask = yield from queue_calls(
            ctx, st, rmsg, rres, sc.contents["reminder"], False, ur[:, U_ENGAGE], ur[:, U_VOICEMAIL], INF
        )
    r_send = rres.send
    st.record_send(CH[rch], r_idx, np.where(r_send, rres.t, np.nan), None)
    staff = sc.behaviour.channels[rch].staff_minutes if rtask is None else np.nan_to_num(rtask.handle)
    st.staff[r_idx] += np.where(r_send, staff, 0.0)
    reminded = np.zeros(ctx.lead.n, dtype=bool)
    reminded[r_idx] = r_send
    if ctx.record is not None:
        where = {"step": -1, "ch": CH[rch], "owner": ctx.owner_codes["scheduling"]}
        codes = (ctx.content_codes["reminder"], ctx.content_codes["generic"])
        # a reminder is not drawn for engagement; a reminder call an agent connected was answered
        out = {"delivered": r_send, "engaged": r_send & rtask.connected if rtask is not None else False}
        q = {} if rtask is None else {"queue": rtask.queue, "handle": rtask.handle}
        log_gated(log, ctx.record, r_idx, rres, rt, where, codes, **out, **q)
    return reminded

"""The policy gate: one ordered table of named rules that every message passes (DOMAIN.md section 3).

Every message the engine sends — a cadence step, a visit reminder, the duplicate of a failed
handoff — goes through :func:`gate`. The gate applies two tables, each readable rule by rule:

* :data:`STOP_RULES` — a rule returns the leads it stops; the first rule that stops a lead names
  the reason it was skipped. They are judged when the message is due and again at the moment it
  would actually be sent (event time), after every deferral: a "no response" step is skipped for a
  lead who answered while it waited; a "qualified" step needs the lead qualified at both moments.
* :data:`TIMING_RULES` — a rule returns, per lead, the earliest allowed time at or after a given
  time (``NaN``: never). The gate moves each message forward until every timing rule allows it;
  every rule that moved it is kept in the reason (``"quiet_hours+cap_day"``).

Nothing is dropped silently: a skipped or deferred message is logged with its reason(s).
Time unit: minutes since the lead's inquiry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..scenario.model import TCPA_CHANNELS, VISIBLE_CHANNELS, Policy
from .calendar import DAY, WEEK

__all__ = [
    "BIT",
    "DEFERRALS",
    "QUEUE_BIT",
    "REASONS",
    "REASON_CODE",
    "STOP_RULES",
    "TIMING_RULES",
    "GateLeads",
    "GateResult",
    "GateState",
    "Message",
    "TimedStop",
    "call_window",
    "gate",
    "state_inputs",
    "stop_time",
    "subset",
    "voicemail_allowed",
]

INF = np.inf


@dataclass
class Message:
    """A batch of messages of one kind on one channel to the leads ``idx`` (positions in the chunk).

    ``kind`` is ``"step"`` (a cadence step), ``"reminder"`` (a visit reminder: a service message,
    so the booked stop state does not apply) or ``"duplicate"`` (a failed handoff's second send).
    """

    kind: str
    channel: str
    idx: np.ndarray
    planned: np.ndarray
    reveals: bool = False
    window: tuple[float, float] | None = None
    if_no_response: bool = False
    if_qualified: bool = False
    handoff_failed: np.ndarray | None = None
    #: the latest moment each message may go out (minutes since inquiry; a visit reminder: a minute
    #: before the visit); later it is skipped (``after_visit``)
    deadline: np.ndarray | None = None


@dataclass
class GateResult:
    """What the gate decided for each message of a batch."""

    #: send time (minutes since inquiry; NaN where skipped)
    t: np.ndarray
    #: 0 = sent, else the code of the stop rule (or timing failure) that skipped it
    skip: np.ndarray
    #: bit mask over :data:`DEFERRALS`: the rules that moved the message later
    defer: np.ndarray
    #: condition-revealing content replaced by generic content
    replaced: np.ndarray

    @property
    def send(self) -> np.ndarray:
        return self.skip == 0


# --------------------------------------------------------------------------------------
# What a rule may read


class GateLeads(Protocol):
    """What a rule may read of the leads (per-lead arrays indexed by chunk position)."""

    consent: dict[str, np.ndarray]
    confidential: np.ndarray
    from_chat: np.ndarray
    sensitive: np.ndarray
    quiet_start: np.ndarray  # local minutes of the day, this lead's state's calling hours
    quiet_end: np.ndarray
    state_cap: np.ndarray  # calls and texts per 24 h allowed by the state (0: no cap)


class GateState(Protocol):
    """What a rule may read of an arm's state (minutes since inquiry; inf: never). The engine's
    :class:`~nurture_lab.simulation.state.ArmState` is one."""

    pol: Policy
    booked_at: np.ndarray
    contacted: np.ndarray
    qualified_at: np.ndarray
    disqualified_at: np.ndarray
    last_sent: np.ndarray
    all_days: np.ndarray  # every weekday allowed (a mask over Monday..Sunday)

    @property
    def lead(self) -> GateLeads: ...

    def loss(self, idx: np.ndarray) -> np.ndarray:
        """When each lead books elsewhere (loss to a competitor)."""

    def opted_for(self, channel: str, idx: np.ndarray) -> np.ndarray:
        """When each lead opted out of the channel (or of all, by ``opt_out_scope``)."""

    def last_on(self, channel: str, idx: np.ndarray) -> np.ndarray:
        """The last send on the channel (-inf: none)."""

    def count_sent(self, channel: str, idx: np.ndarray, since: np.ndarray | None = None) -> np.ndarray:
        """Messages sent on the channel (after ``since``, if given)."""

    def recent_sends(self, channels: tuple[str, ...], idx: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` most recent send times on these channels, most recent first (-inf where fewer)."""

    def next_local(self, idx: np.ndarray, t: np.ndarray, a: Any, b: Any, days: np.ndarray) -> np.ndarray:
        """Earliest time >= ``t`` in the daily local window [a, b) minutes on ``days`` (NaN: none)."""

    def next_staffed(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Earliest time >= ``t`` in staffed hours (the contact centre's clock if there is one)."""


# --------------------------------------------------------------------------------------
# Stop rules: (msg, state, t) -> leads stopped at time t.


@dataclass(frozen=True)
class TimedStop:
    """A stop rule that holds from a moment on: it stops a message at ``t`` once ``since(msg, st) <= t``.

    Its ``since`` is its own stop time, which :func:`stop_time` reads (a call waiting for an agent).
    """

    since: Callable[[Message, GateState], np.ndarray]

    def __call__(self, msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
        return self.since(msg, st) <= t


def _booked_since(msg: Message, st: GateState) -> np.ndarray:
    """A lead who has booked gets no more nurture (a visit reminder is not nurture)."""
    return st.booked_at[msg.idx] if msg.kind != "reminder" else np.full(msg.idx.size, INF)


def _lost_since(msg: Message, st: GateState) -> np.ndarray:
    """A lead who booked elsewhere is not contacted again."""
    return st.loss(msg.idx)


def _disqualified_since(msg: Message, st: GateState) -> np.ndarray:
    """A lead found not to fit (service, location, coverage) leaves the cadence (a booked visit keeps
    its reminder: the clinic, not the cadence, settles it)."""
    return st.disqualified_at[msg.idx] if msg.kind != "reminder" else np.full(msg.idx.size, INF)


def _opted_out_since(msg: Message, st: GateState) -> np.ndarray:
    """An opt-out stops the channel it came on, or every channel (``opt_out_scope``)."""
    return st.opted_for(msg.channel, msg.idx)


def _none(msg: Message) -> np.ndarray:
    """No message of the batch stopped: a rule that cannot apply to it reads no per-lead array."""
    return np.zeros(msg.idx.size, dtype=bool)


def _no_consent(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """E-mail, texts and calls need the lead's consent on that channel (TCPA, CAN-SPAM)."""
    c = st.lead.consent.get(msg.channel)
    return _none(msg) if c is None else ~c[msg.idx]


def _confidential(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """A lead who asked for confidential communication gets no texts and no ads (HIPAA)."""
    return st.lead.confidential[msg.idx] if msg.channel in ("sms", "retargeting") else _none(msg)


def _no_chat_session(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Chat reaches only a lead who came in through chat."""
    return ~st.lead.from_chat[msg.idx] if msg.channel == "chat" else _none(msg)  # type: ignore[no-any-return]


def _sensitive_retargeting(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """No retargeting ads for sensitive service lines (an ad reveals the visit to whoever sees it)."""
    return st.lead.sensitive[msg.idx] if msg.channel == "retargeting" else _none(msg)


def _sensitive_blocked(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Condition-revealing content where others may see it is blocked (``sensitive_content_action = "block"``)."""
    return exposed(msg, st) if st.pol.sensitive_content_action == "block" else _none(msg)


def _handoff_dropped(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """A failed handoff between owner teams drops the touch (``handoff_failure_mode = "drop"``)."""
    if msg.handoff_failed is None or st.pol.handoff_failure_mode != "drop":
        return _none(msg)
    return msg.handoff_failed


def _cap_total(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """At most ``total`` messages on the channel over the whole cadence."""
    total = st.pol.caps[msg.channel].total
    return st.count_sent(msg.channel, msg.idx) >= total if total else _none(msg)


def _responded_since(msg: Message, st: GateState) -> np.ndarray:
    """An ``if_no_response`` step is skipped once the lead has engaged."""
    if not msg.if_no_response:
        return np.full(msg.idx.size, INF)
    return st.contacted[msg.idx]


def _not_qualified(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """An ``if_qualified`` step goes only to a lead qualified by the time it is sent."""
    return ~(st.qualified_at[msg.idx] <= t) if msg.if_qualified else _none(msg)  # type: ignore[no-any-return]


StopRule = Callable[[Message, GateState, np.ndarray], np.ndarray]
#: The stop rules in the order they are judged; the first that stops a message names the reason.
STOP_RULES: tuple[tuple[str, StopRule], ...] = (
    ("booked", TimedStop(_booked_since)),
    ("lost", TimedStop(_lost_since)),
    ("disqualified", TimedStop(_disqualified_since)),
    ("opted_out", TimedStop(_opted_out_since)),
    ("no_consent", _no_consent),
    ("confidential", _confidential),
    ("no_chat_session", _no_chat_session),
    ("sensitive_retargeting", _sensitive_retargeting),
    ("sensitive_blocked", _sensitive_blocked),
    ("handoff_dropped", _handoff_dropped),
    ("cap_total", _cap_total),
    ("responded", TimedStop(_responded_since)),
    ("not_qualified", _not_qualified),
)


def stop_time(msg: Message, st: GateState) -> np.ndarray:
    """The earliest moment a stop rule that depends on time holds for each message (inf: none):
    the earliest of the :class:`TimedStop` rules' own stop times and the moment after the deadline.

    A call waiting for an agent is judged at the moment the agent reaches it; this lets the
    contact centre spend no agent time on a call the gate would stop then (the gate still decides).
    """
    t = np.full(msg.idx.size, INF) if msg.deadline is None else np.nextafter(msg.deadline, INF)
    for _name, rule in STOP_RULES:
        if isinstance(rule, TimedStop):
            t = np.minimum(t, rule.since(msg, st))
    return t


def state_inputs(pol: Policy, states: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-lead inputs of the state laws, per state (in the order given): the legal calling window
    [start, end) in local minutes of the day (:func:`_quiet_hours`) and the calls and texts allowed per
    24 hours (0: no cap; :func:`_state_24h`). A lead's are its state's."""
    start = np.array([pol.state_quiet_hours.get(s, pol.quiet_hours)[0] for s in states]) * 60
    end = np.array([pol.state_quiet_hours.get(s, pol.quiet_hours)[1] for s in states]) * 60
    return start, end, np.array([pol.state_attempt_caps.get(s, 0) for s in states], dtype=np.int64)


def voicemail_allowed(msg: Message, st: GateState) -> np.ndarray:
    """A call that reaches voicemail leaves a message only for a lead who did not ask for confidential
    communication ("no texts or voicemail", HIPAA); for that lead the agent hangs up (no answer)."""
    return ~st.lead.confidential[msg.idx]  # type: ignore[no-any-return]


def call_window(msg: Message, st: GateState) -> tuple[np.ndarray, np.ndarray]:
    """The daily local window [lo, hi) (minutes of the day) in which the calls ``msg`` may be placed:
    the lead's legal calling hours (:func:`_quiet_hours`) within the step's own window
    (:func:`_send_window`). The contact centre re-judges a waiting call against it."""
    lo, hi = st.lead.quiet_start[msg.idx], st.lead.quiet_end[msg.idx]
    if msg.window is not None:
        lo, hi = np.maximum(lo, msg.window[0] * 60), np.minimum(hi, msg.window[1] * 60)
    return lo, hi


def exposed(msg: Message, st: GateState) -> np.ndarray:
    """Leads for whom this message would show condition-revealing content where others may see it."""
    shows = msg.reveals and msg.channel in VISIBLE_CHANNELS
    return st.lead.sensitive[msg.idx] | st.lead.confidential[msg.idx] if shows else _none(msg)


# --------------------------------------------------------------------------------------
# Timing rules: (msg, state, t) -> the earliest allowed time >= t (NaN: none).


def _min_gap(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Touches to one lead are spaced: ``min_gap_minutes`` overall, per channel (``caps.<ch>.min_gap_minutes``),
    and ``call_text_gap_minutes`` between a call and a text (no text stacked on a call)."""
    gap = st.pol.min_gap_minutes
    ch_gap = st.pol.caps[msg.channel].min_gap_minutes
    out = np.maximum(t, np.maximum(st.last_sent[msg.idx] + gap, st.last_on(msg.channel, msg.idx) + ch_gap))
    if msg.channel in TCPA_CHANNELS:
        other = "call" if msg.channel == "sms" else "sms"
        out = np.maximum(out, st.last_on(other, msg.idx) + st.pol.call_text_gap_minutes)
    return out


def _send_window(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """A step's own send window (local hours), e.g. e-mails in business hours."""
    if msg.window is None:
        return t
    return st.next_local(msg.idx, t, msg.window[0] * 60, msg.window[1] * 60, st.all_days)


def _quiet_hours(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Calls and texts only 8:00-21:00 in the lead's local time (TCPA; 8:00-20:00 in Florida and Oklahoma)."""
    if msg.channel not in TCPA_CHANNELS:
        return t
    return st.next_local(msg.idx, t, st.lead.quiet_start[msg.idx], st.lead.quiet_end[msg.idx], st.all_days)


def _staffed_hours(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Calls are placed by staff, in staffed hours on staffed days."""
    if msg.channel != "call":
        return t
    return st.next_staffed(msg.idx, t)


def _windowed_cap(
    msg: Message, st: GateState, t: np.ndarray, channels: tuple[str, ...], cap: int, span: float
) -> np.ndarray:
    if not cap:
        return t
    recent = st.recent_sends(channels, msg.idx, cap)  # most recent first, -inf where fewer
    if recent.shape[1] < cap:
        return t
    free_at = recent[:, cap - 1] + span
    return np.where(free_at > t, free_at, t)


def _cap_day(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """At most ``per_day`` messages on the channel in any 24 hours (texts: 1, FCC healthcare exemption)."""
    return _windowed_cap(msg, st, t, (msg.channel,), st.pol.caps[msg.channel].per_day, DAY)


def _cap_week(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """At most ``per_week`` messages on the channel in any 7 days (texts: 3, FCC healthcare exemption)."""
    return _windowed_cap(msg, st, t, (msg.channel,), st.pol.caps[msg.channel].per_week, WEEK)


def _state_24h(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Florida and Oklahoma: at most 3 calls and texts together in 24 hours (``state_attempt_caps``)."""
    if msg.channel not in TCPA_CHANNELS or not st.pol.state_attempt_caps:
        return t
    cap = st.lead.state_cap[msg.idx]
    capped = np.flatnonzero(cap > 0)  # only these leads' sends are sorted (most are in no capped state)
    if capped.size == 0:
        return t
    recent = st.recent_sends(TCPA_CHANNELS, msg.idx[capped], int(cap.max()))
    if recent.shape[1] == 0:
        return t
    cap, tc = cap[capped], t[capped]
    kth = recent[np.arange(cap.size), np.clip(cap - 1, 0, recent.shape[1] - 1)]
    free_at = np.where(cap <= recent.shape[1], kth, -INF) + DAY
    out = t.copy()
    out[capped] = np.where(free_at > tc, free_at, tc)
    return out


TimingRule = Callable[[Message, GateState, np.ndarray], np.ndarray]
#: The timing rules; the gate applies them in turn until all allow the same moment.
TIMING_RULES: tuple[tuple[str, TimingRule], ...] = (
    ("min_gap", _min_gap),
    ("send_window", _send_window),
    ("quiet_hours", _quiet_hours),
    ("staffed_hours", _staffed_hours),
    ("cap_day", _cap_day),
    ("cap_week", _cap_week),
    ("state_24h", _state_24h),
)
#: Deferral reasons, in bit order of :attr:`GateResult.defer`: the timing rules, then ``queue`` (a
#: call waited for an agent, or a step for the lead's call that did); ``sensitive_replaced`` and
#: ``handoff_duplicate`` are notes on a sent message, not deferrals.
DEFERRALS: tuple[str, ...] = (
    *(name for name, _ in TIMING_RULES),
    "queue",
    "sensitive_replaced",
    "handoff_duplicate",
)
#: The bit of each deferral reason.
BIT = {name: 1 << i for i, name in enumerate(DEFERRALS)}
#: The deferral bit of a call that waited for an agent.
QUEUE_BIT = BIT["queue"]

#: Every reason code of the touch log: '' (none), the deferrals, the stop rules, then the gate's
#: own outcomes (no allowed time before the horizon; a reminder that would arrive after the visit;
#: a call no agent of the contact centre reached).
REASONS: tuple[str, ...] = (
    "",
    *DEFERRALS,
    *(name for name, _ in STOP_RULES),
    "no_allowed_time",
    "after_horizon",
    "after_visit",
    "no_agent",
)
REASON_CODE: dict[str, int] = {r: i for i, r in enumerate(REASONS)}
_R = REASON_CODE
#: Passes of the timing rules before the gate gives up (``no_allowed_time``).
MAX_PASSES = 12


def _stops(msg: Message, st: GateState, t: np.ndarray) -> np.ndarray:
    """Each message's first stop rule (reason code; 0: none), written only where a rule stops one."""
    skip = np.zeros(msg.idx.size, dtype=np.int16)
    for name, rule in STOP_RULES:
        hit = rule(msg, st, t)
        if np.count_nonzero(hit):  # (a C call: ndarray.any() costs three times as much)
            skip[hit & (skip == 0)] = _R[name]
    return skip


def subset(msg: Message, rows: np.ndarray, planned: np.ndarray | None = None) -> Message:
    """The messages ``rows`` of a batch (planned at ``planned`` if given: the queue re-judges calls)."""
    failed = None if msg.handoff_failed is None else msg.handoff_failed[rows]
    return Message(
        msg.kind,
        msg.channel,
        msg.idx[rows],
        msg.planned[rows] if planned is None else planned,
        msg.reveals,
        msg.window,
        msg.if_no_response,
        msg.if_qualified,
        failed,
        None if msg.deadline is None else msg.deadline[rows],
    )


def gate(msg: Message, st: GateState, horizon: float) -> GateResult:
    """Decide when (and whether) each message of a batch is sent. See the module docstring."""
    m = msg.idx.size
    t = msg.planned.astype(np.float64).copy()
    skip = _stops(msg, st, t)
    defer = np.zeros(m, dtype=np.int32)
    # the timing rules work on the messages still in play, and after the first pass only on
    # those the last pass moved (the others already satisfy every rule)
    work = np.flatnonzero(skip == 0)
    for _ in range(MAX_PASSES):
        if work.size == 0:
            break
        sub = subset(msg, work)
        tw = t[work]
        moved_any = np.zeros(work.size, dtype=bool)
        alive = np.ones(work.size, dtype=bool)
        checked = False  # every message still alive is within the horizon
        for name, rule in TIMING_RULES:
            nxt = rule(sub, st, tw)
            if nxt is tw:  # the rule does not apply to this message: no time moved, none newly late
                continue  # (nor none: ``tw`` holds no NaN where alive)
            never = alive & np.isnan(nxt)
            if np.count_nonzero(never):
                skip[work[never]] = _R["no_allowed_time"]
                alive &= ~never
            moved = alive & (nxt > tw + 1e-9)
            if checked and not np.count_nonzero(moved):  # no time moved: none newly late
                continue
            defer[work[moved]] |= BIT[name]
            tw = np.where(moved, nxt, tw)
            moved_any |= moved
            late = alive & (tw > horizon)
            skip[work[late]] = _R["after_horizon"]
            alive &= ~late
            checked = True
        t[work] = tw
        work = work[alive & moved_any]
    else:
        skip[work] = _R["no_allowed_time"]
    # event time: judge the stop rules again at the moment of sending (the state does not change
    # within the gate, so a message still at its planned time keeps the verdict it had there)
    rows = np.flatnonzero((skip == 0) & (t != msg.planned))
    skip[rows] = _stops(subset(msg, rows), st, t[rows])
    if msg.deadline is not None:  # a reminder must come before the visit, by at least a minute
        skip[(skip == 0) & ~(t <= msg.deadline)] = _R["after_visit"]
    send = skip == 0
    replaced = send & exposed(msg, st) & (st.pol.sensitive_content_action == "replace")
    defer[replaced] |= BIT["sensitive_replaced"]
    return GateResult(np.where(send, t, np.nan), skip, defer, replaced)

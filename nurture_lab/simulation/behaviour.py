"""The behaviour model: what a lead does when a message reaches it, and after the cadence.

* :func:`time_factor` — speed to lead: engagement falls with the minutes since the inquiry (one
  formula, also used by the contact centre's queue when an agent reaches a call).
* :func:`respond` — delivery, engagement, opt-out of one step's sends.
* :func:`advance` — first contact, qualification or disqualification.
* :func:`read_and_learn` — a qualified lead who only reads; educational content shortens the decision.
* :func:`book` — who books and when, by path: on the call, online, or by staff in staffed hours.
* :func:`inbound_conversation` — an inbound phone inquiry answered live.
* :func:`settle`, :func:`visit_times`, :func:`attendance` — after the cadence: booked or lost, the
  visit in clinic hours, whether the lead attends.

Loss to a competitor is :func:`~nurture_lab.simulation.state.loss_time` (the clock the gate's
``lost`` rule reads). Time unit: minutes since the lead's inquiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario.model import Behaviour, Content, Policy
from .calendar import DAY, WEEK
from .draws import K_INBOUND, U_BOOK, U_DELIVER, U_ENGAGE, U_OPT_OUT, U_READ, Draws
from .leads import Leads
from .state import CH, INF, ArmState, loss_time

__all__ = [
    "Response",
    "advance",
    "attendance",
    "book",
    "inbound_conversation",
    "loss_time",
    "near_preferred_hour",
    "read_and_learn",
    "record_sends",
    "respond",
    "settle",
    "static_engage_p",
    "time_factor",
    "visit_times",
]


def time_factor(t: np.ndarray, floor: float, half_life_minutes: float) -> np.ndarray:
    """Speed to lead: the engagement multiplier ``t`` minutes after the inquiry (1 at once, halving
    towards ``floor`` every ``half_life_minutes``)."""
    return floor + (1 - floor) * np.exp2(-t / half_life_minutes)


def near_preferred_hour(hour: np.ndarray, preferred_hour: np.ndarray) -> np.ndarray:
    """The lead's local hour of day is within 2 hours of its preferred hour."""
    return np.abs(hour - preferred_hour) <= 2  # type: ignore[no-any-return]


def static_engage_p(
    beh: Behaviour,
    st: ArmState,
    channel: str,
    content: Content,
    idx: np.ndarray,
    pref_all: np.ndarray,
    replaced: Any = False,
) -> np.ndarray:
    """The engagement probability of a message without its time-dependent factors (speed to lead and
    the lead's preferred hour), which the contact centre applies when an agent reaches the call."""
    lead = st.lead
    cb = beh.channels[channel]
    rel = lead.relevant(content, idx) & ~np.asarray(replaced, dtype=bool)
    return (
        cb.engage_rate
        * lead.responsiveness[idx]
        * beh.fatigue ** st.n_sent[idx].astype(np.float64)
        * np.where(pref_all[idx] == CH[channel], beh.preferred_multiplier, 1.0)
        * np.where(rel, beh.relevance_multiplier, 1.0)
    )


@dataclass(frozen=True)
class Response:
    """What the leads ``idx`` did with one step's messages (arrays aligned with ``idx``)."""

    delivered: np.ndarray
    engaged: np.ndarray
    opted_out: np.ndarray
    #: the opt-out probability of the message (a failed handoff's duplicate raises it)
    p_opt: np.ndarray
    #: staff minutes spent on each message
    staff: np.ndarray

    def widened(self, rows: np.ndarray, m: int) -> Response:
        """The response to ``m`` messages of which this one's are the rows ``rows``: the others were not
        sent (not delivered, no staff time)."""

        def wide(v: np.ndarray, fill: float | bool) -> np.ndarray:
            out = np.full(m, fill, dtype=v.dtype)
            out[rows] = v
            return out

        return Response(
            wide(self.delivered, False),
            wide(self.engaged, False),
            wide(self.opted_out, False),
            wide(self.p_opt, np.nan),
            wide(self.staff, 0.0),
        )


def respond(
    beh: Behaviour,
    st: ArmState,
    channel: str,
    rel: np.ndarray,
    idx: np.ndarray,
    t: np.ndarray,
    u: np.ndarray,
    pref_all: np.ndarray,
    call: tuple[np.ndarray, np.ndarray] | None = None,
) -> Response:
    """Delivery, engagement and opt-out of the messages sent to the leads ``idx`` at ``t`` (read before
    the sends are recorded; a message not sent gets no response, see :meth:`Response.widened`).

    ``call``: with a contact centre, the calls' ``(connected, handle minutes)`` as the agent found
    them; the outcome was drawn then and the staff time is the handle time.
    """
    cb, lead = beh.channels[channel], st.lead
    delivered = u[:, U_DELIVER] < cb.deliver_rate
    n_recent = st.count_sent(channel, idx, since=t - WEEK)
    p_opt = cb.opt_out_rate * (1 + beh.opt_out_frequency_slope * n_recent)
    opt_now = delivered & (u[:, U_OPT_OUT] < p_opt)
    if call is not None:
        engaged = delivered & call[0] & ~opt_now
        return Response(delivered, engaged, opt_now, p_opt, np.nan_to_num(call[1]))
    hour = (lead.local(idx, t) % DAY) / 60.0
    p_eng = (
        cb.engage_rate
        * lead.responsiveness[idx]
        * time_factor(t, beh.speed_floor, beh.speed_half_life_minutes)
        * beh.fatigue ** st.n_sent[idx].astype(np.float64)
        * np.where(pref_all[idx] == CH[channel], beh.preferred_multiplier, 1.0)
        * np.where(near_preferred_hour(hour, lead.preferred_hour[idx]), beh.preferred_hour_multiplier, 1.0)
        * np.where(rel, beh.relevance_multiplier, 1.0)
    )
    engaged = delivered & (u[:, U_ENGAGE] < np.minimum(p_eng, 1.0)) & ~opt_now
    staff = cb.staff_minutes + np.where(engaged, cb.staff_minutes_engaged, 0.0)
    return Response(delivered, engaged, opt_now, p_opt, staff)


def record_sends(st: ArmState, ch: int, owner: int, idx: np.ndarray, t: np.ndarray, r: Response) -> np.ndarray:
    """What the sends on channel ``ch`` (to the leads ``idx`` at ``t``) change: staff time, opt-outs,
    the send history. Returns who was qualified before."""
    st.staff[idx] += r.staff
    st.opt_out(ch, idx, np.where(r.opted_out, t, INF))
    was_qualified = st.qualified_at[idx] <= t
    st.record_send(ch, idx, t, owner)
    return was_qualified  # type: ignore[no-any-return]


def advance(st: ArmState, idx: np.ndarray, t: np.ndarray, engaged: np.ndarray) -> np.ndarray:
    """First contact, qualification (the lead fits) or disqualification of the leads who engaged at
    ``t``; returns who engaged and fits."""
    fit_now = engaged & st.lead.fit[idx]
    for when_at, hit in (
        (st.contacted, engaged),
        (st.qualified_at, fit_now),
        (st.disqualified_at, engaged & ~fit_now),
    ):
        i = idx[hit]  # the first time it happened (leads are distinct within a step)
        when_at[i] = np.minimum(when_at[i], t[hit])
    return fit_now  # type: ignore[no-any-return]


def read_and_learn(
    beh: Behaviour,
    st: ArmState,
    content: Content,
    idx: np.ndarray,
    t: np.ndarray,
    r: Response,
    read_ok: np.ndarray,
    fit_now: np.ndarray,
    rel: np.ndarray,
    educ: np.ndarray,
    u: np.ndarray,
    read_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Who only read the message, and each lead's decision time after it.

    A lead qualified before the send (``read_ok``) who neither engaged nor opted out may read it: no
    contact, but the content still works. Educational content the lead engaged with or read, and
    that speaks to it, shortens the time to decide (``education_decision_factor``).
    """
    read = r.delivered & ~r.engaged & ~r.opted_out & read_ok & (u[:, U_READ] < read_rate)
    c_dec = st.decision[idx]
    if content.education:
        shrink = (fit_now | read) & rel & educ & (c_dec > t)
        c_dec = np.where(shrink, t + (c_dec - t) * beh.education_decision_factor, c_dec)
        st.decision[idx] = c_dec
    return read, c_dec


def book(
    beh: Behaviour,
    st: ArmState,
    idx: np.ndarray,
    t: np.ndarray,
    c_dec: np.ndarray,
    interested: np.ndarray,
    read: np.ndarray,
    rel: np.ndarray,
    booking_mult: np.ndarray,
    u: np.ndarray,
    connected: np.ndarray | None,
) -> None:
    """Bookings after a message (``interested``: engaged and fit, or read). Who books: on a connected
    call (``connected``; None: not a call) when the lead is ready, at the call's time (the touch log's
    ``sent_at``); a booking link books online in waking hours (:meth:`.ArmState.online_at`); otherwise
    the lead phones and staff book in staffed hours once it is ready (:meth:`.ArmState.phone_in`). A
    booker's ``U_BOOK`` draw over its booking probability is a fresh uniform: where in the day it books.
    A lead keeps its earliest booking."""
    p_book = beh.book_rate * booking_mult * np.where(rel, beh.relevance_multiplier, 1.0)
    p_book = np.where(read, p_book * beh.read_book_factor, p_book)
    p_book = intent_readiness(beh, st.lead, idx, np.minimum(p_book, 1.0))
    books = interested & (u[:, U_BOOK] < p_book)
    frac = np.divide(u[:, U_BOOK], p_book, out=np.zeros(idx.size), where=books)
    ready = np.maximum(t, c_dec)
    online = booking_mult > 1.0
    on_call = np.zeros(idx.size, dtype=bool) if connected is None else connected & (c_dec <= t)
    when = ready.copy()
    by_staff = np.flatnonzero(books & ~(online | on_call))
    when[by_staff] = st.phone_in(idx[by_staff], ready[by_staff], frac[by_staff])
    web = np.flatnonzero(books & online & ~on_call)
    when[web] = st.online_at(idx[web], ready[web], frac[web])
    when = np.where(np.isnan(when), INF, when)
    new = books & (when < st.booked_at[idx])
    st.booked_at[idx[new]] = when[new]


def intent_readiness(beh: Behaviour, lead: Leads, idx: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The probability of booking ``p`` of the leads ``idx`` with their intent's readiness: the odds
    times ``intent_book_odds_ratio`` (a probability of 1 stays 1, 0 stays 0)."""
    ratio = np.array([float(beh.intent_book_odds_ratio[c]) for c in lead.cats["intent"]])[lead.codes["intent"][idx]]
    return np.where(p >= 1.0, 1.0, p * ratio / np.maximum(1.0 - p + p * ratio, 1e-300))  # type: ignore[no-any-return]


def inbound_conversation(beh: Behaviour, st: ArmState, ans: np.ndarray, draws: Draws, handle_minutes: float) -> None:
    """Inbound phone inquiries answered live: a conversation at the inquiry (contact, qualification, and a
    booking by staff on the call if the lead is ready, else by phone once it is, as after any answered
    call), ``handle_minutes`` of an agent's time."""
    if ans.size == 0:
        return
    lead = st.lead
    st.contacted[ans] = 0.0
    st.first_sent[ans] = 0.0
    st.record_conversation(ans, 0.0)
    st.staff[ans] += handle_minutes
    fit = lead.fit[ans]
    st.qualified_at[ans[fit]] = 0.0
    st.disqualified_at[ans[~fit]] = 0.0
    u = draws(K_INBOUND)[lead.pos[ans]]
    p_book = intent_readiness(beh, lead, ans, np.full(ans.size, min(beh.book_rate, 1.0)))
    books = fit & (u[:, U_BOOK] < p_book)
    b = ans[books]
    ready = np.maximum(st.decision[b], 0.0)
    frac = u[books, U_BOOK] / p_book[books]
    when = np.where(st.decision[b] <= 0, 0.0, st.phone_in(b, ready, frac))
    when = np.where(np.isnan(when), INF, when)
    st.booked_at[b] = np.minimum(st.booked_at[b], when)


def settle(st: ArmState, horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """After the cadence: ``(booked, lost, loss)`` — booked with us before the competitor and within
    the horizon; lost to a competitor within the horizon; the minute of the loss."""
    lead = st.lead
    loss = loss_time(lead.hazard_per_min, lead.clock, st.contacted, st.mult)
    booked = (st.booked_at < loss) & (st.booked_at <= horizon)
    lost = (loss <= horizon) & ~(st.booked_at < loss)
    return booked, lost, loss


#: Appointment slots start on this grid of minutes within clinic hours [ASSUMPTION].
SLOT_MINUTES = 15


def visit_times(st: ArmState, pol: Policy, booked: np.ndarray, booked_min: np.ndarray) -> np.ndarray:
    """The visit of each booked lead (NaN: not booked): the first appointment slot, on a clinic day, at
    or after its appointment lead time from the booking.

    [ASSUMPTION] A lead's slot time of day spreads over clinic hours: the time of day its lead time
    ends at, scaled from the 24-hour day onto clinic hours and floored to the slot grid (a lead whose
    lead time ends in the evening gets a late slot, at night an early one), so visits fill the clinic
    day instead of piling up at opening. The visit is that slot on the first clinic day it is not
    earlier than the lead time allows (in the lead's local time, daylight-saving changes included).
    """
    clinic_days = np.zeros(7, dtype=bool)
    clinic_days[list(pol.clinic_days)] = True
    ca, cb_ = pol.clinic_hours[0] * 60, pol.clinic_hours[1] * 60
    everyone = np.arange(st.lead.n)
    earliest = np.nan_to_num(booked_min + st.lead.appt_min, nan=0.0)
    tod = st.lead.local(everyone, earliest) % DAY
    slot = ca + np.floor(tod / DAY * (cb_ - ca) / SLOT_MINUTES) * SLOT_MINUTES
    visit = earliest
    for _ in range(3):  # a daylight-saving change in between is caught by the next pass
        visit = st.next_local(everyone, visit, slot, slot + 1.0, clinic_days)
    return np.where(booked, visit, np.nan)


def attendance(
    beh: Behaviour,
    lead: Leads,
    booked: np.ndarray,
    booked_min: np.ndarray,
    visit: np.ndarray,
    reminded: np.ndarray,
) -> np.ndarray:
    """Who attends the visit: the service line's no-show odds, higher the further the visit lies
    (``no_show_odds_per_week``), lower with a reminder (``reminder_odds_ratio``)."""
    odds0 = lead.base_no_show / (1 - lead.base_no_show)
    weeks = np.nan_to_num(visit - booked_min) / WEEK
    odds = odds0 * beh.no_show_odds_per_week ** (weeks - 1) * np.where(reminded, beh.reminder_odds_ratio, 1.0)
    return booked & (lead.show_u >= odds / (1 + odds))  # type: ignore[no-any-return]

"""The mutable state of one arm's run: what a send changes and what the policy rules read.

:class:`ArmState` satisfies :class:`~nurture_lab.simulation.policy.GateState` (the list of what a
rule may read). Time unit: minutes since the lead's inquiry (``INF``: never).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..scenario.model import CHANNELS, Scenario
from .calendar import next_in_window
from .leads import Leads

__all__ = ["CH", "INF", "ArmState", "OpenClock", "loss_time"]

INF = np.inf
#: Channel codes (positions in :data:`~nurture_lab.scenario.model.CHANNELS`).
CH = {c: i for i, c in enumerate(CHANNELS)}


class OpenClock(Protocol):
    """The contact centre's clock as the state reads it (see :class:`.contact_center.CentreClock`)."""

    def next_open(self, abs_min: np.ndarray) -> np.ndarray: ...

    def open_left(self, abs_min: np.ndarray) -> np.ndarray: ...


def loss_time(h: np.ndarray, clock: np.ndarray, contacted: np.ndarray, mult: float) -> np.ndarray:
    """Minute at which the integrated competitor hazard reaches the lead's clock (loss to a competitor).

    A lead who has not booked with us books elsewhere at a constant hazard ``h`` (per minute),
    ``h * mult`` after our first contact (``contacted_hazard_multiplier``; DOMAIN.md: speed to lead).
    """
    return _loss_after(_loss_alone(h, clock), contacted, clock, h, h * mult, (h > 0) & (mult > 0))


def _loss_alone(h: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """The loss with no contact from us: the clock over the hazard (inf where there is no hazard)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h > 0, clock / h, INF)  # type: ignore[no-any-return]


def _loss_after(
    before: np.ndarray, contacted: np.ndarray, clock: np.ndarray, h: np.ndarray, h_mult: np.ndarray, slowed: np.ndarray
) -> np.ndarray:
    """:func:`loss_time` from its parts: ``before`` the loss with no contact (``clock / h``),
    ``h_mult`` the hazard after a contact, ``slowed`` where that hazard is positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        after = contacted + (clock - h * contacted) / h_mult
    return np.where(before <= contacted, before, np.where(slowed, after, INF))


class ArmState:
    """Per-lead state of one arm's run: what the policy rules read and the behaviour updates."""

    def __init__(self, sc: Scenario, lead: Leads, self_book_u: np.ndarray, clock: OpenClock | None = None) -> None:
        """``self_book_u``: a uniform per lead (position in the chunk), where in its waking day a
        self-booking lead ready at night books (:meth:`online_at`)."""
        n = lead.n
        beh = sc.behaviour
        self.sc, self.lead, self.pol, self.clock = sc, lead, sc.policy, clock
        self.mult = beh.contacted_hazard_multiplier
        self.booked_at = np.full(n, INF)
        self.all_days = np.ones(7, dtype=bool)
        selfb = np.flatnonzero(lead.self_book)
        ready = lead.decision_min[selfb] * beh.self_book_delay_factor
        self.booked_at[selfb] = self.online_at(selfb, ready, self_book_u[lead.pos[selfb]])
        self.decision = lead.decision_min.copy()
        self.contacted = np.full(n, INF)
        # loss_time's per-lead parts, once per arm (the stop rules ask for the loss thousands of times):
        # the loss of a lead never contacted, the hazard after a contact, whether there is one
        self._before = _loss_alone(lead.hazard_per_min, lead.clock)
        self._h_mult = lead.hazard_per_min * self.mult
        self._slowed = (lead.hazard_per_min > 0) & (self.mult > 0)
        self.qualified_at = np.full(n, INF)
        self.disqualified_at = np.full(n, INF)
        self.opted = np.full((len(CHANNELS), n), INF)  # opt-out time per channel
        self.opted_any = np.full(n, INF)
        self.first_sent = np.full(n, INF)
        self.first_call = np.full(n, INF)
        self.last_sent = np.full(n, -INF)
        self._last_on = np.full((len(CHANNELS), n), -INF)
        self.n_sent = np.zeros(n, dtype=np.int64)
        self.staff = np.zeros(n)
        self.prev_owner = np.full(n, -1, dtype=np.int64)
        self.sends: dict[int, list[np.ndarray]] = {i: [] for i in range(len(CHANNELS))}
        self._recent: tuple[np.ndarray, tuple[str, ...], np.ndarray] | None = None  # see recent_sends
        self.staffed_days = np.zeros(7, dtype=bool)
        self.staffed_days[list(self.pol.staffed_days)] = True
        self.opt_scope_all = self.pol.opt_out_scope == "all"
        self.missed = np.zeros(n, dtype=bool)
        #: when each lead's last call that an agent reached and skipped, never reached (inf) or gave up
        #: on (its next try) was settled (-inf: none; None: no such call yet): the cadence's next step is
        #: due no earlier (:meth:`settle_calls`; a made call's next steps are spaced after it by the gate)
        self.call_settled: np.ndarray | None = None
        #: when each lead's last call that waited for an agent was made (-inf: none; None: no such call
        #: yet): a later step with a send-time policy is held to its time of day next after it
        self.call_made: np.ndarray | None = None

    # --- what the rules read
    def loss(self, idx: np.ndarray) -> np.ndarray:
        """When each lead books elsewhere; the clock stops at a booking with us (inf: never lost)."""
        before, c = self._before[idx], self.contacted[idx]
        if np.count_nonzero(before <= c) == c.size:  # every clock runs out before our first contact
            lost = before
        else:  # loss_time, with its per-lead parts read from the arm's tables
            lead = self.lead
            lost = _loss_after(
                before, c, lead.clock[idx], lead.hazard_per_min[idx], self._h_mult[idx], self._slowed[idx]
            )
        return np.where(self.booked_at[idx] < lost, INF, lost)

    def opted_for(self, channel: str, idx: np.ndarray) -> np.ndarray:
        return self.opted_any[idx] if self.opt_scope_all else self.opted[CH[channel]][idx]

    def last_on(self, channel: str, idx: np.ndarray) -> np.ndarray:
        return self._last_on[CH[channel]][idx]

    def count_sent(self, channel: str, idx: np.ndarray, since: np.ndarray | None = None) -> np.ndarray:
        """Messages sent on the channel to the leads ``idx`` (after ``since``, if given)."""
        out = np.zeros(idx.size, dtype=np.int64)
        for x in self.sends[CH[channel]]:
            v = x[idx]
            out += (v > since) if since is not None else ~np.isnan(v)
        return out

    def recent_sends(self, channels: tuple[str, ...], idx: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` most recent send times on these channels, most recent first (-inf where fewer).

        The sorted sends of the last ``(channels, idx)`` asked are kept until the next send: the
        day and week caps of one gate pass read the same leads' sends on the same channel.
        """
        kept = self._recent
        if kept is not None and kept[0] is idx and kept[1] == channels:
            return kept[2][:, :k]  # type: ignore[no-any-return]
        cols = [x[idx] for ch in channels for x in self.sends[CH[ch]]]
        if not cols:
            return np.empty((idx.size, 0))
        prev = np.stack(cols, axis=1)
        prev = np.where(np.isnan(prev), -INF, prev)
        ordered = -np.sort(-prev, axis=1)
        self._recent = (idx, channels, ordered)
        return ordered[:, :k]

    def next_local(self, idx: np.ndarray, t: np.ndarray, a: Any, b: Any, days: np.ndarray) -> np.ndarray:
        """Earliest time >= ``t`` in the daily local window [a, b) minutes on ``days`` (NaN: none)."""
        loc = self.lead.local(idx, t)
        nxt = t + (next_in_window(loc, a, b, days) - loc)
        # a daylight-saving change between t and nxt: the gate's next pass re-reads the local time
        return nxt

    def next_waking(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Earliest time >= ``t`` in the lead's waking hours (online bookings)."""
        wa, wb = self.sc.behaviour.waking_hours
        return self.next_local(idx, t, wa * 60, wb * 60, self.all_days)

    def next_staffed(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Earliest time >= ``t`` in staffed hours: the contact centre's clock if there is one, else the lead's."""
        if self.clock is not None:
            c = self.lead.created_min[idx]
            return self.clock.next_open(c + t) - c
        sa, sb = self.pol.staffed_hours[0] * 60, self.pol.staffed_hours[1] * 60
        return self.next_local(idx, t, sa, sb, self.staffed_days)

    def online_at(self, idx: np.ndarray, ready: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """When leads ready at ``ready`` book online: at once in their waking hours, else ``frac`` of
        the way through their next waking day.

        [ASSUMPTION] A lead who decides at night books during the next day at a time of its own, not
        on waking (``frac`` a uniform per lead).
        """
        wa, wb = self.sc.behaviour.waking_hours
        nxt = self.next_waking(idx, ready)
        return np.where(nxt > ready, nxt + frac * (wb - wa) * 60.0, nxt)  # type: ignore[no-any-return]

    def phone_in(self, idx: np.ndarray, ready: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """When leads ready at ``ready`` (after a contact) book by phone with staff: at once in staffed
        hours, else ``frac`` of the way through the next stretch of staffed time (the contact centre's
        shifts if there is one, else the staffed hours on the lead's clock). NaN: never staffed.

        [ASSUMPTION] A lead ready while no one is on shift phones during the next staffed stretch at
        a time of its own (``frac`` a uniform per lead), not when the lines open.
        """
        nxt = self.next_staffed(idx, ready)
        if self.clock is not None:
            span = self.clock.open_left(self.lead.created_min[idx] + nxt)
        else:
            sa, sb = self.pol.staffed_hours
            span = np.full(idx.size, (sb - sa) * 60.0)
        return np.where(nxt > ready, nxt + frac * span, nxt)  # type: ignore[no-any-return]

    # --- what a send changes
    def record_send(self, ch: int, idx: np.ndarray, t: np.ndarray, owner: int | None) -> None:
        sent = np.isfinite(t)
        full = np.full(self.lead.n, np.nan)
        full[idx] = t
        self.sends[ch].append(full)
        self._recent = None
        i = idx[sent]
        ts = t[sent]
        self.n_sent[i] += 1
        self.last_sent[i] = np.maximum(self.last_sent[i], ts)
        self._last_on[ch][i] = np.maximum(self._last_on[ch][i], ts)
        self.first_sent[i] = np.minimum(self.first_sent[i], ts)
        if CHANNELS[ch] == "call":
            self.first_call[i] = np.minimum(self.first_call[i], ts)
        if owner is not None:
            self.prev_owner[i] = owner

    def record_conversation(self, idx: np.ndarray, t: float) -> None:
        """An answered inbound call at ``t``: a touch for the spacing rules (``min_gap_minutes``, the gap
        between calls, between a call and a text), not a message sent (no cap counts it)."""
        self.last_sent[idx] = np.maximum(self.last_sent[idx], t)
        self._last_on[CH["call"]][idx] = np.maximum(self._last_on[CH["call"]][idx], t)

    def settle_calls(self, idx: np.ndarray, at: np.ndarray) -> None:
        """The waiting calls of the leads ``idx`` (distinct) were settled without being made at ``at``
        (inf: never reached)."""
        if self.call_settled is None:
            self.call_settled = np.full(self.lead.n, -INF)
        self.call_settled[idx] = np.maximum(self.call_settled[idx], at)

    def made_after_wait(self, idx: np.ndarray, at: np.ndarray) -> None:
        """The calls of the leads ``idx`` (distinct) that waited for an agent were made at ``at``."""
        if self.call_made is None:
            self.call_made = np.full(self.lead.n, -INF)
        self.call_made[idx] = np.maximum(self.call_made[idx], at)

    def opt_out(self, ch: int, idx: np.ndarray, at: np.ndarray) -> None:
        self.opted[ch][idx] = np.minimum(self.opted[ch][idx], at)
        self.opted_any[idx] = np.minimum(self.opted_any[idx], at)

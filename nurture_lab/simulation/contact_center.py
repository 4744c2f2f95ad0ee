"""The contact centre: a finite number of agents working one queue of calls shared by every arm.

Time unit: UTC minutes since 1970-01-01 (``abs``); the centre's clock is its own time zone
(``[contact_center] timezone``), with its daylight-saving changes (:class:`.calendar.CentreClock`).

How a call is placed (see :class:`Queue`):

* The policy gate gives the earliest moment the call may be made (the *request*); the call joins
  the queue in the minute the request falls in and, reached in that minute, starts at the request
  itself (to the second); a call that waits starts at the whole minute an agent reaches it. An
  agent's time is counted by the minute a call starts in.
* Calls are served in **rounds**: round 0 are the inbound phone inquiries (answered live when an
  agent is free that minute, else missed), round ``r`` the ``r``-th call point of every arm's
  cadence (a call step, its failed handoffs' duplicates, the reminder), across every arm and chunk;
  an arm whose leads have no call there still takes its turn. Earlier rounds go first (a lead's
  first call before anyone's follow-up, as speed-to-lead practice asks); within a round the order
  is first requested, first served (``queue = "fifo"``) or higher lead score first (``"score"``),
  then fifo; calls requested in the same minute go in the leads' order of arrival, whatever their
  arm (no arm is ahead of another in the experiment's queue).
* An agent takes an outbound call when free and only if the shift lasts for the longest handle
  time (no call is cut by the end of a shift); an inbound call ringing while an agent on shift is
  free is answered, even near the shift's end, and finished after it. So the calls *started* never
  exceed the agents on shift, and a call in progress may run past the shift's end — a test checks
  both minute by minute.
* When the agent reaches the call the lead's situation is judged again: outside the lead's legal
  calling hours, or after a stop (booked, lost, opted out, answered) the agent spends no time on it;
  the engine's policy gate then decides, at that moment, to skip it or to put it back in the queue
  at its next allowed time. The call's outcome — connected, voicemail, no answer — is drawn at
  that moment from the lead's engagement probability then, and sets the agent minutes.

Deterministic: no random draw here; the draws come with the calls (common random numbers), and
the queue is one pass in a fixed order over every chunk, so one seed gives one result on any
number of processes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._erlang import erlang_c_agents, erlang_c_wait
from ..scenario.model import ContactCenter
from .behaviour import near_preferred_hour, time_factor
from .calendar import DAY, CentreClock
from .queue_pass import place

__all__ = ["Calls", "CentreClock", "Queue", "erlang_c_agents", "erlang_c_wait"]

INF = np.inf


# --------------------------------------------------------------------------------------
# Calls


@dataclass
class Calls:
    """A batch of call requests (one array entry per call), with what judging it at a moment needs."""

    req: np.ndarray  # UTC minute the gate allows the call
    level: np.ndarray  # queue priority within the round (higher first)
    created: np.ndarray  # UTC minute of the lead's inquiry
    off: np.ndarray  # the lead's UTC offset at the request (minutes)
    dst_next: np.ndarray  # the lead's next daylight-saving change after the request (UTC minute; inf: none)
    dst_delta: np.ndarray  # its change of the offset (a wait never spans two changes, months apart)
    lo: np.ndarray  # legal calling window, local minutes of the day [lo, hi)
    hi: np.ndarray
    stop: np.ndarray  # minutes since inquiry from which a stop rule holds (inf: none)
    horizon: np.ndarray  # minutes since inquiry after which nothing is sent
    p: np.ndarray  # engagement probability without the time-dependent factors
    pref_hour: np.ndarray
    u_eng: np.ndarray
    u_vm: np.ndarray
    voicemail_ok: np.ndarray  # the policy allows a voicemail (no confidential-communication request)

    @staticmethod
    def concat(parts: list[Calls]) -> Calls:
        return Calls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Calls.__dataclass_fields__})

    def take(self, rows: np.ndarray) -> Calls:
        return Calls(**{f: getattr(self, f)[rows] for f in Calls.__dataclass_fields__})


@dataclass(frozen=True)
class _Model:
    """The engagement formula's time-dependent part and the handle times."""

    speed_floor: float
    half_life: float
    pref_mult: float
    connected: int
    voicemail: int
    no_answer: int
    voicemail_rate: float


def judge(c: Calls, rows: Any, at: np.ndarray, mdl: _Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At UTC minute ``at``: may the call be made (legal hours, no stop), is it connected, agent minutes."""
    t = at - c.created[rows]
    loc = at + c.off[rows]
    loc += np.where(at >= c.dst_next[rows], c.dst_delta[rows], 0.0)
    lm = loc % DAY
    ok = (lm >= c.lo[rows]) & (lm < c.hi[rows]) & (t < c.stop[rows]) & (t <= c.horizon[rows])
    p = c.p[rows] * time_factor(t, mdl.speed_floor, mdl.half_life)
    p = np.where(near_preferred_hour(lm / 60.0, c.pref_hour[rows]), p * mdl.pref_mult, p)
    conn = ok & (c.u_eng[rows] < np.minimum(p, 1.0))
    vm = ok & ~conn & c.voicemail_ok[rows] & (c.u_vm[rows] < mdl.voicemail_rate)
    handle = np.where(conn, mdl.connected, np.where(vm, mdl.voicemail, mdl.no_answer))
    return ok, conn, np.where(ok, handle, 0)


@dataclass
class Served:
    """What the queue did with each call of a batch."""

    start: np.ndarray  # UTC minute an agent reached it (NaN: never within the timeline)
    ok: np.ndarray  # the agent could make the call then
    connected: np.ndarray
    handle: np.ndarray  # agent minutes (0 where not ok)


# --------------------------------------------------------------------------------------
# The queue


class Queue:
    """Agents on shift per minute over the simulated timeline, and the calls already placed."""

    def __init__(self, clock: CentreClock, g0: int, n_minutes: int, mdl: _Model) -> None:
        self.clock, self.g0, self.mdl = clock, g0, mdl
        self.hmax = max(mdl.connected, mdl.voicemail, mdl.no_answer)
        self.n = n_minutes
        self.agents = clock.capacity(g0, n_minutes + self.hmax + 1)
        self.busy = np.zeros(self.agents.size, dtype=np.int64)  # calls in progress per minute
        #: what each pass did, call by call, for the truth's ``experiment`` setting (:mod:`.truth_queue`)
        self.log: Any = None

    def _capmin(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Agents free in every minute of [m, m + longest handle): no call is cut by a shift's end
        (minutes ``lo .. hi - 1``, default all)."""
        hi = self.n if hi is None else hi
        w = max(hi - lo, 0)
        res = self.agents[lo : lo + w + self.hmax] - self.busy[lo : lo + w + self.hmax]  # only the window
        if self.hmax <= 1:
            return res[:w].copy()
        # minima over spans doubling to the largest power of two within hmax, then two of them overlap
        # to cover hmax minutes: log2(hmax) passes over the window, not hmax - 1
        span = 1
        while span * 2 <= self.hmax:
            res = np.minimum(res[:-span], res[span:])
            span *= 2
        return np.minimum(res[:w], res[self.hmax - span : self.hmax - span + w])

    def commit(self, start: np.ndarray, handle: np.ndarray) -> None:
        """Hold the agents for calls actually made (UTC start minutes, agent minutes)."""
        keep = np.isfinite(start) & (handle > 0)
        if not keep.any():
            return
        s = start[keep].astype(np.int64) - self.g0
        lo, hi = int(s.min()), int(s.max()) + self.hmax + 1
        d = np.zeros(hi - lo + 1, dtype=np.int64)
        np.add.at(d, s - lo, 1)
        np.add.at(d, s - lo + handle[keep].astype(np.int64), -1)
        self.busy[lo:hi] += np.cumsum(d)[: hi - lo]

    def inbound(self, arrive_abs: np.ndarray) -> np.ndarray:
        """Inbound calls ring at ``arrive_abs``: answered (True) when an agent on shift is free that
        minute. An agent answers even in the last minutes of a shift and finishes the call after it
        ends (outbound calls, placed later, are not started unless they end within the shift)."""
        a = np.ceil(arrive_abs).astype(np.int64) - self.g0
        order = np.argsort(a, kind="stable")
        answered = np.zeros(a.size, dtype=bool)
        if a.size == 0:
            return answered
        mins, first, counts = np.unique(a[order], return_index=True, return_counts=True)
        h = self.mdl.connected
        # per minute with calls ringing (in order): agents free less the answered calls still on
        # (an answered call ends h >= 1 minutes on; a loop over ringing minutes, not every minute)
        ends: deque[tuple[int, int]] = deque()  # (minute the answered calls end, how many), in order
        took_f, took_k = [], []
        busy = 0
        # agents free per ringing minute, read only where calls ring (not the months of the timeline)
        ring = mins[mins < self.n]
        free_l = iter((self.agents[ring] - self.busy[ring]).tolist())
        for m, f, c in zip(mins.tolist(), first.tolist(), counts.tolist(), strict=True):
            while ends and ends[0][0] <= m:
                busy -= ends.popleft()[1]
            if m >= self.n:
                break
            k = min(max(next(free_l) - busy, 0), c)
            if k:
                took_f.append(f)
                took_k.append(k)
                ends.append((m + h, k))
                busy += k
        if took_k:  # the first k calls ringing in each such minute, in ring order
            fk, kk = np.array(took_f, dtype=np.int64), np.array(took_k, dtype=np.int64)
            within = np.arange(int(kk.sum())) - np.repeat(np.cumsum(kk) - kk, kk)
            answered[order[np.repeat(fk, kk) + within]] = True
        start = np.where(answered, (a + self.g0).astype(np.float64), np.nan)
        self.commit(start, np.where(answered, h, 0))
        return answered

    def serve(self, c: Calls, rnd: int, sub: int, ident: Any = None) -> Served:
        """Serve one batch of calls (one round, or calls put back in it) through the free agents.

        A call's agent minutes depend on its outcome, and its outcome on the moment an agent reaches
        it; the queue is solved by a few passes: outcomes judged at the request, the queue run, the
        outcomes judged again where the agents reached the calls, until they no longer change
        (``MAX_PASSES``; a call whose outcome still changes keeps the outcome of the pass that placed
        it, so the agents' time always matches the queue). Each pass is one loop over minutes with
        counts only; the outcomes are judged for all calls at once.
        """
        n_calls = c.req.size
        start = np.full(n_calls, np.nan)
        ok = np.zeros(n_calls, dtype=bool)
        conn = np.zeros(n_calls, dtype=bool)
        handle = np.zeros(n_calls, dtype=np.int64)
        if n_calls == 0:
            return Served(start, ok, conn, handle)
        # a call joins the queue in the minute its request falls in; reached in that minute it starts
        # at the request itself (to the second), later at the start of the minute an agent reaches it
        a = np.maximum(np.floor(c.req).astype(np.int64) - self.g0, 0)
        at_once = np.maximum(c.req, (a + self.g0).astype(np.float64))
        inside = np.flatnonzero(a < self.n)
        ok[inside], conn[inside], handle[inside] = judge(c, inside, at_once[inside], self.mdl)
        levels = sorted(np.unique(c.level[inside]).tolist(), reverse=True)
        # within a level: first requested first, then the leads' order of arrival (chunk, position),
        # whatever their arm (``ident``; without it, the batch's order)
        order_key = a if ident is None else ident.order_key(a)
        orders = []
        for lv in levels:
            rows = inside[c.level[inside] == lv]
            orders.append(rows[np.argsort(order_key[rows], kind="stable")])
        win = _Window.first(self, a, inside, orders)
        # the minute each call's outcome was judged at: a call reached at that very minute keeps it
        # (judging is a function of the call and the minute), so only calls that moved are judged again
        judged = at_once.copy()
        for it in range(MAX_PASSES):
            reach, win = win.reach(self, a, inside, orders, handle)
            start = np.maximum(reach + self.g0, at_once)
            reached = np.flatnonzero(np.isfinite(start) & (start != judged))
            o2, c2, h2 = judge(c, reached, start[reached], self.mdl)
            same = h2 == handle[reached]
            judged[reached[same]] = start[reached[same]]
            # the same agent minutes: the outcome at the moment reached stands
            ok[reached[same]], conn[reached[same]] = o2[same], c2[same]
            if same.all() or it == MAX_PASSES - 1:
                # a call whose outcome still changes keeps the outcome this placement used
                break
            ch = reached[~same]
            ok[ch], conn[ch], handle[ch] = o2[~same], c2[~same], h2[~same]
            judged[ch] = start[ch]
        sv = Served(start, ok, conn, np.where(np.isfinite(start), handle, 0))
        if self.log is not None and ident is not None:
            self.log.add(rnd, sub, c.level, a, ident, sv, self.g0, self._left_free(win.full_cap(self), sv))
        return sv

    def _left_free(self, cap: np.ndarray, sv: Served) -> np.ndarray:
        """Minutes with an agent still free after a pass placed its calls (before later passes)."""
        keep = np.isfinite(sv.start) & (sv.handle > 0)
        s = sv.start[keep].astype(np.int64) - self.g0
        d = np.zeros(self.n + self.hmax + 2, dtype=np.int64)
        np.add.at(d, s, 1)
        np.add.at(d, s + sv.handle[keep], -1)
        return cap - np.cumsum(d)[: self.n] > 0


#: A batch's queue is first solved over the minutes from its first call to this many minutes past its
#: last (the queue's arrays cover months; a batch rarely waits beyond a weekend), then, if a call still
#: waits at the end, over the whole timeline: the same answer either way.
WINDOW_SLACK = int(4 * DAY)


@dataclass
class _Window:
    """The minutes ``lo .. hi - 1`` a batch's queue is solved over, and what the pass reads there."""

    lo: int
    hi: int
    cap: np.ndarray  # agents free for a whole call in each minute of the window, before this batch
    open_next: np.ndarray

    @staticmethod
    def first(q: Queue, a: np.ndarray, inside: np.ndarray, orders: list[np.ndarray]) -> _Window:
        """The window of a batch: from its first call to :data:`WINDOW_SLACK` past its last (with a
        pass log, the whole timeline: the log keeps every minute's free agents)."""
        if q.log is not None or inside.size == 0:
            return _Window.over(q, a, orders, 0, q.n)
        lo, last = int(a[inside].min()), int(a[inside].max())
        return _Window.over(q, a, orders, lo, min(q.n, last + WINDOW_SLACK))

    @staticmethod
    def over(q: Queue, a: np.ndarray, orders: list[np.ndarray], lo: int, hi: int) -> _Window:
        cap = q._capmin(lo, hi)
        n = hi - lo
        # the next minute (>= m) with a free agent: each open minute repeated over the minutes up to it
        # (a backward running minimum over every minute costs more)
        pos = np.flatnonzero(cap > 0)
        open_next = np.repeat(np.r_[pos, n], np.diff(np.r_[-1, pos, n - 1]))
        return _Window(lo, hi, cap, open_next)

    def reach(
        self, q: Queue, a: np.ndarray, inside: np.ndarray, orders: list[np.ndarray], handle: np.ndarray
    ) -> tuple[np.ndarray, _Window]:
        """The minute (relative to the queue's first) each call is reached, and the window that held
        the answer: this one if every call of the batch was reached in it, else the whole timeline."""
        got = place(a - self.lo, orders, handle, self.cap, self.open_next, q.hmax) + self.lo
        if self.hi >= q.n or not np.isnan(got[inside]).any():
            return got, self
        return _Window.over(q, a, orders, 0, q.n).reach(q, a, inside, orders, handle)

    def full_cap(self, q: Queue) -> np.ndarray:
        return self.cap if (self.lo, self.hi) == (0, q.n) else q._capmin()


#: Passes of the queue per batch (see :meth:`Queue.serve`): 4 left unsettled placements with scarce
#: staff (where an early call starts could depend on later calls); 12 settle where calls wait days.
MAX_PASSES = 12


def model_of(cc: ContactCenter, beh: Any) -> _Model:
    hm = cc.handle_minutes
    return _Model(
        float(beh.speed_floor),
        float(beh.speed_half_life_minutes),
        float(beh.preferred_hour_multiplier),
        int(hm["connected"]),
        int(hm["voicemail"]),
        int(hm["no_answer"]),
        float(cc.voicemail_rate),
    )

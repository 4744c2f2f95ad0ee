"""The bridge between an arm's step pipeline and the contact centre's shared queue.

An arm's run (:func:`~nurture_lab.simulation.cadence.run_arm`) is a generator: it yields each batch
of calls as a :class:`CallTask` and resumes once the shared queue has served it. :func:`drive` runs
the arms of every chunk in lockstep, so the calls of every arm and chunk share the agents; the gate
judges each call again at the moment an agent reaches it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario.model import Scenario
from .calendar import DAY, CentreClock
from .contact_center import Calls, Queue, Served, model_of
from .leads import Leads
from .policy import QUEUE_BIT, REASON_CODE, GateResult, Message, call_window, gate, stop_time, subset, voicemail_allowed
from .state import INF, ArmState
from .truth_queue import Ident, ReplayQueue

__all__ = ["MAX_QUEUE_PASSES", "CallTask", "CentreView", "IdleTask", "centre_of", "drive"]


@dataclass(frozen=True)
class CentreView:
    """The contact centre as one arm's run sees it: its clock, the score points, handle times."""

    clock: CentreClock
    points: dict[str, int]
    new_lead_minutes: float
    handle: dict[str, int]

    def score(self, lead: Leads, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The transparent lead score of the ``score`` queue: named points, nothing learned."""
        out = np.zeros(idx.size, dtype=np.int64)
        for key, pts in self.points.items():
            if key == "new_lead":
                out += np.where(t <= self.new_lead_minutes, pts, 0)
                continue
            col, value = key.split(".", 1)
            hit = np.array([c == value for c in lead.cats[col]], dtype=bool)
            if hit.any():
                out += np.where(hit[lead.codes[col][idx]], pts, 0)
        return out


def centre_of(sc: Scenario, first_abs: float, span_days: float) -> tuple[CentreView, Queue] | None:
    cc = sc.contact_center
    if cc is None:
        return None
    clock = CentreClock(cc, sc.policy, first_abs, span_days)
    points = dict(cc.score_points) if cc.queue == "score" else {}
    ctx = CentreView(clock, points, cc.new_lead_hours * 60.0, dict(cc.handle_minutes))
    g0 = int(np.floor(first_abs))
    q = Queue(clock, g0, int(np.ceil(span_days * DAY)) + 1, model_of(cc, sc.behaviour))
    return ctx, q


class CallTask:
    """A batch of calls waiting for the contact centre's agents.

    The gate has given each call its earliest allowed moment (the request); the queue tells when
    an agent reaches it; the gate then judges the call again at that moment: sent, skipped, or
    back in the queue at its next allowed time (see :mod:`.contact_center`).
    """

    def __init__(
        self,
        msg: Message,
        st: ArmState,
        horizon: float,
        res: GateResult,
        p: np.ndarray,
        u_eng: np.ndarray,
        u_vm: np.ndarray,
        centre: CentreView,
    ) -> None:
        self.msg, self.st, self.horizon, self.res, self.centre = msg, st, horizon, res, centre
        self.p, self.u_eng, self.u_vm = p, u_eng, u_vm
        m = msg.idx.size
        self.connected = np.zeros(m, dtype=bool)
        self.handle = np.full(m, np.nan)
        self.queue = np.full(m, np.nan)
        self.rows = np.flatnonzero(res.send)
        self.req = res.t[self.rows]
        self.queue[self.rows] = 0.0
        self.made: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0, dtype=np.int64))

    def calls(self) -> Calls:
        msg, st, lead, rows = self.msg, self.st, self.st.lead, self.rows
        idx = msg.idx[rows]
        created = lead.created_min[idx]
        sub = subset(msg, rows)
        lo, hi = call_window(sub, st)
        req = created + self.req
        # the lead's clock at the request and its next daylight-saving change
        nxt, delta = np.full(rows.size, INF), np.zeros(rows.size)
        for k in range(len(lead.dst_at)):  # the earliest change after the request (the first of equals)
            at = lead.dst_at[k][idx]
            sooner = (at > req) & (at < nxt)
            nxt = np.where(sooner, at, nxt)
            delta = np.where(sooner, lead.dst_delta[k][idx], delta)
        return Calls(
            req=req,
            level=self.centre.score(lead, idx, self.req) if self.centre.points else np.zeros(rows.size, np.int64),
            created=created,
            off=lead.local(idx, self.req) - req,
            dst_next=nxt,
            dst_delta=delta,
            lo=lo,
            hi=hi,
            stop=stop_time(sub, st),
            horizon=np.full(rows.size, self.horizon),
            p=self.p[rows],
            pref_hour=lead.preferred_hour[idx],
            u_eng=self.u_eng[rows],
            u_vm=self.u_vm[rows],
            voicemail_ok=voicemail_allowed(sub, st),
        )

    def answer(self, sv: Served) -> None:
        """What the queue did with the pending calls; the gate judges each at the moment it was reached."""
        msg, res, rows = self.msg, self.res, self.rows
        created = self.st.lead.created_min[msg.idx[rows]]
        ts = sv.start - created
        reached = np.isfinite(ts)
        lost = rows[~reached]
        res.skip[lost] = REASON_CODE["no_agent"]
        res.t[lost] = np.nan
        r, ts, req = rows[reached], ts[reached], self.req[reached]
        ok, conn, handle = sv.ok[reached], sv.connected[reached], sv.handle[reached]
        self.queue[r] += np.maximum(ts - req, 0.0)  # no negative float noise on a call reached at once
        # a call reached in its request's minute starts at the request; any wait is the queue's
        res.defer[r[ts > req + 1e-9]] |= QUEUE_BIT
        waited = ts >= req + 1.0
        # the gate judges again every call that waited or that the agent could not make; a call
        # reached within the minute the gate allowed, in legal hours with no stop, stands as allowed
        again_t = ts.copy()
        verdict = np.zeros(r.size, dtype=np.int16)  # the gate's skip code (0: allowed)
        made = ok & ~waited
        judge_rows = np.flatnonzero(waited | ~ok)
        if judge_rows.size:
            g = gate(subset(msg, r[judge_rows], planned=ts[judge_rows]), self.st, self.horizon)
            res.defer[r[judge_rows]] |= g.defer
            verdict[judge_rows] = g.skip
            again_t[judge_rows] = np.where(g.send, g.t, np.nan)
            made[judge_rows] = g.send & ok[judge_rows] & (g.t <= ts[judge_rows] + 1e-9)
        stopped = verdict > 0
        res.skip[r[stopped]] = verdict[stopped]
        res.t[r[stopped]] = np.nan
        res.t[r[made]] = ts[made]
        self.connected[r[made]] = conn[made]
        self.handle[r[made]] = handle[made]
        # allowed later, or allowed now though the agent found it could not be made: back in the queue
        again = ~stopped & ~made
        # allowed now by the gate but not makeable by the agent: it waits in the queue for the next minute
        res.defer[r[again & ~(again_t > ts + 1e-9)]] |= QUEUE_BIT
        self.rows = r[again]
        self.req = np.where(again_t > ts + 1e-9, again_t, ts + 1.0)[again]
        self.made = (sv.start[reached][made], handle[made])
        # the lead's cadence goes on once its call is settled: a made call's later steps are spaced
        # after it by the gate; a call skipped when an agent reached it holds them until then
        self.st.settle_calls(msg.idx[np.r_[r[stopped], lost]], np.r_[ts[stopped], np.full(lost.size, INF)])
        # a made call that waited for an agent (over all its passes: the gate may have put it back in
        # the queue after it waited) holds a later send-time step to its hour
        held = made & (self.queue[r] >= 1.0)
        if np.count_nonzero(held):
            self.st.made_after_wait(msg.idx[r[held]], ts[held])

    def give_up(self) -> None:
        """Calls still waiting after the last pass: no agent reached them."""
        self.res.skip[self.rows] = REASON_CODE["no_agent"]
        self.res.t[self.rows] = np.nan
        self.st.settle_calls(self.msg.idx[self.rows], self.req)  # given up at its next try
        self.rows = self.rows[:0]


class IdleTask(CallTask):
    """A round in which an arm's run has no call (see :func:`.cadence.idle_rounds`)."""

    def __init__(self) -> None:
        self.rows = np.zeros(0, dtype=np.int64)

    def give_up(self) -> None:
        """No call waits."""


#: Passes of the queue within one round before a call counts as never reached (``no_agent``).
MAX_QUEUE_PASSES = 8


#: Who a generator's calls are: its chunk's index, the arm it runs, its leads' chunk positions
#: (None: the generator's leads are the whole chunk), the chunk's size.
Who = tuple[int, int, np.ndarray | None, int]


def drive(
    gens: list[Generator[CallTask, None, Any]], server: Queue | ReplayQueue, who: Sequence[Who] | None = None
) -> list[Any]:
    """Run arm generators in lockstep: each round, every generator's next batch of calls is served
    together by one queue (the calls of every arm and chunk share the agents). ``who`` (one per
    generator) names each call's lead for the queue's record (:mod:`.truth_queue`)."""
    out: list[Any] = [None] * len(gens)
    tasks: dict[int, CallTask] = {}
    seqs: dict[int, np.ndarray] = {}  # per chunk: calls of each lead served so far

    def advance(i: int, first: bool) -> None:
        try:
            tasks[i] = next(gens[i]) if first else gens[i].send(None)
        except StopIteration as e:
            out[i] = e.value
            tasks.pop(i, None)

    for i in range(len(gens)):
        advance(i, True)
    rnd = 1
    while tasks:
        for sub in range(MAX_QUEUE_PASSES):
            parts = [(i, t, t.calls()) for i, t in tasks.items() if t.rows.size]
            if not parts:
                break
            batch = Calls.concat([c for _, _, c in parts])
            ident = None if who is None else _ident([(who[i], t) for i, t, _ in parts], seqs)
            sv = server.serve(batch, rnd, sub, ident)
            lo = 0
            for _, t, c in parts:
                hi = lo + c.req.size
                t.answer(Served(sv.start[lo:hi], sv.ok[lo:hi], sv.connected[lo:hi], sv.handle[lo:hi]))
                lo = hi
            made = [t.made for _, t, _ in parts]
            server.commit(np.concatenate([m[0] for m in made]), np.concatenate([m[1] for m in made]))
        for t in tasks.values():
            t.give_up()
        for i in list(tasks):
            advance(i, False)
        rnd += 1
    return out


def _ident(parts: list[tuple[Who, CallTask]], seqs: dict[int, np.ndarray]) -> Ident:
    """Who the calls of a batch are (in batch order), counting each lead's calls served."""
    cols: list[list[np.ndarray]] = [[], [], [], []]
    for (chunk, arm, posmap, n), t in parts:
        local = t.msg.idx[t.rows]
        pos = (local if posmap is None else posmap[local]).astype(np.int64)
        cnt = seqs.setdefault(chunk, np.zeros(n, dtype=np.int64))
        cols[0].append(np.full(pos.size, chunk, dtype=np.int64))
        cols[1].append(np.full(pos.size, arm, dtype=np.int64))
        cols[2].append(pos)
        cols[3].append(cnt[pos].copy())
        cnt[pos] += 1
    return Ident(*(np.concatenate(c) for c in cols))

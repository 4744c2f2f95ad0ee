"""The truth's ``experiment`` setting: every lead through one arm against the queue as it was.

The observed run's queue records, pass by pass (a round of calls and the re-queued passes within
it), what it did with each call (:class:`PassLog`). The truth then runs every lead through arm
``A`` and serves its calls with :class:`ReplayQueue`:

* a lead assigned to ``A`` meets exactly what its calls met: the observed start, outcome and agent
  minutes of its ``k``-th call are replayed for its ``k``-th call (the same leads, draws and gate
  give the same calls), so its potential outcome under its own arm *is* its observed outcome;
* a lead assigned elsewhere is a counterfactual call slotted into the realised queue of the same
  pass where an ``A`` call of its arrival minute, chunk and lead position would have been: it is
  reached no earlier than the call before it in the queue's order, and when the call after it was
  reached or when an agent was left free by the pass, whichever comes first. It takes no agent time.

So each arm's observed mean is the mean of a random sample (the arm's randomised leads) of the
leads' potential outcomes under that arm with the queue that ran, and the observed minus true arm
means average 0 over seeds (``tests/simulation/test_truth.py``). The ``rollout`` setting is not
this: there every lead is on the arm and the queue is run again with the same staff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .contact_center import Calls, Queue, Served, judge

__all__ = ["Ident", "PassLog", "ReplayQueue"]

INF = np.inf
MAX_SUB = 64  # more than the queue's passes within a round (calls.MAX_QUEUE_PASSES)
POS_BITS, SEQ_BITS, CHUNK_BITS = 17, 12, 12


@dataclass(frozen=True)
class Ident:
    """Who each call of a batch is: its lead's chunk and chunk position, the arm it runs under, and
    how many calls of this lead the queue served before (``seq``)."""

    chunk: np.ndarray
    arm: np.ndarray
    pos: np.ndarray
    seq: np.ndarray

    def lead_key(self) -> np.ndarray:
        """One int64 per call: (chunk, position, seq), for the replay of a lead's own calls."""
        assert int(self.pos.max(initial=0)) < 2**POS_BITS and int(self.seq.max(initial=0)) < 2**SEQ_BITS
        return (self.chunk << (POS_BITS + SEQ_BITS)) | (self.pos << SEQ_BITS) | self.seq

    def order_key(self, a: np.ndarray) -> np.ndarray:
        """One int64 per call: the queue's order within a level (arrival minute, chunk, chunk position).

        The arm is not in it: calls requested in the same minute are served in the leads' order of
        arrival whatever their arm, so no arm is ahead of another in the experiment's queue."""
        assert int(a.max(initial=0)) < 2 ** (63 - CHUNK_BITS - POS_BITS)
        return ((a << CHUNK_BITS | self.chunk) << POS_BITS) | self.pos


@dataclass(frozen=True)
class _Pass:
    """One pass of the observed queue: per level, its calls' order keys (sorted) and the minutes
    they were reached (relative to the queue's first minute; inf: never); the minutes an agent was
    still free after it, as intervals ``[lo, hi)``."""

    levels: dict[int, tuple[np.ndarray, np.ndarray]]
    lo: np.ndarray
    hi: np.ndarray

    def next_free(self, m: np.ndarray) -> np.ndarray:
        """The first minute ``>= m`` with an agent left free by this pass (inf: none)."""
        j = np.searchsorted(self.hi, m, side="right")
        inside = j < self.lo.size
        return np.where(inside, np.maximum(m, self.lo[np.minimum(j, self.lo.size - 1)] if self.lo.size else m), INF)


@dataclass
class PassLog:
    """What the observed queue did, pass by pass and call by call (see the module docstring)."""

    passes: dict[tuple[int, int], _Pass] = field(default_factory=dict)
    parts: list[tuple[np.ndarray, Served, np.ndarray, np.ndarray]] = field(default_factory=list)
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    served: Served | None = None
    #: per recorded call: its request minute (relative) and its pass (``rnd * MAX_SUB + sub``)
    req: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pass_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def add(
        self, rnd: int, sub: int, level: np.ndarray, a: np.ndarray, ident: Ident, sv: Served, g0: int, free: np.ndarray
    ) -> None:
        """Record one pass: the calls' order and start minutes, the free minutes left, the outcomes."""
        rel = np.where(np.isfinite(sv.start), sv.start - g0, INF)
        okey = ident.order_key(a)
        levels = {}
        for lv in np.unique(level).tolist():
            rows = np.flatnonzero(level == lv)
            o = np.argsort(okey[rows], kind="stable")
            levels[int(lv)] = (okey[rows][o], rel[rows][o])
        edges = np.flatnonzero(np.diff(np.r_[0, free.astype(np.int8), 0]))
        self.passes[(rnd, sub)] = _Pass(levels, edges[0::2].astype(np.float64), edges[1::2].astype(np.float64))
        self.parts.append((ident.lead_key(), sv, a, np.full(a.size, rnd * MAX_SUB + sub, dtype=np.int64)))

    def freeze(self) -> None:
        """Index the recorded calls by lead key, once the observed run is over."""
        if not self.parts:
            self.served = Served(np.zeros(0), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, np.int64))
            return
        keys = np.concatenate([p[0] for p in self.parts])
        o = np.argsort(keys, kind="stable")
        self.keys = keys[o]
        fields = ("start", "ok", "connected", "handle")
        self.served = Served(*(np.concatenate([getattr(p[1], f) for p in self.parts])[o] for f in fields))
        self.req = np.concatenate([p[2] for p in self.parts])[o]
        self.pass_id = np.concatenate([p[3] for p in self.parts])[o]
        self.parts = []

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each key's call is in the record: (found, index)."""
        j = np.searchsorted(self.keys, keys)
        jj = np.minimum(j, max(self.keys.size - 1, 0))
        found = (j < self.keys.size) & (self.keys[jj] == keys) if self.keys.size else np.zeros(keys.size, bool)
        return found, jj

    def pass_at(self, rnd: int, sub: int) -> _Pass | None:
        """The pass ``(rnd, sub)``, else the latest recorded before it (its free minutes, no calls)."""
        if (rnd, sub) in self.passes:
            return self.passes[(rnd, sub)]
        before = [k for k in self.passes if k < (rnd, sub)]
        if not before:
            return None
        p = self.passes[max(before)]
        return _Pass({}, p.lo, p.hi)


class ReplayQueue:
    """The queue as it was, for every lead through arm ``arm`` (the truth's ``experiment`` setting)."""

    def __init__(self, real: Queue, log: PassLog, arm: int, arm_of: list[np.ndarray]) -> None:
        self.real, self.log, self.arm, self.arm_of = real, log, arm, arm_of
        self.replayed = 0  # own-arm calls replayed from the record
        self.unmatched = 0  # own-arm calls the record did not hold (0 when the truth reproduces the run)

    def serve(self, c: Calls, rnd: int, sub: int, ident: Ident | None = None) -> Served:
        assert ident is not None and self.log.served is not None
        q, rec = self.real, self.log.served
        n_calls = c.req.size
        a = np.maximum(np.floor(c.req).astype(np.int64) - q.g0, 0)
        real_arm = _by_chunk(ident, self.arm_of)
        own = real_arm == self.arm
        found, j = self.log.lookup(ident.lead_key())
        rep = own & found
        self.replayed += int(rep.sum())
        self.unmatched += int((own & ~found).sum())
        start = np.full(n_calls, np.nan)
        ok = np.zeros(n_calls, dtype=bool)
        conn = np.zeros(n_calls, dtype=bool)
        handle = np.zeros(n_calls, dtype=np.int64)
        # another arm's call that is the lead's observed call (same pass, same request minute) met
        # the queue that call met: its start is replayed, its outcome judged under this arm
        same = ~rep & found & (self.log.req[j] == a) & (self.log.pass_id[j] == rnd * MAX_SUB + sub)
        start[same] = rec.start[j[same]]
        rows = np.flatnonzero(same & np.isfinite(start))
        ok[rows], conn[rows], handle[rows] = judge(c, rows, start[rows], q.mdl)
        start[rep], ok[rep], conn[rep], handle[rep] = (
            rec.start[j[rep]],
            rec.ok[j[rep]],
            rec.connected[j[rep]],
            rec.handle[j[rep]],
        )
        cf = np.flatnonzero(~rep & ~same & (a < q.n))
        s = self._slot(a[cf], ident, cf, c.level[cf], rnd, sub)
        rows = cf[s < q.n]
        start[rows] = np.maximum(s[s < q.n] + q.g0, c.req[rows])
        ok[rows], conn[rows], handle[rows] = judge(c, rows, start[rows], q.mdl)
        return Served(start, ok, conn, handle)

    def commit(self, start: np.ndarray, handle: np.ndarray) -> None:
        """A counterfactual call takes no agent time (and a replayed one took its time already)."""

    def _slot(self, a: np.ndarray, ident: Ident, rows: np.ndarray, level: np.ndarray, rnd: int, sub: int) -> np.ndarray:
        """Counterfactual calls slotted into the realised pass: the minute (relative) each is reached."""
        p = self.log.pass_at(rnd, sub)
        af = a.astype(np.float64)
        if p is None:
            return af
        sub_ident = Ident(ident.chunk[rows], ident.arm[rows], ident.pos[rows], ident.seq[rows])
        okey = sub_ident.order_key(a)
        after = np.full(a.size, INF)  # when the next call in the queue's order was reached
        floor = af.copy()  # no earlier than the call before it
        for lv in np.unique(level).tolist():
            keys, rel = p.levels.get(int(lv), (np.zeros(0, np.int64), np.zeros(0)))
            r = np.flatnonzero(level == lv)
            i = np.searchsorted(keys, okey[r])
            if keys.size:
                after[r] = np.where(i < keys.size, rel[np.minimum(i, keys.size - 1)], INF)
                floor[r] = np.where(i > 0, np.maximum(af[r], rel[np.maximum(i - 1, 0)]), af[r])
        return np.minimum(after, p.next_free(floor))


def _by_chunk(ident: Ident, arm_of: list[np.ndarray]) -> np.ndarray:
    """Each call's lead's assigned arm."""
    out = np.empty(ident.pos.size, dtype=np.int64)
    for k in np.unique(ident.chunk).tolist():
        m = ident.chunk == k
        out[m] = arm_of[k][ident.pos[m]]
    return out

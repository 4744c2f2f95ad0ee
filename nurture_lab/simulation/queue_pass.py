"""One pass of the contact centre's queue: the minute an agent reaches each call of a batch.

The queue is first come, first served within a level (higher levels first), each call holding an
agent for its agent minutes; a minute's free agents are what :meth:`.Queue._capmin` leaves. The pass
is a loop over minutes, but only where calls wait: where every call would start in the minute it
joined (found for all minutes at once, see :func:`_busy_minutes`), the loop jumps ahead and those
calls start on joining. The result equals a loop over every minute call for call (the reference in
tests/simulation/queue_reference.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Literal

import numpy as np

__all__ = ["place"]


def place(
    a: np.ndarray,
    orders: list[np.ndarray],
    handle: np.ndarray,
    cap: np.ndarray,
    open_next: np.ndarray,
    hmax: int,
) -> np.ndarray:
    """One pass of the queue with known agent minutes per call.

    Args:
        a: each call's minute of joining (relative to the queue's first minute).
        orders: per level, highest first, its calls (rows of ``a``) in the order they are served.
        handle: each call's agent minutes (0: none).
        cap: agents free for a whole call in each minute before this batch.
        open_next: the next minute (>= m) with ``cap > 0`` (``cap.size``: none).
        hmax: the longest agent minutes a call may take.

    Returns:
        The minute each call is reached (relative; NaN: never within the timeline).
    """
    loop = _MinuteLoop(a, orders, handle, cap, open_next, hmax)
    loop.run()
    return loop.starts()


def _busy_minutes(ms: list[np.ndarray], hs: list[np.ndarray], cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """If every call started in the minute it joined: the minutes whose calls would not all start then
    (sorted), and at each of them the calls with agent minutes started before it and held at its
    start (``a < t <= a + h``). ``ms``, ``hs``: per level, its calls' joining and agent minutes in
    serving order.

    In a minute the loop hands the free agents to the waiting calls in order (levels in turn) and
    stalls once the calls it started that take agent minutes use every free agent while calls still
    wait: all ``W`` calls joining in a minute start in it iff fewer than ``free`` of its first
    ``W - 1`` take agent minutes, ``free`` being ``cap`` less the earlier calls still in progress.
    The counts come from the sorted starts and ends of the calls, only at the minutes calls join:
    a batch's window spans weeks of minutes, its calls join in a few thousand of them.
    """
    m = np.concatenate(ms) if ms else np.zeros(0, dtype=np.int64)
    h = np.concatenate(hs) if hs else np.zeros(0, dtype=np.int64)
    takes = h > 0
    # (stable sorts: the minutes come nearly in order, which a merge sort takes in one sweep; the
    # ends sorted per value of agent minutes, each in order as its starts are, then counted per value)
    starts = np.sort(m[takes], kind="stable")
    ends = [np.sort(m[h == v], kind="stable") + v for v in _values(h)]

    def ended(t: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:  # ends before t ("left"), or by it
        return sum((e.searchsorted(t, side=side) for e in ends), np.zeros(t.size, dtype=np.int64))

    by_minute = np.argsort(m, kind="stable")  # within a minute, the loop's order
    ms_ = m[by_minute]
    tail = np.flatnonzero(np.r_[ms_[1:] != ms_[:-1], ms_.size > 0])  # the last call of each minute
    joined = ms_[tail]
    before = starts.searchsorted(joined)  # calls with agent minutes started before the minute
    busy = before - ended(joined, "right")  # after the releases due at the minute
    first_w_minus_1 = starts.searchsorted(joined, side="right") - before - takes[by_minute[tail]]
    bad = joined[first_w_minus_1 >= cap[joined] - busy]
    return bad, starts.searchsorted(bad) - ended(bad, "left")


def _values(h: np.ndarray) -> np.ndarray:
    """The agent minutes calls take, other than none (a few: connected, voicemail, no answer)."""
    return np.flatnonzero(np.bincount(h)[1:]) + 1 if h.size else np.zeros(0, dtype=np.int64)


class _MinuteLoop:
    """The pass's loop state: per level the calls placed so far and the spans they started in.

    Per level: its calls' joining minutes and agent minutes in serving order (the joining minutes
    ascend: the calls joined by a minute are a bisection, no count over every minute of a window of
    weeks). The loop reads them one call at a time, through memoryviews: an item is a Python int at a
    fraction of a numpy scalar's cost, and a view costs nothing to make (a list of a batch's calls
    would, at every pass of a large run).
    """

    def __init__(
        self,
        a: np.ndarray,
        orders: list[np.ndarray],
        handle: np.ndarray,
        cap: np.ndarray,
        open_next: np.ndarray,
        hmax: int,
    ) -> None:
        self.a, self.orders, self.handle = a, orders, handle
        self.hmax, self.n = hmax, cap.size
        self.cap, self.open_next = _ints(cap), _ints(open_next)
        ms = [np.ascontiguousarray(a[o], dtype=np.int64) for o in orders]
        hs = [np.ascontiguousarray(handle[o], dtype=np.int64) for o in orders]
        self.al, self.hl = [_ints(x) for x in ms], [_ints(x) for x in hs]
        self.starter = [_Starter(x) for x in hs]
        self.first = [al[0] for al in self.al]  # orders hold no empty level
        self.ptr = [0] * len(orders)
        self.spans: list[list[tuple[int, int, int]]] = [[] for _ in orders]  # (from, to, minute; -1: on joining)
        self.rel = [0] * (self.n + hmax + 2)  # calls of this pass released per minute
        self.busy = 0
        self.clear = -1  # calls that started after they joined hold agents up to this minute
        bad, held = _busy_minutes(ms, hs, cap)
        self.bad, self.held = bad.tolist(), held.tolist()  # calls held at each of ``bad``
        self.next_bad = 0

    def run(self) -> None:
        if len(self.al) == 1:
            self._run_one()
            return
        m = self._skip(min(self.first)) if self.first else self.n
        n, rel, ptr = self.n, self.rel, self.ptr
        while m < n:
            self.busy -= rel[m]
            if self._serve_minute(m):
                m = self._wait(m)
                if m >= n:
                    break
            nxt = [al[p] for al, p in zip(self.al, ptr, strict=True) if p < len(al)]
            if not nxt:
                break
            nm = max(min(nxt), m + 1)
            self.busy -= sum(rel[m + 1 : nm])
            m = self._skip(nm)

    def _next(self, m: int) -> int:
        """The minute after ``m`` to look at while calls wait: the next, or with nothing of this pass
        in progress the next with a free agent."""
        if self.busy == 0:
            return self.open_next[m + 1] if m + 1 < self.n else self.n
        return m + 1

    def _wait(self, m: int) -> int:
        """Calls wait after minute ``m``: serve the minutes on until one leaves none waiting; returns
        that minute (``n``: the timeline ended first)."""
        n, rel, cap = self.n, self.rel, self.cap
        while True:
            m = self._next(m)
            if m >= n:
                return n
            self.busy -= rel[m]
            # no agent free in this minute: nothing starts
            if cap[m] > self.busy and not self._serve_minute(m):
                return m

    def _run_one(self) -> None:
        """:meth:`run` for a pass of one level (a fifo queue's): the same steps with one level's
        pointer, the minutes served by :meth:`_serve_one`."""
        n, rel, al = self.n, self.rel, self.al[0]
        m = self._skip(al[0])
        while m < n:
            m = self._serve_one(m)
            p = self.ptr[0]
            if m >= n or p == len(al):
                break
            nm = max(al[p], m + 1)
            self.busy -= sum(rel[m + 1 : nm])
            m = self._skip(nm)

    def _serve_one(self, m: int) -> int:
        """:meth:`_serve_minute` and :meth:`_wait` inlined for one level: serve minute ``m`` and, while
        calls still wait, the minutes on; returns the minute that left none waiting (``n``: the
        timeline ended first). These minutes are most of a pass's loop."""
        n, rel, cap, al, start, spans = self.n, self.rel, self.cap, self.al[0], self.starter[0], self.spans[0]
        p, busy = self.ptr[0], self.busy - rel[m]
        while p < len(al) and al[p] <= m:  # calls wait in minute m
            free = cap[m] - busy
            if free > 0:
                arrived = bisect_right(al, m, p)
                q, used = start(rel, m, p, arrived, free)
                if al[p] < m:  # these waited: they hold agents up to m + hmax
                    self.clear = m + self.hmax
                spans.append((p, q, m))
                busy += used
                p = q
                if q == arrived:
                    break
            # calls still wait: the next minute, or with nothing in progress the next with a free agent
            m = m + 1 if busy else self.open_next[m + 1] if m + 1 < n else n
            if m >= n:
                m = n
                break
            busy -= rel[m]
        self.ptr[0], self.busy = p, busy
        return m

    def _serve_minute(self, m: int) -> bool:
        """Start the waiting calls minute ``m``'s free agents reach; True if calls still wait.

        The waiting calls start in order until the free-th that takes agent minutes (calls that
        take none start on the way), or all of them; one step per call started.
        """
        busy = self.busy
        free = self.cap[m] - busy
        waiting_any = False
        rel, ptr = self.rel, self.ptr
        for li, al in enumerate(self.al):
            p = ptr[li]
            if p == len(al) or al[p] > m:  # no call of the level waits
                continue
            arrived = bisect_right(al, m, p)
            if free <= 0:
                waiting_any = True
                continue
            q, used = self.starter[li](rel, m, p, arrived, free)
            if al[p] < m:  # these waited: they hold agents up to m + hmax
                self.clear = m + self.hmax
            self.spans[li].append((p, q, m))
            busy += used
            free -= used
            ptr[li] = q
            waiting_any |= q < arrived
        self.busy = busy
        return waiting_any

    def _skip(self, m: int) -> int:
        """At minute ``m`` with no call waiting: if no call that waited still holds an agent, the calls
        joining before the next minute whose calls would not all start on joining start on joining;
        returns that minute (``m`` itself if it is one, ``n`` if none is left)."""
        if m <= self.clear or m >= self.n:
            return m
        bad = self.bad
        while self.next_bad < len(bad) and bad[self.next_bad] < m:
            self.next_bad += 1
        f = bad[self.next_bad] if self.next_bad < len(bad) else self.n
        if f == m:
            return m
        rel = self.rel
        for li, al in enumerate(self.al):
            p = self.ptr[li]
            q = bisect_right(al, f - 1, p)
            if q > p:
                self.spans[li].append((p, q, -1))
                # only calls joining in the last hmax minutes before f may still hold an agent at f
                lo = bisect_right(al, f - self.hmax - 1, p, q)
                hl = self.hl[li]
                for i in range(lo, q):
                    h = hl[i]
                    if h and al[i] + h >= f:
                        rel[al[i] + h] += 1
                self.ptr[li] = q
        self.busy = self.held[self.next_bad] if f < self.n else 0
        return f

    def starts(self) -> np.ndarray:
        start = np.full(self.a.size, np.nan)
        for o, spans in zip(self.orders, self.spans, strict=True):
            if not spans:
                continue
            arr = np.array(spans, dtype=np.int64)
            rows = o[: int(arr[-1, 1])]
            mins = np.repeat(arr[:, 2], arr[:, 1] - arr[:, 0])
            start[rows] = np.where(mins < 0, self.a[rows], mins)
        return start


class _Starter:
    """Starts a level's waiting calls in a minute: where its calls that take agent minutes are, and
    per value of agent minutes (a call takes one of a few: connected, voicemail, no answer) how many
    calls up to each row take it, so a minute's starts cost two bisections and a count per value,
    not a step per call (a run of a million leads starts millions of calls over its passes)."""

    def __init__(self, h: np.ndarray) -> None:
        self.takes = _ints(np.flatnonzero(h))
        self.counts = []  # (agent minutes, calls taking them up to each row)
        for v in _values(h):
            upto = np.zeros(h.size + 1, dtype=np.int64)
            np.cumsum(h == v, out=upto[1:])
            self.counts.append((int(v), _ints(upto)))

    def __call__(self, rel: list[int], m: int, p: int, arrived: int, free: int) -> tuple[int, int]:
        """Start the waiting calls ``p, p + 1, ...`` (joined by minute ``m``: before ``arrived``) in
        order until the ``free``-th that takes agent minutes (calls that take none start on the way),
        each released at ``m`` + its agent minutes; returns (the first call not started, agents used)."""
        takes = self.takes
        k0 = bisect_left(takes, p)
        used = bisect_left(takes, arrived, k0) - k0
        if used >= free:
            q, used = takes[k0 + free - 1] + 1, free
        else:
            q = arrived
        for v, upto in self.counts:
            k = upto[q] - upto[p]
            if k:
                rel[m + v] += k
        return q, used


def _ints(x: np.ndarray) -> memoryview:
    """A view of ``x`` as int64 whose items are Python ints (no copy if it already is one)."""
    return np.ascontiguousarray(x, dtype=np.int64).data

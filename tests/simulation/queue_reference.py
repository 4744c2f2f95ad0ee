"""The contact centre's queue pass as it was written first: one Python loop over every minute.

Kept as the reference the vectorised pass (:mod:`nurture_lab.simulation.queue_pass`) must equal call
for call (tests/simulation/test_contact_center.py).
"""

from __future__ import annotations

import numpy as np


def place_reference(
    n: int,
    hmax: int,
    g0: int,
    a: np.ndarray,
    orders: list[np.ndarray],
    handle: np.ndarray,
    cap: np.ndarray,
    open_next: np.ndarray,
    cums: list[np.ndarray],
) -> np.ndarray:
    """One pass of the queue with known agent minutes per call: the UTC minute each call is reached."""
    start = np.full(a.size, np.nan)

    hvals = [h for h in np.flatnonzero(np.bincount(handle)).tolist() if h > 0]  # agent minutes in use
    nz, rels, totals = [], [], []
    for o in orders:
        h = handle[o]
        nz.append(np.r_[0, np.cumsum(h > 0)])
        rels.append([(hv, np.r_[0, np.cumsum(h == hv)]) for hv in hvals])
        totals.append(o.size)
    ptr = [0] * len(orders)
    started_at: list[list[tuple[int, int, int]]] = [[] for _ in orders]
    rel = [0] * (n + hmax + 2)
    busy = 0
    first = [int(a[o[0]]) for o in orders if o.size]
    m = min(first) if first else n
    nl = len(orders)
    while m < n:
        busy -= rel[m]
        free = int(cap[m]) - busy
        waiting_any = False
        for li in range(nl):
            cl, p = cums[li], ptr[li]
            while True:
                waiting = int(cl[m]) - p
                if waiting <= 0:
                    break
                if free <= 0:
                    waiting_any = True
                    break
                k = free if free < waiting else waiting
                q = p + k
                used = int(nz[li][q] - nz[li][p])
                for hv, cum in rels[li]:
                    cnt = int(cum[q] - cum[p])
                    if cnt:
                        rel[m + hv] += cnt
                started_at[li].append((p, q, m))
                busy += used
                free -= used
                p = q
            ptr[li] = p
        if waiting_any:
            if busy == 0:  # nothing of this pass in progress: wait for the next free agent
                nm = int(open_next[m + 1]) if m + 1 < n else n
                m = nm
            else:
                m += 1
            continue
        nxt = [int(a[orders[li][ptr[li]]]) for li in range(nl) if ptr[li] < totals[li]]
        if not nxt:
            break
        nm = max(min(nxt), m + 1)
        busy -= sum(rel[m + 1 : nm])
        m = nm
    for li, o in enumerate(orders):
        spans = started_at[li]
        if not spans:
            continue
        arr = np.array(spans, dtype=np.int64)
        lens = arr[:, 1] - arr[:, 0]
        start[o[: int(arr[-1, 1])]] = np.repeat(arr[:, 2], lens) + g0
    return start

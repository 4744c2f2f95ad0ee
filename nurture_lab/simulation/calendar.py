"""Time: the day and the week in minutes, daylight-saving transitions, the next allowed moment
inside a daily window, and the contact centre's clock (its zone, its shifts).

Time unit: minutes. Local wall-clock minutes count from 1970-01-01 00:00 local (a Thursday).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..scenario.model import ContactCenter, Policy
from ..scenario.staffing import week_agents

#: Minutes in a day and in a week: the only time constants of the simulation (time unit: minutes).
DAY = 1440.0
WEEK = 7 * DAY
WEEK_MIN = int(WEEK)


def dst_transitions(
    tzs: tuple[str, ...], first_min: float, horizon_days: float
) -> tuple[tuple[int, float, float], ...]:
    """Daylight-saving transitions of each zone, from a day before ``first_min`` to well past the horizon.

    Returns ``(zone index, UTC minute of the change, change of the offset in minutes)``. US zones
    change at 2:00 local time; the offset is read at local noon of each day. The answer depends only
    on the zones, the first day and the whole days of the horizon (cached on those: a power study's
    replications start on the same day, so each process reads the zones once).
    """
    return _dst_days(tuple(tzs), int(first_min // DAY) - 1, int(horizon_days) + 440)


@functools.lru_cache(maxsize=64)
def _dst_days(tzs: tuple[str, ...], first_day: int, n_days: int) -> tuple[tuple[int, float, float], ...]:
    """:func:`dst_transitions` over ``n_days`` days from day ``first_day`` (days since 1970-01-01)."""
    start = dt.date(1970, 1, 1) + dt.timedelta(days=first_day)
    out = []
    for code, name in enumerate(tzs):
        z = ZoneInfo(name)
        prev = None
        for d in range(n_days):
            day = start + dt.timedelta(days=d)
            off = dt.datetime.combine(day, dt.time(12), tzinfo=z).utcoffset()
            minutes = 0.0 if off is None else off.total_seconds() / 60
            if prev is not None and minutes != prev:
                local_2am = ((day - dt.date(1970, 1, 1)).days * DAY) + 120
                out.append((code, local_2am - prev, minutes - prev))
            prev = minutes
    return tuple(out)


def next_in_window(local: np.ndarray, start_min: Any, end_min: Any, days: np.ndarray) -> np.ndarray:
    """Earliest local time >= ``local`` inside a daily window [start, end) on allowed weekdays.

    ``local`` is wall-clock minutes since 1970-01-01 00:00 (a Thursday); ``days`` is a bool
    mask over Monday..Sunday. NaN where no allowed time exists (an empty window).
    """
    day = (local // DAY).astype(np.int64)
    midnight = day * DAY
    m = local - midnight
    if np.count_nonzero(days) == 7:  # every weekday (waking and calling hours): no weekday lookups
        res = _next_any_day(local, midnight, m, start_min, end_min)
    else:
        wd = (day + 3) % 7
        ok_day = days[wd]
        res = np.where(ok_day & (m >= start_min) & (m < end_min), local, np.nan)
        res = np.where(np.isnan(res) & ok_day & (m < start_min), midnight + start_min, res)
        pending = np.isnan(res)
        if np.count_nonzero(pending):  # the window's start on the next allowed weekday (1 to 7 days on; 0: none)
            k = _days_ahead(tuple(bool(d) for d in days))[wd]
            res = np.where(pending & (k > 0), (day + k) * DAY + start_min, res)
    # an empty window (start >= end) has no allowed time: NaN (judged once when the edges are numbers)
    if np.ndim(start_min) == 0 and np.ndim(end_min) == 0:
        return np.full(res.shape, np.nan) if start_min >= end_min else res
    empty = np.asarray(start_min) >= np.asarray(end_min)
    return np.where(empty, np.nan, res) if np.count_nonzero(empty) else res


def _next_any_day(local: np.ndarray, midnight: np.ndarray, m: np.ndarray, start_min: Any, end_min: Any) -> np.ndarray:
    """:func:`next_in_window` when every weekday is allowed: in the window, ``local``; before it,
    today's start; else (after it, or NaN) tomorrow's start. The same numbers as the weekday table
    with one day on for every weekday (also for a NaN ``local`` or window edge), in four array
    operations fewer: the gate asks this of most messages several times a pass. (``midnight + DAY``
    is ``(day + 1) * DAY``: whole minutes, exact in a float, and where ``day`` is the integer NaN
    casts to, both round to the same number.)"""
    inside = np.where((m >= start_min) & (m < end_min), local, midnight + DAY + start_min)
    return np.where(m < start_min, midnight + start_min, inside)  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=128)
def _days_ahead(days: tuple[bool, ...]) -> np.ndarray:
    """Per weekday (Monday = 0): the days on to the next allowed weekday (1 to 7; 0: none allowed).
    Read-only; cached per weekday mask (the gate asks for it thousands of times a run)."""
    out = np.array([next((k for k in range(1, 8) if days[(w + k) % 7]), 0) for w in range(7)])
    out.setflags(write=False)
    return out


def in_window(local: np.ndarray, start_min: Any, end_min: Any, days: np.ndarray) -> np.ndarray:
    day = (local // DAY).astype(np.int64)
    m = local - day * DAY
    return days[(day + 3) % 7] & (m >= start_min) & (m < end_min)


class CentreClock:
    """The centre's local time (with its daylight-saving changes) and agents on shift per minute."""

    def __init__(self, cc: ContactCenter, pol: Policy, first_abs: float, span_days: float) -> None:
        z = ZoneInfo(cc.timezone)
        start = dt.date(1970, 1, 1) + dt.timedelta(days=int(first_abs // DAY) - 1)
        off = dt.datetime.combine(start, dt.time(12), tzinfo=z).utcoffset()
        self.off0 = 0.0 if off is None else off.total_seconds() / 60
        trans = dst_transitions((cc.timezone,), first_abs, span_days)
        self.dst_at = np.array([t[1] for t in trans], dtype=np.float64)
        self.dst_delta = np.array([t[2] for t in trans], dtype=np.float64)
        # agents per minute of the week (Monday 00:00 = 0), minutes to the next open and closed minute
        self.week, self.wait, self.left = _week_tables(cc, pol)
        self.always_closed = not (self.week > 0).any()

    def open_left(self, abs_min: np.ndarray) -> np.ndarray:
        """Minutes from ``abs_min`` to the next moment no agent is on shift (0 where none is now)."""
        return self.left[self.minute_of_week(self.local(np.nan_to_num(abs_min)))]  # type: ignore[no-any-return]

    def local(self, abs_min: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes of the centre (since 1970-01-01 00:00 local, a Thursday)."""
        a = np.asarray(abs_min, dtype=np.float64)
        out = a + self.off0
        span = _span(a)
        if span is not None and not any(span[0] < at <= span[1] for at in self.dst_at):
            # no change falls among these minutes: each holds for all or for none (adding +0.0
            # changes no number), so scalar additions give the same numbers as the masks
            for at, d in zip(self.dst_at, self.dst_delta, strict=True):
                if at <= span[0]:
                    out = out + d
            return out
        for at, d in zip(self.dst_at, self.dst_delta, strict=True):
            out = out + np.where(a >= at, d, 0.0)
        return out

    def minute_of_week(self, local: np.ndarray) -> np.ndarray:
        day = np.floor(local / DAY)
        return (((day + 3) % 7) * DAY + (local - day * DAY)).astype(np.int64) % WEEK_MIN

    def next_open(self, abs_min: np.ndarray) -> np.ndarray:
        """Earliest UTC minute >= ``abs_min`` at which an agent is on shift (NaN: never)."""
        a = np.asarray(abs_min, dtype=np.float64)
        if self.always_closed:
            return np.full(a.shape, np.nan)
        loc = self.local(a)
        w = self.wait[self.minute_of_week(loc)]
        out = np.where(w > 0, a + w - (loc - np.floor(loc)), a)
        span, top = _span(a), _span(out)
        for at in self.dst_at:  # a daylight-saving change in between: judge those again
            if span is not None and top is not None and (at <= span[0] or at > top[1]):
                continue  # every minute already past the change, or every answer before it
            redo = (a < at) & (out >= at) & (w > 0)
            if np.count_nonzero(redo):
                out[redo] = self.next_open(out[redo])
                top = _span(out)  # (later answers: the later changes are judged on these)
        return out

    def capacity(self, g0: int, n: int) -> np.ndarray:
        """Agents on shift in each UTC minute ``g0 .. g0 + n - 1`` (whole minutes: the minute of the
        week is the local minute plus three days, Thursday 1970-01-01 being day 3, modulo a week).

        Between two daylight-saving changes the minutes run through the week in order: that span is
        the week, rotated to its first minute, repeated (the same numbers as indexing the week by
        each minute, without a division per minute)."""
        base = int(g0) + int(self.off0) + 3 * int(DAY)
        cuts = [min(max(int(np.ceil(at - g0)), 0), n) for at in self.dst_at]  # each change holds from here
        out = np.empty(n, dtype=self.week.dtype)
        lo, shift = 0, 0
        for k in [*sorted(range(len(cuts)), key=cuts.__getitem__), -1]:
            hi = n if k < 0 else cuts[k]
            if hi > lo:
                out[lo:hi] = _week_from(self.week, base + lo + shift, hi - lo)
                lo = hi
            if k >= 0:
                shift += int(self.dst_delta[k])
        return out


def _span(a: np.ndarray) -> tuple[float, float] | None:
    """The least and greatest of ``a`` (None if empty or any is NaN: then no shortcut applies)."""
    if a.size == 0:
        return None
    lo, hi = float(a.min()), float(a.max())
    return None if lo != lo or hi != hi else (lo, hi)


def _week_from(week: np.ndarray, start: int, m: int) -> np.ndarray:
    """``week[(start + arange(m)) % week.size]``: the week rotated to minute ``start``, repeated."""
    s = start % week.size
    return np.tile(np.concatenate([week[s:], week[:s]]), -(-m // week.size))[:m]


def _open_left(open_: np.ndarray) -> np.ndarray:
    """Per minute of the week: the minutes to the next closed minute (0 where closed; a week if never)."""
    closed = np.flatnonzero(~open_)
    if closed.size == 0:
        return np.full(open_.size, float(WEEK_MIN))
    pos = np.arange(open_.size)
    nxt = np.searchsorted(closed, pos)
    nxt_min = np.where(nxt < closed.size, closed[np.minimum(nxt, closed.size - 1)], closed[0] + open_.size)
    return (nxt_min - pos).astype(np.float64)  # type: ignore[no-any-return]


def _week_capacity(cc: ContactCenter, pol: Policy) -> np.ndarray:
    """Agents on shift per minute of the week (Monday 00:00 = 0): the scenario's one staffed week, flat."""
    return week_agents(cc, pol).ravel()


#: The centres' weeks computed in this process (see :func:`_week_tables`), at most :data:`_WEEKS_MAX`.
_WEEKS: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_WEEKS_MAX = 32


def _week_tables(cc: ContactCenter, pol: Policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centre's week, read-only: agents per minute of the week, the minutes from each minute to
    the next open one (0 where open) and to the next closed one (:func:`_open_left`).

    Cached per process on everything :func:`.staffing.week_agents` reads (the agents, ``[policy]
    staffed_hours`` and ``staffed_days``), so the replications of a power study compute it once.
    """
    key = (cc.agents, pol.staffed_hours, pol.staffed_days)
    hit = _WEEKS.get(key)
    if hit is not None:
        return hit
    week = _week_capacity(cc, pol)
    open_ = week > 0
    wait = np.zeros(WEEK_MIN, dtype=np.float64)
    if open_.any():
        idx = np.flatnonzero(open_)
        pos = np.arange(WEEK_MIN)
        nxt = np.searchsorted(idx, pos)
        nxt_min = np.where(nxt < idx.size, idx[np.minimum(nxt, idx.size - 1)], idx[0] + WEEK_MIN)
        wait = (nxt_min - pos).astype(np.float64)
    out = (week, wait, _open_left(open_))
    for arr in out:
        arr.setflags(write=False)
    if len(_WEEKS) >= _WEEKS_MAX:
        _WEEKS.clear()
    _WEEKS[key] = out
    return out

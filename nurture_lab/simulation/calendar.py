"""Time: the day and the week in minutes, daylight-saving transitions, and the next allowed moment inside a daily window.

Time unit: minutes. Local wall-clock minutes count from 1970-01-01 00:00 local (a Thursday).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

#: Minutes in a day and in a week: the only time constants of the simulation (time unit: minutes).
DAY = 1440.0
WEEK = 7 * DAY


@functools.lru_cache(maxsize=64)
def dst_transitions(
    tzs: tuple[str, ...], first_min: float, horizon_days: float
) -> tuple[tuple[int, float, float], ...]:
    """Daylight-saving transitions of each zone, from a day before ``first_min`` to well past the horizon.

    Returns ``(zone index, UTC minute of the change, change of the offset in minutes)``. US zones
    change at 2:00 local time; the offset is read at local noon of each day.
    """
    start = dt.date(1970, 1, 1) + dt.timedelta(days=int(first_min // DAY) - 1)
    n_days = int(horizon_days) + 440  # arrivals may span a year; cheap either way
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
    m = local - day * DAY
    wd = (day + 3) % 7
    ok_day = days[wd]
    res = np.where(ok_day & (m >= start_min) & (m < end_min), local, np.nan)
    res = np.where(np.isnan(res) & ok_day & (m < start_min), day * DAY + start_min, res)
    pending = np.isnan(res)
    for k in range(1, 8):
        if not pending.any():
            break
        ok = pending & days[(wd + k) % 7]
        res = np.where(ok, (day + k) * DAY + start_min, res)
        pending &= ~ok
    empty = np.broadcast_to(np.asarray(start_min) >= np.asarray(end_min), res.shape)
    return np.where(empty, np.nan, res)


def in_window(local: np.ndarray, start_min: Any, end_min: Any, days: np.ndarray) -> np.ndarray:
    day = (local // DAY).astype(np.int64)
    m = local - day * DAY
    return days[(day + 3) % 7] & (m >= start_min) & (m < end_min)

"""Calendar helpers shared by the population and the engine: daylight-saving transitions."""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

DAY = 1440.0


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

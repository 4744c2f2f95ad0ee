"""Lint rules on staffing: the calling clock's hours, weekend-only staffing, a centre in no lead's zone,
and the expected first-call wait (see :mod:`nurture_lab.scenario.staffing` for the estimate)."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np

from .finding import Finding
from .model import STATE_TIMEZONES, Scenario
from .staffing import DAY_NAMES, describe_staffing, first_call_wait, staffed_days, staffed_week, wait_text

__all__ = ["staffed_span", "staffing_findings"]


def staffed_span(sc: Scenario) -> tuple[float, float]:
    """Earliest start and latest end of the staffed hours over the week (hours on the calling clock)."""
    on = staffed_week(sc).any(axis=0)
    idx = np.flatnonzero(on)
    return (idx[0] / 60, (idx[-1] + 1) / 60) if idx.size else (0.0, 0.0)


def _zone_offsets(zone: str, days: list[str]) -> tuple[float, ...]:
    out = []
    for d in days:
        off = dt.datetime.combine(dt.date.fromisoformat(d), dt.time(12), tzinfo=ZoneInfo(zone)).utcoffset()
        out.append(0.0 if off is None else off.total_seconds() / 3600)
    return tuple(out)


def _zone_finding(sc: Scenario, staffing: str) -> list[Finding]:
    """A centre whose clock (UTC offset over the run) is no lead's: its hours are other hours for every lead."""
    cc, pop = sc.contact_center, sc.population
    if cc is None:
        return []
    start = dt.date.fromisoformat(pop.start_date)
    span = int(pop.arrival_days + sc.horizon_days)
    days = [(start + dt.timedelta(days=k)).isoformat() for k in range(0, min(span, 3 * 366) + 7, 7)]
    mine = _zone_offsets(cc.timezone, days)
    leads = {STATE_TIMEZONES[s] for s, share in pop.states.items() if share > 0}
    if any(_zone_offsets(z, days) == mine for z in leads):
        return []
    offsets = sorted({_zone_offsets(z, days[:1])[0] for z in leads})
    return [
        Finding(
            "warning",
            "centre_zone",
            "contact_center.timezone",
            f"the centre's clock {cc.timezone} (UTC{mine[0]:+g} h on {pop.start_date}) is no lead's (leads: UTC"
            f"{offsets[0]:+g} to {offsets[-1]:+g} h): its staffed hours {staffing} are other hours for every lead",
        )
    ]


def _share(p: float) -> str:
    return "under 1%" if p < 0.005 else f"{p:.0%}"


_wait_text = wait_text


def _wait_finding(sc: Scenario, n_leads: int, staffing: str) -> list[Finding]:
    """The expected first-call wait for the centre's staffing at ``n_leads`` leads."""
    est = first_call_wait(sc, n_leads)
    if est is None:
        return []
    who = f"{est.agents} agents" if est.mean_agents == est.agents else f"{est.mean_agents:.1f} agents on average"
    head = (
        f"{who} ({staffing}) for {n_leads:,} leads over {sc.population.arrival_days} days: "
        f"{est.load:.1f} Erlangs of calls ({est.handle_minutes:.1f} agent min a call), {est.first_load:.1f} of them "
        "first and inbound calls (served first)"
    )
    if math.isinf(est.first_wait_minutes):
        text = (
            f"{head}; first calls alone need more agents than there are: the queue grows all through the arrivals and "
            f"a first call waits about {est.backlog_days:.1f} days on average (fluid queue), longer for later leads"
        )
        severity = "warning"
    else:
        text = (
            f"{head}; a first call waits {_wait_text(est.first_wait_minutes)} on average in the queue "
            f"(Erlang C: {_share(est.wait_probability)} of calls wait, {_wait_text(est.erlang_wait_minutes)}; plus "
            f"{_wait_text(est.opening_wait_minutes)} for the backlog of calls requested while closed)"
        )
        severity = "warning" if est.load >= est.agents else "note"
        if est.load >= est.agents:
            text += "; follow-up calls exceed the agents and wait for days"
    text += f"; first calls keep up with up to about {est.max_leads:,.0f} leads over {sc.population.arrival_days} days"
    return [Finding(severity, "first_call_wait", "contact_center", text)]


def staffing_findings(sc: Scenario, n_leads: int) -> list[Finding]:
    """What the staffing allows: hours on the calling clock, weekend-only staffing, zone, first-call wait."""
    out: list[Finding] = []
    staffing = describe_staffing(sc)
    days = staffed_days(sc)
    if days and min(days) >= 5:
        names = ", ".join(DAY_NAMES[d] for d in days)
        out.append(
            Finding(
                "warning",
                "weekend_only",
                "contact_center" if sc.contact_center is not None else "policy.staffed_days",
                f"calls are placed on {names} only ({staffing}): a call requested on a Monday waits until the weekend",
            )
        )
    out += _zone_finding(sc, staffing)
    if sc.contact_center is not None:
        out.append(Finding("note", "staffing", "contact_center", f"the centre is staffed {staffing}"))
    out += _wait_finding(sc, n_leads, staffing)
    return out

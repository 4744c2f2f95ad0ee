"""What a scenario's staffing allows, read from the file alone: staffed hours and the first-call wait.

Used by the lint (``nurture-lab lint``). Two things:

* :func:`staffed_week` / :func:`describe_staffing`: agents on shift in each minute of the week on
  the clock that places calls — the contact centre's zone (its ``agents`` table, or ``[policy]
  staffed_hours`` on ``staffed_days`` for a number of agents), else each lead's own local time.
* :func:`first_call_wait`: the expected queue wait of a lead's first call: Erlang C with the
  centre's priority rule (every lead's first call before anyone's follow-up), plus the backlog of
  calls requested while the centre was closed (a fluid queue over the week: Monday mornings).

The offered load is a static estimate from the cadence, stated with its assumptions in
:class:`StaffingEstimate`: every lead with call consent reaches each call step its static
conditions select (``if_no_response`` steps only while it has not engaged); a call connects with
the channel's ``engage_rate`` x ``deliver_rate`` x the speed-to-lead factor at the step's planned
delay x the mean preferred-channel multiplier x fatigue; stops (booked, lost, opted out) and
deferrals are ignored, so the load is, if anything, high. Inquiries arrive by the population's
weekday and hour profiles in each lead's zone (shifted to the centre's clock at the start date); a
first call is requested at its step's planned delay, then at the next staffed minute (in the
step's window, read on the centre's clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._erlang import erlang_c_wait
from .model import Arm, ContactCenter, Policy, Scenario, Step

__all__ = [
    "DAY_NAMES",
    "StaffingEstimate",
    "describe_staffing",
    "first_call_wait",
    "nominal_minutes",
    "planned_minutes",
    "staffed_week",
]

DAY_NAMES: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY = 1440
#: The lead volume the lint assumes when none is given: what ``nurture-lab simulate`` runs by default.
DEFAULT_LEADS = 20_000


def staffed_week(sc: Scenario) -> np.ndarray:
    """Agents on shift per minute of the week, shape (7, 1440), Monday first, on the calling clock.

    With a contact centre the clock is the centre's; without one staffed hours are each lead's local
    time and the "agents" are 1 where staffed (capacity is unlimited).
    """
    return week_agents(sc.contact_center, sc.policy)


def week_agents(cc: ContactCenter | None, pol: Policy) -> np.ndarray:
    """Agents on shift per minute of the week, shape (7, 1440): the one home of the staffed week.

    The contact centre's queue reads the same grid (``simulation.calendar``), so the lint and the queue
    cannot disagree on who is on shift. Without a centre the "agents" are 1 where staffed.
    """
    if cc is not None and isinstance(cc.agents, tuple):
        return np.repeat(np.asarray(cc.agents, dtype=np.int64), 60, axis=1)
    week = np.zeros((7, _DAY), dtype=np.int64)
    a, b = round(pol.staffed_hours[0] * 60), round(pol.staffed_hours[1] * 60)
    for d in pol.staffed_days:
        week[d, a:b] = 1 if cc is None else int(cc.agents)
    return week


def _hm(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def _spans(row: np.ndarray) -> str:
    """A day's staffed spans as text: "8:00-18:00" (several spans joined by commas)."""
    on = np.r_[0, (row > 0).astype(np.int8), 0]
    starts, ends = np.flatnonzero(np.diff(on) == 1), np.flatnonzero(np.diff(on) == -1)
    return ", ".join(f"{_hm(int(s))}-{_hm(int(e))}" for s, e in zip(starts, ends, strict=True))


def _days(first: int, last: int) -> str:
    return DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"


def describe_staffing(sc: Scenario) -> str:
    """The staffed hours on the calling clock, e.g. "Mon-Fri 7:00-20:00, Sat 9:00-13:00 America/Los_Angeles".

    Consecutive days with the same hours are grouped; unstaffed days are left out.
    """
    week = staffed_week(sc)
    parts: list[str] = []
    d = 0
    while d < 7:
        text, last = _spans(week[d]), d
        while last + 1 < 7 and _spans(week[last + 1]) == text:
            last += 1
        if text:
            parts.append(f"{_days(d, last)} {text}")
        d = last + 1
    clock = sc.contact_center.timezone if sc.contact_center is not None else "in each lead's local time"
    return f"{', '.join(parts)} {clock}"


def staffed_days(sc: Scenario) -> tuple[int, ...]:
    """Weekdays (Monday = 0) with at least one staffed minute."""
    return tuple(int(d) for d in np.flatnonzero(staffed_week(sc).any(axis=1)))


# --------------------------------------------------------------------------------------
# The offered load of a cadence (a static estimate)


def planned_minutes(arm: Arm) -> list[float]:
    """Planned minute of each step as written (before any deferral)."""
    out: list[float] = []
    prev = 0.0
    for s in arm.steps:
        t = s.delay_minutes if s.anchor == "inquiry" else prev + s.delay_minutes
        out.append(t)
        prev = t
    return out


def nominal_minutes(arm: Arm) -> list[float]:
    """Send minute of each step if nothing were deferred: steps go out in listed order."""
    out: list[float] = []
    prev = 0.0
    for t in planned_minutes(arm):
        t = max(t, prev)
        out.append(t)
        prev = t
    return out


def _selected(sc: Scenario, step: Step) -> float:
    """Share of leads a step's static conditions select (per service line, then by share)."""
    attr = {"audience": "audiences", "source": "sources", "intent": "intents", "coverage": "coverage"}
    total = 0.0
    for name, sl in sc.population.service_lines.items():
        probs = []
        for col, values in step.conditions.items():
            if col == "service_line":
                probs.append(1.0 if name in values else 0.0)
            else:
                mix = getattr(sl, attr[col])
                probs.append(sum(mix.get(v, 0.0) for v in values))
        if not probs:
            p = 1.0
        elif step.match == "all":
            p = math.prod(probs)
        else:
            p = 1.0 - math.prod(1.0 - q for q in probs)
        total += sl.share * p
    return total


def _consent(sc: Scenario, channel: str) -> float:
    if channel not in ("email", "sms", "call"):
        return 1.0
    return sum(sl.share * sl.consent[channel] for sl in sc.population.service_lines.values())


def _engage(sc: Scenario, step: Step, minutes: float, prior: float) -> float:
    """Chance that a sent touch engages (for a call: connects), from the behaviour's own parameters."""
    beh = sc.behaviour
    ch = beh.channels[step.channel]
    speed = beh.speed_floor + (1 - beh.speed_floor) * 2 ** (-minutes / beh.speed_half_life_minutes)
    pref = sc.population.preferred_channel.get(step.channel, 0.0)
    preferred = 1 + pref * (beh.preferred_multiplier - 1)
    return min(1.0, ch.engage_rate * ch.deliver_rate * speed * preferred * beh.fatigue**prior)


@dataclass(frozen=True)
class ArmCalls:
    """Per lead of one arm: call attempts, first calls (a lead's first attempt) and connected calls."""

    attempts: float
    first: float
    connected: float


def arm_calls(sc: Scenario, arm: Arm) -> ArmCalls:
    """The static estimate of an arm's calls per lead (see the module docstring)."""
    unreached, prior, attempts, connected, no_call = 1.0, 0.0, 0.0, 0.0, 1.0
    for step, minutes in zip(arm.steps, nominal_minutes(arm), strict=True):
        reach = _selected(sc, step) * _consent(sc, step.channel) * (unreached if step.if_no_response else 1.0)
        e = _engage(sc, step, minutes, prior)
        if step.channel == "call":
            attempts += reach
            connected += reach * e
            no_call *= 1 - reach
        unreached *= 1 - reach * e
        prior += reach
    return ArmCalls(attempts, 1 - no_call, connected)


# --------------------------------------------------------------------------------------
# When first calls are requested, on the calling clock (a fluid queue over the week)

_WEEK = 7 * _DAY


def _arrivals(sc: Scenario) -> np.ndarray:
    """Share of inquiries in each minute of the week on the centre's clock (leads' zones shifted at the start date)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from .model import STATE_TIMEZONES

    pop = sc.population
    local = np.outer(np.asarray(pop.weekday_profile), np.repeat(np.asarray(pop.hour_profile), 60)).ravel()
    local = local / local.sum()
    if sc.contact_center is None:
        return local
    noon = dt.datetime.combine(dt.date.fromisoformat(pop.start_date), dt.time(12))

    def offset(zone: str) -> int:
        off = noon.replace(tzinfo=ZoneInfo(zone)).utcoffset()
        return 0 if off is None else int(off.total_seconds() // 60)

    centre = offset(sc.contact_center.timezone)
    out = np.zeros(_WEEK)
    for state, share in pop.states.items():
        out += share * np.roll(local, centre - offset(STATE_TIMEZONES[state]))
    return out / out.sum()


def _next_open(open_: np.ndarray) -> np.ndarray:
    """For each minute of the week, the next minute (cyclic, maybe a week on) that is open."""
    idx = np.flatnonzero(open_)
    pos = np.arange(_WEEK)
    nxt = np.searchsorted(idx, pos)
    return np.where(nxt < idx.size, idx[np.minimum(nxt, idx.size - 1)], idx[0] + _WEEK)


def _requests(sc: Scenario, arm: Arm, arrivals: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """First calls per lead requested in each minute of the week (planned delay, then the next staffed minute)."""
    out = np.zeros(_WEEK)
    none_before = 1.0
    hour = np.arange(_WEEK) % _DAY / 60
    for step, minutes in zip(arm.steps, nominal_minutes(arm), strict=True):
        if step.channel != "call":
            continue
        reach = _selected(sc, step) * _consent(sc, step.channel)
        ok = open_ if step.window is None else open_ & (hour >= step.window[0]) & (hour < step.window[1])
        if not ok.any():
            ok = open_
        planned = np.roll(arrivals, round(minutes) % _WEEK)
        np.add.at(out, _next_open(ok) % _WEEK, planned * reach * none_before)
        none_before *= 1 - reach
    return out


def _fluid_wait(work: np.ndarray, capacity: np.ndarray) -> float:
    """Mean wait (minutes) of the work arriving each minute of a repeating week, first come first served.

    A deterministic fluid queue: the backlog grows when more work arrives than the agents on shift
    do (a Monday morning after a weekend of inquiries) and the work ahead of a call is cleared at
    the capacity that follows. Run for three weeks; the last is the repeating state.
    """
    w, c = np.tile(work, 3), np.tile(capacity.astype(float), 3)
    backlog = np.empty_like(w)
    q = 0.0
    for m in range(w.size):  # one step per minute of three weeks, not per lead
        backlog[m] = q
        q = max(0.0, q + w[m] - c[m])
    done = np.r_[0.0, np.cumsum(np.tile(capacity.astype(float), 5))]
    last = slice(2 * _WEEK, 3 * _WEEK)
    start = np.arange(2 * _WEEK, 3 * _WEEK)
    cleared = np.searchsorted(done, done[start] + backlog[last], side="left")
    waits = np.maximum(cleared - start, 0)
    return float((work * waits).sum() / work.sum()) if work.sum() > 0 else 0.0


# --------------------------------------------------------------------------------------
# Erlang C


@dataclass(frozen=True)
class StaffingEstimate:
    """The expected first-call wait of a scenario at a lead volume (see the module docstring).

    ``mean_agents`` is the number of agents on shift (a weekday x hour table: the mean over staffed
    minutes) and ``agents`` the whole number Erlang C uses (the mean rounded down); ``load`` the offered load of every call in Erlangs over the staffed
    hours, ``first_load`` that of first calls and inbound calls (served first); ``handle_minutes``
    the mean agent minutes per call; ``wait_probability`` Erlang C's chance that a call waits.
    A first call's expected wait in the queue is ``erlang_wait_minutes`` (calls arriving evenly:
    Erlang C with first calls served before follow-ups, Cobham's ``C * h / (N - A1)``, with ``N`` the
    mean agents on shift in the denominator) plus
    ``opening_wait_minutes`` (the backlog of calls requested while the centre was closed, cleared
    at the agents' pace: a fluid queue over the week). When first calls alone need more agents
    than there are, the queue grows all through the arrivals: ``first_wait_minutes`` is then
    ``inf`` and ``backlog_days`` the mean first-call wait over the arrival window in calendar days
    (a fluid queue: ``(A1 / N - 1) * arrival_days / 2``, N the mean agents on shift). ``max_leads`` is the volume over the
    arrival window at which first calls alone fill the agents.
    """

    n_leads: int
    agents: int
    mean_agents: float
    staffed_hours_a_week: float
    load: float
    first_load: float
    handle_minutes: float
    wait_probability: float
    erlang_wait_minutes: float
    opening_wait_minutes: float
    backlog_days: float
    max_leads: float

    @property
    def first_wait_minutes(self) -> float:
        """Expected queue wait of a first call (minutes): Erlang C plus the opening backlog."""
        return self.erlang_wait_minutes + self.opening_wait_minutes


def _inbound(sc: Scenario, arrivals: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """Inbound phone calls per lead answered in each minute of the week (phone inquiries in staffed minutes)."""
    pop = sc.population
    phone = sum(sl.share * sl.sources.get("phone", 0.0) for sl in pop.service_lines.values())
    return phone * arrivals * open_


def _work(sc: Scenario, cc: ContactCenter, open_: np.ndarray, per_week: float) -> tuple[np.ndarray, float, float]:
    """Agent minutes of first and inbound calls arriving in each minute of the week, of all calls in a
    week, and the mean agent minutes of a call (outbound by outcome, inbound calls connected)."""
    arrivals, alloc = _arrivals(sc), sc.experiment.allocation
    calls = {a.name: arm_calls(sc, a) for a in sc.experiment.arms}
    attempts = sum(alloc[n] * c.attempts for n, c in calls.items())
    connected = sum(alloc[n] * c.connected for n, c in calls.items())
    hm, vm = cc.handle_minutes, cc.voicemail_rate
    inbound = _inbound(sc, arrivals, open_) if cc.inbound_calls else np.zeros(_WEEK)
    out = connected * hm["connected"] + (attempts - connected) * (vm * hm["voicemail"] + (1 - vm) * hm["no_answer"])
    per_attempt = out / attempts if attempts > 0 else 0.0
    requests = np.sum([alloc[a.name] * _requests(sc, a, arrivals, open_) for a in sc.experiment.arms], axis=0)
    first_work = per_week * (requests * per_attempt + inbound * hm["connected"])
    n_calls = attempts + float(inbound.sum())
    all_work = per_week * (out + float(inbound.sum()) * hm["connected"])
    return first_work, all_work, all_work / per_week / n_calls if n_calls > 0 else 0.0


def first_call_wait(sc: Scenario, n_leads: int = DEFAULT_LEADS) -> StaffingEstimate | None:
    """The expected first-call wait for the scenario's contact centre at ``n_leads`` leads (None: no centre or no calls).

    Example:
        >>> import nurture_lab as nl
        >>> est = first_call_wait(nl.load_scenario("speed_to_lead"), n_leads=20_000)
        >>> est.agents
        32
    """
    cc = sc.contact_center
    if cc is None or (
        not any(s.channel == "call" for a in sc.experiment.arms for s in a.steps) and not cc.inbound_calls
    ):
        return None
    capacity = staffed_week(sc).ravel()
    open_ = capacity > 0
    staffed = float(open_.sum())
    mean_agents = float(capacity.sum()) / staffed
    agents = max(1, math.floor(mean_agents))
    per_week = n_leads / sc.population.arrival_days * 7  # leads a week
    first_work, all_work, handle = _work(sc, cc, open_, per_week)
    load, first_load = float(all_work) / staffed, float(first_work.sum()) / staffed
    c = float(erlang_c_wait(agents, load)) if load > 0 else 0.0
    if first_load < mean_agents:
        erlang, opening, backlog = c * handle / (mean_agents - first_load), _fluid_wait(first_work, capacity), 0.0
    else:
        erlang, opening = math.inf, math.inf
        backlog = (first_load / mean_agents - 1) * sc.population.arrival_days / 2
    per_lead = float(first_work.sum()) / per_week  # agent minutes of first and inbound calls per lead
    max_leads = mean_agents * staffed / per_lead / 7 * sc.population.arrival_days if per_lead > 0 else math.inf
    return StaffingEstimate(
        n_leads, agents, mean_agents, staffed / 60, load, first_load, handle, c, erlang, opening, backlog, max_leads
    )


def wait_text(minutes: float) -> str:
    """A wait for people: "4.2 min", "3.5 h", "1.2 days" (the lint's and the report's wording)."""
    if minutes < 0.05:
        return "under 0.1 min"
    if minutes < 120:
        return f"{minutes:.1f} min"
    if minutes < 2880:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def expected_wait_sentence(sc: Scenario, n_leads: int) -> str | None:
    """What the staffing lets a report expect of the first call's queue wait (None: no centre or no calls).

    The same estimate the lint states (:func:`first_call_wait`), said for a reader of the report.
    """
    est = first_call_wait(sc, n_leads)
    if est is None:
        return None
    who = f"{est.agents} agents" if est.mean_agents == est.agents else f"{est.mean_agents:.1f} agents on average"
    head = f"With {who} on shift for {n_leads:,} leads over {sc.population.arrival_days} days"
    if math.isinf(est.first_wait_minutes):
        return (
            f"{head}, first calls alone need more agents than there are: the queue grows all through the test and "
            f"a first call waits about {est.backlog_days:.1f} days on average in it (Erlang C and a fluid queue)."
        )
    return (
        f"{head}, a first call is expected to wait {wait_text(est.first_wait_minutes)} on average for an agent: "
        f"{wait_text(est.opening_wait_minutes)} of it for the centre to open and the backlog of calls requested "
        f"while it was closed to clear, {wait_text(est.erlang_wait_minutes)} in the queue while it is open "
        "(Erlang C, first calls served before follow-ups). The chart's times also hold each cadence's planned "
        "delay and the calling hours."
    )

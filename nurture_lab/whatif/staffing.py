"""How many agents does a cadence need? The staffing curve (issue 25, section 1).

:func:`staffing_curve` runs the scenario's arms one at a time — every lead on the arm, the contact
centre staffed with ``agents`` — which is the ``rollout`` setting of the truth table
(``result.true_effect(..., setting="rollout")``: every lead on the arm with the same staff; a run
of a one-arm scenario gives exactly the rollout truth of that arm, leads and draws being common
random numbers). Each (staffing level, arm, replication) is one task for
:func:`nurture_lab._parallel.map_tasks` (processes, or any ``concurrent.futures`` executor), and
returns a few numbers, never a lead table; replication ``r`` has a seed spawned from
``(seed, r)`` alone, so the result is identical whatever runs the tasks.

Staffing is varied with ``dataclasses.replace(scenario, contact_center=...)``: a number of agents
replaces the centre's number; a weekday x hour table is scaled proportionally so that its busiest
hour has ``agents`` agents (every staffed hour keeps at least one). A scenario without a
``[contact_center]`` gets the default :class:`~nurture_lab.ContactCenter` with ``agents`` agents.

The break-even staffing (:meth:`StaffingResult.break_even`): a booking's cost at a staffing level
is the staff cost of the weeks the leads arrive in (staff hours a week x ``staff_cost_per_hour`` x
``arrival_days / 7``; staff hours when no price is given) divided by the 30-day bookings of those
leads. The reference is the control arm at today's staffing: the scenario's own agents (its
table's busiest hour), always among the levels run; the smallest level without a
``[contact_center]``. A faster arm *pays* at a level where its cost per booking is at most the
reference's — equivalently, where each booking it brings beyond the control's today costs no more
than a booking costs today. Its **break-even staffing** is the largest number of agents at which it
still pays: linear in agents between the last level where it pays and the next, where it does
not; beyond it, the faster arm's extra bookings cost more than today's bookings. It is the largest
level run (``pays_beyond=True``) when the faster arm pays there too, and NaN when it pays at no level.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._parallel import DEFAULT_JOBS, map_tasks
from .._results import ResultMixin
from ..errors import check_param, require
from ..scenario.model import ContactCenter, Scenario
from ..scenario.staffing import first_call_wait, staffed_week
from ..simulation.engine import simulate

__all__ = ["StaffingResult", "current_agents", "one_arm", "staffed", "staffing_curve"]

FUNC = "staffing_curve"
#: A first call "within 5 minutes": at most this many minutes after the inquiry.
FAST_MINUTES = 5.0
AGENTS_TEXT = "a non-empty list of distinct agent counts, each an int in the range [1, 100000]"


def staffed(sc: Scenario, agents: int) -> Scenario:
    """The scenario with ``agents`` agents on shift (a weekday x hour table scaled so its peak is ``agents``)."""
    cc = sc.contact_center if sc.contact_center is not None else ContactCenter()
    if isinstance(cc.agents, tuple):
        peak = max(max(row) for row in cc.agents)
        table = [[0 if v == 0 else max(1, round(v * agents / peak)) for v in row] for row in cc.agents]
        return dataclasses.replace(sc, contact_center=dataclasses.replace(cc, agents=table))
    return dataclasses.replace(sc, contact_center=dataclasses.replace(cc, agents=agents))


def current_agents(sc: Scenario) -> int | None:
    """The scenario's own staffing: its centre's agents (a table's busiest hour); None without a centre."""
    cc = sc.contact_center
    if cc is None:
        return None
    return int(max(max(row) for row in cc.agents)) if isinstance(cc.agents, tuple) else int(cc.agents)


def one_arm(sc: Scenario, arm: str) -> Scenario:
    """The scenario with ``arm`` as its only arm: every lead on it (the rollout setting)."""
    a = sc.experiment.arm(arm)
    exp = dataclasses.replace(sc.experiment, arms=(dataclasses.replace(a, allocation=1.0),), control=arm)
    return dataclasses.replace(sc, experiment=exp)


@dataclass(frozen=True)
class _Task:
    scenario: Scenario  # one arm, staffed
    agents: int
    rep: int
    seed: int
    n_leads: int


def _run(t: _Task) -> dict[str, Any]:
    """One replication of one arm at one staffing level, reduced to per-arm totals."""
    res = simulate(t.scenario, seed=t.seed, n_leads=t.n_leads, truth=False, jobs=1)
    row = {"agents": t.agents, "arm": t.scenario.experiment.control, "rep": t.rep, "seed": t.seed}
    return row | reduce_run(t.scenario, res.leads, res.touches)


def reduce_run(sc: Scenario, leads: pd.DataFrame, touches: pd.DataFrame) -> dict[str, float]:
    """A run's totals: leads, 30-day bookings, first calls (all, within 5 minutes, median and 90th
    percentile minutes from inquiry), first calls' queue minutes, agents' busy and on-shift minutes
    while the leads arrived."""
    fc = leads["first_call_minutes"].dropna().to_numpy(dtype=float)
    calls = touches[(touches["channel"] == "call") & (touches["status"] == "sent")]
    first = calls.sort_values("sent_at", kind="stable").drop_duplicates("lead_id")
    t0, t1 = leads["created_at"].min(), leads["created_at"].max()
    return {
        "n": float(len(leads)),
        "bookings": float(leads["booked_30d"].sum()),
        "called": float(fc.size),
        "within_5": float((fc <= FAST_MINUTES + 1e-6).sum()),
        "median_wait": float(np.median(fc)) if fc.size else math.nan,
        "p90_wait": float(np.quantile(fc, 0.9)) if fc.size else math.nan,
        "queued": float(len(first)),
        "queue_minutes": float(first["queue_minutes"].fillna(0.0).sum()),
        "busy_minutes": _busy_minutes(sc, leads, touches, t0, t1),
        "shift_minutes": shift_minutes(sc, t0, t1),
    }


def _busy_minutes(sc: Scenario, leads: pd.DataFrame, touches: pd.DataFrame, t0: Any, t1: Any) -> float:
    """Agent minutes of the calls placed, and the inbound calls answered, between ``t0`` and ``t1``."""
    cc = sc.contact_center
    assert cc is not None
    calls = touches[(touches["channel"] == "call") & touches["sent_at"].between(t0, t1)]
    out = float(calls["handle_minutes"].fillna(0.0).sum())
    if cc.inbound_calls:
        answered = (leads["source"] == "phone") & ~leads["missed_call"].astype(bool)
        out += float(answered.sum()) * cc.handle_minutes["connected"]
    return out


def shift_minutes(sc: Scenario, t0: Any, t1: Any) -> float:
    """Agent minutes on shift between two UTC times, read on the centre's clock (zoneinfo through pandas)."""
    assert sc.contact_center is not None
    minutes = pd.date_range(pd.Timestamp(t0).ceil("min"), pd.Timestamp(t1).floor("min"), freq="min")
    local = minutes.tz_convert(sc.contact_center.timezone)
    week = staffed_week(sc)
    return float(week[local.day_of_week, local.hour * 60 + local.minute].sum())


def _check(
    scenario: Any, agents: Any, n_leads: Any, seed: Any, replications: Any, cost: Any
) -> tuple[list[int], int, int, int, float | None]:
    check_param(FUNC, "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    ok = isinstance(agents, (list, tuple, np.ndarray, range)) and len(agents) > 0
    ok = ok and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and 1 <= a <= 100_000 for a in agents)
    ok = ok and len(set(int(a) for a in agents)) == len(agents)
    require(FUNC, "agents", agents, AGENTS_TEXT, ok, wrong_type=not isinstance(agents, (list, tuple, range)))
    n_leads = check_param(FUNC, "n_leads", n_leads, kind="int", low=1, high=20_000_000)
    seed = _random.check_seed(seed, FUNC)
    replications = check_param(FUNC, "replications", replications, kind="int", low=1, high=10_000)
    if cost is not None:
        cost = float(check_param(FUNC, "staff_cost_per_hour", cost, kind="number", low=0, low_open=True))
    return sorted(int(a) for a in agents), n_leads, seed, replications, cost


def staffing_curve(
    scenario: Scenario,
    agents: Sequence[int],
    n_leads: int = 20_000,
    seed: int = 0,
    replications: int = 3,
    *,
    jobs: int | None = DEFAULT_JOBS,
    executor: Executor | None = None,
    staff_cost_per_hour: float | None = None,
    progress: bool = False,
) -> StaffingResult:
    """Bookings, speed and cost of every arm at each staffing level (the rollout truth; module docstring).

    Args:
        scenario: a loaded scenario (its arms, population and centre; the centre's agents are replaced).
        agents: staffing levels to try (agents on shift; a table's busiest hour). The scenario's own
            staffing is always run too: it is the reference of the break-even staffing.
        n_leads: leads per run (over the population's ``arrival_days``: the volume the staff serve).
        seed: the base seed; replication ``r`` runs on a seed spawned from ``(seed, r)``.
        replications: runs per level and arm (different leads; the same leads at every level and arm).
        jobs, executor: where the runs go (see :func:`nurture_lab._parallel.map_tasks`); results
            are identical whatever runs them.
        staff_cost_per_hour: the price of an agent hour on shift, for ``cost_per_booking``.

    Returns:
        A :class:`StaffingResult`: one row per level and arm.

    Raises:
        ParameterError: a bad argument (e.g. ``agents=[]``, ``[0]``, ``[-4]``, ``[8.5]``).

    Example:
        >>> import nurture_lab as nl
        >>> res = nl.staffing_curve(nl.load_scenario("speed_to_lead"), [8, 16, 32])  # doctest: +SKIP
        >>> res.plot()  # doctest: +SKIP
    """
    levels, n_leads, seed, replications, cost = _check(
        scenario, agents, n_leads, seed, replications, staff_cost_per_hour
    )
    today = current_agents(scenario)
    levels = sorted(set(levels) | ({today} if today is not None else set()))
    seeds = [_random.replication_seed(seed, r) for r in range(replications)]
    arms = scenario.experiment.arm_names
    tasks = [
        _Task(one_arm(staffed(scenario, n), arm), n, r, s, n_leads)
        for n in levels
        for arm in arms
        for r, s in enumerate(seeds)
    ]
    runs = pd.DataFrame(
        map_tasks(_run, tasks, caller=FUNC, jobs=jobs, executor=executor, progress=progress, desc="staffing")
    )
    erlang = {(t.agents, t.scenario.experiment.control): _erlang(t.scenario, n_leads) for t in tasks if t.rep == 0}
    table = summarise(scenario, runs, erlang, cost)
    settings = {
        "scenario": scenario.name,
        "control": scenario.experiment.control,
        "agents": levels,
        "reference_agents": today if today is not None else levels[0],
        "n_leads": n_leads,
        "seed": seed,
        "replications": replications,
        "replication_seeds": seeds,
        "staff_cost_per_hour": cost,
        "setting": "rollout",
        "interval": INTERVAL_TEXT if replications > 1 else WILSON_TEXT,
    }
    return StaffingResult(table, runs, settings)


INTERVAL_TEXT = "95% t interval of the mean over replications"
WILSON_TEXT = "95% Wilson binomial interval (one replication)"


def _erlang(sc: Scenario, n_leads: int) -> float:
    est = first_call_wait(sc, n_leads)
    return math.nan if est is None else float(est.first_wait_minutes)


def _interval(per_rep: np.ndarray, bookings: float, n: float) -> tuple[float, float]:
    """The Monte Carlo interval of bookings per 1,000 leads (see :data:`INTERVAL_TEXT`)."""
    from scipy import stats

    if per_rep.size > 1:
        half = float(stats.t.ppf(0.975, per_rep.size - 1) * per_rep.std(ddof=1) / math.sqrt(per_rep.size))
        return float(per_rep.mean()) - half, float(per_rep.mean()) + half
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(int(bookings), int(n), alpha=0.05, method="wilson")
    return 1000 * float(lo), 1000 * float(hi)


def summarise(
    sc: Scenario, runs: pd.DataFrame, erlang: dict[tuple[int, str], float], cost: float | None
) -> pd.DataFrame:
    """One row per staffing level and arm from the per-run totals."""
    rows = []
    weeks = sc.population.arrival_days / 7
    for (agents, arm), g in runs.groupby(["agents", "arm"], sort=False):
        per_rep = (1000 * g["bookings"] / g["n"]).to_numpy()
        lo, hi = _interval(per_rep, g["bookings"].sum(), g["n"].sum())
        hours = float(staffed_week(staffed(sc, int(agents))).sum()) / 60
        per_booking = hours * weeks / g["bookings"].mean() if g["bookings"].mean() > 0 else math.inf
        queued = g["queued"].sum()
        rows.append(
            {
                "agents": int(agents),
                "arm": arm,
                "bookings_per_1000": float(per_rep.mean()),
                "bookings_ci_low": lo,
                "bookings_ci_high": hi,
                "first_call_within_5_min": g["within_5"].sum() / g["called"].sum() if g["called"].sum() else math.nan,
                "median_first_call_minutes": float(g["median_wait"].mean()),
                "p90_first_call_minutes": float(g["p90_wait"].mean()),
                "queue_wait_minutes": g["queue_minutes"].sum() / queued if queued else math.nan,
                "erlang_queue_wait_minutes": erlang[(int(agents), str(arm))],
                "staff_hours_per_week": hours,
                "occupancy": g["busy_minutes"].sum() / g["shift_minutes"].sum(),
                "staff_hours_per_booking": per_booking,
                "cost_per_booking": per_booking * cost if cost is not None else math.nan,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False)
class StaffingResult(ResultMixin):
    """What :func:`staffing_curve` returns: ``table`` (one row per staffing level and arm), ``runs``
    (the per-run totals it was summarised from) and ``settings``.

    Columns: ``agents``, ``arm``, ``bookings_per_1000`` (30-day bookings per 1,000 leads, mean over
    replications) with ``bookings_ci_low/high`` (``settings["interval"]``),
    ``first_call_within_5_min`` (share of leads with a first call whose first call came at most 5
    minutes after the inquiry), ``median_first_call_minutes`` / ``p90_first_call_minutes`` (minutes
    from inquiry to first call: each replication's quantile, averaged), ``queue_wait_minutes``
    (mean minutes a first outbound call waited in the queue) beside ``erlang_queue_wait_minutes``
    (Erlang C plus the opening backlog, :func:`nurture_lab.scenario.staffing.first_call_wait`;
    ``inf``: first calls alone exceed the agents), ``staff_hours_per_week`` (agent hours on shift),
    ``occupancy`` (agents' handle minutes over their minutes on shift while the leads arrived),
    ``staff_hours_per_booking`` and ``cost_per_booking`` (see the module docstring).
    """

    table: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    _json_extras = ("settings", "break_even_rows")

    def _table(self) -> pd.DataFrame:
        return self.table

    def _head(self) -> str:
        s = self.settings
        return (
            f"StaffingResult({s['scenario']!r}: {len(s['agents'])} staffing levels x "
            f"{self.table['arm'].nunique()} arms, {s['n_leads']:,} leads, {s['replications']} replications, rollout)"
        )

    def break_even(self) -> pd.DataFrame:
        """Per arm other than the control: where it pays against the control's cheapest booking
        (module docstring: the reference is the control at today's staffing). Columns ``arm, reference_agents, reference_cost, pays_from_agents,
        break_even_agents, pays_beyond``; costs in money with ``staff_cost_per_hour``, else in staff hours."""
        s = self.settings
        return break_even(self.table, s["control"], s["reference_agents"], s["staff_cost_per_hour"] is not None)

    @property
    def break_even_rows(self) -> list[dict[str, Any]]:
        """:meth:`break_even` as plain rows (for :meth:`to_json`)."""
        return list(self.break_even().to_dict(orient="records"))

    def formatted(self) -> pd.DataFrame:
        """The table for a reader: one row per level and arm, numbers formatted with their units."""
        from .staffing_view import formatted

        return formatted(self.table, self.settings)

    def summary(self) -> str:
        """The formatted table and, per faster arm, its break-even staffing in a sentence."""
        return "\n".join([self.formatted().to_string(index=False), "", *self.break_even_text()])

    def break_even_text(self) -> list[str]:
        """Per arm other than the control, its break-even staffing in a sentence."""
        unit = "a booking" if self.settings["staff_cost_per_hour"] is not None else "staff hours a booking"
        lines = []
        for r in self.break_even().itertuples():
            ref = f"{self.settings['control']} at {r.reference_agents} agents ({r.reference_cost:,.2f} {unit})"
            if not math.isfinite(r.break_even_agents):
                lines.append(f"{r.arm}: costs more per booking than {ref} at every level tried")
            elif r.pays_beyond:
                lines.append(
                    f"{r.arm}: costs no more per booking than {ref} up to {r.break_even_agents:.0f} agents, the most tried"
                )
            else:
                lines.append(
                    f"{r.arm}: costs no more per booking than {ref} up to about "
                    f"{r.break_even_agents:.1f} agents (break-even staffing)"
                )
        return lines

    def plot(self, title: str | None = None) -> Any:
        """Bookings per 1,000 leads and cost per booking against agents, one line per arm."""
        from .staffing_view import plot_staffing

        return plot_staffing(self, title)


def break_even(table: pd.DataFrame, control: str, reference_agents: int, money: bool) -> pd.DataFrame:
    """See :meth:`StaffingResult.break_even`."""
    col = "cost_per_booking" if money else "staff_hours_per_booking"
    ref = table[(table["arm"] == control) & (table["agents"] == reference_agents)].iloc[0]
    rows = []
    for arm, g in table[table["arm"] != control].groupby("arm", sort=False):
        g = g.sort_values("agents")
        x, excess = g["agents"].to_numpy(float), (g[col] - ref[col]).to_numpy(float)
        pays = np.flatnonzero(excess <= 0)
        row = {"arm": arm, "reference_agents": int(ref["agents"]), "reference_cost": float(ref[col])}
        if pays.size == 0:
            rows.append(row | {"pays_from_agents": math.nan, "break_even_agents": math.nan, "pays_beyond": False})
            continue
        last = int(pays[-1])
        if last == x.size - 1:
            be, beyond = float(x[last]), True
        else:  # the cost crosses the reference between two levels: linear in agents
            e0, e1 = excess[last], excess[last + 1]
            be, beyond = float(x[last] + (x[last + 1] - x[last]) * (0 - e0) / (e1 - e0)), False
        rows.append(row | {"pays_from_agents": float(x[pays[0]]), "break_even_agents": be, "pays_beyond": beyond})
    return pd.DataFrame(rows)

"""Adaptive assignment in waves (the scenario's ``[design]``; issue 25, section 2).

Wave ``w`` holds the leads created in ``[t0 + w U, t0 + (w + 1) U)``, ``t0`` the run's first
inquiry and ``U`` the design's ``update_every_days``. A wave before any lead's metric is observable
(wave 0 always) uses the planned allocation; a later wave uses probabilities computed from each
arm's Beta-Bernoulli posterior (Beta(1, 1) prior) of the design's metric, counting only the leads
whose metric is observable at the wave's start (``created_at + delay_days <= wave start``):

- ``thompson``: ``q_k = p_k``, the posterior probability that arm ``k`` has the highest rate;
- ``top_two``: top-two Thompson sampling (Russo 2020), ``q_k = p_k (b + (1 - b) sum_{j != k} p_j / (1 - p_j))``
  with ``b = top_two_beta``;
- ``exploration``: exploration sampling (Kasy & Sautmann 2021), ``q_k = p_k (1 - p_k) / sum_j p_j (1 - p_j)``;

each then floored, ``q <- f + (1 - K f) q`` with ``f = min_probability``, so every arm keeps a
probability of at least ``f`` in every wave and inverse-probability weights stay bounded. ``p_k``
is computed by quadrature (``P(k best) = int pdf_k(x) prod_{j != k} cdf_j(x) dx`` on a grid that
resolves every posterior), not by sampling: no random numbers besides each lead's own draw.

Each lead's arm is drawn from its wave's probabilities with one uniform number from its chunk's
assignment stream ``(seed, chunk, ASSIGNMENT)`` — the same numbers on one process or many. Without
a contact centre a lead's outcome under an arm does not depend on the other leads (common random
numbers), so the assignment is computed from every lead's outcome under every arm
(:func:`potentials`) and the observed run is then an ordinary run with that assignment: exact.

With a contact centre one lead's calls delay another's, so outcomes under another assignment cannot
be read off one run: the centre is run wave by wave (:func:`run_centre`). Wave ``w`` is decided from
a centre run with the waves before it assigned and every later lead on its planned draw; the final
run, every wave assigned, is the observed run. That is what a live test would have done if what is
observable at a wave's start does not depend on the later leads' arms — a run causal in time. The
engine closes the ways found so far in which it was not (a waiting call holds the lead's next steps
until an agent reaches it; every arm takes its turn in every round of the queue:
``tests/simulation/test_causality.py``); one remains where calls wait a week or more (the queue's
placement and the calls' agent minutes may not settle within its passes). So every wave's inputs
are counted again in the final run (:func:`verify_waves`): equal, the final run's assignment is a
fixed point — each wave decided from the final run's own observations gives the same probabilities
and arms — and it is returned; any difference is refused with what differed.
Cost: one centre run per wave with something observable at its start plus the final run (at most
``W + 1`` for ``W`` waves), against one run for a fixed design.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .. import _random
from .._parallel import map_tasks
from ..scenario.design import Design
from ..scenario.model import Scenario
from .cadence import run_arm_unlimited
from .calendar import DAY
from .chunks import ChunkRun, prepare_chunk, simulate_centre
from .draws import Draws
from .leads import Leads

__all__ = [
    "CentreRun",
    "Plan",
    "Potentials",
    "allocation_probabilities",
    "arrivals",
    "assign_waves",
    "centre_metric",
    "metric_value",
    "observable",
    "plan_run",
    "potentials",
    "prob_best",
    "run_centre",
    "verify_waves",
    "wave_counts",
    "wave_loop",
]

#: Grid points per arm for the quadrature of ``P(arm k is best)``.
GRID_POINTS = 401


def metric_value(out: dict[str, np.ndarray], metric: str, window: float) -> np.ndarray:
    """The design's metric per lead from an arm's outcomes: the event within ``window`` days (0/1)."""
    if metric == "contacted":
        with np.errstate(invalid="ignore"):
            return np.asarray(out["contacted"] & (np.nan_to_num(out["contacted_minutes"], nan=np.inf) <= window * DAY))
    return np.asarray(out[metric], dtype=bool)


def prob_best(successes: np.ndarray, failures: np.ndarray) -> np.ndarray:
    """``P(arm k has the highest rate)`` under independent Beta(1 + s_k, 1 + f_k) posteriors (quadrature)."""
    a, b = 1.0 + np.asarray(successes, float), 1.0 + np.asarray(failures, float)
    k = a.size
    if k == 1:
        return np.ones(1)
    # each arm's own grid over its mean +- 12 standard deviations, so narrow posteriors are resolved
    mean, sd = a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lo, hi = np.clip(mean - 12 * sd, 0.0, 1.0), np.clip(mean + 12 * sd, 0.0, 1.0)
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, GRID_POINTS)[None, :]
    x = np.unique(np.concatenate([grid.ravel(), [0.0, 1.0]]))
    aa, bb, xx = a[:, None], b[:, None], x[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        logcdf = np.log(special.betainc(aa, bb, xx))
        pdf = np.exp(special.xlogy(aa - 1, xx) + special.xlog1py(bb - 1, -xx) - special.betaln(aa, bb))
    pdf = np.nan_to_num(pdf, nan=0.0, posinf=0.0)
    total = logcdf.sum(axis=0)
    with np.errstate(invalid="ignore"):
        others = np.exp(np.where(np.isfinite(logcdf), total[None, :] - logcdf, -np.inf))
    p = np.trapezoid(pdf * others, x, axis=1)
    p = np.clip(np.nan_to_num(p), 0.0, None)
    return p / p.sum() if p.sum() > 0 else np.full(k, 1.0 / k)


def allocation_probabilities(design: Design, p_best: np.ndarray) -> np.ndarray:
    """A wave's assignment probabilities from the posterior probabilities of being best (module docstring).

    ``1 - p_k`` is computed as ``sum_{j != k} p_j``, exact when ``p_k`` rounds to 1; where every other
    arm's ``p_j`` underflows to 0 the rules take their limits (top two: the challenger uniform among the
    others; exploration: half to the leader, half shared by the others).
    """
    k = p_best.size
    p = np.clip(p_best, 0.0, 1.0)
    p = p / p.sum()
    rest = (1.0 - np.eye(k)) @ p  # 1 - p_k, summed over the others (exact when p_k rounds to 1)
    if design.allocation == "thompson":
        q = p.copy()
    elif design.allocation == "top_two":
        # the challenger: resample until another arm than the leader j comes up, P = p_k / (1 - p_j)
        challenger = np.where(rest[:, None] > 0, p[None, :] / np.where(rest > 0, rest, 1.0)[:, None], 1.0 / (k - 1))
        np.fill_diagonal(challenger, 0.0)
        q = design.top_two_beta * p + (1.0 - design.top_two_beta) * (p @ challenger)
    else:  # exploration sampling
        q = p * rest
        if q.sum() <= 0:  # one arm certain to be best: the limit of p (1 - p) / sum
            lead = p == p.max()
            q = np.where(lead, 0.5 / lead.sum(), 0.5 / max(1, k - lead.sum()))
    q = q / q.sum()
    f = design.floor(k)
    return f + (1.0 - k * f) * q


@dataclass(frozen=True)
class Plan:
    """An adaptive assignment: per lead (lead-number order) its arm, the probability of that arm in
    its wave and its wave; per wave the probabilities of every arm (``probs``, waves x arms) and what
    they were decided from (``inputs``, waves x 2 x arms: per arm the leads whose metric was observable
    at the wave's start, and their successes); ``centre_runs``: the contact-centre runs it took (0
    without a centre)."""

    arm: np.ndarray
    probability: np.ndarray
    wave: np.ndarray
    probs: np.ndarray
    inputs: np.ndarray
    centre_runs: int = 0


#: Each lead's metric under a whole assignment (arm index per lead, lead-number order).
Observe = Callable[[np.ndarray], np.ndarray]


def _draw(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Arms drawn from probabilities ``q`` with uniform numbers ``u``."""
    return np.searchsorted(np.cumsum(q), u, side="right").clip(0, q.size - 1)


def observable(design: Design, created_min: np.ndarray, n_waves: int) -> list[np.ndarray]:
    """Per wave, which leads' metric is observable at its start (``created + delay <= wave start``)."""
    t = created_min - created_min.min()
    span, delay = design.update_every_days * DAY, design.delay * DAY
    return [t <= w * span - delay for w in range(n_waves)]


def wave_counts(arm: np.ndarray, y: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    """Per arm, the observable leads and their successes (2 x arms)."""
    a = arm[seen]
    return np.stack(
        [np.bincount(a, minlength=k).astype(float), np.bincount(a, weights=y[seen].astype(float), minlength=k)]
    )


def assign_waves(design: Design, planned: np.ndarray, created_min: np.ndarray, y: np.ndarray, u: np.ndarray) -> Plan:
    """Assign leads in waves (module docstring) from their outcomes under every arm.

    Args:
        design: an adaptive design.
        planned: the planned allocation (shares of the arms, summing to 1).
        created_min: each lead's inquiry time (minutes; any origin).
        y: each lead's metric under each arm (leads x arms, 0/1): only the assigned arm's is read,
            and only once observable.
        u: each lead's uniform draw in [0, 1).
    """
    rows = np.arange(u.size)
    return wave_loop(design, planned, created_min, u, lambda arm: y[rows, arm])


def wave_loop(design: Design, planned: np.ndarray, created_min: np.ndarray, u: np.ndarray, observe: Observe) -> Plan:
    """Assign leads in waves: wave ``w`` decided from ``observe(arms)`` — each lead's metric when the
    waves before ``w`` have their arms and every later lead its planned draw — read only for the leads
    observable at the wave's start. ``observe`` is called only for waves with something observable."""
    n, k = u.size, planned.size
    t = created_min - created_min.min()
    wave = np.floor(t / (design.update_every_days * DAY)).astype(np.int64)
    n_waves = int(wave.max()) + 1 if n else 0
    arm = _draw(planned, u)
    prob = planned[arm]
    probs, inputs = np.zeros((n_waves, k)), np.zeros((n_waves, 2, k))
    for w, seen in enumerate(observable(design, created_min, n_waves)):
        q = planned
        if seen.any():
            inputs[w] = wave_counts(arm, observe(arm.copy()), seen, k)
            q = allocation_probabilities(design, prob_best(inputs[w, 1], inputs[w, 0] - inputs[w, 1]))
        now = wave == w
        arm[now] = _draw(q, u[now])
        prob[now] = q[arm[now]]
        probs[w] = q
    return Plan(arm, prob, wave, probs, inputs)


@dataclass(frozen=True)
class Potentials:
    """Every lead's outcomes under every arm, in lead-number order (leads x arms), and what assigns them:
    ``created_min`` (inquiry, UTC minutes), ``metric`` (the design's metric), ``booked`` (booked_30d),
    ``u`` (each lead's uniform assignment draw), ``fixed_arm`` (the fixed design's stratified arm)."""

    created_min: np.ndarray
    metric: np.ndarray
    booked: np.ndarray
    u: np.ndarray
    fixed_arm: np.ndarray


@dataclass(frozen=True)
class _ChunkJob:
    sc: Scenario
    seed: int
    chunk: int
    first: int
    n: int
    metrics: tuple[tuple[str, float], ...]


def _chunk_potentials(job: _ChunkJob) -> list[Potentials]:
    """One chunk's :class:`Potentials`, per metric: one pass per arm over its leads."""
    sc, seed, c = job.sc, job.seed, job.chunk
    ch = prepare_chunk(sc, seed, c, job.first, job.n, identities=False)
    lead = ch.lead
    assert isinstance(lead, Leads)
    draws = Draws(seed, c, job.n)
    outs = [run_arm_unlimited(sc, arm, lead, draws, None)[0] for arm in sc.experiment.arms]
    booked = np.column_stack([o["booked_30d"] for o in outs])
    u = _random.stream(seed, c, _random.ASSIGNMENT).random(job.n)
    return [
        Potentials(
            lead.created_min.copy(), np.column_stack([metric_value(o, m, w) for o in outs]), booked, u, ch.arm_idx
        )
        for m, w in job.metrics
    ]


def potentials(
    sc: Scenario,
    seed: int,
    n_leads: int,
    metrics: tuple[tuple[str, float], ...],
    jobs: int | None = 1,
    executor: Executor | None = None,
) -> list[Potentials]:
    """Per design metric ``(metric, window)``, every lead's outcomes under every arm (no contact centre).

    One pass per arm over every chunk, the chunks spread over ``jobs`` processes or ``executor`` (default:
    in this process); ``booked`` and ``u`` are shared by all metrics.
    """
    tasks = [_ChunkJob(sc, seed, c, first, n, metrics) for c, first, n in _random.chunks(n_leads)]
    per_chunk = map_tasks(_chunk_potentials, tasks, caller="simulate", jobs=jobs, executor=executor)
    return [
        Potentials(*(np.concatenate([getattr(p[i], f) for p in per_chunk]) for f in Potentials.__dataclass_fields__))
        for i in range(len(metrics))
    ]


def plan_run(sc: Scenario, seed: int, n_leads: int, jobs: int | None = 1, executor: Executor | None = None) -> Plan:
    """The adaptive assignment of ``simulate(sc, seed, n_leads)`` (an adaptive design, no contact centre)."""
    d = sc.design
    (pot,) = potentials(sc, seed, n_leads, ((d.metric, d.window),), jobs, executor)
    planned = np.array(list(sc.experiment.allocation.values()))
    return assign_waves(d, planned, pot.created_min, pot.metric, pot.u)


# ---------------------------------------------------------------------------------------------
# with a contact centre: wave by wave, then verified on the final run


def arrivals(sc: Scenario, seed: int, n_leads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every lead's inquiry (UTC minutes), uniform assignment draw and the fixed design's arm, in
    lead-number order (no outcome is simulated)."""
    parts = []
    for c, first, n in _random.chunks(n_leads):
        ch = prepare_chunk(sc, seed, c, first, n, identities=False)
        parts.append((ch.lead.created_min, _random.stream(seed, c, _random.ASSIGNMENT).random(n), ch.arm_idx))
    created, u, fixed = (np.concatenate(x) for x in zip(*parts, strict=True))
    return created, u, fixed


def centre_metric(runs: list[ChunkRun], n_leads: int, metric: str, window: float) -> np.ndarray:
    """Each lead's metric (lead-number order) in a run with a contact centre (its chunks' outputs)."""
    y = np.zeros(n_leads, dtype=bool)
    for run in runs:
        for part, pos in zip(run.parts, run.positions, strict=True):
            y[run.chunk.first + pos] = metric_value(part, metric, window)
    return y


class _CentreObserver:
    """:data:`Observe` with a contact centre: one centre run per call (an assignment equal to the last
    one's reuses its run), the later leads on whatever arms they are given."""

    def __init__(self, sc: Scenario, seed: int, n_leads: int) -> None:
        self.sc, self.seed, self.n_leads = sc, seed, n_leads
        self.runs = 0
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, arm: np.ndarray) -> np.ndarray:
        if self.last is not None and np.array_equal(self.last[0], arm):
            return self.last[1]
        runs, _ = simulate_centre(self.sc, self.seed, self.n_leads, truth=False, frames=False, arms=arm)
        self.runs += 1
        d = self.sc.design
        y = centre_metric(runs, self.n_leads, d.metric, d.window)
        self.last = (arm, y)
        return y


@dataclass(frozen=True)
class CentreRun:
    """An adaptive run with a contact centre: its verified :class:`Plan` and the final (observed) run —
    per chunk, as :func:`.chunks.simulate_centre` returns it — and its truth sums."""

    plan: Plan
    runs: list[ChunkRun]
    truth: pd.DataFrame


def run_centre(
    sc: Scenario,
    seed: int,
    n_leads: int,
    truth: bool = True,
    progress: bool = False,
    func: str = "simulate",
    frames: bool = True,
) -> CentreRun:
    """An adaptive design with a ``[contact_center]``, wave by wave, verified (module docstring).

    Wave ``w`` is decided from a centre run with the waves before it assigned and every later lead on
    its planned draw (none for a wave with nothing observable yet); the final run has every wave
    assigned and is the observed run. Each wave's inputs are then counted again in the final run
    (:func:`verify_waves`): equal, the design is what a live adaptive test would have done; else refused.
    Cost: one centre run per wave with something observable at its start, plus the final run (with
    ``truth``, its truth passes) — at most ``W + 1`` runs for ``W`` waves (``plan.centre_runs``).
    ``frames=False``: the final run without event logs (outcomes only, as ``simulate_centre``'s).

    Raises:
        ParameterError: some wave's inputs differ in the final run (which wave, arm, counts; why).
    """
    d = sc.design
    created, u, _ = arrivals(sc, seed, n_leads)
    planned = np.array(list(sc.experiment.allocation.values()))
    observer = _CentreObserver(sc, seed, n_leads)
    plan = wave_loop(d, planned, created, u, observer)
    runs, tr = simulate_centre(sc, seed, n_leads, truth, progress, frames=frames, arms=plan.arm)
    verify_waves(sc, plan, created, centre_metric(runs, n_leads, d.metric, d.window), func)
    return CentreRun(dataclasses.replace(plan, centre_runs=observer.runs + 1), runs, tr)


def verify_waves(sc: Scenario, plan: Plan, created_min: np.ndarray, y: np.ndarray, func: str = "simulate") -> None:
    """Every wave's inputs (per arm, the observable leads and their successes) counted again from the
    final run's metric ``y`` (lead-number order) under the plan's arms; any difference refused."""
    d, k = sc.design, len(sc.experiment.arms)
    seen = observable(d, created_min, len(plan.probs))
    again = np.stack([wave_counts(plan.arm, y, s, k) for s in seen]) if seen else np.zeros((0, 2, k))
    bad = np.argwhere(again != plan.inputs)
    if bad.size == 0:
        return
    from ..errors import ParameterError

    w, a = int(bad[0, 0]), int(bad[0, 2])
    n_bad = int(np.unique(bad[:, [0, 2]], axis=0).shape[0])
    raise ParameterError(
        f"{func}: the adaptive design of scenario {sc.name!r} (allocation = {d.allocation!r}) with its "
        f"[contact_center] could not be verified: wave {w} (from day {w * d.update_every_days:g}) was decided "
        f"from {plan.inputs[w, 0, a]:.0f} leads of arm {sc.experiment.arm_names[a]!r} with {d.metric} observable "
        f"and {plan.inputs[w, 1, a]:.0f} successes, but the final run has {again[w, 1, a]:.0f} successes among "
        f"{again[w, 0, a]:.0f} ({n_bad} of {again.shape[0] * k} wave x arm counts differ). A run with a "
        "centre is causal in time except where its queue is so saturated that calls wait a week or more (the "
        "placement of calls and their agent minutes may then not settle: README, known limits), so this "
        "assignment is not what a live adaptive test would have done. Add agents ([contact_center] agents), "
        "or observe later (a longer delay_days), or judge the design with unlimited staff: "
        "dataclasses.replace(scenario, contact_center=None)."
    )

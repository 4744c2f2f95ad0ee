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
(:func:`potentials`) and the observed run is then an ordinary run with that assignment: exact. With
a contact centre one lead's calls delay another's, so outcomes under another assignment cannot be
read off one run; nor can the centre be run wave by wave, as a run with a centre is not causal in
time (a call waiting past a wave's start decides, when reached, whether the lead's later steps go
before it: ``tests/simulation/test_causality.py``): refused (:func:`refuse_centre`).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from scipy import special

from .. import _random
from .._parallel import map_tasks
from ..scenario.design import Design
from ..scenario.model import Scenario
from .cadence import run_arm_unlimited
from .calendar import DAY
from .chunks import prepare_chunk
from .draws import Draws
from .leads import Leads

__all__ = [
    "Plan",
    "Potentials",
    "allocation_probabilities",
    "assign_waves",
    "metric_value",
    "plan_run",
    "potentials",
    "prob_best",
    "refuse_centre",
]

#: Grid points per arm for the quadrature of ``P(arm k is best)``.
GRID_POINTS = 401


def refuse_centre(sc: Scenario, func: str) -> None:
    """An adaptive design with a ``[contact_center]``: refused with the reason."""
    if sc.contact_center is None:
        return
    from ..errors import ParameterError

    raise ParameterError(
        f"{func}: scenario {sc.name!r} has a [contact_center] and an adaptive design "
        f"(allocation = {sc.design.allocation!r}); with a shared queue one lead's outcome depends on the calls "
        "of the leads assigned before it, so the adaptive assignment cannot be computed from one run's outcomes, "
        "nor wave by wave (a run with a centre is not causal in time: tests/simulation/test_causality.py). "
        "Judge adaptive designs with unlimited staff: dataclasses.replace(scenario, contact_center=None)."
    )


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
    its wave and its wave; per wave the probabilities of every arm (``probs``, waves x arms)."""

    arm: np.ndarray
    probability: np.ndarray
    wave: np.ndarray
    probs: np.ndarray


def assign_waves(design: Design, planned: np.ndarray, created_min: np.ndarray, y: np.ndarray, u: np.ndarray) -> Plan:
    """Assign leads in waves (module docstring).

    Args:
        design: an adaptive design.
        planned: the planned allocation (shares of the arms, summing to 1).
        created_min: each lead's inquiry time (minutes; any origin).
        y: each lead's metric under each arm (leads x arms, 0/1): only the assigned arm's is read,
            and only once observable.
        u: each lead's uniform draw in [0, 1).
    """
    n, k = y.shape
    t = created_min - created_min.min()
    span, delay = design.update_every_days * DAY, design.delay * DAY
    wave = np.floor(t / span).astype(np.int64)
    order = np.argsort(t, kind="stable")
    ts, ws = t[order], wave[order]
    n_waves = int(ws[-1]) + 1 if n else 0
    bounds = np.searchsorted(ws, np.arange(n_waves + 1))
    arm_s = np.zeros(n, dtype=np.int64)
    prob_s = np.zeros(n)
    probs = np.zeros((n_waves, k))
    counts = np.zeros((2, k))  # failures, successes observed so far
    seen = 0
    for w in range(n_waves):
        cut = int(np.searchsorted(ts, w * span - delay, side="right"))
        if cut > seen:
            a = arm_s[seen:cut]
            v = y[order[seen:cut], a].astype(np.int64)
            counts += np.bincount(v * k + a, minlength=2 * k).reshape(2, k)
            seen = cut
        q = planned if seen == 0 else allocation_probabilities(design, prob_best(counts[1], counts[0]))
        lo, hi = bounds[w], bounds[w + 1]
        a = np.searchsorted(np.cumsum(q), u[order[lo:hi]], side="right").clip(0, k - 1)
        arm_s[lo:hi], prob_s[lo:hi] = a, q[a]
        probs[w] = q
    arm, prob = np.empty_like(arm_s), np.empty_like(prob_s)
    arm[order], prob[order] = arm_s, prob_s
    return Plan(arm, prob, wave, probs)


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

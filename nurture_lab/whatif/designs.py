"""Adaptive allocation against a fixed A/B test, with bookings that arrive late (issue 25, section 2).

:func:`compare_designs` runs ``replications`` simulated tests of the scenario's arms under each
assignment design (the scenario's ``[design]`` table, :class:`~nurture_lab.Design`) and judges them
against the ground truth. Replication ``r`` has a seed spawned from ``(seed, r)`` alone and is one
task for :func:`nurture_lab._parallel.map_tasks` (processes, or any ``concurrent.futures``
executor): without a contact centre it computes every lead's outcome under every arm once (common
random numbers), then assigns the same leads under every design — the designs are compared on the
same leads, which narrows the intervals of their differences — and returns per design and arm a few
sums, never a lead table. So the result is identical whatever runs the tasks. With a
``[contact_center]`` each design runs through the centre as ``simulate`` runs it (an adaptive design
wave by wave, verified, at most one centre run per wave plus the final; refused if a wave is not
reproduced), the truth ``p_k`` below is the ``rollout`` setting (every lead on arm ``k`` with the same
staff: one one-arm run per arm), and the A/A version is verified against the control's rollout: see
:mod:`.designs_centre`.

Per design (``table``):

- ``regret``: 30-day bookings lost during the test against giving every lead the truly best arm,
  ``sum_k n_k (p* - p_k)``, with ``p_k`` the mean of every lead's 30-day booking under arm ``k`` in
  that replication (its leads' truth) and ``*`` the truly best arm (the highest ``p_k`` pooled over
  replications); a fixed design's expectation is ``N sum_k a_k (p* - p_k)`` for planned shares ``a_k``
  (``N sum_k (p* - p_k) / K`` for equal shares: ``fixed_regret_expected``);
- ``p_pick_best``: the share of replications whose pick at the end — the arm with the highest
  Hajek (inverse-probability weighted) mean of 30-day bookings, every booking observed — is the
  truly best arm;
- ``aa_false_alarm_naive`` / ``aa_false_alarm_ipw``: on the A/A version of the scenario (every arm
  runs the control's cadence: by common random numbers every lead's outcomes are then the same under
  every arm — with a contact centre, as long as the queue serves identical cadences alike, which the
  run checks), the share of replications where some arm differs from the control at ``alpha``
  (Bonferroni over the K - 1 comparisons, which is what Holm rejects first), by the naive
  two-proportion z-test (unweighted means, as if the design were fixed) and by the IPW z-test of
  :mod:`nurture_lab.stats.ipw`;
- ``naive_bias_max`` (per arm in :attr:`DesignsResult.bias`): the naive (unweighted) arm mean of
  30-day bookings minus the truth, averaged over replications; the IPW (Hajek) mean's beside it;
- ``best_arm_share``: the share of the test's leads given the truly best arm.

Intervals: 95% t intervals of the mean over replications for regret and bias; Wilson's 95%
binomial interval for the shares of replications.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._parallel import DEFAULT_JOBS, map_tasks
from .._results import ResultMixin
from ..errors import FieldError, ParameterError, check_param, require
from ..scenario.design import ALLOCATIONS, Design
from ..scenario.model import SEND_TIMES, Scenario
from ..simulation.adaptive import Potentials, assign_waves, potentials
from .design_task import DesignTask, sum_rows
from .send_time import SendTimeResult, compare_send_times

__all__ = ["DesignsResult", "compare_designs", "parse_designs", "send_time_policies"]

FUNC = "compare_designs"
DESIGN_KEYS = tuple(f.name for f in dataclasses.fields(Design))
DESIGNS_TEXT = (
    'a non-empty list of designs, each a string ("fixed", "thompson", "top_two", "exploration") or a dict of '
    f"[design] keys ({', '.join(DESIGN_KEYS)}) and an optional label"
)


def _label(d: Design) -> str:
    """A design's default label: its allocation and whatever it sets beyond the defaults."""
    if not d.adaptive:
        return "fixed"
    extra = []
    if d.metric != "booked_30d":
        extra.append(d.metric)
    if d.delay_days is not None:
        extra.append(f"delay {d.delay_days:g}d")
    if d.update_every_days != Design.update_every_days:
        extra.append(f"every {d.update_every_days:g}d")
    if d.min_probability is not None:
        extra.append(f"floor {d.min_probability:g}")
    return d.allocation + (f" ({', '.join(extra)})" if extra else "")


def _is_send_time(d: Any) -> bool:
    return (isinstance(d, str) and d in SEND_TIMES) or (isinstance(d, Mapping) and "send_time" in d)


def send_time_policies(designs: Any) -> tuple[list[str], list[int] | None] | None:
    """``designs`` as send-time policies and their steps, when every design is one (None when none is);
    allocation designs mixed with send-time policies, or policies with different steps, refused."""
    if not isinstance(designs, (list, tuple)) or not any(_is_send_time(d) for d in designs):
        return None
    mixed = [d for d in designs if not _is_send_time(d)]
    if mixed:
        raise ParameterError(
            f"{FUNC}: designs mixes send-time policies ({', '.join(SEND_TIMES)}) with allocation designs "
            f"({mixed[0]!r}); they answer different questions on different runs: make two calls, one with the "
            "allocation designs, one with the send-time policies."
        )
    policies: list[str] = []
    steps_seen: list[list[int] | None] = []
    for i, d in enumerate(designs):
        if isinstance(d, str):
            policies.append(d)
            steps_seen.append(None)
            continue
        for k in d:
            require(FUNC, f"designs[{i}]", k, "keys among: send_time, steps", k in ("send_time", "steps"))
        policies.append(d["send_time"])
        st = d.get("steps")
        steps_seen.append(None if st is None else list(st))
    require(
        FUNC,
        "designs",
        steps_seen,
        "send-time policies with the same 'steps' (compare policies on other steps in another call)",
        all(s == steps_seen[0] for s in steps_seen),
    )
    return policies, steps_seen[0]


def parse_designs(designs: Any) -> list[tuple[str, Design]]:
    """``designs`` as ``(label, Design)`` pairs; anything else refused with one message."""
    ok = isinstance(designs, (list, tuple)) and len(designs) > 0
    require(FUNC, "designs", designs, DESIGNS_TEXT, ok, wrong_type=not isinstance(designs, (list, tuple)))
    out = []
    for i, d in enumerate(designs):
        if isinstance(d, Design):
            out.append((_label(d), d))
        elif isinstance(d, str):
            require(FUNC, f"designs[{i}]", d, "one of: " + ", ".join(ALLOCATIONS), d in ALLOCATIONS)
            out.append((d, Design(allocation=d)))
        elif isinstance(d, Mapping):
            out.append(_from_dict(d, i))
        else:
            require(FUNC, f"designs[{i}]", d, DESIGNS_TEXT, False, wrong_type=True)
    labels = [lab for lab, _ in out]
    require(
        FUNC, "designs", labels, "designs with distinct labels (give each a 'label')", len(set(labels)) == len(labels)
    )
    return out


def _from_dict(d: Mapping[str, Any], i: int) -> tuple[str, Design]:
    keys = {str(k): v for k, v in d.items() if k != "label"}
    for k in keys:
        require(FUNC, f"designs[{i}]", k, "keys among: label, " + ", ".join(DESIGN_KEYS), k in DESIGN_KEYS)
    try:
        design = Design(**keys)
    except FieldError as e:
        raise ParameterError(f"{FUNC}: designs[{i}].{e.key}: expected {e.expected}; got {e.got!r}.") from None
    label = d.get("label", _label(design))
    require(FUNC, f"designs[{i}].label", label, "a non-empty string", isinstance(label, str) and bool(label))
    return str(label), design


def _run(t: DesignTask) -> list[dict[str, Any]]:
    """One replication: every design on the same leads, in the test (``ab``) and its A/A version (``aa``);
    per design, version and arm the sums of :data:`SUMS` and the truth. With a contact centre:
    :func:`.designs_centre.run_rep`."""
    sc = t.scenario
    if sc.contact_center is not None:
        from .designs_centre import run_rep

        return run_rep(t)
    metrics = tuple(dict.fromkeys((d.metric, d.window) for d in t.designs if d.adaptive)) or (("booked_30d", 30.0),)
    pots = dict(zip(metrics, potentials(sc, t.seed, t.n_leads, metrics), strict=True))
    planned = np.array(list(sc.experiment.allocation.values()))
    k = planned.size
    c = sc.experiment.arm_names.index(sc.experiment.control)
    rows = []
    for j, d in enumerate(t.designs):
        pot = pots[(d.metric, d.window)] if d.adaptive else next(iter(pots.values()))
        for version, cols in (("ab", np.arange(k)), ("aa", np.full(k, c))):
            arm, q = _assign(d, planned, pot, cols)
            booked = pot.booked[:, cols]
            y = booked[np.arange(arm.size), arm]
            rows += sum_rows(t.rep, j, version, arm, q, y, booked.mean(axis=0))
    return rows


def _assign(d: Design, planned: np.ndarray, pot: Potentials, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each lead's arm and the probability it had, under design ``d`` (``cols``: the arms' outcome columns)."""
    if not d.adaptive:
        return pot.fixed_arm, planned[pot.fixed_arm]
    plan = assign_waves(d, planned, pot.created_min, pot.metric[:, cols], pot.u)
    return plan.arm, plan.probability


def _check(scenario: Any, n_leads: Any, seed: Any, replications: Any, alpha: Any) -> tuple[int, int, int, float]:
    check_param(FUNC, "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    k = len(scenario.experiment.arms)
    require(FUNC, "scenario", scenario.name, "a scenario with at least two arms", k >= 2)
    n_leads = check_param(FUNC, "n_leads", n_leads, kind="int", low=10 * k, high=2_000_000)
    seed = _random.check_seed(seed, FUNC)
    replications = check_param(FUNC, "replications", replications, kind="int", low=1, high=100_000)
    alpha = float(check_param(FUNC, "alpha", alpha, kind="number", low=0, high=0.5, low_open=True, high_open=True))
    return n_leads, seed, replications, alpha


def compare_designs(
    scenario: Scenario,
    designs: Sequence[str | Mapping[str, Any] | Design] = ("fixed", "thompson", "exploration"),
    replications: int = 100,
    n_leads: int = 10_000,
    seed: int = 0,
    *,
    alpha: float = 0.05,
    jobs: int | None = DEFAULT_JOBS,
    executor: Executor | None = None,
    progress: bool = False,
) -> DesignsResult | SendTimeResult:
    """Regret, the chance of picking the best arm, A/A false alarms and naive bias of each design.

    Send-time policies are designs too (issue 25, section 3): when every design is one — a policy
    name among ``planned``, ``random``, ``audience_best``, ``lead_best``, ``oracle``, or a dict
    ``{"send_time": <policy>, "steps": [...]}`` (the steps it applies to; every dict the same) —
    the call is :func:`~nurture_lab.whatif.send_time.compare_send_times` with the same
    ``replications``, ``n_leads``, ``seed``, ``jobs``, ``executor`` and ``progress`` (``alpha`` is
    not used), and returns its :class:`~nurture_lab.whatif.send_time.SendTimeResult`.

    Args:
        scenario: a loaded scenario (its arms and population; its own ``[design]`` is replaced by
            each design in turn).
        designs: each a string (an allocation with the default keys), a dict of ``[design]`` keys
            with an optional ``label``, or a :class:`~nurture_lab.Design`; or else each a send-time
            policy (above). Allocation designs and send-time policies are refused in one call.
        replications: simulated tests per design (the same leads for every design in a replication).
            With a ``[contact_center]`` a replication costs, per design, one centre run (fixed) or at
            most one per wave plus the final (adaptive), twice (the test and its A/A version, whose
            adaptive runs usually take one), plus one run per arm for the rollout truth.
        n_leads: leads per test (they arrive over the population's ``arrival_days``).
        seed: the base seed; replication ``r`` runs on a seed spawned from ``(seed, r)``.
        alpha: the false-alarm level of the A/A analyses.
        jobs, executor: where the replications go (see :func:`nurture_lab._parallel.map_tasks`);
            results are identical whatever runs them.
        progress: a progress bar over replications.

    Returns:
        A :class:`DesignsResult` (module docstring: one row per design); for send-time policies a
        :class:`~nurture_lab.whatif.send_time.SendTimeResult` (one row per policy).

    Raises:
        ParameterError: a bad argument, or allocation designs mixed with send-time policies, or (with a
            ``[contact_center]``) an adaptive design whose final run does not reproduce a wave's inputs
            (:func:`nurture_lab.simulation.adaptive.run_centre`; the message names the replication).

    Example:
        >>> import dataclasses, nurture_lab as nl
        >>> sc = nl.load_scenario("speed_to_lead")  # doctest: +SKIP
        >>> sc = dataclasses.replace(sc, contact_center=None)  # doctest: +SKIP
        >>> nl.compare_designs(sc, ["fixed", "thompson"], replications=50).plot()  # doctest: +SKIP
    """
    timed = send_time_policies(designs)
    if timed is not None:
        policies, steps = timed
        return compare_send_times(
            scenario,
            policies,
            replications,
            n_leads,
            seed,
            steps=steps,
            jobs=jobs,
            executor=executor,
            progress=progress,
        )
    n_leads, seed, replications, alpha = _check(scenario, n_leads, seed, replications, alpha)
    parsed = parse_designs(designs)
    k = len(scenario.experiment.arms)
    for label, d in parsed:
        if d.min_probability is not None and d.min_probability * k > 1:
            require(
                FUNC, f"design {label!r} min_probability", d.min_probability, f"at most 1 / {k} with {k} arms", False
            )
    seeds = [_random.replication_seed(seed, r) for r in range(replications)]
    base = dataclasses.replace(scenario, design=Design())
    tasks = [DesignTask(base, tuple(d for _, d in parsed), r, s, n_leads) for r, s in enumerate(seeds)]
    parts = map_tasks(_run, tasks, caller=FUNC, jobs=jobs, executor=executor, progress=progress, desc="designs")
    runs = pd.DataFrame([row for part in parts for row in part])
    labels = [lab for lab, _ in parsed]
    runs["design"] = pd.Categorical.from_codes(runs["design"], categories=labels)
    runs["arm"] = pd.Categorical.from_codes(runs["arm"], categories=list(scenario.experiment.arm_names))
    from .designs_summary import summarise

    table, bias, best = summarise(runs, scenario, alpha)
    settings = {
        "scenario": scenario.name,
        "control": scenario.experiment.control,
        "arms": list(scenario.experiment.arm_names),
        "best_arm": best,
        "designs": {lab: dataclasses.asdict(d) for lab, d in parsed},
        "n_leads": n_leads,
        "arrival_days": scenario.population.arrival_days,
        "seed": seed,
        "replications": replications,
        "replication_seeds": seeds,
        "alpha": alpha,
        "interval": "95% t interval of the mean over replications (regret, bias); 95% Wilson interval (shares)",
    }
    return DesignsResult(table, bias, runs, settings)


@dataclass(frozen=True, repr=False)
class DesignsResult(ResultMixin):
    """What :func:`compare_designs` returns: ``table`` (one row per design; columns in the module
    docstring, each with ``_ci_low`` / ``_ci_high``), ``bias`` (one row per design and arm: naive and
    IPW mean minus the truth), ``runs`` (the per-replication sums it was summarised from) and ``settings``."""

    table: pd.DataFrame
    bias: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    _json_extras = ("settings", "bias_rows")

    def _table(self) -> pd.DataFrame:
        return self.table

    def _head(self) -> str:
        s = self.settings
        return (
            f"DesignsResult({s['scenario']!r}: {len(self.table)} designs, {len(s['arms'])} arms, "
            f"{s['n_leads']:,} leads over {s['arrival_days']} days, {s['replications']} replications; "
            f"best arm {s['best_arm']!r})"
        )

    def to_frame(self) -> pd.DataFrame:
        """The table (one row per design) as a DataFrame (a copy)."""
        return self.table.copy()

    @property
    def bias_rows(self) -> list[dict[str, Any]]:
        """:attr:`bias` as plain rows (for :meth:`to_json`)."""
        return list(self.bias.to_dict(orient="records"))

    def formatted(self) -> pd.DataFrame:
        """The table for a reader, intervals beside the figures."""
        from .designs_view import formatted

        return formatted(self.table, self.settings)

    def summary(self) -> str:
        """The formatted table as text."""
        return self.formatted().to_string(index=False)

    def plot(self, title: str | None = None) -> Any:
        """Regret, the chance of picking the best arm and the A/A false alarms, one colour per design."""
        from .designs_view import plot_designs

        return plot_designs(self, title)

"""The simulation's entry points: :func:`simulate`, :func:`potential_outcomes`, :func:`simulate_stats`.

They validate their arguments and choose a driver (:mod:`.chunks`): chunks on their own over
processes without a contact centre, every chunk and arm in lockstep around one queue with one.
The engine's rooms (DESIGN.md, "Engine layout"): :mod:`.calendar` (time), :mod:`.draws` (common
random numbers), :mod:`.leads`, :mod:`.state`, :mod:`.policy` (the gate), :mod:`.behaviour`,
:mod:`.contact_center` (the queue), :mod:`.calls` (the bridge to it), :mod:`.cadence` (an arm's
step pipeline), :mod:`.touchlog`, :mod:`.chunks`, :mod:`.results`.

Common random numbers: every random draw a lead meets at step slot ``k`` comes from the stream
``(seed, chunk, STEP, k)``, whatever the arm, so running every lead through every arm gives the
true effect of each arm, and an arm identical to the control has a true effect of exactly 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor

import numpy as np
import pandas as pd

from .. import _random
from .._memory import small_pages
from .._parallel import DEFAULT_JOBS, map_tasks, resolve_jobs
from ..scenario.model import Scenario
from .chunks import ChunkJob, ChunkRun, arm_outputs, assign, observed_centre, simulate_centre, simulate_chunk
from .policy import REASONS
from .population import IDENTITY_COLUMNS
from .results import (
    OUTCOME_COLUMNS,
    SETTINGS,
    TRUTH_METRICS,
    SimulationResult,
    concat_cats,
    truth_in,
    truth_table,
)
from .touchlog import TOUCH_COLUMNS

__all__ = [
    "OUTCOME_COLUMNS",
    "REASONS",
    "SETTINGS",
    "TOUCH_COLUMNS",
    "TRUTH_METRICS",
    "SimulationResult",
    "assign",
    "potential_outcomes",
    "simulate",
    "simulate_stats",
    "truth_in",
]

#: The most leads one run simulates (about 30 GB of memory with the touch log).
MAX_LEADS = 20_000_000
INF = np.inf


def simulate(
    scenario: Scenario,
    seed: int = 0,
    n_leads: int = 10_000,
    *,
    truth: bool = True,
    executor: Executor | None = None,
    jobs: int | None = DEFAULT_JOBS,
    progress: bool = False,
) -> SimulationResult:
    """Simulate the scenario's experiment.

    Args:
        scenario: a loaded :class:`Scenario`.
        seed: the run's seed (int >= 0). Same seed, same frames, on one process or many.
        n_leads: number of leads (int >= 1), simulated in chunks of ``CHUNK_SIZE``.
        truth: also run every lead through every arm to compute ``.truth`` (costs one pass per arm).
        executor: an optional ``concurrent.futures.Executor`` to spread chunks over
            (processes, or a Dask ``Client.get_executor()``); results are identical to serial.
        jobs: without an executor, the number of worker processes (default ``None``: every core;
            1 = in this process). A run of one chunk always runs in this process. With a contact
            centre the observed run is one process (one queue); with ``truth`` the rollouts, one per
            arm, run beside it in up to ``jobs - 1`` forked workers (the same truth).
        progress: show a tqdm progress bar over chunks.

    Returns:
        A :class:`SimulationResult` with ``.leads``, ``.touches`` and ``.truth``. With an adaptive
        ``[design]`` (:mod:`.adaptive`) the leads also have ``assignment_probability`` and ``wave``;
        with a contact centre as well, the run costs at most one centre run per wave plus the final.

    Raises:
        ParameterTypeError: ``scenario`` is not a Scenario (also a ``TypeError``).
        ParameterError: ``n_leads``, ``seed`` or ``jobs`` out of range (also a ``ValueError``), or an
            adaptive ``[design]`` beside a ``[contact_center]`` whose waves the final run does not
            reproduce (see :func:`.adaptive.run_centre`: possible only where calls wait a week or
            more).

    Example:
        >>> import nurture_lab as nl
        >>> sc = nl.load_scenario("speed_to_lead")  # doctest: +SKIP
        >>> nl.simulate(sc, seed=7, n_leads=2000)  # doctest: +SKIP
        SimulationResult(scenario='speed_to_lead', seed=7, n_leads=2000, ...)
    """
    seed, n_leads = _check_simulate(scenario, seed, n_leads)
    if scenario.design.adaptive:
        return _simulate_adaptive(scenario, seed, n_leads, truth, executor, jobs, progress)
    if scenario.contact_center is not None:
        procs = _centre_processes(scenario, n_leads, truth, executor, jobs)
        frames: list[tuple[pd.DataFrame, pd.DataFrame]] = []

        def build(runs: list[ChunkRun]) -> None:  # while the truth's rollouts may still run elsewhere
            frames.append(observed_centre(scenario, runs))

        with small_pages():  # thousands of fresh mid-size arrays: no huge-page stalls (see _memory)
            _, tr_parts = simulate_centre(scenario, seed, n_leads, truth, progress, jobs=procs, then=build)
        (leads, touches), tr = frames[0], truth_table([tr_parts] if truth else [], scenario)
        return SimulationResult(scenario, seed, n_leads, leads, touches, tr)
    tasks = [ChunkJob(scenario, seed, c, first, n, truth) for c, first, n in _random.chunks(n_leads)]
    leads, touches, tr = _run_chunks(tasks, executor, jobs, progress)
    return SimulationResult(scenario, seed, n_leads, leads, touches, tr)


def _centre_processes(
    scenario: Scenario, n_leads: int, truth: bool, executor: Executor | None, jobs: int | None
) -> int:
    """Processes for a run with a contact centre: the observed run is one process (one queue); the
    truth's rollouts, one per arm, can run beside it (:mod:`.truth_runs`) in a run of more than one
    chunk without an ``executor`` (whose workers could not inherit the leads)."""
    procs = resolve_jobs("simulate", jobs, 1 + len(scenario.experiment.arms))
    if executor is not None or not truth or n_leads <= _random.CHUNK_SIZE:
        return 1
    return procs


def _run_chunks(
    tasks: list[ChunkJob], executor: Executor | None, jobs: int | None, progress: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The chunks of a run without a contact centre, over processes: ``(leads, touches, truth)``."""
    results = map_tasks(
        simulate_chunk,
        tasks,
        caller="simulate",
        jobs=jobs,
        executor=executor,
        progress=progress,
        desc="simulate",
        unit="chunk",
    )
    leads = concat_cats([r[0] for r in results])
    touches = concat_cats([r[1] for r in results])
    return leads, touches, truth_table([r[2] for r in results], tasks[0].scenario)


def _simulate_adaptive(
    scenario: Scenario,
    seed: int,
    n_leads: int,
    truth: bool,
    executor: Executor | None,
    jobs: int | None,
    progress: bool,
) -> SimulationResult:
    """A run of an adaptive ``[design]`` (:mod:`.adaptive`): without a contact centre the assignment
    from every lead's outcome under every arm, then an ordinary run with it; with one, the centre run
    wave by wave and the final run verified (:func:`.adaptive.run_centre`: at most one centre run per
    wave plus the final run). The lead table gains ``assignment_probability`` and ``wave`` after ``arm``."""
    from .adaptive import plan_run, run_centre

    if scenario.contact_center is not None:
        resolve_jobs("simulate", jobs, 1)  # checked: the run is one process (see run_centre)
        with small_pages():  # as an ordinary centre run (see simulate)
            done = run_centre(scenario, seed, n_leads, truth, progress)
            leads, touches = observed_centre(scenario, done.runs)
        plan, tr = done.plan, truth_table([done.truth] if truth else [], scenario)
    else:
        _refuse_learning_without_centre(scenario)
        plan = plan_run(scenario, seed, n_leads, jobs, executor)
        tasks = [
            ChunkJob(scenario, seed, c, first, n, truth, arms=plan.arm[first : first + n])
            for c, first, n in _random.chunks(n_leads)
        ]
        leads, touches, tr = _run_chunks(tasks, executor, jobs, progress)
    at = int(leads.columns.get_loc("arm")) + 1
    leads.insert(at, "assignment_probability", plan.probability)
    leads.insert(at + 1, "wave", plan.wave)
    return SimulationResult(scenario, seed, n_leads, leads, touches, tr)


def _refuse_learning_without_centre(scenario: Scenario) -> None:
    """An adaptive design without a contact centre is assigned from every lead's outcome under every
    arm, which holds only where a lead's outcome does not depend on the other leads; a learning
    send-time policy learns from the other leads' sends (of its own arm, as assigned)."""
    from ..errors import ScenarioError
    from .send_time import learning_step

    for arm in scenario.experiment.arms:
        step = learning_step(arm)
        if step is not None:
            raise ScenarioError(
                f"Scenario {scenario.name!r}: [design] allocation = {scenario.design.allocation!r} without a [contact_center] "
                f"cannot run arm {arm.name!r}, step {step}: send_time = {arm.steps[step].send_time!r} learns from "
                "the other leads' sends, so a lead's outcome depends on which leads the design assigns to the "
                "arm. Use send_time 'planned', 'random' or 'oracle' there, or add a [contact_center] (the "
                "design then runs wave by wave)."
            )


def _check_simulate(scenario: Scenario, seed: int, n_leads: int) -> tuple[int, int]:
    """The arguments of :func:`simulate`, checked: ``(seed, n_leads)``."""
    from ..errors import ParameterError, check_param

    check_param(
        "simulate", "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)"
    )
    n_leads = check_param("simulate", "n_leads", n_leads, kind="int", low=1, high=MAX_LEADS)
    seed = _random.check_seed(seed, "simulate")
    for name, share in scenario.experiment.allocation.items():
        if round(n_leads * share) < 1:
            raise ParameterError(
                f"Arm {name!r} of scenario {scenario.name!r} would get 0 of {n_leads:,} leads "
                f"(allocation share {share:.2g}); simulate more leads or raise its allocation."
            )
    return seed, n_leads


def potential_outcomes(scenario: Scenario, seed: int = 0, n_leads: int = 10_000) -> pd.DataFrame:
    """Every lead's outcome under every arm (common random numbers): ``lead_id, arm, <metrics>``.

    The leads are those of ``simulate(scenario, seed, n_leads)``; this is what ``.truth`` averages.
    Without a contact centre only (with one, a lead's outcome depends on every other lead's calls).
    """
    if scenario.contact_center is not None:
        from ..errors import ParameterError

        raise ParameterError(
            f"potential_outcomes: scenario {scenario.name!r} has a [contact_center], where one lead's outcome "
            "depends on the others' calls; use simulate(...).truth (settings 'experiment' and 'rollout')."
        )
    jobs = [ChunkJob(scenario, seed, c, first, n, True, True) for c, first, n in _random.chunks(n_leads)]
    parts = [simulate_chunk(j) for j in jobs]
    pot = pd.concat([p[2] for p in parts], ignore_index=True)
    leads = pd.concat([p[0] for p in parts], ignore_index=True)
    seg = leads.drop(columns=list(IDENTITY_COLUMNS))
    return pot.merge(seg, on="lead_id", how="left")


def simulate_stats(
    scenario: Scenario, seed: int, n_leads: int, metrics: Iterable[str], looks: int = 1, *, truth: bool = False
) -> dict[str, dict[str, float]]:
    """A lean observed run for replications: per arm and metric, ``n``, ``sum`` and ``sumsq``.

    Same leads, assignment and draws as :func:`simulate` (so the same numbers), without the touch
    log or the data frames. With ``looks = K > 1`` it also gives the running totals an analyst
    would have seen at K equally spaced looks in arrival order (the first ``k * n_leads / K`` leads):
    keys ``n@k``, ``<metric>:sum@k``, ``<metric>:sumsq@k`` for k = 1..K. With ``truth`` (a scenario
    with a contact centre) also the run's own experiment truth: key ``<metric>:true``, the arm's mean
    over every lead of the run (``simulate(...).truth``, setting ``experiment``).

    Raises:
        ParameterError: ``truth`` without a contact centre (the truth then does not depend on the run:
            take it from one large ``simulate(..., truth=True)``).
    """
    if scenario.design.adaptive:
        from ..errors import ParameterError

        raise ParameterError(
            f"simulate_stats: scenario {scenario.name!r} has an adaptive design (allocation = "
            f"{scenario.design.allocation!r}); its replications are judged with compare_designs."
        )
    if truth and scenario.contact_center is None:
        from ..errors import ParameterError

        raise ParameterError(
            f"simulate_stats: truth=True needs a [contact_center] (scenario {scenario.name!r} has none); "
            "without one the truth does not depend on the run: use simulate(..., truth=True).truth."
        )
    metrics = list(metrics)
    arms = scenario.experiment.arms
    stops = np.ceil(np.arange(1, looks + 1) * n_leads / looks).astype(np.int64)
    keys = [f"{m}:{k}" for m in metrics for k in ("sum", "sumsq")]
    acc = {a.name: {"n": 0.0} | dict.fromkeys(keys, 0.0) for a in arms}
    if looks > 1:
        for st in acc.values():
            st.update({f"{k}@{j}": 0.0 for k in ["n", *keys] for j in range(1, looks + 1)})

    chunk_outs, true_means = _chunk_outputs(scenario, seed, n_leads, truth)
    for arm_name, means in true_means.items():
        acc[arm_name].update({f"{m}:true": means[m] for m in metrics})
    for first, outs in chunk_outs:
        for arm, (out, pos) in zip(arms, outs, strict=True):
            st = acc[arm.name]
            st["n"] += float(pos.size)
            # leads of this arm seen by each look: positions ascend within the arm (arrival order)
            seen = np.searchsorted(first + pos, stops) if looks > 1 else None
            if seen is not None:
                for j, k in enumerate(seen, start=1):
                    st[f"n@{j}"] += float(k)
            for m in metrics:
                v = out[m].astype(np.float64)
                st[f"{m}:sum"] += float(v.sum())
                st[f"{m}:sumsq"] += float((v * v).sum())
                if seen is not None:
                    cs, cq = np.r_[0.0, np.cumsum(v)], np.r_[0.0, np.cumsum(v * v)]
                    for j, k in enumerate(seen, start=1):
                        st[f"{m}:sum@{j}"] += float(cs[k])
                        st[f"{m}:sumsq@{j}"] += float(cq[k])
    return acc


def _chunk_outputs(
    scenario: Scenario, seed: int, n_leads: int, truth: bool = False
) -> tuple[Iterable[tuple[int, list[tuple[dict[str, np.ndarray], np.ndarray]]]], dict[str, dict[str, float]]]:
    """A lean observed run: per chunk its first lead's number and, per arm, the arm's outcomes and
    chunk positions; with ``truth`` (a contact centre) each arm's experiment truth, ``{arm: {metric:
    mean}}``."""
    if scenario.contact_center is not None:
        runs, rows = simulate_centre(scenario, seed, n_leads, truth=truth, frames=False, settings=("experiment",))
        means: dict[str, dict[str, float]] = {}
        if truth:
            t = truth_in(truth_table([rows], scenario))
            t = t[t["service_line"] == "all"]
            for arm_name, g in t.groupby("arm", sort=False):
                means[str(arm_name)] = dict(zip(g["metric"], g["mean"].astype(float), strict=True))
        return ((run.chunk.first, list(zip(run.parts, run.positions, strict=True))) for run in runs), means
    return _lean_chunks(scenario, seed, n_leads), {}


def _lean_chunks(
    scenario: Scenario, seed: int, n_leads: int
) -> Iterable[tuple[int, list[tuple[dict[str, np.ndarray], np.ndarray]]]]:
    for c, first, n in _random.chunks(n_leads):
        _, outs = arm_outputs(scenario, seed, c, first, n)
        yield first, outs

"""One replication of :func:`nurture_lab.whatif.designs.compare_designs` with a contact centre.

With a ``[contact_center]`` one lead's calls delay another's, so outcomes under another assignment
cannot be read off one run; each design is run through the centre as ``simulate`` runs it:

- the truth: every lead on arm ``k`` alone with the same staff (the ``rollout`` setting of
  ``simulate(...).truth``; a one-arm run, :func:`nurture_lab.whatif.staffing.one_arm`), one centre
  run per arm shared by every design. ``p_k`` (regret, bias, the best arm) is that run's mean 30-day
  booking. The test's own bookings (the experiment setting, the arms sharing the queue) may differ
  from a rollout: the bias of a fixed design's naive means then shows that interference;
- a fixed design: one centre run with its stratified assignment;
- an adaptive design: wave by wave and verified (:func:`nurture_lab.simulation.adaptive.run_centre`:
  one run per wave with something observable plus the final); a design the final run does not
  reproduce is refused (``ParameterError`` naming the replication), never returned;
- the A/A version (every arm runs the control's cadence): by common random numbers and a queue that
  serves identical cadences alike, each lead's outcome is its outcome in the control's rollout run
  whatever the assignment — so the waves are first decided from that run's metric and the A/A run
  with that assignment is verified against it (one run); only if the verification fails is the A/A
  version run wave by wave. Its truth is the control's rollout for every arm.

``centre_runs`` in each row: the centre runs the design and version took (the rollout runs aside).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..scenario.design import Design
from ..scenario.model import Scenario
from ..simulation.adaptive import arrivals, assign_waves, centre_metric, run_centre, verify_waves
from ..simulation.chunks import simulate_centre
from .design_task import DesignTask, sum_rows
from .staffing import one_arm

__all__ = ["aa_version", "run_rep"]

BOOKED = ("booked_30d", 30.0)


def aa_version(sc: Scenario) -> Scenario:
    """The A/A version of the scenario: every arm runs the control's cadence (names and shares kept)."""
    steps = sc.experiment.arm(sc.experiment.control).steps
    arms = tuple(dataclasses.replace(a, steps=steps) for a in sc.experiment.arms)
    return dataclasses.replace(sc, experiment=dataclasses.replace(sc.experiment, arms=arms))


def _rollout(sc: Scenario, seed: int, n: int, metrics: list[tuple[str, float]]) -> list[dict[tuple[str, float], Any]]:
    """Per arm, every lead's value of each metric with every lead on the arm (same staff)."""
    out = []
    for name in sc.experiment.arm_names:
        runs, _ = simulate_centre(one_arm(sc, name), seed, n, False, frames=False)
        out.append({m: centre_metric(runs, n, *m) for m in metrics})
    return out


def _design_run(
    sc: Scenario, d: Design, seed: int, n: int, guess: np.ndarray | None, rep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A design through the centre: each lead's arm, its probability, its 30-day booking, and the runs it took.
    ``guess`` (the A/A version): each lead's metric, whatever its arm, to decide the waves from first."""
    planned = np.array(list(sc.experiment.allocation.values()))
    created, u, fixed = arrivals(sc, seed, n)
    if not d.adaptive:
        runs, _ = simulate_centre(sc, seed, n, False, frames=False)
        return fixed, planned[fixed], centre_metric(runs, n, *BOOKED), 1
    sd = dataclasses.replace(sc, design=d)
    if guess is not None:
        plan = assign_waves(d, planned, created, np.repeat(guess[:, None], planned.size, axis=1), u)
        runs, _ = simulate_centre(sd, seed, n, False, frames=False, arms=plan.arm)
        try:
            verify_waves(sd, plan, created, centre_metric(runs, n, d.metric, d.window), "compare_designs")
            return plan.arm, plan.probability, centre_metric(runs, n, *BOOKED), 1
        except ParameterError:
            pass  # the queue did not serve identical cadences alike here: wave by wave
    try:
        done = run_centre(sd, seed, n, truth=False, func="compare_designs", frames=False)
    except ParameterError as e:
        raise ParameterError(f"{e} (replication {rep}, seed {seed})") from None
    booked = centre_metric(done.runs, n, *BOOKED)
    return done.plan.arm, done.plan.probability, booked, done.plan.centre_runs


def run_rep(t: DesignTask) -> list[dict[str, Any]]:
    """One replication with a contact centre (module docstring): per design, version and arm the sums."""

    sc, n = t.scenario, t.n_leads
    metrics = list(dict.fromkeys([BOOKED, *((d.metric, d.window) for d in t.designs if d.adaptive)]))
    roll = _rollout(sc, t.seed, n, metrics)
    truth = np.array([r[BOOKED].mean() for r in roll])
    c = sc.experiment.arm_names.index(sc.experiment.control)
    aa = aa_version(sc)
    rows = []
    for j, d in enumerate(t.designs):
        for version, s, tr in (("ab", sc, truth), ("aa", aa, np.full(truth.size, truth[c]))):
            guess = roll[c][(d.metric, d.window)] if version == "aa" and d.adaptive else None
            arm, q, y, runs = _design_run(s, d, t.seed, n, guess, t.rep)
            rows += sum_rows(t.rep, j, version, arm, q, y, tr, centre_runs=runs)
    return rows

"""The truth of a run with a contact centre: every lead through every arm, in two settings.

- ``experiment``: the queue as the arms shared it in the observed run (replayed call by call, see
  :mod:`.truth_queue`);
- ``rollout``: every lead on the arm, alone with the same staff (a fresh queue).

A rollout reads nothing of the observed run, so with more than one process it runs beside it: the
rollouts go to ``jobs - 1`` worker processes forked once the chunks are prepared (they inherit the
leads; nothing is pickled but the truth sums they send back), while this process runs the observed
run, then the experiment setting, then builds the observed frames while the workers finish. Each pass
is deterministic, so the truth is the same whatever the number of processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._parallel import make_pool, stop_on_sigterm, terminate_pool
from ..scenario.model import Scenario
from .cadence import run_arm
from .calls import CentreView, drive
from .contact_center import Queue
from .draws import draws_for
from .leads import Leads, subset_leads
from .results import truth_sums
from .send_time import learns
from .truth_queue import ReplayQueue

__all__ = ["Observed", "Rollouts", "TruthInputs", "local_passes", "truth_rows"]

#: ``(setting, arm index, chunk index, outcomes)`` of every chunk of every pass (for tests).
Sink = list[tuple[str, int, int, dict[str, np.ndarray]]]


@dataclass
class TruthInputs:
    """What every pass of the truth reads: the run's leads per chunk (chunk indices ``index``, arm
    per lead ``arm_of``), the centre, each lead's inbound code, and a fresh queue with the run's
    inbound calls rung (``fresh``, for a rollout)."""

    sc: Scenario
    seed: int
    index: list[int]
    leads: list[Leads]
    arm_of: list[np.ndarray]
    centre: CentreView
    inbound: list[np.ndarray]
    fresh: Callable[[], Queue]


@dataclass
class Observed:
    """What the experiment setting reads of the observed run: its queue (with its pass log) and, per
    chunk, each arm's outcomes and chunk positions (None: replay every lead, for tests)."""

    queue: Queue
    parts: list[list[dict[str, np.ndarray]]] | None
    positions: list[list[np.ndarray]] | None


def truth_pass(
    inp: TruthInputs, a: int, setting: str, seen: Observed | None = None, sink: Sink | None = None
) -> list[pd.DataFrame]:
    """One arm in one setting: its truth sums per chunk.

    In the experiment setting a lead's outcome under its own arm is its observed outcome (the replay
    gives it back exactly, :mod:`.truth_queue`), and one lead's replay does not depend on the others'
    (counterfactual calls take no agent time): so only the other arms' leads are replayed and the
    arm's own are taken from ``seen`` — unless the arm learns send times from its own leads' sends
    (they must then run too), or ``seen.parts`` is None."""
    sc, arm = inp.sc, inp.sc.experiment.arms[a]
    server: Queue | ReplayQueue
    if setting == "experiment":
        assert seen is not None and seen.queue.log is not None
        server = ReplayQueue(seen.queue, seen.queue.log, a, inp.arm_of)
    else:
        server = inp.fresh()
    # a learning send-time policy's history: in the experiment, the arm's own leads' sends
    teach = [own == a if setting == "experiment" and learns(arm) else None for own in inp.arm_of]
    reuse = setting == "experiment" and seen is not None and seen.parts is not None and not learns(arm)
    # per chunk, the chunk positions of the leads that run (None: all of them)
    runs_of = [np.flatnonzero(own != a) if reuse else None for own in inp.arm_of]
    gens = [
        run_arm(
            sc,
            arm,
            lead if sel is None else subset_leads(lead, sel),
            draws_for(inp.seed, c, lead.n, [len(arm.steps)]),
            None,
            inp.centre,
            code if sel is None else code[sel],
            t,
        )
        for c, lead, code, t, sel in zip(inp.index, inp.leads, inp.inbound, teach, runs_of, strict=True)
    ]
    who = [(i, a, sel, lead.n) for i, (lead, sel) in enumerate(zip(inp.leads, runs_of, strict=True))]
    rows: list[pd.DataFrame] = []
    for i, (lead, (out, _)) in enumerate(zip(inp.leads, drive(gens, server, who), strict=True)):
        sel = runs_of[i]
        if sel is not None:
            assert seen is not None and seen.parts is not None and seen.positions is not None
            out = _with_own(out, sel, seen.parts[i][a], seen.positions[i][a], lead.n)
        if sink is not None:
            sink.append((setting, a, i, out))
        rows += truth_sums(arm.name, out, lead, setting)
    return rows


def _with_own(
    out: dict[str, np.ndarray], sel: np.ndarray, own: dict[str, np.ndarray], pos: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """A chunk's outcomes under an arm: the replayed leads' (chunk positions ``sel``) and the arm's own
    observed ones (chunk positions ``pos``)."""
    full = {}
    for key, v in out.items():
        col = np.empty(n, dtype=v.dtype)
        col[sel] = v
        col[pos] = own[key]
        full[key] = col
    return full


#: The inputs a forked rollout worker inherits: set in this process just before its workers fork, under
#: :data:`_FORKING` (two threads starting runs at once would otherwise fork each other's inputs).
_FORKED: TruthInputs | None = None
_FORKING = threading.Lock()


def _rollout_in_worker(a: int) -> list[pd.DataFrame]:
    assert _FORKED is not None, "a rollout worker needs inputs inherited by fork"
    return truth_pass(_FORKED, a, "rollout")


class Rollouts:
    """The rollout setting's passes (one per arm) running in forked worker processes while this
    process goes on; :meth:`result` waits for one arm's. Use as a context manager: leaving it stops
    the workers (at once if an error, Ctrl-C or SIGTERM stops the run: see :mod:`nurture_lab._parallel`).

    The workers are forked from this process (they inherit the leads; nothing is pickled but the
    truth sums they send back), on Linux only (macOS lists fork but system libraries there are not
    safe after it), and not from a daemonic process (a ``multiprocessing.Pool`` or Dask worker may
    not have children): see :meth:`possible`."""

    def __init__(self, inp: TruthInputs, workers: int) -> None:
        global _FORKED
        n_arms = len(inp.sc.experiment.arms)
        self.pool: ProcessPoolExecutor | None = None
        self.signals = contextlib.ExitStack()
        try:
            self.signals.enter_context(stop_on_sigterm())
            self.pool = make_pool(min(workers, n_arms), mp_context=multiprocessing.get_context("fork"))
            with _FORKING:
                _FORKED = inp
                try:  # the workers fork at the first submission, inheriting _FORKED
                    self.futures: list[Future[list[pd.DataFrame]]] = [
                        self.pool.submit(_rollout_in_worker, a) for a in range(n_arms)
                    ]
                finally:
                    _FORKED = None
        except BaseException:
            self.__exit__(BaseException)
            raise

    @staticmethod
    def possible(workers: int, settings: tuple[str, ...]) -> bool:
        """Whether rollouts can run beside the observed run: a worker to spare, the rollout setting
        wanted, Linux, and a process that may have children."""
        return (
            workers > 1
            and "rollout" in settings
            and sys.platform.startswith("linux")
            and not multiprocessing.current_process().daemon
        )

    def result(self, a: int) -> list[pd.DataFrame]:
        return self.futures[a].result()

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        with self.signals:
            if self.pool is None:
                return
            if kind is None:
                self.pool.shutdown(wait=True)
            else:
                terminate_pool(self.pool)
            self.pool = None


#: The truth sums of each pass, by ``(arm index, setting)``.
Passes = dict[tuple[int, str], list[pd.DataFrame]]


def local_passes(
    inp: TruthInputs, settings: tuple[str, ...], seen: Observed, bar: Any, sink: Sink | None, rollouts: bool
) -> Passes:
    """The truth's passes this process runs: every arm in each of ``settings``, but the rollouts
    when ``rollouts`` run elsewhere (:class:`Rollouts`)."""
    done: Passes = {}
    for a in range(len(inp.sc.experiment.arms)):
        for setting in settings:
            if setting != "rollout" or not rollouts:
                done[a, setting] = truth_pass(inp, a, setting, seen, sink)
                bar.update()
    return done


def truth_rows(
    done: Passes, n_arms: int, settings: tuple[str, ...], bar: Any, rollouts: Rollouts | None = None
) -> list[pd.DataFrame]:
    """The truth sums of every pass, arm by arm in the order of ``settings``, the same whether the
    rollouts ran here (in ``done``) or in ``rollouts``' workers (waited for here)."""
    if rollouts is not None:
        for a in range(n_arms):
            done[a, "rollout"] = rollouts.result(a)
            bar.update()
    return [row for a in range(n_arms) for setting in settings for row in done[a, setting]]

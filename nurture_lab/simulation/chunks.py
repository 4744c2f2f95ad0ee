"""Chunks of leads: assignment to arms, and the two drivers that run a chunk's arms.

Without a contact centre each chunk runs on its own (:func:`simulate_chunk`, spread over processes);
with one, every chunk and arm runs in lockstep in this process around one shared queue
(:func:`simulate_centre`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._memory import release_free_memory
from ..scenario.model import Scenario
from .cadence import run_arm, run_arm_unlimited
from .calendar import DAY
from .calls import CallTask, CentreView, centre_of, drive
from .contact_center import Queue
from .draws import Draws, draws_for
from .leads import Ids, Leads, subset_leads, timeline_days
from .population import make_leads_chunk
from .results import SETTINGS, TRUTH_METRICS, concat_cats, truth_sums
from .send_time import learns
from .touchlog import TouchColumns, log_size, touch_frame, utc_from_minutes
from .truth_queue import PassLog
from .truth_runs import Observed, Passes, Rollouts, Sink, TruthInputs, local_passes, truth_rows

__all__ = [
    "Chunk",
    "ChunkJob",
    "ChunkRun",
    "arm_outputs",
    "assign",
    "observed_centre",
    "prepare_chunk",
    "simulate_centre",
    "simulate_chunk",
]

#: An arm's event log (see :mod:`.touchlog`).
Log = list[dict[str, np.ndarray]]


def assign(sc: Scenario, leads: pd.DataFrame, seed: int, chunk: int) -> np.ndarray:
    """Random assignment stratified by service line with the planned allocation (arm index per lead).

    Within each service line of the chunk, arm counts follow the allocation by largest
    remainder and labels are randomly permuted.
    """
    rng = _random.stream(seed, chunk, _random.ASSIGNMENT)
    n = len(leads)
    alloc = np.array(list(sc.experiment.allocation.values()))
    sl = leads["service_line"].cat.codes.to_numpy()
    key = rng.random(n)
    out = np.zeros(n, dtype=np.int64)
    for s in np.unique(sl):
        idx = np.flatnonzero(sl == s)
        m = idx.size
        exact = alloc * m
        counts = np.floor(exact).astype(np.int64)
        rem = m - counts.sum()
        order = np.argsort(-(exact - counts) + rng.random(len(alloc)) * 1e-9, kind="stable")
        counts[order[:rem]] += 1
        labels = np.repeat(np.arange(len(alloc)), counts)
        out[idx[np.argsort(key[idx], kind="stable")]] = labels
    return out


@dataclass
class Chunk:
    """One chunk of leads, assigned to arms and ordered by arm (arm ``a``'s leads are the chunk
    positions :meth:`positions`, in arrival order)."""

    index: int
    first: int
    df: pd.DataFrame
    lead: Leads | Ids
    arm_idx: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    def positions(self, a: int) -> np.ndarray:
        """Chunk positions of arm ``a``'s leads."""
        return self.order[self.bounds[a] : self.bounds[a + 1]]

    def arm_leads(self, by_arm: Leads, a: int) -> Leads:
        """Arm ``a``'s leads from the chunk gathered in arm order (views, no copies)."""
        return subset_leads(by_arm, slice(self.bounds[a], self.bounds[a + 1]))


def prepare_chunk(
    sc: Scenario, seed: int, c: int, first: int, n: int, identities: bool = True, arms: np.ndarray | None = None
) -> Chunk:
    """The leads of chunk ``c`` as a frame and as arrays, assigned to arms (``arms``: an adaptive
    design's arm index per lead, see :mod:`.adaptive`; else :func:`assign`)."""
    df = make_leads_chunk(sc, seed, c, first, n, identities=identities)
    lead = Leads.from_frame(df, sc)
    arm_idx = assign(sc, df, seed, c) if arms is None else arms
    order = np.argsort(arm_idx, kind="stable")
    bounds = np.searchsorted(arm_idx[order], np.arange(len(sc.experiment.arms) + 1))
    return Chunk(c, first, df, lead, arm_idx, order, bounds)


@dataclass
class ChunkRun:
    """A chunk after its arms ran: per arm, its outcomes, its leads' chunk positions, its event log."""

    chunk: Chunk
    parts: list[dict[str, np.ndarray]]
    positions: list[np.ndarray]
    logs: list[tuple[int, Log]]


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of a run without a contact centre (the unit of parallel work)."""

    scenario: Scenario
    seed: int
    chunk: int
    first_id: int
    n: int
    truth: bool
    potential: bool = False
    #: An adaptive design's arm index per lead of the chunk (None: the fixed design's :func:`assign`).
    arms: np.ndarray | None = None


def simulate_chunk(job: ChunkJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A chunk without a contact centre: ``(leads, touches, truth sums)``; with ``potential``,
    ``(leads, empty, every lead's outcome under every arm)``."""
    sc = job.scenario
    ch = prepare_chunk(sc, job.seed, job.chunk, job.first_id, job.n, arms=job.arms)
    lead = ch.lead
    assert isinstance(lead, Leads)
    draws = Draws(job.seed, job.chunk, lead.n)
    run = ChunkRun(ch, [], [], [])
    truth_rows = []
    # observed-only runs: gather the chunk once in arm order, so each arm is a slice (views, no copies)
    by_arm = None if job.truth else subset_leads(lead, ch.order)
    for a, arm in enumerate(sc.experiment.arms):
        pos = ch.positions(a)
        own = ch.arm_idx == a
        # a learning send-time policy's history: in the experiment, the arm's own leads' sends
        teach = own if learns(arm) else None
        if by_arm is None:
            out, log = run_arm_unlimited(sc, arm, lead, draws, own, teach)
            run.parts.append({k: v[pos] for k, v in out.items()})
        else:
            out, log = run_arm_unlimited(sc, arm, ch.arm_leads(by_arm, a), draws, np.ones(pos.size, dtype=bool))
            _to_chunk_positions(log, pos)
            run.parts.append(out)
        run.positions.append(pos)
        run.logs.append((a, log))
        if job.potential:
            frame = pd.DataFrame({m: out[m] for m in TRUTH_METRICS})
            frame.insert(0, "arm", arm.name)
            frame.insert(0, "lead_id", lead.lead_id)
            truth_rows.append(frame)
        elif job.truth:
            # unlimited staff: the leads share nothing but a learning policy's history, which in the
            # rollout setting (every lead on the arm) learns from every lead: one more pass
            rollout = out if teach is None else run_arm_unlimited(sc, arm, lead, draws, None)[0]
            truth_rows += truth_sums(arm.name, out, lead, "experiment")
            truth_rows += truth_sums(arm.name, rollout, lead, "rollout")
    if job.potential:
        return ch.df, pd.DataFrame(), pd.concat(truth_rows, ignore_index=True)
    leads = observed_leads(sc, run)
    touches = touch_frame(sc, lead.lead_id, lead.created_min, sc.experiment.arms, run.logs)
    return leads, touches, pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()


def _to_chunk_positions(log: Log, pos: np.ndarray) -> None:
    """An arm's event log indexed its own leads: index the chunk instead."""
    for d in log:
        d["lead_idx"] = pos[d["lead_idx"]]


def arm_outputs(
    sc: Scenario, seed: int, c: int, first: int, n: int
) -> tuple[Chunk, list[tuple[dict[str, np.ndarray], np.ndarray]]]:
    """A lean observed run of one chunk without a contact centre: per arm, its outcomes and chunk
    positions (no touch log, no identities)."""
    ch = prepare_chunk(sc, seed, c, first, n, identities=False)
    assert isinstance(ch.lead, Leads)
    draws = Draws(seed, c, ch.lead.n)
    by_arm = subset_leads(ch.lead, ch.order)
    outs = []
    for a, arm in enumerate(sc.experiment.arms):
        out, _ = run_arm_unlimited(sc, arm, ch.arm_leads(by_arm, a), draws, None)
        outs.append((out, ch.positions(a)))
    return ch, outs


def observed_leads(sc: Scenario, run: ChunkRun) -> pd.DataFrame:
    """The leads frame of one chunk: each lead's outcome under its own arm."""
    ch = run.chunk
    n = ch.lead.n
    inverse = np.empty(n, dtype=np.int64)
    inverse[np.concatenate(run.positions)] = np.arange(n)
    observed = {key: np.concatenate([p[key] for p in run.parts])[inverse] for key in run.parts[0]}
    leads = ch.df
    leads.insert(1, "arm", pd.Categorical.from_codes(ch.arm_idx, categories=[a.name for a in sc.experiment.arms]))
    for key, v in observed.items():
        if key.endswith("_min"):
            leads[key[:-4] + "_at"] = utc_from_minutes(ch.lead.created_min, v).array
        else:
            leads[key] = v
    return leads


def observed_centre(sc: Scenario, runs: list[ChunkRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads frame and the touch log of a run with a contact centre (every chunk in this process).

    Each chunk's event log is written straight into the touch log's columns (:class:`TouchColumns`)
    and let go, so the log is never held twice.
    """
    frames = []
    touches = TouchColumns(sc, sc.experiment.arms, sum(log_size(run.logs) for run in runs))
    let_go = 0  # bytes of event log let go since memory was last handed back
    while runs:
        run = runs.pop(0)
        lead = run.chunk.lead
        frames.append(observed_leads(sc, run))
        touches.write(lead.lead_id, lead.created_min, run.logs)
        let_go += sum(v.nbytes for _a, log in run.logs for d in log for v in d.values() if v.strides[:1] != (0,))
        del run
        if let_go >= TRIM_BYTES:  # not after every chunk: pages handed back are paid for when used again
            release_free_memory()
            let_go = 0
    return concat_cats(frames), touches.frame()


#: Event-log bytes let go between two hand-backs of free memory to the OS (see :mod:`nurture_lab._memory`).
TRIM_BYTES = 64 * 2**20
#: Runs with a contact centre of fewer leads keep their freed memory (a hand-back costs about a
#: millisecond, a tenth of a small replication's queue, and frees little; see :mod:`nurture_lab._memory`).
TRIM_MIN_LEADS = 100_000


@dataclass(frozen=True)
class _Timeline:
    """The span of a run with a contact centre: its first inquiry (UTC minute) and length (days)."""

    first_abs: float
    span_days: float

    @classmethod
    def of(cls, sc: Scenario, chunks: list[Chunk]) -> _Timeline:
        first_abs = min(float(ch.lead.created_min.min()) for ch in chunks)
        last_abs = max(float(ch.lead.created_min.max()) for ch in chunks)
        span = (last_abs - first_abs) / DAY + max(timeline_days(sc, ch.df) for ch in chunks) + 2
        return cls(first_abs, span)

    def centre(self, sc: Scenario) -> tuple[CentreView, Queue]:
        """A fresh contact centre over the timeline, its queue empty."""
        made = centre_of(sc, self.first_abs, self.span_days)
        assert made is not None
        return made


def _ring_inbound(sc: Scenario, chunks: list[Chunk], q: Queue) -> tuple[np.ndarray, list[np.ndarray]]:
    """Inbound phone inquiries ring first (round 0): answered live when an agent is free that minute.
    Returns their arrival minutes and, per chunk, a code per lead (0 not inbound, 1 answered, 2 missed)."""
    assert sc.contact_center is not None
    inbound_calls = sc.contact_center.inbound_calls
    phones = [
        (ch.df["source"] == "phone").to_numpy() if inbound_calls else np.zeros(ch.lead.n, dtype=bool) for ch in chunks
    ]
    arrivals = np.concatenate([ch.lead.created_min[p] for ch, p in zip(chunks, phones, strict=True)])
    answered = q.inbound(arrivals)
    inbound, lo = [], 0
    for ch, p in zip(chunks, phones, strict=True):
        code = np.zeros(ch.lead.n, dtype=np.int8)
        k = int(p.sum())
        code[p] = np.where(answered[lo : lo + k], 1, 2)
        lo += k
        inbound.append(code)
    return arrivals, inbound


def _observed_runs(
    sc: Scenario,
    seed: int,
    chunks: list[Chunk],
    centre: CentreView,
    inbound: list[np.ndarray],
    frames: bool,
    keep: bool,
) -> tuple[list[Generator[CallTask, None, Any]], list[tuple[int, int, np.ndarray]]]:
    """The observed run's generators: each arm's leads of each chunk, one generator each (and per
    generator its chunk, arm and chunk positions). Without ``keep`` the chunks keep only the leads' ids."""
    arms = sc.experiment.arms
    gens, meta = [], []
    for i, ch in enumerate(chunks):
        lead = ch.lead
        assert isinstance(lead, Leads)
        by_arm = subset_leads(lead, ch.order)
        draws = draws_for(seed, ch.index, lead.n, [len(a.steps) for a in arms])
        for a, arm in enumerate(arms):
            pos = ch.positions(a)
            rec = np.ones(pos.size, dtype=bool) if frames else None
            gens.append(run_arm(sc, arm, ch.arm_leads(by_arm, a), draws, rec, centre, inbound[i][pos]))
            meta.append((i, a, pos))
        if not keep:  # the arms hold their own copies: keep only what the observed frames need
            ch.lead = Ids(lead.n, lead.lead_id, lead.created_min)
        del lead, by_arm
    return gens, meta


def _gather(chunks: list[Chunk], meta: list[tuple[int, int, np.ndarray]], outs: list[Any]) -> list[ChunkRun]:
    """The observed run's outputs per chunk, event logs indexed by chunk position."""
    runs = [ChunkRun(ch, [], [], []) for ch in chunks]
    for (i, a, pos), (out, log) in zip(meta, outs, strict=True):
        _to_chunk_positions(log, pos)
        runs[i].parts.append(out)
        runs[i].positions.append(pos)
        runs[i].logs.append((a, log))
    return runs


def simulate_centre(
    sc: Scenario,
    seed: int,
    n_leads: int,
    truth: bool,
    progress: bool = False,
    frames: bool = True,
    sink: Sink | None = None,
    arms: np.ndarray | None = None,
    settings: tuple[str, ...] = SETTINGS,
    replay_own: bool = False,
    jobs: int = 1,
    then: Callable[[list[ChunkRun]], None] | None = None,
) -> tuple[list[ChunkRun], pd.DataFrame]:
    """A run with a contact centre: every chunk and arm in lockstep in this process, one shared queue.

    Returns the observed run per chunk and the truth sums (of the truth's ``settings``, see
    :mod:`.truth_runs`). Same seed, same result whatever ``jobs``: the queue is one deterministic
    pass. ``jobs``: processes; above 1 the truth's rollouts run beside the observed run in ``jobs - 1``
    forked workers (:class:`.truth_runs.Rollouts`; where processes cannot fork, here after it).
    ``progress``: a bar over the run's passes (each chunk's preparation, the observed run, each arm
    and setting of the truth). ``sink``: gets every lead's potential outcomes, ``(setting, arm index,
    chunk index, outcomes)`` per chunk (for tests; the truth then runs here). ``arms``: an adaptive
    design's arm index per lead, in lead-number order (see :mod:`.adaptive`; default: :func:`assign`).
    ``replay_own`` (for tests): the truth's experiment setting replays every lead, its own arm's too,
    instead of taking their observed outcomes. ``then``: called with the observed run once the truth
    no longer reads it (before the rollouts' workers are waited for), e.g. to build its frames from
    it; the list returned is then the one ``then`` got (:func:`observed_centre` empties it).
    """
    parts = _random.chunks(n_leads)
    bar = _bar(progress, len(parts) + 1 + (len(settings) * len(sc.experiment.arms) if truth else 0))
    chunks = []
    for c, first, n in parts:
        own = None if arms is None else arms[first : first + n]
        chunks.append(prepare_chunk(sc, seed, c, first, n, identities=frames, arms=own))
        bar.update()
    span = _Timeline.of(sc, chunks)
    centre, q = span.centre(sc)
    arrivals, inbound = _ring_inbound(sc, chunks, q)
    inp = _truth_inputs(sc, seed, chunks, centre, inbound, span, arrivals) if truth else None
    beside = inp is not None and sink is None and Rollouts.possible(jobs, settings)
    with Rollouts(inp, jobs - 1) if beside and inp is not None else contextlib.nullcontext() as rollouts:
        gens, meta = _observed_runs(sc, seed, chunks, centre, inbound, frames, keep=truth)
        if truth:  # the truth's experiment setting replays this queue: record it call by call
            q.log = PassLog()
        who = [(i, a, pos, chunks[i].lead.n) for i, a, pos in meta]
        outs = drive(gens, q, who)
        if truth:
            q.log.freeze()
        bar.update()
        if n_leads >= TRIM_MIN_LEADS:  # the queue rounds' call batches and gate temporaries, before the frames
            release_free_memory()
        runs = _gather(chunks, meta, outs)
        del gens, outs, who  # the arms' runs hold their own copies of the leads: let go before the frames
        done: Passes = {}
        if inp is not None:
            seen = Observed(q, [r.parts for r in runs], [r.positions for r in runs])
            if replay_own:
                seen.parts = seen.positions = None
            done = local_passes(inp, settings, seen, bar, sink, rollouts is not None)
            del seen
        del inp, chunks, q, centre, inbound  # what the truth read: let go before the frames
        if then is not None:
            then(runs)
        rows = truth_rows(done, len(sc.experiment.arms), settings, bar, rollouts) if truth else []
    bar.close()
    return runs, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _truth_inputs(
    sc: Scenario,
    seed: int,
    chunks: list[Chunk],
    centre: CentreView,
    inbound: list[np.ndarray],
    span: _Timeline,
    arrivals: np.ndarray,
) -> TruthInputs:
    """What the truth's passes read of a run (its leads kept whole: see :func:`_observed_runs`)."""
    leads = [ch.lead for ch in chunks if isinstance(ch.lead, Leads)]
    assert len(leads) == len(chunks)

    def fresh() -> Queue:  # the same staff, an empty queue, the run's inbound calls rung
        _, server = span.centre(sc)
        server.inbound(arrivals)
        return server

    return TruthInputs(
        sc, seed, [ch.index for ch in chunks], leads, [ch.arm_idx for ch in chunks], centre, inbound, fresh
    )


class _NoBar:
    def update(self, n: int = 1) -> None:
        """No progress shown."""

    def close(self) -> None:
        """No progress shown."""


def _bar(enabled: bool, total: int) -> Any:
    """A tqdm bar over ``total`` passes (or one that shows nothing)."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="simulate", unit="pass")

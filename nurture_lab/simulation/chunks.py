"""Chunks of leads: assignment to arms, and the two drivers that run a chunk's arms.

Without a contact centre each chunk runs on its own (:func:`simulate_chunk`, spread over processes);
with one, every chunk and arm runs in lockstep in this process around one shared queue
(:func:`simulate_centre`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._memory import release_free_memory
from ..scenario.model import Scenario
from .cadence import run_arm, run_arm_unlimited
from .calendar import DAY
from .calls import CentreView, centre_of, drive
from .contact_center import Queue, VirtualQueue
from .draws import Draws
from .leads import Ids, Leads, subset_leads, timeline_days
from .population import make_leads_chunk
from .results import SETTINGS, TRUTH_METRICS, concat_cats, concat_columns, truth_sums
from .touchlog import touch_columns, touch_frame, utc_from_minutes

__all__ = ["ChunkJob", "assign", "observed_centre", "simulate_centre", "simulate_chunk"]


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


@dataclass(frozen=True)
class ChunkJob:
    scenario: Scenario
    seed: int
    chunk: int
    first_id: int
    n: int
    truth: bool
    potential: bool = False


def simulate_chunk(job: ChunkJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sc = job.scenario
    df = make_leads_chunk(sc, job.seed, job.chunk, job.first_id, job.n)
    lead = Leads.from_frame(df, sc)
    arm_idx = assign(sc, df, job.seed, job.chunk)
    arms = sc.experiment.arms
    logs: list[tuple[int, list[dict[str, np.ndarray]]]] = []
    truth_rows = []
    uniforms = Draws(job.seed, job.chunk, lead.n)
    parts: list[dict[str, np.ndarray]] = []
    positions: list[np.ndarray] = []
    # observed-only runs: gather the chunk once in arm order, so each arm is a slice (views, no copies)
    order = np.argsort(arm_idx, kind="stable")
    bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
    by_arm = None if job.truth else subset_leads(lead, order)
    for a, arm in enumerate(arms):
        mine = arm_idx == a
        pos = order[bounds[a] : bounds[a + 1]]
        if job.truth:
            out, log = run_arm_unlimited(sc, arm, lead, uniforms, mine)
            parts.append({k: v[pos] for k, v in out.items()})
        else:
            assert by_arm is not None
            sub = subset_leads(by_arm, slice(bounds[a], bounds[a + 1]))
            out_sub, log = run_arm_unlimited(sc, arm, sub, uniforms, np.ones(pos.size, dtype=bool))
            for d in log:
                d["lead_idx"] = pos[d["lead_idx"]]
            parts.append(out_sub)
            out = out_sub
        positions.append(pos)
        logs.append((a, log))
        if job.potential:
            frame = pd.DataFrame({m: out[m] for m in TRUTH_METRICS})
            frame.insert(0, "arm", arm.name)
            frame.insert(0, "lead_id", lead.lead_id)
            truth_rows.append(frame)
        elif job.truth:
            # unlimited staff: nothing is shared, the experiment and the rollout settings coincide
            for setting in SETTINGS:
                truth_rows += truth_sums(arm.name, out, lead, setting)
    if job.potential:
        return df, pd.DataFrame(), pd.concat(truth_rows, ignore_index=True)
    leads, touches = observed_frames(sc, df, lead, arm_idx, parts, positions, logs)
    truth = pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()
    return leads, touches, truth


def observed_leads(
    sc: Scenario,
    df: pd.DataFrame,
    lead: Leads | Ids,
    arm_idx: np.ndarray,
    parts: list[dict[str, np.ndarray]],
    positions: list[np.ndarray],
) -> pd.DataFrame:
    """The leads frame of one chunk: each lead's outcome under its own arm."""
    arms = sc.experiment.arms
    inverse = np.empty(lead.n, dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(lead.n)
    observed = {key: np.concatenate([p[key] for p in parts])[inverse] for key in parts[0]}
    leads = df
    leads.insert(1, "arm", pd.Categorical.from_codes(arm_idx, categories=[a.name for a in arms]))
    for key, v in observed.items():
        if key.endswith("_min"):
            leads[key[:-4] + "_at"] = utc_from_minutes(lead.created_min, v).array
        else:
            leads[key] = v
    return leads


def observed_frames(
    sc: Scenario,
    df: pd.DataFrame,
    lead: Leads,
    arm_idx: np.ndarray,
    parts: list[dict[str, np.ndarray]],
    positions: list[np.ndarray],
    logs: list[tuple[int, list[dict[str, np.ndarray]]]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads frame (each lead's outcome under its own arm) and the touch log of one chunk."""
    leads = observed_leads(sc, df, lead, arm_idx, parts, positions)
    return leads, touch_frame(sc, lead.lead_id, lead.created_min, sc.experiment.arms, logs)


def observed_centre(sc: Scenario, per_chunk: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads frame and the touch log of a run with a contact centre (every chunk in this process).

    Each chunk's event log is turned into touch-log columns and let go; the columns are then
    joined column by column, each chunk's piece let go as soon as it has joined (a frame per chunk
    and a concatenated frame would hold the log twice).
    """
    frames, columns = [], []
    let_go = 0  # bytes of event log let go since memory was last handed back
    while per_chunk:
        df, lead, arm_idx, parts, positions, logs, _first = per_chunk.pop(0)
        frames.append(observed_leads(sc, df, lead, arm_idx, parts, positions))
        columns.append(touch_columns(sc, lead.lead_id, lead.created_min, sc.experiment.arms, logs))
        let_go += sum(v.nbytes for _a, log in logs for d in log for v in d.values() if v.strides[:1] != (0,))
        del logs, parts
        if let_go >= TRIM_BYTES:  # not after every chunk: pages handed back are paid for when used again
            release_free_memory()
            let_go = 0
    return concat_cats(frames), concat_columns(columns)


#: Event-log bytes let go between two hand-backs of free memory to the OS (see :mod:`nurture_lab._memory`).
TRIM_BYTES = 64 * 2**20


def simulate_centre(
    sc: Scenario, seed: int, n_leads: int, truth: bool, progress: bool = False, frames: bool = True
) -> tuple[list[Any], pd.DataFrame]:
    """A run with a contact centre: every chunk and arm in lockstep in this process, one shared queue.

    Returns per chunk ``(df, lead, arm_idx, parts, positions, logs)`` (the observed run) and the
    truth sums. Same seed, same result whatever ``jobs``: the queue is one deterministic pass.
    """
    arms = sc.experiment.arms
    chunks: list[tuple[int, int, pd.DataFrame, Any, np.ndarray]] = []  # (chunk, first id, frame, leads, arms)
    for c, first, n in _random.chunks(n_leads):
        df = make_leads_chunk(sc, seed, c, first, n, identities=frames)
        lead = Leads.from_frame(df, sc)
        chunks.append((c, first, df, lead, assign(sc, df, seed, c)))
    first_abs = min(float(ch[3].created_min.min()) for ch in chunks)
    last_abs = max(float(ch[3].created_min.max()) for ch in chunks)
    span = (last_abs - first_abs) / DAY + max(timeline_days(sc, ch[2]) for ch in chunks) + 2
    cc = sc.contact_center
    assert cc is not None

    def fresh() -> tuple[CentreView, Queue]:
        made = centre_of(sc, first_abs, span)
        assert made is not None
        return made

    ctx, q = fresh()
    # inbound phone inquiries ring first (round 0): answered live when an agent is free that minute
    phones = [
        (ch[2]["source"] == "phone").to_numpy() if cc.inbound_calls else np.zeros(ch[3].n, dtype=bool) for ch in chunks
    ]
    arrivals = np.concatenate([ch[3].created_min[p] for ch, p in zip(chunks, phones, strict=True)])
    answered = q.inbound(arrivals)
    inbound, lo = [], 0
    for ch, p in zip(chunks, phones, strict=True):
        code = np.zeros(ch[3].n, dtype=np.int8)
        k = int(p.sum())
        code[p] = np.where(answered[lo : lo + k], 1, 2)
        lo += k
        inbound.append(code)

    def uniforms_for(c: int, n: int, steps: list[int]) -> Draws:
        users: dict[int, int] = {}
        for n_steps in steps:
            for k in range(n_steps):
                users[k] = users.get(k, 0) + 1
        return Draws(seed, c, n, users)

    # the observed run: each arm's leads of each chunk, one generator each, one queue
    gens, meta = [], []
    for i, (c, _first, _df, lead, arm_idx) in enumerate(chunks):
        order = np.argsort(arm_idx, kind="stable")
        bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
        by_arm = subset_leads(lead, order)
        uni = uniforms_for(c, lead.n, [len(a.steps) for a in arms])
        for a, arm in enumerate(arms):
            pos = order[bounds[a] : bounds[a + 1]]
            sub = subset_leads(by_arm, slice(bounds[a], bounds[a + 1]))
            rec = np.ones(pos.size, dtype=bool) if frames else None
            gens.append(run_arm(sc, arm, sub, uni, rec, ctx, inbound[i][pos]))
            meta.append((i, a, pos))
        if not truth:  # the arms hold their own copies: keep only what the observed frames need
            chunks[i] = (c, _first, _df, Ids(lead.n, lead.lead_id, lead.created_min), arm_idx)
        del lead, by_arm
    outs = drive(gens, q)
    release_free_memory()  # the queue rounds' call batches and gate temporaries, before the frames are built
    per_chunk: list[Any] = []
    for i, (_c, first, df, lead, arm_idx) in enumerate(chunks):
        parts, positions, logs = [], [], []
        for (j, a, pos), (out, log) in zip(meta, outs, strict=True):
            if j != i:
                continue
            for d in log:
                d["lead_idx"] = pos[d["lead_idx"]]
            parts.append(out)
            positions.append(pos)
            logs.append((a, log))
        per_chunk.append((df, lead, arm_idx, parts, positions, logs, first))
    truth_rows: list[pd.DataFrame] = []
    if truth:
        # every lead through every arm: with the experiment's queue as the arms shared it
        # (``experiment``), and alone with the same staff (``rollout``)
        for arm in arms:
            for setting in ("experiment", "rollout"):
                if setting == "experiment":
                    server: Queue | VirtualQueue = VirtualQueue(q)
                else:
                    _, server = fresh()
                    server.inbound(arrivals)
                tg = [
                    run_arm(sc, arm, lead, uniforms_for(c, lead.n, [len(arm.steps)]), None, ctx, inbound[i])
                    for i, (c, _f, _d, lead, _a) in enumerate(chunks)
                ]
                for (_c, _f, _d, lead, _a), (out, _) in zip(chunks, drive(tg, server), strict=True):
                    truth_rows += truth_sums(arm.name, out, lead, setting)
    return per_chunk, pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()

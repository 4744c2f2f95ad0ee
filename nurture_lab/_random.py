"""Random streams: one seed at the entry point, independent streams spawned per chunk and component.

A stream is identified by ``(seed, chunk, component[, step])`` through ``SeedSequence.spawn_key``,
so chunk 7's population is the same whatever the number of chunks or processes, and adding a new
component later never shifts existing ones. Component numbers are append-only.
"""

from __future__ import annotations

import numpy as np

POPULATION = 0
ASSIGNMENT = 1
STEP = 2  # + step index as the last spawn-key element
FINAL = 3
IDENTITY = 4  # retired: identities now come from one fixed pool (kept so later numbers do not shift)
REPLICATION = 5

#: Leads per chunk. Part of the definition of a run: changing it changes results.
CHUNK_SIZE = 50_000


def check_seed(seed: object, func: str) -> int:
    """Validate a seed (a non-negative int)."""
    from .errors import check_param

    return int(check_param(func, "seed", seed, kind="int", low=0))


def stream(seed: int, *key: int) -> np.random.Generator:
    """A generator for the stream ``key`` of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


def chunks(n_leads: int, size: int = CHUNK_SIZE) -> list[tuple[int, int, int]]:
    """``(chunk_index, first_lead_id, n)`` for a run of ``n_leads``."""
    return [(i, start, min(size, n_leads - start)) for i, start in enumerate(range(0, n_leads, size))]


def replication_seed(seed: int, rep: int) -> int:
    """The seed of replication ``rep`` of a what-if run with ``seed``: spawned from ``(seed, rep)`` alone,
    so a replication's numbers do not depend on which process or executor runs it."""
    ss = np.random.SeedSequence(seed, spawn_key=(REPLICATION, rep))
    return int(ss.generate_state(1, dtype=np.uint32)[0])

"""What one replication of :func:`.designs.compare_designs` is and returns, shared by its two
runners (:mod:`.designs` without a contact centre, :mod:`.designs_centre` with one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..scenario.design import Design
from ..scenario.model import Scenario

__all__ = ["SUMS", "DesignTask", "sum_rows"]

#: Per design, version and arm: leads, bookings, and the IPW weights' sums.
SUMS = ("n", "s", "sw", "swy", "sw2", "sw2y")


@dataclass(frozen=True)
class DesignTask:
    """One replication of every design (the unit of parallel work)."""

    scenario: Scenario
    designs: tuple[Design, ...]
    rep: int
    seed: int
    n_leads: int


def sum_rows(
    rep: int, j: int, version: str, arm: np.ndarray, q: np.ndarray, y: np.ndarray, truth: np.ndarray, **extra: Any
) -> list[dict[str, Any]]:
    """Per arm of one design and version: its leads' sums of :data:`SUMS` (``arm``, ``q``: each lead's
    arm and its probability; ``y``: its 30-day booking) and the arm's truth (``truth``, per arm)."""
    k = truth.size
    y = np.asarray(y, dtype=float)
    w = 1.0 / q
    sums = {"n": np.ones_like(y), "s": y, "sw": w, "swy": w * y, "sw2": w * w, "sw2y": w * w * y}
    per = {key: np.bincount(arm, weights=v, minlength=k) for key, v in sums.items()}
    rows = []
    for a in range(k):
        row = {"rep": rep, "design": j, "version": version, "arm": a, "truth": float(truth[a])}
        rows.append(row | {key: float(per[key][a]) for key in SUMS} | extra)
    return rows

"""The behaviour model outside the per-touch responses: loss to a competitor.

A lead who has not booked with us books elsewhere at a constant hazard (per minute), reduced by
``contacted_hazard_multiplier`` after our first contact (DOMAIN.md: speed to lead).
"""

from __future__ import annotations

import numpy as np

__all__ = ["loss_time"]

INF = np.inf


def loss_time(h: np.ndarray, clock: np.ndarray, contacted: np.ndarray, mult: float) -> np.ndarray:
    """Minute at which the integrated competitor hazard reaches the lead's clock.

    Hazard ``h`` (per minute) before the first contact, ``h * mult`` after it.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(h > 0, clock / h, INF)
        after = contacted + (clock - h * contacted) / (h * mult)
    return np.where(before <= contacted, before, np.where((h > 0) & (mult > 0), after, INF))

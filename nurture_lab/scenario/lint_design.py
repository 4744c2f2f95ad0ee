"""Lint rules on the assignment design (the ``[design]`` table): an adaptive design that cannot run or
cannot learn in time."""

from __future__ import annotations

import math

from .finding import Finding
from .model import Scenario

__all__ = ["design_findings"]


def design_findings(sc: Scenario) -> list[Finding]:
    """An adaptive design beside a contact centre (its cost and verification), or one whose metric is observable
    only after the last inquiry, or whose waves are too long to update within the arrival days."""
    d = sc.design
    if not d.adaptive:
        return []
    where, days = f"design ({d.allocation})", sc.population.arrival_days
    out = []
    if sc.contact_center is not None:
        waves = math.floor(days / d.update_every_days) + 1  # at most, over the arrival days
        runs = sum(w * d.update_every_days >= d.delay for w in range(1, waves)) + 1
        out.append(
            Finding(
                "note",
                "design_centre",
                where,
                "with a [contact_center] an adaptive design runs wave by wave: one centre run per wave with something "
                f"observable at its start plus the final run (here up to {runs} centre run{'s' * (runs != 1)} for up to "
                f"{waves} waves, against 1 for a fixed design); each wave's inputs are then counted again in the final run, and the run is refused if any differ (a "
                "run with a centre is causal in time unless its queue is saturated for a week or more)",
            )
        )
    if d.delay >= days:
        out.append(
            Finding(
                "warning",
                "design_delay",
                where,
                f"{d.metric} is observable {d.delay:g} days after an inquiry and leads arrive over {days} days: "
                "nothing is observable before the last inquiry, so every wave uses the planned allocation",
            )
        )
    elif d.update_every_days >= days:
        out.append(
            Finding(
                "warning",
                "design_waves",
                where,
                f"waves of {d.update_every_days:g} days over {days} days of arrivals: one wave, no update",
            )
        )
    return out

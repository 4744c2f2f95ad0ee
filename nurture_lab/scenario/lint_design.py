"""Lint rules on the assignment design (the ``[design]`` table): an adaptive design that cannot run or
cannot learn in time."""

from __future__ import annotations

from .finding import Finding
from .model import Scenario

__all__ = ["design_findings"]


def design_findings(sc: Scenario) -> list[Finding]:
    """An adaptive design beside a contact centre (refused when run), or one whose metric is observable
    only after the last inquiry, or whose waves are too long to update within the arrival days."""
    d = sc.design
    if not d.adaptive:
        return []
    where, days = f"design ({d.allocation})", sc.population.arrival_days
    out = []
    if sc.contact_center is not None:
        out.append(
            Finding(
                "error",
                "design_centre",
                where,
                "an adaptive design runs with unlimited staff only: with a [contact_center] one lead's outcome "
                "depends on the calls of leads assigned before it, and a run is not causal in time (a call waiting "
                "past a wave's start decides, when reached, whether the lead's later steps go before it), so "
                "simulate refuses it",
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

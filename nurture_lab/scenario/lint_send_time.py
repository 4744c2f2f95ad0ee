"""Lint rules for send-time policies (``Step.send_time``; see :mod:`nurture_lab.simulation.send_time`)."""

from __future__ import annotations

from .finding import Finding
from .model import TCPA_CHANNELS, Arm, Scenario

__all__ = ["send_time_findings"]

#: A step planned sooner than this after the inquiry is a speed-to-lead touch: re-timing it waits.
FAST_MINUTES = 60.0


def _hh(h: float) -> str:
    return f"{int(h):d}:{round((h % 1) * 60):02d}"


def send_time_findings(sc: Scenario, arm: Arm, quiet: tuple[float, float]) -> list[Finding]:
    """Warnings for an arm's steps with a send-time policy: a window that leaves no room (or under an
    hour), a fast step re-timed, a learned policy where every audience prefers the same hours.
    ``quiet``: the legal calling hours every lead has (the narrowest state's)."""
    out: list[Finding] = []
    pol = sc.policy
    noted = False  # the note on audiences alike: once per arm
    for i, step in enumerate(arm.steps):
        if step.send_time == "planned":
            continue
        where = f"arms.{arm.name}.steps.{i} ({step.channel} {step.content})"
        lo, hi = step.window if step.window is not None else (0.0, 24.0)
        if step.channel in TCPA_CHANNELS:
            lo, hi = max(lo, quiet[0]), min(hi, quiet[1])
        if step.channel == "call" and sc.contact_center is None:
            lo, hi = max(lo, pol.staffed_hours[0]), min(hi, pol.staffed_hours[1])
        if hi <= lo:
            out.append(
                Finding(
                    "warning",
                    "send_time",
                    where,
                    f"send_time = {step.send_time!r}, but its window, calling hours and staffed hours leave no "
                    "room in the day; the step keeps its planned time and the gate defers it",
                )
            )
        elif hi - lo < 1:
            out.append(
                Finding(
                    "warning",
                    "send_time",
                    where,
                    f"send_time = {step.send_time!r} within {_hh(lo)}-{_hh(hi)} local: less than an hour to choose "
                    "from, every policy sends at about the same time",
                )
            )
        if step.anchor == "inquiry" and step.delay_minutes < FAST_MINUTES:
            out.append(
                Finding(
                    "warning",
                    "send_time",
                    where,
                    f"send_time = {step.send_time!r} on a step planned {step.delay_minutes:g} minutes after the "
                    "inquiry: waiting for the chosen hour gives up speed to lead",
                )
            )
        learned = step.send_time in ("audience_best", "lead_best")
        if learned and not sc.behaviour.preferred_hour_by_audience and not noted:
            noted = True
            out.append(
                Finding(
                    "note",
                    "send_time",
                    where,
                    f"send_time = {step.send_time!r}, but every audience prefers the same hours ([behaviour] "
                    "preferred_hour_by_audience is not set): the learned hour is the population's (noted once per arm)",
                )
            )
    return out

"""The policy gate's reason codes and stop rules (DOMAIN.md section 3).

Every touch the policy layer skips or defers is logged with one of :data:`REASONS`; nothing is
dropped silently. The rules themselves are applied per cadence step in
:func:`nurture_lab.simulation.engine._run_arm`, in this order: stop states (booked, lost,
disqualified, opted out), consent, confidential communication, chat session, sensitive content
(replace or block), ownership handoff (drop or duplicate), then timing — send window, TCPA quiet
hours in the lead's local time, staffed hours for calls — and frequency caps.
"""

from __future__ import annotations

import numpy as np

from .behaviour import loss_time

__all__ = ["REASONS", "REASON_CODE", "stop_reason"]

#: Reason codes of the touch log (why a touch was skipped, or why it was deferred).
REASONS: tuple[str, ...] = (
    "",
    "quiet_hours",
    "staffed_hours",
    "send_window",
    "cap_day",
    "cap_week",
    "after_previous",
    "sensitive_replaced",
    "handoff_duplicate",
    "booked",
    "lost",
    "disqualified",
    "opted_out",
    "no_consent",
    "confidential",
    "no_chat_session",
    "sensitive_blocked",
    "sensitive_retargeting",
    "handoff_dropped",
    "cap_total",
    "no_allowed_time",
    "after_horizon",
    "after_visit",
)
#: Reason -> its code in the touch log.
REASON_CODE: dict[str, int] = {r: i for i, r in enumerate(REASONS)}
_R = REASON_CODE


def stop_reason(
    at: np.ndarray,
    hazard: np.ndarray,
    clock: np.ndarray,
    contacted: np.ndarray,
    mult: float,
    opted: np.ndarray,
    disqualified: np.ndarray,
    booked: np.ndarray,
) -> np.ndarray:
    """Reason code why a lead's cadence has stopped by time ``at`` (0: it has not)."""
    lost = loss_time(hazard, clock, contacted, mult) <= at
    r = np.where(opted <= at, _R["opted_out"], 0)
    r = np.where(disqualified, _R["disqualified"], r)
    r = np.where(lost, _R["lost"], r)
    return np.where(booked <= at, _R["booked"], r)

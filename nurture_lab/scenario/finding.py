"""One lint finding (shared by the lint's rule modules)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SEVERITIES", "Finding"]

#: ``error``: a violation (the command line exits 1); ``warning``: a send the gate will defer or
#: skip, or a legal but risky setting; ``note``: what the staffing allows.
SEVERITIES: tuple[str, ...] = ("error", "warning", "note")


class Finding(NamedTuple):
    severity: str  # "error", "warning" or "note"
    rule: str
    where: str
    message: str

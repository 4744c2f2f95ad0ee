"""The behaviour model: what a lead does.

Loss to a competitor is :func:`~nurture_lab.simulation.state.loss_time` (the clock the gate's
``lost`` rule reads).
"""

from __future__ import annotations

from .state import loss_time

__all__ = ["loss_time"]

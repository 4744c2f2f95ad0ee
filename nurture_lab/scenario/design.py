"""The experiment's assignment design: the scenario's ``[design]`` table (issue 25, section 2).

``allocation = "fixed"`` (the default) is the planned allocation of the ``[arms]``, stratified by
service line, as every scenario had before. An adaptive allocation assigns the leads in waves of
``update_every_days``: the first wave (and any wave before an outcome is observable) with the
planned allocation, each later wave with probabilities from the Beta-Bernoulli posterior
(Beta(1, 1) prior) of each arm's ``metric`` on what is observable at the wave's start — a lead's
metric only ``delay_days`` after its inquiry. See :mod:`nurture_lab.simulation.adaptive`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import check_field, check_number, check_str, field_error

__all__ = ["ALLOCATIONS", "DESIGN_METRICS", "Design"]

#: The allocation rules: the planned allocation, Thompson sampling (probability that the arm is the
#: best), top-two Thompson sampling (Russo 2020) and exploration sampling (Kasy & Sautmann 2021).
ALLOCATIONS: tuple[str, ...] = ("fixed", "thompson", "top_two", "exploration")

#: The metrics a design may learn from, each with its window in days: the value observed is the
#: event within that many days of the inquiry (``contacted``: engaged within one day, the early
#: proxy), known once the window has closed — so the observation delay is at least the window.
DESIGN_METRICS: dict[str, float] = {"booked_30d": 30.0, "booked_7d": 7.0, "contacted": 1.0}

#: The longest an update interval or observation delay may be (days).
MAX_DESIGN_DAYS = 365.0


@dataclass(frozen=True)
class Design:
    """How arms are assigned: the planned allocation, or an adaptive rule updated in waves."""

    #: "fixed", "thompson", "top_two" or "exploration" (see :data:`ALLOCATIONS`).
    allocation: str = "fixed"
    #: Days between updates of the assignment probabilities (the length of a wave).
    update_every_days: float = 7.0
    #: What the adaptive rule learns from (see :data:`DESIGN_METRICS`).
    metric: str = "booked_30d"
    #: Days after the inquiry when a lead's metric becomes observable; default (None): the metric's
    #: window (30 days for booked_30d, 7 for booked_7d, 1 for contacted). At least the window.
    delay_days: float | None = None
    #: The smallest assignment probability of any arm in any wave, so inverse-probability weights
    #: stay bounded; default (None): 0.1 / K for K arms. At most 1 / K.
    min_probability: float | None = None
    #: Top-two Thompson sampling: the probability of playing the posterior's leader.
    top_two_beta: float = 0.5

    def __post_init__(self) -> None:
        check_str("allocation", self.allocation, ALLOCATIONS)
        check_number("update_every_days", self.update_every_days, low=0, low_open=True, high=MAX_DESIGN_DAYS)
        check_str("metric", self.metric, tuple(DESIGN_METRICS))
        window = DESIGN_METRICS[self.metric]
        if self.delay_days is not None:
            check_number("delay_days", self.delay_days, high=MAX_DESIGN_DAYS)
            if self.delay_days < window:
                raise field_error(
                    "delay_days",
                    f"at least {window:g} days for metric {self.metric!r} (its value is known only once its "
                    f"{window:g}-day window has closed)",
                    self.delay_days,
                )
        if self.min_probability is not None:
            check_field("min_probability", self.min_probability, kind="number", low=0, high=1, high_open=True)
        check_field("top_two_beta", self.top_two_beta, kind="number", low=0, high=1, low_open=True, high_open=True)

    @property
    def adaptive(self) -> bool:
        """Is the allocation adaptive (anything but "fixed")?"""
        return self.allocation != "fixed"

    @property
    def delay(self) -> float:
        """The observation delay in days (``delay_days``, else the metric's window)."""
        return float(self.delay_days if self.delay_days is not None else DESIGN_METRICS[self.metric])

    @property
    def window(self) -> float:
        """The metric's window in days."""
        return DESIGN_METRICS[self.metric]

    def floor(self, k: int) -> float:
        """The probability floor for ``k`` arms (``min_probability``, else 0.1 / k)."""
        return float(self.min_probability) if self.min_probability is not None else 0.1 / k

"""Always-valid monitoring of a running test: asymptotic confidence sequences and their p-values.

Look at a test every week and stop when it is clear: a fixed-sample interval or p-value would
then be wrong far more often than alpha says (each look is another chance of a false alarm). A
**confidence sequence** is a sequence of intervals that covers the true effect at *every* sample
size at once with probability ``1 - alpha``, so it stays valid however often one looks.

Method: the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2021,
"Time-uniform central limit theory and asymptotic confidence sequences", Theorem 2.2; the normal
mixture boundary, as in GrowthBook's sequential testing). After ``t`` units in all, with the
estimate ``d`` and its variance ``V`` from the fixed-sample method, the interval is::

    d +/- sqrt(V * t) * sqrt(2 (t rho^2 + 1) / (t^2 rho^2) * log(sqrt(t rho^2 + 1) / alpha))

and the always-valid p-value is the smallest alpha whose interval excludes 0::

    p = min(1, sqrt(t rho^2 + 1) * exp(-d^2 t rho^2 / (2 V (t rho^2 + 1))))

so a sequence interval that excludes 0 always comes with p < alpha. The tuning ``rho`` makes the
intervals tightest at ``tuning`` units (default :data:`DEFAULT_TUNING`):
``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / tuning``. Intervals are wider than fixed-sample
ones — the price of looking as often as one likes.

One call tunes ``rho`` once, at its nominal alpha (``tuned_at``), and uses it for intervals at every
level (plain and multiplicity-adjusted): with one ``rho`` the interval at level ``a`` excludes 0
exactly when ``p < a``, so the adjusted intervals and adjusted p-values agree.
"""

from __future__ import annotations

import math

__all__ = ["DEFAULT_TUNING", "always_valid_p", "cs_halfwidth", "rho_squared"]

#: Total units (all arms) at which the sequence is tuned to be tightest (GrowthBook's default too).
DEFAULT_TUNING = 5000


def rho_squared(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture's tuning parameter that minimises the boundary at ``tuning`` units."""
    a = -2 * math.log(alpha)
    return (a + math.log(a + 1)) / tuning


def cs_halfwidth(
    variance: float, t: float, alpha: float, tuning: float = DEFAULT_TUNING, tuned_at: float | None = None
) -> float:
    """Half-width of the confidence sequence for an estimate with ``variance`` after ``t`` units.

    ``tuned_at``: the alpha ``rho`` is tuned at (default ``alpha``).
    """
    r2 = rho_squared(alpha if tuned_at is None else tuned_at, tuning)
    tr = t * r2
    return math.sqrt(variance * t) * math.sqrt(2 * (tr + 1) / (t * tr) * math.log(math.sqrt(tr + 1) / alpha))


def always_valid_p(diff: float, variance: float, t: float, alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The always-valid p-value of ``diff``, ``rho`` tuned at ``alpha``: the sequence with that ``rho``
    at any level ``a`` excludes 0 iff ``p < a``."""
    if not variance > 0:
        return float("nan")
    tr = t * rho_squared(alpha, tuning)
    log_p = 0.5 * math.log(tr + 1) - diff * diff * tr / (2 * variance * (tr + 1))
    return min(1.0, math.exp(log_p))

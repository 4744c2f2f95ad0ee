"""Erlang C: the queueing formulas shared by every stage (the lint, the contact centre, the report).

Pure arithmetic with no stage of its own, like ``errors`` and ``_random``: the scenario lint states the
expected first-call wait before anything runs, so the formula cannot live in a later stage.
``nurture_lab.simulation.contact_center`` re-exports them (one home, a test checks it).
"""

from __future__ import annotations

import math

from .errors import check_param

__all__ = ["erlang_c_agents", "erlang_c_wait"]


def erlang_c_wait(agents: int, load: float) -> float:
    """Probability that a call waits (Erlang C) with ``agents`` servers and ``load`` Erlangs offered.

    Raises:
        ParameterError: ``agents`` not a whole number >= 0, or ``load`` not a finite number >= 0 (NaN too).
    """
    agents = check_param("erlang_c_wait", "agents", agents, kind="int", low=0)
    load = check_param("erlang_c_wait", "load", load, low=0)
    if agents <= load:
        return 1.0
    # the Erlang B recursion is numerically stable; C follows from B
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def erlang_c_agents(calls_per_hour: float, handle_minutes: float, target_wait: float = 0.2) -> int:
    """Fewest agents for which at most ``target_wait`` of calls wait (Erlang C) [ASSUMPTION: 80% answered at once].

    >>> erlang_c_agents(30, 4)
    4

    Raises:
        ParameterError: ``calls_per_hour`` or ``handle_minutes`` not a finite number > 0 (NaN, 0 and
            negative values are refused: no calls need no sizing), or ``target_wait`` outside (0, 1).
    """
    calls_per_hour = check_param("erlang_c_agents", "calls_per_hour", calls_per_hour, low=0, low_open=True)
    handle_minutes = check_param("erlang_c_agents", "handle_minutes", handle_minutes, low=0, low_open=True)
    target_wait = check_param(
        "erlang_c_agents", "target_wait", target_wait, low=0, high=1, low_open=True, high_open=True
    )
    load = calls_per_hour * handle_minutes / 60.0
    n = max(1, math.floor(load) + 1)
    while erlang_c_wait(n, load) > target_wait:
        n += 1
    return n

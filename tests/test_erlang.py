"""Erlang C's inputs: a number that means nothing is refused with one message, never a hang or a NaN."""

from __future__ import annotations

import math

import pytest

import nurture_lab as nl
from nurture_lab._erlang import erlang_c_agents, erlang_c_wait


def _closed_form(n: int, a: float) -> float:
    """Erlang C from its textbook formula (factorials), independent of the package's recursion."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(calls_per_hour=float("nan"), handle_minutes=4), r"'calls_per_hour' parameter of erlang_c_agents"),
        (dict(calls_per_hour=0, handle_minutes=4), r"'calls_per_hour' parameter of erlang_c_agents .*\(0, inf\)"),
        (dict(calls_per_hour=-30, handle_minutes=4), r"'calls_per_hour' parameter of erlang_c_agents"),
        (dict(calls_per_hour=30, handle_minutes=0), r"'handle_minutes' parameter of erlang_c_agents"),
        (dict(calls_per_hour=30, handle_minutes=float("inf")), r"'handle_minutes' parameter of erlang_c_agents"),
        (dict(calls_per_hour=30, handle_minutes=4, target_wait=-0.1), r"'target_wait' .* range \(0, 1\)"),
        (dict(calls_per_hour=30, handle_minutes=4, target_wait=0), r"'target_wait' .* range \(0, 1\)"),
        (dict(calls_per_hour=30, handle_minutes=4, target_wait=1), r"'target_wait' .* range \(0, 1\)"),
    ],
)
def test_bad_sizing_inputs_are_refused_with_one_message(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(nl.ParameterError, match=message):
        nl.erlang_c_agents(**kwargs)


@pytest.mark.parametrize(("agents", "load"), [(-1, 2.0), (3, float("nan")), (3, -0.5), (2.5, 1.0)])
def test_bad_wait_inputs_are_refused(agents: float, load: float) -> None:
    with pytest.raises(nl.ParameterError, match="parameter of erlang_c_wait"):
        erlang_c_wait(agents, load)  # type: ignore[arg-type]


def test_sizing_meets_its_target_by_the_closed_form() -> None:
    for calls, handle, target in [(30, 4, 0.2), (550, 2.6, 0.2), (12, 6, 0.05), (200, 3, 0.5)]:
        n = erlang_c_agents(calls, handle, target)
        a = calls * handle / 60
        assert _closed_form(n, a) <= target
        assert n - 1 <= a or _closed_form(n - 1, a) > target  # the fewest that meet it
        assert erlang_c_wait(n, a) == pytest.approx(_closed_form(n, a), rel=1e-9)
    assert erlang_c_wait(0, 0.0) == 1.0 and erlang_c_wait(3, 3.0) == 1.0  # no spare agent: every call waits

from __future__ import annotations

import pytest

from ..conftest import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "nope.toml", "--out", "x"], "Scenario file not found: nope.toml"),
        (
            ["simulate", "simulations/speed_to_lead.toml", "--n-leads", "0", "--out", "x"],
            "expected an integer from 1 to 20,000,000, got '0'",
        ),
        (
            ["simulate", "speed_to_lead", "--n-leads", "1000000000000", "--out", "x"],
            "expected an integer from 1 to 20,000,000, got '1000000000000'",
        ),
        (["simulate", "speed_to_lead", "--out", "/etc/passwd/x"], "cannot write to --out /etc/passwd/x"),
        (["report", "--out", "/etc/passwd/x"], "cannot write to --out /etc/passwd/x"),
        (["analyze", "nope.csv", "--arm", "a", "--control", "c", "--metric", "m"], "Data file not found: nope.csv"),
        (["power", "--baseline", "0.1"], "power needs --baseline (or --sd for a numeric metric) and --mde"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_get_one_clear_message(args: list[str], message: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr

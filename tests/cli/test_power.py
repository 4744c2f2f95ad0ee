from __future__ import annotations

from ..conftest import run_cli


def test_power_cli() -> None:
    res = run_cli("power", "--baseline", "0.10", "--mde", "0.02")
    assert res.returncode == 0 and "n per arm: 3,841" in res.stdout

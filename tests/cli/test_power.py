from __future__ import annotations

from ..conftest import run_cli


def test_power_cli() -> None:
    res = run_cli("power", "--baseline", "0.10", "--mde", "0.02")
    assert res.returncode == 0 and "n per arm: 3,839" in res.stdout and "wald test" in res.stdout
    res = run_cli("power", "--baseline", "0.10", "--mde", "0.02", "--test", "score")
    assert res.returncode == 0 and "n per arm: 3,841" in res.stdout
    res = run_cli("power", "--baseline", "0.10", "--mde", "0.2", "--relative")
    assert res.returncode == 0 and "n per arm: 3,839" in res.stdout and "+20.0% relative" in res.stdout
    res = run_cli("power", "--sd", "4", "--mde", "0.5")
    assert res.returncode == 0 and "n per arm: 1,005" in res.stdout

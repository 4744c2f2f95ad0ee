from __future__ import annotations

import json

from ..conftest import FIXTURES, ROOT, run_cli


def test_lint_flags_the_bad_fixture_and_passes_the_defaults() -> None:
    bad = run_cli("lint", str(FIXTURES / "bad_cadence.toml"))
    assert bad.returncode == 1
    for rule in ("[quiet_hours]", "[sensitive_content]", "[cap_week]", "[cap_day]"):
        assert rule in bad.stdout, rule
    assert "22:00-23:00" in bad.stdout
    for f in sorted((ROOT / "simulations").glob("*.toml")):
        ok = run_cli("lint", str(f))
        assert ok.returncode == 0, ok.stdout
    js = run_cli("lint", str(FIXTURES / "bad_cadence.toml"), "--format", "json")
    assert {f["rule"] for f in json.loads(js.stdout)["results"]} >= {"quiet_hours", "sensitive_content", "cap_week"}

from __future__ import annotations

import json
import re

from ..conftest import FIXTURES, ROOT, run_cli


def test_lint_flags_the_bad_fixture_and_passes_the_defaults() -> None:
    bad = run_cli("lint", str(FIXTURES / "bad_cadence.toml"))
    assert bad.returncode == 1
    for rule in ("quiet_hours", "sensitive_content", "cap_week", "cap_day"):
        assert f"ERROR   {rule} (" in bad.stdout, rule
    assert "22:00-23:00" in bad.stdout
    for f in sorted((ROOT / "simulations").glob("*.toml")):
        ok = run_cli("lint", str(f))
        assert ok.returncode == 0, ok.stdout
    js = run_cli("lint", str(FIXTURES / "bad_cadence.toml"), "--format", "json")
    assert {f["rule"] for f in json.loads(js.stdout)["results"]} >= {"quiet_hours", "sensitive_content", "cap_week"}


def test_lint_speaks_of_allowed_hours_and_summarises_per_rule() -> None:
    import nurture_lab as nl

    res = nl.lint_scenario(nl.load_scenario("speed_to_lead"))
    assert all("quiet hours 8" not in f.message for f in res)  # the allowed hours are not called quiet hours
    assert not any(re.search(r"\b(\d+%)-\1", f.message) for f in res)  # never "45%-45% of leads"
    summary = res.summary()
    assert summary[["severity", "rule"]].duplicated().sum() == 0
    assert summary["n_steps"].sum() == len(res)
    text = run_cli("lint", "speed_to_lead").stdout
    assert len(text.strip().splitlines()) == len(summary) + 1  # one line per rule, then the count

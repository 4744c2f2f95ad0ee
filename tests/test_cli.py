from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.cli import main

from .conftest import FIXTURES, ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nurture_lab", *args], capture_output=True, text=True, cwd=ROOT)


def test_simulate_writes_the_four_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["simulate", "simulations/speed_to_lead.toml", "--seed", "3", "--n-leads", "3000", "--out", str(tmp_path)]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "simulated 3,000 leads" in out and "within_5_min" in out
    for f in ("leads.parquet", "touches.parquet", "truth.csv", "manifest.json"):
        assert (tmp_path / f).is_file()
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["seed"] == 3 and man["n_leads"] == 3000 and len(man["scenario_sha256"]) == 64
    leads = pd.read_parquet(tmp_path / "leads.parquet")
    assert man["rows"]["leads"] == len(leads) == 3000
    assert not {"name", "email", "phone"} & set(leads.columns)  # identities stay out of files
    assert not list(tmp_path.glob(".tmp*"))  # atomic writes leave no temporaries
    again = nl.simulate(nl.load_scenario(ROOT / "simulations/speed_to_lead.toml"), seed=3, n_leads=3000)
    pd.testing.assert_series_equal(leads["booked"], again.leads["booked"])


def test_lint_flags_the_bad_fixture_and_passes_the_defaults() -> None:
    bad = run("lint", str(FIXTURES / "bad_cadence.toml"))
    assert bad.returncode == 1
    for rule in ("[quiet_hours]", "[sensitive_content]", "[cap_week]", "[cap_day]"):
        assert rule in bad.stdout, rule
    assert "22:00-23:00" in bad.stdout
    for f in sorted((ROOT / "simulations").glob("*.toml")):
        ok = run("lint", str(f))
        assert ok.returncode == 0, ok.stdout
    js = run("lint", str(FIXTURES / "bad_cadence.toml"), "--format", "json")
    assert {f["rule"] for f in json.loads(js.stdout)} >= {"quiet_hours", "sensitive_content", "cap_week"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "nope.toml", "--out", "x"], "Scenario file not found: nope.toml"),
        (
            ["simulate", "simulations/speed_to_lead.toml", "--n-leads", "0", "--out", "x"],
            "expected an integer >= 1, got '0'",
        ),
        (["analyze", "nope.csv", "--arm", "a", "--control", "c", "--metric", "m"], "Data file not found: nope.csv"),
        (["power", "--baseline", "0.1"], "power needs --baseline and --mde"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_get_one_clear_message(args: list[str], message: str) -> None:
    res = run(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_power_cli() -> None:
    res = run("power", "--baseline", "0.10", "--mde", "0.02")
    assert res.returncode == 0 and "n per arm: 3,841" in res.stdout

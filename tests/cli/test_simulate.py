from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.cli import main

from ..conftest import ROOT


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

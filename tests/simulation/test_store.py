"""Writing a simulation's files: four files, written atomically, identities only when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.io import atomic
from nurture_lab.simulation.store import manifest, write_simulation


@pytest.fixture(scope="module")
def run(tiny: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(tiny, seed=4, n_leads=1500)


def test_the_four_files_and_their_manifest(run: nl.SimulationResult, tmp_path: Path) -> None:
    paths = write_simulation(run, tmp_path)
    assert [p.name for p in paths] == ["leads.parquet", "touches.parquet", "truth.csv", "manifest.json"]
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man == json.loads(json.dumps(manifest(run), default=str))
    assert man["rows"] == {"leads": 1500, "touches": len(run.touches), "truth": len(run.truth)}
    assert man["control"] == "slow" and man["arms"] == ["slow", "fast"] and man["package_version"] == nl.__version__
    leads = pd.read_parquet(tmp_path / "leads.parquet")
    assert not {"name", "email", "phone"} & set(leads.columns)
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert list(truth.columns) == ["setting", "arm", "service_line", "metric", "n", "mean", "true_diff"]
    assert set(truth["setting"]) == {"experiment", "rollout"}


def test_identities_only_when_asked(run: nl.SimulationResult, tmp_path: Path) -> None:
    write_simulation(run, tmp_path, identities=True)
    assert {"name", "email", "phone"} <= set(pd.read_parquet(tmp_path / "leads.parquet").columns)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "truth.csv"
    target.write_text("old")

    def boom(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_with(target, boom)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["truth.csv"]

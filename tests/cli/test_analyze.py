from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nurture_lab as nl
from nurture_lab.io.example import make_example_export

from ..conftest import ROOT


def test_cli_on_the_shipped_dataset() -> None:
    path = str(nl.datasets.hillstrom_path())
    base = [
        sys.executable,
        "-m",
        "nurture_lab",
        "analyze",
        path,
        "--arm",
        "segment",
        "--control",
        "No E-Mail",
        "--metric",
        "visit",
        "--metric",
        "conversion",
        "--metric",
        "spend",
        "--format",
        "json",
    ]
    out = json.loads(subprocess.run(base, capture_output=True, text=True, check=True).stdout)
    assert set(out) >= {"results", "srm", "settings"}
    need = {
        "metric",
        "arm",
        "control",
        "n_control",
        "n_arm",
        "control_value",
        "arm_value",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
        "rel_lift",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_adjusted",
        "test",
        "ci_method",
    }
    assert len(out["results"]) == 6 and need <= set(out["results"][0])
    visit = next(r for r in out["results"] if r["metric"] == "visit" and r["arm"] == "Womens E-Mail")
    assert visit["diff"] == pytest.approx(0.0452, abs=1e-4)
    adj = json.loads(
        subprocess.run(
            [*base, "--covariate", "recency", "--covariate", "history"], capture_output=True, text=True, check=True
        ).stdout
    )
    for r0, r1 in zip(out["results"], adj["results"]):
        assert r1["diff_ci_high"] - r1["diff_ci_low"] < r0["diff_ci_high"] - r0["diff_ci_low"]
    bad = subprocess.run(
        [*base[:5], "--arm", "segment", "--control", "Nope", "--metric", "visit"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "Control label 'Nope' is not a value of column 'segment'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_analyze_cli_reads_a_crm_export_with_a_mapping(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    export = make_example_export(tmp_path / "export.csv", n_leads=1500, seed=6)
    root = ROOT
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nurture_lab",
            "analyze",
            str(export),
            "--mapping",
            str(root / "nurture_lab/data/example_mapping.toml"),
            "--arm",
            "arm",
            "--control",
            "next_business_day",
            "--metric",
            "booked_30d",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(res.stdout)
    assert {r["arm"] for r in out["results"]} == {"within_5_min", "within_1_hour"}  # trailing spaces fixed
    assert "dropped identifier columns" in res.stderr and "Full Name" in res.stderr
    assert "@example.org" not in res.stdout + res.stderr

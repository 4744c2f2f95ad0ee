from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import ROOT, run_cli


def test_cli_report_exit_codes(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            str(ROOT / ".venv/bin/nurture-lab") if (ROOT / ".venv/bin/nurture-lab").exists() else "nurture-lab",
            "report",
            "--out",
            str(tmp_path),
            "--param",
            "colour=red",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Unknown report parameter(s) 'colour'" in res.stderr


@pytest.mark.parametrize(
    ("param", "says"),
    [
        ("alpha=1.5", "The 'alpha' parameter of a report (--param NAME=VALUE) must be a float in the range (0, 0.5)"),
        ("sequential=maybe", "The 'sequential' parameter of a report (--param NAME=VALUE) must be True or False"),
        ("staff_cost_per_hour=-3", "The 'staff_cost_per_hour' parameter of a report"),
        ("guardrail_margin=abc", "The 'guardrail_margin' parameter of a report"),
    ],
)
def test_a_bad_report_parameter_is_refused_before_any_report_runs(tmp_path: Path, param: str, says: str) -> None:
    out = tmp_path / "r"
    res = run_cli("report", "--out", str(out), "--param", param)
    assert res.returncode == 2 and says in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not list(out.rglob("*"))  # no kernel ran, nothing written


def test_sequential_may_be_written_as_a_shell_user_writes_it() -> None:
    from nurture_lab.cli.report import parse_params

    assert parse_params(["sequential=true", "b=False", "alpha=0.1", "currency=EUR"]) == {
        "sequential": True,
        "b": False,
        "alpha": 0.1,
        "currency": "EUR",
    }


def test_an_export_with_only_the_control_arm_is_refused_once_before_any_report_runs(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(60)],
            "arm": "Control",
            "created_at": "2026-03-02T10:00:00Z",
            "booked": ["yes", "no"] * 30,
            "service_line": ["cardiology", "oncology", "pediatrics"] * 20,
        }
    ).to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "r"
    res = run_cli("report", "--data", str(tmp_path / "x.csv"), "--control", "Control", "--out", str(out))
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("has only the control arm 'Control'") == 1 and "Traceback" not in res.stderr
    assert not list(out.rglob("*"))

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
    out = tmp_path / "new" / "r"
    res = run_cli("report", "--data", str(tmp_path / "x.csv"), "--control", "Control", "--out", str(out))
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("has only the control arm 'Control'") == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "new").exists(), "a refused report left the output folders it made"


def test_an_unequal_split_is_flagged_on_the_index_and_every_page_unless_planned(tmp_path: Path) -> None:
    """A deliberate 80/20 test: without the planned split every page and the index open with the
    sample-ratio warning (the same sentence); with --param allocation=... none does."""
    import numpy as np

    rng = np.random.default_rng(8)
    n = 1000
    arm = np.where(rng.random(n) < 0.8, "Control", "Fast Call")
    pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "arm": arm,
            "created_at": (pd.Timestamp("2026-03-02T10:00:00Z") + pd.to_timedelta(rng.uniform(0, 30, n), "D")),
            "booked": np.where(rng.random(n) < 0.25, "yes", "no"),
            "service_line": rng.choice(["cardiology", "oncology"], n),
        }
    ).to_csv(tmp_path / "x.csv", index=False)
    warning = "Check the assignment before acting on this"
    for param, flagged in ((None, True), ("allocation=Control=0.8,Fast Call=0.2", False)):
        out = tmp_path / ("flagged" if flagged else "planned")
        extra = ["--param", param] if param else []
        res = run_cli("report", "--data", str(tmp_path / "x.csv"), "--control", "Control", "--out", str(out), *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        for page in ("index.html", "cardiology.html", "oncology.html"):
            assert (warning in (out / page).read_text()) == flagged, (param, page)
    res = run_cli(
        "report", "--data", str(tmp_path / "x.csv"), "--control", "Control", "--out", str(tmp_path / "bad"),
        "--param", "allocation=Control=0.8,Fast Cal=0.2",
    )  # fmt: skip
    assert res.returncode == 2 and "allocation='Fast Cal': expected arms of column 'arm'" in res.stderr

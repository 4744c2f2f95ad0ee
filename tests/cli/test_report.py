from __future__ import annotations

import subprocess
from pathlib import Path

from ..conftest import ROOT


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

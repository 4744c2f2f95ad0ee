"""Figures survive any matplotlib backend: a server's MPLBACKEND=Agg must not turn charts into text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nurture_lab.reporting import render

from ..conftest import ROOT


def test_a_report_rendered_under_agg_embeds_every_figure(tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nurture_lab",
            "report",
            "--service-line",
            "orthopedics",
            "--n-leads",
            "6000",
            "--jobs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "orthopedics.html").read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert "&lt;Figure size" not in page and "<Figure size" not in page


def test_a_notebook_run_under_agg_keeps_its_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(ROOT / "notebooks/02_cadence_anatomy.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    as_text = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if str(o.get("data", {}).get("text/plain", "")).startswith("<Figure size")
        and "image/png" not in o.get("data", {})
    ]
    assert images >= 3 and not as_text


def test_a_figure_shown_as_text_fails_the_report_with_its_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("fig")]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": "<Figure size 750x280 with 1 Axes>"})
    ]
    with pytest.raises(render._LineFailed, match=r"in the section .opening the data.: a figure was not embedded"):
        render._check_figures(nb)

"""Static checks of the notebooks (nbval executes them separately in the test command)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from nurture_lab.simulation.population import _identity_pool

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_numbered_notebook_exists() -> None:
    names = [p.stem for p in NOTEBOOKS]
    for prefix in ("01_", "02_", "03_", "04_", "05_", "06_", "07_"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert "report_template" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin_parameterised_and_clean(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(params[0]["source"]))
    for node in tree.body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.List, ast.UnaryOp)), (
            "parameters are literals"
        )
    for line in "".join(params[0]["source"]).splitlines():
        assert "#" in line, f"every parameter has a comment: {line!r}"
    for c in code:
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class)\s", src, re.M), "no def or class in a notebook"
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), "a stored error"
    if path.stem != "report_template":
        assert nb["cells"][0]["cell_type"] == "markdown" and "Question" in "".join(nb["cells"][0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_identity_in_notebook_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    text = json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])
    assert "@example.org" not in text
    assert not re.search(r"\(\d{3}\) 555-\d{4}", text)
    names, _, _ = _identity_pool()
    found = [n for n in names[:500] if n in text]
    assert not found, found[:3]

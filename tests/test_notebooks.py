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


def _text_of(output: dict) -> str:
    data = output.get("data", {})
    return "".join(output.get("text", "")) + "".join(data.get("text/plain", "")) + "".join(data.get("text/html", ""))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "report_template"], ids=lambda p: p.name)
def test_golden_cells_are_hidden_and_results_are_tables_not_reprs(path: Path) -> None:
    """Golden-check cells stay checked by nbval (their marker and stored output) but are hidden from the
    reader; every other output is a table, a chart or prose: no raw dict, no 'nan', no 16-digit float."""
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    golden = [c for c in code if "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert golden, "a notebook keeps at least one golden-checked cell"
    for c in golden:
        meta = c.get("metadata", {})
        assert meta.get("jupyter", {}).get("source_hidden") is True, "golden cell hidden from the reader"
        assert "golden" in meta.get("tags", [])
        assert c.get("outputs"), "a golden cell keeps its stored output for nbval to compare"
    for i, c in enumerate(code):
        if c in golden:
            continue
        for out in c.get("outputs", []):
            text = _text_of(out)
            assert not re.search(r"\{'|^\{", text), (i, "a raw dict", text[:120])
            assert not re.search(r"(?<![\w.])(nan|NaN)(?![\w.])", text), (i, "'nan' shown", text[:120])
            assert not re.search(r"\d\.\d{7,}", text), (i, "an unrounded float", text[:120])

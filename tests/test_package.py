"""The package as a whole: a one-way import graph, a lazy flat API, package data found when installed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nurture_lab as nl

PACKAGE = Path(nl.__file__).resolve().parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Every import of a nurture_lab module by another, wherever it stands (top level or in a function)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join([*base, node.module] if node.module else base)
                else:
                    mod = node.module or ""
                # `from .x import y` imports x.y when y is a module, else x
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_import_graph_is_acyclic() -> None:
    graph = import_graph()
    assert "nurture_lab.simulation.engine" in graph["nurture_lab.stats.simulated"]  # the graph sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_data_flow_runs_one_way() -> None:
    """No stage imports a later one: scenario < simulation < stats < reporting < whatif (io and cli aside)."""
    order = {"scenario": 0, "simulation": 1, "stats": 2, "reporting": 3, "whatif": 4}
    late_ok = {("nurture_lab.stats.simulated", "nurture_lab.reporting.plots")}  # PowerResult.plot(), lazily
    for mod, deps in import_graph().items():
        stage = order.get(mod.split(".")[1] if mod.count(".") else "", -1)
        for d in deps:
            dstage = order.get(d.split(".")[1] if d.count(".") else "", -1)
            if stage >= 0 and dstage > stage:
                assert (mod, d) in late_ok, f"{mod} reaches forward into {d}"


def test_import_is_lazy_and_the_api_resolves() -> None:
    code = (
        "import sys, nurture_lab as nl\n"
        "heavy = [m for m in ('numpy', 'pandas', 'matplotlib.pyplot', 'nbclient', 'papermill', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "missing = [n for n in nl.__all__ if not hasattr(nl, n)]\n"
        "print(','.join(missing))\n"
        "print('matplotlib.pyplot' in sys.modules, 'papermill' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == ""  # nothing heavy on import
    assert out[1] == ""  # every public name resolves
    assert out[2] == "False False"  # resolving the API does not start plotting or Jupyter


def test_flat_api_has_the_contract_names() -> None:
    for name in ("load_scenario", "simulate", "analyze", "sample_size", "read_leads", "read_touches", "lint_scenario"):
        assert callable(getattr(nl, name)), name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = nl.nope


def test_bundled_scenarios_and_template_are_package_data() -> None:
    from nurture_lab.reporting.render import default_template

    bundled = nl.bundled_scenarios()
    assert set(bundled) >= {"speed_to_lead", "content_test"}
    assert all(p.is_relative_to(PACKAGE) for p in bundled.values())
    assert default_template().is_file() and default_template().is_relative_to(PACKAGE)
    repo = PACKAGE.parent
    if (repo / "simulations").is_dir():  # in a checkout the repository's files are the same files
        assert (repo / "simulations/speed_to_lead.toml").resolve() == bundled["speed_to_lead"].resolve()
        assert (repo / "notebooks/report_template.ipynb").resolve() == default_template().resolve()
    assert nl.load_scenario("speed_to_lead").sha256 == nl.load_scenario(bundled["speed_to_lead"]).sha256

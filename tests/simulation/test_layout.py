"""The engine's layout (DESIGN.md, "Engine layout (target)"): small rooms, short functions, one home of time."""

from __future__ import annotations

import ast
from pathlib import Path

import nurture_lab.simulation as simulation

ROOMS = Path(simulation.__file__).resolve().parent
#: A module of the engine may hold this many lines (the target is ~400; policy.py, the whole rule table
#: with what a rule may read and the state laws' per-lead inputs, is the largest at ~490).
MAX_MODULE_LINES = 500
#: A function may hold this many code lines (blank lines and docstrings aside).
MAX_FUNCTION_LINES = 60
#: Known longer functions (the population draw), each at most this long; no new
#: one may join them.
LONG_FUNCTIONS = {"population._chunk": 107}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in sorted(ROOMS.glob("*.py"))}


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> int:
    """Lines of a function that hold code: not blank, not a comment, not its docstring."""
    skip: set[int] = set()
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = range(fn.lineno, (fn.end_lineno or fn.lineno) + 1)
    return sum(
        1 for i in lines if i not in skip and source[i - 1].strip() and not source[i - 1].strip().startswith("#")
    )


def test_no_engine_module_is_large() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in ROOMS.glob("*.py")}
    assert "engine.py" in sizes and "cadence.py" in sizes  # the rooms are where the test looks
    assert {n: s for n, s in sizes.items() if s > MAX_MODULE_LINES} == {}


def test_no_engine_function_is_long() -> None:
    long = {}
    for p in sorted(ROOMS.glob("*.py")):
        source = p.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(source))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(node, source)
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.stem}.{node.name}"] = n
    assert set(long) <= set(LONG_FUNCTIONS), long
    assert all(n <= LONG_FUNCTIONS[k] for k, n in long.items()), long


def test_time_has_one_home() -> None:
    """The day and the week are defined in calendar.py alone; no other room writes 1440 (or 10080)."""
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)
            ):
                assert name == "calendar" or node.value not in (1440, 10080), f"{name}.py writes {node.value}"
            if isinstance(node, ast.Assign) and name != "calendar":
                targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
                assert not targets & {"DAY", "WEEK"}, f"{name}.py defines {targets & {'DAY', 'WEEK'}}"


def test_the_long_function_counter_counts_code() -> None:
    src = 'def f():\n    """Doc.\n\n    More."""\n    # a comment\n\n    x = 1\n    return x\n'
    fn = ast.parse(src).body[0]
    assert isinstance(fn, ast.FunctionDef)
    assert _code_lines(fn, src.splitlines()) == 3  # def, x = 1, return

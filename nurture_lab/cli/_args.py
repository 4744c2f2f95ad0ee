"""Argument types shared by the sub-commands: one clear message for a bad value."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], with one clear message otherwise."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = low - 1
        if v < low or (high is not None and v > high):
            want = f"an integer >= {low}" if high is None else f"an integer from {low:,} to {high:,}"
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}")
        return v

    return parse


def prob(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


def number(text: str) -> float:
    """An argparse type: any finite number."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if v != v or v in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return v


#: Folders :func:`writable_dir` made in this command, top down: a command that fails removes those
#: still empty (see :func:`remove_made_dirs`), so a refused run leaves nothing behind.
MADE_DIRS: list[Path] = []


def writable_dir(path: Path, option: str = "--out") -> Path:
    """Create the output folder now (before any work), or refuse it with one message."""
    from ..errors import ParameterError
    from ..io.atomic import make_dirs

    try:
        MADE_DIRS.extend(make_dirs(path))
        probe = path / ".nurture-lab-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ParameterError(f"cannot write to {option} {path}: {e.strerror or e}.") from None
    return path


def remove_made_dirs() -> None:
    """Remove the folders :func:`writable_dir` made that are still empty (a command that failed)."""
    from ..io.atomic import remove_empty

    remove_empty(MADE_DIRS)
    MADE_DIRS.clear()


pos_int = int_at_least(1)
#: The most leads one run simulates (about 30 GB of memory with the touch log; see benchmarks/bench_engine.py).
MAX_LEADS = 20_000_000
n_leads_arg = int_at_least(1, MAX_LEADS)
nonneg_int = int_at_least(0)

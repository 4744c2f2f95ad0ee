"""Atomic file output: write to a temporary file beside the target, then rename.

A failure — an exception, Ctrl-C, or SIGTERM in a worker (see :func:`remove_pending`) — never
leaves a half-written file and never a temporary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

#: Temporary files being written by this process (removed by :func:`remove_pending` on a hard stop).
_PENDING: set[str] = set()


def remove_pending() -> None:
    """Remove every temporary file this process is still writing (a worker stopped by SIGTERM calls it)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _PENDING.discard(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{target.name}", dir=target.parent)
    os.close(fd)
    _PENDING.add(tmp)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _PENDING.discard(tmp)


def make_dirs(path: str | Path) -> list[Path]:
    """Create the folder ``path`` and any missing parent, one level at a time from the top; returns
    the folders this call made, in that order (none that existed, whatever ``..`` the path holds, or
    that another process made meanwhile). Raises OSError where a level cannot be made."""
    made: list[Path] = []
    parts = Path(path).parts
    for k in range(1, len(parts) + 1):
        level = Path(*parts[:k])
        try:
            os.mkdir(level)
        except FileExistsError:
            if not level.is_dir():
                raise NotADirectoryError(f"{level} is a file, not a folder") from None
            continue
        except BaseException:
            remove_empty(made)
            raise
        made.append(level)
    return made


def remove_empty(made: list[Path]) -> None:
    """Remove the folders ``made`` (as :func:`make_dirs` returned them) that are still empty, deepest
    first; a folder that holds anything stays, and so does every folder above it."""
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_with(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: str | Path, df: pd.DataFrame) -> Path:
    return write_with(path, lambda p: df.to_parquet(p, index=False))


def write_csv(path: str | Path, df: pd.DataFrame) -> Path:
    return write_with(path, lambda p: df.to_csv(p, index=False))

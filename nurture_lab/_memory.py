"""Memory between the phases of a large run: give freed memory back to the operating system, and
allocate without asking for huge pages.

glibc's allocator serves numpy buffers below its (self-raising, up to 32 MB) mmap threshold from
the heap and keeps what is freed there: after a million-lead run's queue rounds, hundreds of MB of
freed per-chunk arrays stay in the process's resident memory, and the next phase allocates fresh
pages on top of them. ``malloc_trim(0)`` returns the free pages (the same call Dask's workers make).
Elsewhere (macOS, Windows, musl) it is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable, Iterator

__all__ = ["release_free_memory", "small_pages"]


@functools.cache
def _trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def release_free_memory() -> None:
    """Return the allocator's free memory to the operating system (glibc; elsewhere nothing)."""
    fn = _trim()
    if fn is not None:
        fn(0)


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Within: numpy does not ask the kernel for transparent huge pages for new arrays (restored on exit).

    numpy advises huge pages (``madvise(MADV_HUGEPAGE)``) for every array of 4 MB or more. The engine
    makes and frees thousands of such arrays (a chunk's per-lead columns, a step's draws); where the
    kernel's huge pages are on ``madvise`` (a common default), the first touch of each fresh one can
    wait for the kernel to compact memory into 2 MB pages. At a million leads with a contact centre
    that was about 1.5 of 10.8 s on a 2-core machine (``benchmarks/bench_engine.py``). numpy offers
    the switch as ``NUMPY_MADVISE_HUGEPAGE=0`` for a whole process; this scopes it to one run. Where
    the switch is missing (another numpy), nothing changes.
    """
    setter = getattr(getattr(_np_core(), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)


def _np_core() -> object:
    """numpy's core package (``numpy._core``; ``numpy.core`` before numpy 2)."""
    import numpy as np

    return getattr(np, "_core", None) or getattr(np, "core", None)

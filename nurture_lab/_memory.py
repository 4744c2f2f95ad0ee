"""Give freed memory back to the operating system between the phases of a large run.

glibc's allocator serves numpy buffers below its (self-raising, up to 32 MB) mmap threshold from
the heap and keeps what is freed there: after a million-lead run's queue rounds, hundreds of MB of
freed per-chunk arrays stay in the process's resident memory, and the next phase allocates fresh
pages on top of them. ``malloc_trim(0)`` returns the free pages (the same call Dask's workers make).
Elsewhere (macOS, Windows, musl) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["release_free_memory"]


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

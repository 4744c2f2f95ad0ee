"""Shared helpers for the benchmark scripts: run a case in a fresh process, report time and peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(fn: Callable[[], Any], repeat: int = 1) -> dict[str, float]:
    """Time ``fn`` (best of ``repeat``) and report the process's peak RSS (MB) over its baseline."""
    base = peak_rss_mb()
    best = float("inf")
    out: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    info = {"seconds": best, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": base}
    if isinstance(out, dict):
        info.update(out)
    return info


def in_subprocess(script: str, *args: str) -> dict[str, Any]:
    """Run ``script --case args...`` in a fresh interpreter (so peak memory is per case)."""
    res = subprocess.run([sys.executable, script, "--case", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"benchmark case {args} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])

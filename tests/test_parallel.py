"""One parallel helper: results in task order on any executor, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nurture_lab import _parallel
from nurture_lab.errors import ParameterError

from .conftest import ROOT


def _square(x: int) -> int:
    time.sleep(0.01 * (5 - x % 5))  # later tasks finish first
    return x * x


def test_results_come_back_in_task_order_on_any_executor() -> None:
    want = [x * x for x in range(12)]
    assert _parallel.map_tasks(_square, list(range(12)), caller="t", jobs=1) == want
    assert _parallel.map_tasks(_square, list(range(12)), caller="t", jobs=2) == want
    with ThreadPoolExecutor(3) as ex:
        assert _parallel.map_tasks(_square, list(range(12)), caller="t", executor=ex) == want


def test_jobs_is_checked_and_capped() -> None:
    with pytest.raises(
        ParameterError, match=r"The 'jobs' parameter of simulate must be an int in the range \[1, inf\) or None\. Got 0"
    ):
        _parallel.resolve_jobs("simulate", 0, 10)
    assert _parallel.resolve_jobs("simulate", 8, 3) == 3
    assert _parallel.resolve_jobs("simulate", None, 100) == _parallel.available_cores()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc, independently of the code under test)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _terminate_when(
    args: list[str], ready: Callable[[set[int]], bool], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str, set[int]]:
    """Run ``python -m nurture_lab *args``, send it SIGTERM once ``ready(descendants seen)``; returns
    the process, its stderr and every descendant seen."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nurture_lab", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _descendants(proc.pid)
            if ready(seen):
                break
            time.sleep(0.05)
        seen |= _descendants(proc.pid)
        assert ready(seen), "the run never reached the point to stop it at"
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    time.sleep(0.5)
    left = [p for p in seen if _alive(p)]
    assert not left, [_cmdline(p) for p in left]
    return proc, err, seen


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_workers_and_kernels_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    work = tmp_path / "tmp"  # the run's working folder: pages are staged there until the decision is final
    work.mkdir()

    kernels: set[int] = set()

    def ready(seen: set[int]) -> bool:  # both workers have a kernel and reports are being written
        kernels.update(p for p in seen if _alive(p) and "ipykernel" in _cmdline(p))
        written = [*out.glob("*.ipynb"), *work.glob("*/pages/*.ipynb")]
        return (len(kernels) >= 2 and bool(written)) or any(out.glob(".tmp-*")) or any(work.glob("*/pages/.tmp-*"))

    args = ["report", "--all", "--jobs", "2", "--n-leads", "20000", "--out", str(out)]
    _terminate_when(args, ready, {**os.environ, "TMPDIR": str(work)})
    assert kernels, "the run never started its kernels"
    assert not list(out.glob(".tmp-*")) and not list(out.glob("**/.tmp-*"))
    assert not list(work.glob("nurture-lab-report-*"))  # the staged pages went with the run's working folder


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_the_truths_rollout_worker(tmp_path: Path) -> None:
    """A run with a contact centre on 2 processes forks a worker for the truth's rollouts: SIGTERM
    while it runs stops the command (exit 143) and the worker with it, and writes no output."""
    out = tmp_path / "sim"
    forked_at: list[float] = []

    def ready(seen: set[int]) -> bool:  # the worker has been inside its first rollout for half a second
        if any(_alive(p) for p in seen) and not forked_at:
            forked_at.append(time.monotonic())
        return bool(forked_at) and time.monotonic() - forked_at[0] > 0.5

    args = ["simulate", "speed_to_lead", "--n-leads", "400000", "--jobs", "2", "--out", str(out)]
    _terminate_when(args, ready)
    assert not out.exists() or not any(out.iterdir())

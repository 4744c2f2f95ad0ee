"""One parallel helper: results in task order on any executor, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_workers_and_kernels_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    work = tmp_path / "tmp"  # the run's working folder: pages are staged there until the decision is final
    work.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nurture_lab",
            "report",
            "--all",
            "--jobs",
            "2",
            "--n-leads",
            "20000",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(work)},
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until both workers have a kernel and reports are being written
            seen |= _descendants(proc.pid)
            kernels = [p for p in seen if _alive(p) and "ipykernel" in _cmdline(p)]
            written = [*out.glob("*.ipynb"), *work.glob("*/pages/*.ipynb")]
            if (len(kernels) >= 2 and written) or any(out.glob(".tmp-*")) or any(work.glob("*/pages/.tmp-*")):
                break
            time.sleep(0.05)
        seen |= _descendants(proc.pid)
        assert [p for p in seen if "ipykernel" in _cmdline(p)], "the run never started its kernels"
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
    assert not list(out.glob(".tmp-*")) and not list(out.glob("**/.tmp-*"))
    assert not list(work.glob("nurture-lab-report-*"))  # the staged pages went with the run's working folder

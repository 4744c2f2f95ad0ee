"""The report phase on a terminal draws a progress bar; in a log it writes one summary line."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from ..conftest import ROOT

ARGS = ["-m", "nurture_lab", "report", "--service-line", "orthopedics", "--n-leads", "3000", "--jobs", "1"]


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT)}


def test_without_a_terminal_the_report_phase_is_one_summary_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, *ARGS, "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=_env()
    )
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "\r" not in res.stderr, res.stderr
    assert re.fullmatch(
        r"reports: 1 of 1 line\(s\) rendered in [\d.]+ s on 1 worker\(s\); slowest orthopedics [\d.]+ s", lines[0]
    )


def test_on_a_terminal_the_report_phase_draws_a_progress_bar(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(
        [sys.executable, *ARGS, "--out", str(tmp_path)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env=_env(),
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert re.search(r"reports:\s+100%\|.*\| 1/1 \[", text), text[-500:]
    assert "line(s) rendered in" not in text  # the bar, not the log line

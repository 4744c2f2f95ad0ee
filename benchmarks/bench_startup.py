"""Start-up time: ``nurture-lab --help`` and ``import nurture_lab``, beside a bare interpreter measured in the same run.

Target: ``nurture-lab --help`` under 0.5 s on the project's 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_startup.py``
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def best_of(cmd: list[str], n: int = 7) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    floor, floor_med = best_of([sys.executable, "-c", "pass"])
    imp, imp_med = best_of([sys.executable, "-c", "import nurture_lab"])
    cli = BIN / "nurture-lab"
    helped, help_med = best_of(
        [str(cli) if cli.exists() else sys.executable, *([] if cli.exists() else ["-m", "nurture_lab"]), "--help"]
    )
    print("start-up (best of 7; median in brackets)")
    print(f"  floor: python -c pass            {floor:.3f} s ({floor_med:.3f})")
    print(f"  import nurture_lab              {imp:.3f} s ({imp_med:.3f}) = floor + {imp - floor:.3f} s")
    print(
        f"  nurture-lab --help              {helped:.3f} s ({help_med:.3f}) = floor + {helped - floor:.3f} s (target < 0.5 s)"
    )


if __name__ == "__main__":
    main()

"""Cadence-engine benchmark: wall time, ns per touch event and peak memory for 100k, 1M and 4M leads.

Target (issue 3): 1,000,000 leads through the default cadence in <= 3 s and <= 1.5 GB peak,
cost growing linearly with leads. Two modes: the observed experiment only (``truth=False``)
and with the ground truth (every lead through every arm, common random numbers).
Run: ``.venv/bin/python benchmarks/bench_engine.py [--sizes 100000,1000000,4000000]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import in_subprocess, run_case

ROOT = Path(__file__).resolve().parents[1]


def case(n: int, truth: bool, jobs: int = 1) -> None:
    import nurture_lab as nl

    sc = nl.load_scenario(ROOT / "simulations" / "speed_to_lead.toml")
    nl.simulate(sc, seed=0, n_leads=2000, truth=truth)  # warm

    def go() -> dict[str, float]:
        r = nl.simulate(sc, seed=1, n_leads=n, truth=truth, jobs=jobs)
        return {"touches": float(len(r.touches))}

    print(json.dumps(run_case(go)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        case(int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]) if len(sys.argv) > 4 else 1)
        return
    sizes = [100_000, 1_000_000, 4_000_000]
    if "--sizes" in sys.argv:
        sizes = [int(x) for x in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    print("simulate(speed_to_lead: 3 arms, 9-step seed cadence + reminder), fresh process per case;")
    print("jobs 2 = the same run on 2 worker processes (identical results). Peak RSS is the parent's.")
    print(
        f"{'jobs':>4} {'leads':>10} {'truth':>6} {'seconds':>8} {'touches':>11} {'ns/touch':>9} {'peak RSS MB':>12} {'over base MB':>13}"
    )
    runs = [(n, truth, 1) for truth in (False, True) for n in sizes]
    runs += [(1_000_000, truth, 2) for truth in (False, True) if 1_000_000 in sizes]
    for n, truth, jobs in runs:
        r = in_subprocess(__file__, str(n), "1" if truth else "0", str(jobs))
        print(
            f"{jobs:>4} {n:>10,} {truth!s:>6} {r['seconds']:>8.2f} {int(r['touches']):>11,} "
            f"{r['seconds'] / r['touches'] * 1e9:>9.0f} {r['peak_rss_mb']:>12.0f} "
            f"{r['peak_rss_mb'] - r['baseline_rss_mb']:>13.0f}"
        )


if __name__ == "__main__":
    main()

"""Power benchmark: replications of a 10,000-lead two-arm experiment, serial and on 2 processes.

Target (issue 21, with the shipped contact centre): 1,000 replications of 10,000 leads in <= 40 s on
2 workers; >= 1.8x speed-up from 1 to 2 workers (issue 5's 30 s / 1.7x was before the centre). Run: ``.venv/bin/python benchmarks/bench_power.py [--replications 1000]``
"""

from __future__ import annotations

import dataclasses
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nurture_lab as nl

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    reps = 1000
    if "--replications" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--replications") + 1])
    sc = nl.load_scenario(ROOT / "simulations" / "speed_to_lead.toml")
    exp = sc.experiment
    two = dataclasses.replace(exp, arms=(exp.arm("within_5_min"), exp.arm("next_business_day")))
    sc = dataclasses.replace(sc, experiment=two)
    nl.simulate_power(sc, [2000], replications=2, jobs=1, truth_leads=2000)  # warm
    print(f"simulate_power: {reps:,} replications of a 10,000-lead two-arm experiment (speed_to_lead)")
    t0 = time.perf_counter()
    serial = nl.simulate_power(sc, [10_000], replications=reps, jobs=1, truth_leads=10_000)
    t1 = time.perf_counter() - t0
    with ProcessPoolExecutor(2) as ex:
        list(ex.map(abs, range(2)))  # start the workers before timing
        t0 = time.perf_counter()
        par = nl.simulate_power(sc, [10_000], replications=reps, executor=ex, truth_leads=10_000)
        t2 = time.perf_counter() - t0
    assert serial.table.equals(par.table), "parallel result differs from serial"
    print(f"  1 worker : {t1:7.1f} s  {reps / t1:7.1f} experiments/s")
    print(
        f"  2 workers: {t2:7.1f} s  {reps / t2:7.1f} experiments/s   speed-up {t1 / t2:.2f}x (target >= 1.8x; <= 40 s on 2 workers)"
    )
    print("  (each timing includes one 10,000-lead ground-truth run; results identical serial vs parallel)")


if __name__ == "__main__":
    main()

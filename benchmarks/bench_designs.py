"""Assignment-designs benchmark (issue 25, section 4): replications of an adaptive design on 2 processes.

Target: 200 replications of a 10,000-lead, 3-arm adaptive design (Thompson sampling on 30-day
bookings, weekly waves; speed_to_lead with unlimited staff and 16 weeks of arrivals) on 2 processes
in at most 2x the ideal, one replication's time x 200 / 2. One replication's time is the best of 5
in this process (after a warm-up); the 200 run through ``compare_designs(jobs=2)`` and include
starting the pool; the workers' CPU time beside one replication's shows the overhead of the pool
itself whatever else the machine runs. ``--check`` also runs the 200 serially and checks the results are identical.
Run: ``.venv/bin/python benchmarks/bench_designs.py [--replications 200] [--check]``
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time

import nurture_lab as nl


def scenario() -> nl.Scenario:
    sc = nl.load_scenario("speed_to_lead")
    return dataclasses.replace(sc, contact_center=None, population=dataclasses.replace(sc.population, arrival_days=112))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    reps = 200
    if "--replications" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--replications") + 1])
    sc, n, designs = scenario(), 10_000, ["thompson"]
    nl.compare_designs(sc, designs, replications=1, n_leads=2000, jobs=1)  # warm: imports, caches
    one = one_cpu = float("inf")
    for r in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        nl.compare_designs(sc, designs, replications=1, n_leads=n, seed=100 + r, jobs=1)
        one, one_cpu = min(one, time.perf_counter() - t0), min(one_cpu, time.process_time() - c0)
    ideal = one * reps / 2
    load = os.getloadavg()[0]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    par = nl.compare_designs(sc, designs, replications=reps, n_leads=n, seed=1, jobs=2)
    took = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    print(f"compare_designs: {reps} replications of a {n:,}-lead, 3-arm Thompson design (speed_to_lead, no centre)")
    print(f"  one replication (best of 5, 1 process): {one:6.2f} s")
    print(f"  ideal on 2 processes (x {reps} / 2)     : {ideal:6.1f} s")
    print(f"  measured on 2 processes               : {took:6.1f} s   ratio {took / ideal:.2f}x (target <= 2x)")
    print(
        f"  workers' CPU: {cpu:.1f} s ({cpu / reps:.3f} s a replication, {cpu / (one_cpu * reps):.2f}x one "
        f"replication's {one_cpu:.3f} s CPU: pool start-up and task traffic); load average before the run "
        f"{load:.1f} on {os.cpu_count()} cores (other work on the machine slows the wall time, not the CPU time)"
    )
    if "--check" in sys.argv:
        t0 = time.perf_counter()
        serial = nl.compare_designs(sc, designs, replications=reps, n_leads=n, seed=1, jobs=1)
        t_serial = time.perf_counter() - t0
        assert serial.table.equals(par.table) and serial.runs.equals(par.runs), "parallel differs from serial"
        print(
            f"  serial (1 process): {t_serial:.1f} s, speed-up on 2 processes {t_serial / took:.2f}x; results identical"
        )
    print(par.summary())


if __name__ == "__main__":
    main()

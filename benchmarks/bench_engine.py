"""Cadence-engine benchmark: time per touch-log row beside a bare-numpy floor, peak memory, linearity.

Issue 12 asks, for 1M leads with the observed arms on one process, for the time per touch-log row
to be within 25x a floor measured in the same run, <= 1.5 GB peak at 1M leads, and cost growing
linearly from 100k to 4M leads. The floor is a 10-step loop over the same leads that draws
uniforms, moves times, and builds a touch table of the same length with numpy alone: what any
vectorised engine has to pay.

The machines are noisy (a 1M-lead run varies by +-1 s between runs), so each case is timed as
the best of several runs in one fresh process, both the engine (best of 2; one run at 4M leads)
and the floor (best of 3); the engine's slowest run is printed too.

Issue 21 asks for the truth (both settings) to cost <= 2.5x the observed run: printed for one
process, and for two (the rollouts in a forked worker beside the observed run, as ``simulate`` runs
them by default on a machine with 2 cores or more).

Run: ``.venv/bin/python benchmarks/bench_engine.py [--sizes 100000,1000000,4000000]``
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import in_subprocess, run_case

ROOT = Path(__file__).resolve().parents[1]


def floor(n: int, rows: int) -> dict[str, float]:
    """A bare-numpy engine: 10 steps over n leads, a touch table of ``rows`` rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.zeros(n)
    per = max(rows // 10, 1)
    parts = []
    for k in range(10):
        u = rng.random((n, 4))
        t = np.maximum(t + 60.0 * k, t) + u[:, 0]
        sent = u[:, 1] < 0.6
        idx = np.flatnonzero(sent)[:per] if sent.sum() >= per else np.arange(per) % n
        parts.append(
            {
                "lead": idx,
                "step": np.full(idx.size, k, dtype=np.int16),
                "t": t[idx],
                "ok": sent[idx],
                "eng": u[idx, 2] < 0.3,
            }
        )
    frame = pd.DataFrame({key: np.concatenate([p[key] for p in parts]) for key in parts[0]})
    return {"touches": float(len(frame))}


class WorkerPeak:
    """The largest peak RSS (VmHWM) of this process's Python children, sampled every 50 ms from /proc
    while the block runs (not RUSAGE_CHILDREN, which also counts short helpers such as ldconfig
    forked from this large process before they exec)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me, exe = os.getpid(), os.path.realpath(sys.executable)
        while not self._stop.wait(0.05):
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                try:
                    status = (d / "status").read_text()
                    if f"\nPPid:\t{me}\n" not in status or os.path.realpath(d / "exe") != exe:
                        continue
                    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
                except (OSError, StopIteration):
                    continue
                self.peak_mb = max(self.peak_mb, int(hwm.split()[1]) / 1024)

    def __enter__(self) -> WorkerPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def case(kind: str, n: int, truth: bool, rows: int = 0, jobs: int = 1) -> None:
    if kind == "floor":
        print(json.dumps(run_case(lambda: floor(n, rows), repeat=3)))
        return
    import dataclasses

    import nurture_lab as nl

    sc = nl.load_scenario(ROOT / "simulations" / "speed_to_lead.toml")
    assert sc.contact_center is not None
    if kind == "engine":
        # the contact centre on, its agents scaled with the volume as the shipped scenario sizes
        # them (32 productive agents for 56,000 inquiries in 28 days, Erlang C)
        agents = max(1, round(sc.contact_center.agents * n / 56_000))
        sc = dataclasses.replace(sc, contact_center=dataclasses.replace(sc.contact_center, agents=agents))
    elif kind == "unlimited":  # no contact centre (staff unlimited), for comparison
        sc = dataclasses.replace(sc, contact_center=None)
    # "saturated": the shipped 32 agents whatever the volume (the queue backs up for weeks)
    nl.simulate(sc, seed=0, n_leads=2000, truth=truth, jobs=1)  # warm

    times: list[float] = []

    def go() -> dict[str, float]:
        t0 = time.perf_counter()
        r = nl.simulate(sc, seed=1, n_leads=n, truth=truth, jobs=jobs)
        rows = float(len(r.touches))
        del r
        times.append(time.perf_counter() - t0)
        return {"touches": rows}

    with WorkerPeak() as workers:
        out = run_case(go, repeat=1 if n > 1_000_000 or truth else 2)
    out["slowest"] = max(times)
    out["children_peak_rss_mb"] = workers.peak_mb
    print(json.dumps(out))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        a = sys.argv[2:]
        case(a[0], int(a[1]), a[2] == "1", int(a[3]) if len(a) > 3 else 0, int(a[4]) if len(a) > 4 else 1)
        return
    sizes = [100_000, 1_000_000, 4_000_000]
    if "--sizes" in sys.argv:
        sizes = [int(x) for x in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    print("simulate(speed_to_lead: 3 arms, 9-step seed cadence + reminder), fresh process per case, jobs=1 unless")
    print("'procs' says 2 (the truth's rollouts then run in a forked worker beside the observed run).")
    print("centre: the [contact_center] on (agents scaled with the volume: 32 per 56,000 leads); unlimited: none;")
    print("32 agents: the shipped centre whatever the volume (a saturated queue; target <= 1.5x the scaled run).")
    print("floor: a bare-numpy 10-step loop over the same leads building a touch table of the same length.")
    print(
        f"{'leads':>10} {'centre':>9} {'truth':>6} {'procs':>5} {'seconds':>8} {'slowest':>8} {'rows':>11} {'ns/row':>7} "
        f"{'floor ns/row':>12} {'ratio':>6} {'peak RSS MB':>12} {'ns/row vs 1st':>14}"
    )
    first: float | None = None
    plan = [("engine", n, False, 1) for n in sizes] + [("unlimited", n, False, 1) for n in sizes[1:2]]
    plan += [("engine", n, True, 1) for n in sizes[:2]] + [("engine", n, True, 2) for n in sizes[1:2]]
    plan += [("saturated", n, False, 1) for n in (sizes[1:2] or sizes[:1])]
    seconds: dict[tuple[str, int, bool, int], float] = {}
    for kind, n, truth, jobs in plan:
        r = in_subprocess(__file__, kind, str(n), "1" if truth else "0", "0", str(jobs))
        seconds[kind, n, truth, jobs] = r["seconds"]
        rows = int(r["touches"])
        f = in_subprocess(__file__, "floor", str(n), "0", str(rows))
        ns = r["seconds"] / rows * 1e9
        fns = f["seconds"] / f["touches"] * 1e9
        if kind == "engine" and not truth and first is None:
            first = ns
        lin = ns / first if first and kind == "engine" and not truth else float("nan")
        label = {"engine": "on", "unlimited": "unlimited", "saturated": "32 agents"}[kind]
        peak = f"{r['peak_rss_mb']:.0f}" + (f"+{r['children_peak_rss_mb']:.0f}" if jobs > 1 else "")
        print(
            f"{n:>10,} {label:>9} {truth!s:>6} {jobs:>5} {r['seconds']:>8.2f} {r['slowest']:>8.2f} {rows:>11,} {ns:>7.0f} "
            f"{fns:>12.0f} {ns / fns:>6.1f} {peak:>12} {lin:>14.2f}"
        )
    print("truth / observed run (target <= 2.5x):")
    for (_kind, n, truth, jobs), sec in seconds.items():
        observed = seconds.get(("engine", n, False, 1))
        if truth and observed:
            print(f"  {n:>10,} leads, {jobs} process{'es' if jobs > 1 else ''}: {sec / observed:.2f}x")
    print("(peak RSS with 2 processes: this process + the worker's own peak, sampled from /proc)")


if __name__ == "__main__":
    main()

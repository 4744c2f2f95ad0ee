"""Population benchmark: leads per second and peak memory for 100k and 1M leads.

Target (issue 2): 1,000,000 leads in <= 2 s and <= 500 MB peak on a 2-core machine.
Run: ``.venv/bin/python benchmarks/bench_population.py``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import in_subprocess, run_case

ROOT = Path(__file__).resolve().parents[1]


def case(n: int) -> None:
    import nurture_lab as nl

    sc = nl.load_scenario(ROOT / "simulations" / "speed_to_lead.toml")
    nl.make_leads(sc, n_leads=1000, seed=0)  # warm: imports, Faker identity pool
    info = run_case(lambda: {"rows": len(nl.make_leads(sc, n_leads=n, seed=1))})
    print(json.dumps(info))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        case(int(sys.argv[2]))
        return
    print("make_leads (speed_to_lead population), fresh process per size")
    print(f"{'leads':>10} {'seconds':>8} {'leads/s':>12} {'peak RSS MB':>12} {'over baseline MB':>17}")
    for n in (100_000, 1_000_000):
        r = in_subprocess(__file__, str(n))
        print(
            f"{n:>10,} {r['seconds']:>8.2f} {n / r['seconds']:>12,.0f} {r['peak_rss_mb']:>12.0f} "
            f"{r['peak_rss_mb'] - r['baseline_rss_mb']:>17.0f}"
        )


if __name__ == "__main__":
    main()

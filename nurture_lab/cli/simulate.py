"""``nurture-lab simulate SCENARIO --out DIR``: simulate a scenario and write its four files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._args import n_leads_arg, nonneg_int, pos_int, writable_dir


def add_parser(sub: Any) -> None:
    s = sub.add_parser("simulate", help="simulate a scenario and write its files")
    s.add_argument("scenario", metavar="SCENARIO", help="a scenario TOML file, or a bundled scenario's name")
    s.add_argument(
        "--seed",
        type=nonneg_int,
        default=0,
        help="random seed: the same seed gives the same data (default: %(default)s)",
    )
    s.add_argument("--n-leads", type=n_leads_arg, default=20_000, help="leads to simulate (default: %(default)s)")
    s.add_argument("--out", required=True, type=Path, help="output folder")
    s.add_argument("--jobs", type=pos_int, default=None, help="worker processes (default: every core; same results)")
    s.add_argument(
        "--with-identities",
        action="store_true",
        help="also write the synthetic name/email/phone columns (never needed for analysis)",
    )
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scenario.loader import load_scenario
    from ..simulation.engine import simulate
    from ..simulation.store import write_simulation

    sc = load_scenario(args.scenario)
    writable_dir(args.out)
    res = simulate(sc, seed=args.seed, n_leads=args.n_leads, jobs=args.jobs, progress=sys.stderr.isatty())
    files = write_simulation(res, args.out, identities=args.with_identities)
    leads = res.leads
    print(f"simulated {len(leads):,} leads of scenario {sc.name!r} (seed {args.seed}) -> {args.out}")
    summary = leads.groupby("arm", observed=True)[["contacted", "booked_30d", "opted_out"]].mean()
    summary.insert(0, "n", leads.groupby("arm", observed=True).size())
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    print("files: " + ", ".join(p.name for p in files))
    return 0

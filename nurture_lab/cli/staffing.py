"""``nurture-lab staffing``: the staffing curve of a scenario (bookings, speed and cost against agents)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ParameterError
from ._args import int_at_least, number, writable_dir


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "staffing",
        help="staffing curve: bookings, first-call speed and cost per booking against agents, per arm",
        description="Run every arm alone (the rollout truth) at each staffing level and compare them.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a bundled scenario name or a .toml file")
    p.add_argument("--agents", required=True, help="comma-separated agents on shift, e.g. 8,16,24,32,48")
    p.add_argument("--n-leads", type=int_at_least(1), default=20_000, help="leads per run (default 20,000)")
    p.add_argument("--replications", type=int_at_least(1), default=3, help="runs per level and arm (default 3)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="the base seed (same seed, same numbers)")
    p.add_argument("--jobs", type=int_at_least(1), default=None, help="worker processes (default: every core)")
    p.add_argument("--staff-cost-per-hour", type=number, default=None, help="price of an agent hour on shift")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table", help="how the table is printed")
    p.add_argument("--out", type=Path, default=None, help="write staffing.csv and staffing.png (the chart) here")

    def one_line(message: str) -> NoReturn:
        print(f"nurture-lab staffing: error: {message}", file=sys.stderr)
        sys.exit(2)

    p.error = one_line  # type: ignore[method-assign]  # one line, like every other bad input
    p.set_defaults(func=run)


def parse_agents(text: str) -> list[int]:
    """``"8,16,24"`` -> ``[8, 16, 24]``; anything else is refused with one message."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ParameterError(
            f"--agents expects comma-separated whole numbers of agents, e.g. 8,16,24; got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from ..io import atomic
    from ..scenario.loader import load_scenario
    from ..whatif.staffing import staffing_curve

    agents = parse_agents(args.agents)
    if args.staff_cost_per_hour is not None and args.staff_cost_per_hour <= 0:
        raise ParameterError(f"--staff-cost-per-hour expects a price above 0; got {args.staff_cost_per_hour:g}")
    out = writable_dir(args.out) if args.out is not None else None
    sc = load_scenario(args.scenario)
    res = staffing_curve(
        sc,
        agents,
        n_leads=args.n_leads,
        seed=args.seed,
        replications=args.replications,
        jobs=args.jobs,
        staff_cost_per_hour=args.staff_cost_per_hour,
        progress=sys.stderr.isatty(),
    )
    if args.format == "json":
        print(res.to_json())
    elif args.format == "csv":
        res.to_pandas().to_csv(sys.stdout, index=False)
    else:
        print(res.summary())
    if out is not None:
        atomic.write_csv(out / "staffing.csv", res.to_pandas())
        fig = res.plot()
        atomic.write_with(out / "staffing.png", lambda p: fig.savefig(p, format="png", dpi=120))
        print(f"wrote {out / 'staffing.csv'} and {out / 'staffing.png'}", file=sys.stderr)
    return 0

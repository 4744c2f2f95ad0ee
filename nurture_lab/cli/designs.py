"""``nurture-lab designs``: adaptive allocation against a fixed test (regret, picking the best arm, A/A
false alarms of the naive and the IPW analysis, naive bias), judged against the ground truth."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ParameterError
from ._args import int_at_least, prob, writable_dir


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "designs",
        help="compare assignment designs: fixed A/B test vs Thompson, top-two, exploration sampling",
        description="Simulate replications of the test under each assignment design and judge them against the truth.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a bundled scenario name or a .toml file")
    p.add_argument(
        "--designs",
        default="fixed,thompson,exploration",
        help="comma-separated allocations: fixed, thompson, top_two, exploration (default fixed,thompson,exploration); "
        "or send-time policies: planned, random, audience_best, lead_best, oracle (compared like compare_send_times)",
    )
    p.add_argument(
        "--steps",
        default=None,
        help="send-time policies only: comma-separated step indices they apply to (default all)",
    )
    p.add_argument(
        "--metric",
        choices=["booked_30d", "booked_7d", "contacted"],
        default=None,
        help="what adaptive designs learn from",
    )
    p.add_argument("--update-every-days", type=float, default=None, help="days between updates (default 7)")
    p.add_argument("--replications", type=int_at_least(1), default=100, help="simulated tests (default 100)")
    p.add_argument("--n-leads", type=int_at_least(1), default=10_000, help="leads per test (default 10,000)")
    p.add_argument("--arrival-days", type=int_at_least(1, 3650), default=None, help="days over which leads arrive")
    p.add_argument(
        "--no-contact-center", action="store_true", help="drop the scenario's [contact_center] (unlimited staff)"
    )
    p.add_argument("--alpha", type=prob, default=0.05, help="A/A false-alarm level (default 0.05)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="the base seed (same seed, same numbers)")
    p.add_argument("--jobs", type=int_at_least(1), default=None, help="worker processes (default: every core)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table", help="how the table is printed")
    p.add_argument("--out", type=Path, default=None, help="write designs.csv and designs.png (the chart) here")

    def one_line(message: str) -> NoReturn:
        print(f"nurture-lab designs: error: {message}", file=sys.stderr)
        sys.exit(2)

    p.error = one_line  # type: ignore[method-assign]  # one line, like every other bad input
    p.set_defaults(func=run)


def parse_designs(args: argparse.Namespace) -> list[Any]:
    """``--designs`` with ``--metric`` / ``--update-every-days`` applied to the adaptive ones (send-time
    policies with ``--steps``)."""
    from ..scenario.design import ALLOCATIONS
    from ..scenario.model import SEND_TIMES

    names = [x.strip() for x in args.designs.split(",") if x.strip()]
    bad = [x for x in names if x not in ALLOCATIONS + SEND_TIMES]
    if not names or bad:
        raise ParameterError(
            f"--designs expects comma-separated allocations among {', '.join(ALLOCATIONS)} or send-time policies "
            f"among {', '.join(SEND_TIMES)}; got {args.designs!r}"
        )
    if any(x in SEND_TIMES for x in names):
        if args.steps is None:
            return names
        try:
            steps = [int(x) for x in args.steps.split(",") if x.strip()]
        except ValueError:
            raise ParameterError(f"--steps expects comma-separated step indices; got {args.steps!r}") from None
        return [{"send_time": x, "steps": steps} if x in SEND_TIMES else x for x in names]
    extra = {k: v for k, v in (("metric", args.metric), ("update_every_days", args.update_every_days)) if v is not None}
    return [name if name == "fixed" or not extra else {"allocation": name, **extra} for name in names]


def run(args: argparse.Namespace) -> int:
    from ..io import atomic
    from ..scenario.loader import load_scenario
    from ..whatif.designs import DesignsResult, compare_designs

    designs = parse_designs(args)
    out = writable_dir(args.out) if args.out is not None else None
    sc = load_scenario(args.scenario)
    if args.no_contact_center:
        sc = dataclasses.replace(sc, contact_center=None)
    if args.arrival_days is not None:
        sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, arrival_days=args.arrival_days))
    res = compare_designs(
        sc,
        designs,
        replications=args.replications,
        n_leads=args.n_leads,
        seed=args.seed,
        alpha=args.alpha,
        jobs=args.jobs,
        progress=sys.stderr.isatty(),
    )
    if args.format == "json":
        print(res.to_json())
    elif args.format == "csv":
        res.to_pandas().to_csv(sys.stdout, index=False)
    elif isinstance(res, DesignsResult):
        print(res.summary())
    else:
        print(res.to_pandas().to_string(index=False))
    if args.format == "table" and args.replications < 30:  # a t interval over a handful is wide, even past 0
        print(
            f"note: {args.replications} replication(s): the 95% Monte Carlo intervals are rough (a replication's "
            "lost bookings can fall below 0 by chance); use --replications 100 or more to compare designs.",
            file=sys.stderr,
        )
    if out is not None:
        atomic.write_csv(out / "designs.csv", res.to_pandas())
        drawn = res.plot()
        fig = getattr(drawn, "figure", drawn)  # send-time policies draw on one axis
        atomic.write_with(out / "designs.png", lambda p: fig.savefig(p, format="png", dpi=120))
        print(f"wrote {out / 'designs.csv'} and {out / 'designs.png'}", file=sys.stderr)
    return 0

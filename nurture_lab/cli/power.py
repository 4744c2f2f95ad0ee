"""``nurture-lab power``: analytic sample size / MDE, or simulation-based power of a scenario."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ._args import int_at_least, number, prob


def add_parser(sub: Any) -> None:
    p = sub.add_parser("power", help="sample size / minimum detectable effect, analytic or simulated")
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        nargs="?",
        default=None,
        help="a scenario for simulation-based power (omit for the analytic formula)",
    )
    p.add_argument("--baseline", type=number, help="control rate (binary) or mean (numeric, with --relative)")
    p.add_argument("--mde", type=number, help="minimum detectable effect (analytic): gives n per arm")
    p.add_argument("--relative", action="store_true", help="--mde (and the answer) relative to --baseline")
    p.add_argument("--sd", type=number, default=None, help="per-unit standard deviation of a numeric metric")
    p.add_argument(
        "--test", choices=["wald", "score"], default="wald", help="the analysis' test (wald: the default analysis)"
    )
    p.add_argument("--n", type=int_at_least(2), help="units per arm (analytic): gives the minimum detectable effect")
    p.add_argument(
        "--alpha", type=prob, default=0.05, help="significance level of the planned test (default: %(default)s)"
    )
    p.add_argument(
        "--power",
        type=prob,
        default=0.8,
        help="chance of detecting the effect when it is there (default: %(default)s)",
    )
    p.add_argument("--ratio", type=number, default=1.0, help="control units per arm unit")
    p.add_argument(
        "--sequential",
        action="store_true",
        help="analytic: plan for always-valid monitoring (analyze --sequential), same tuning as the analysis",
    )
    p.add_argument(
        "--sequential-tuning",
        type=int_at_least(1),
        default=5000,
        help="analytic, with --sequential: total units at which the confidence sequence is tightest",
    )
    p.add_argument("--n-leads", default="2000,4000,8000", help="simulation: comma-separated total leads")
    p.add_argument("--replications", type=int_at_least(2), default=200, help="simulation: experiments per size")
    p.add_argument("--metric", default="booked_30d", help="simulation: the metric")
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="simulation: random seed of the experiments (default: %(default)s)",
    )
    p.add_argument(
        "--jobs", type=int_at_least(1), default=None, help="simulation: worker processes (default: every core)"
    )
    p.add_argument("--out", type=Path, default=None, help="simulation: write power.csv and power.png here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.scenario is not None:
        return _simulated(args)
    from ..stats.power import mde, sample_size

    if (args.baseline is None and args.sd is None) or (args.mde is None and args.n is None):
        raise ParameterError(
            "power needs --baseline (or --sd for a numeric metric) and --mde (sample size) or --n (minimum "
            "detectable effect), or a SCENARIO for simulation-based power"
        )
    kw = {
        "alpha": args.alpha,
        "ratio": args.ratio,
        "test": args.test,
        "relative": args.relative,
        "sd": args.sd,
        "sequential": args.sequential,
        "sequential_tuning": args.sequential_tuning,
    }
    tail = f"power {args.power:.0%}, two-sided alpha {args.alpha}, {args.test} test"
    if args.sequential:
        tail += f", always valid (tuned for {args.sequential_tuning:,} units)"
    if args.mde is not None:
        n = sample_size(args.baseline, args.mde, power=args.power, **kw)
        print(f"n per arm: {n:,} (control: {math.ceil(args.ratio * n):,}) to detect {_effect(args, args.mde)}; {tail}")
    else:
        d = mde(args.baseline, args.n, power=args.power, **kw)
        print(f"minimum detectable effect with {args.n:,} per arm: {_effect(args, d)}; {tail}")
    return 0


def _effect(args: argparse.Namespace, d: float) -> str:
    """An effect in words: relative, in points of a rate, or in the metric's units."""
    if args.relative:
        return f"{d:+.1%} relative to {args.baseline:g}"
    if args.sd is None:
        return f"{args.baseline:.2%} -> {args.baseline + d:.2%} ({d * 100:+.2f} points)"
    return f"a difference of {d:+.4g} (sd {args.sd:g})"


def _simulated(args: argparse.Namespace) -> int:
    """``nurture-lab power SCENARIO --n-leads 2000,4000 --replications R --jobs N``."""
    import numpy as np

    from ..io import atomic
    from ..scenario.loader import load_scenario
    from ..stats.simulated import simulate_power

    try:
        sizes = [int(x) for x in str(args.n_leads).split(",") if x.strip()]
    except ValueError:
        raise ParameterError(
            f"--n-leads expects comma-separated integers, e.g. 2000,4000,8000; got {args.n_leads!r}"
        ) from None
    sc = load_scenario(args.scenario)
    res = simulate_power(
        sc,
        sizes,
        args.replications,
        args.metric,
        seed=args.seed,
        alpha=args.alpha,
        jobs=args.jobs,
        progress=sys.stderr.isatty(),
    )
    print(res.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for arm, n in res.n_for_power(args.power).items():
        msg = f"{n:,.0f} leads in all" if np.isfinite(n) else f"more than {max(sizes):,} leads"
        print(f"{arm} vs {sc.experiment.control}: {args.power:.0%} power needs about {msg}")
    if args.out:
        out = Path(args.out)
        atomic.write_csv(out / "power.csv", res.table)
        fig = res.plot(args.power)
        atomic.write_with(out / "power.png", lambda p: fig.savefig(p, format="png", dpi=120))
        print(f"wrote {out / 'power.csv'} and {out / 'power.png'}")
    return 0

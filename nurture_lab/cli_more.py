"""Sub-commands beyond simulate and lint: analyze, power, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .population import IDENTITY_COLUMNS
    from .tables import read_table

    df = read_table(args.data)
    df = df.drop(columns=[c for c in IDENTITY_COLUMNS if c in df.columns])
    allocation = None
    if args.allocation:
        allocation = {}
        for part in args.allocation.split(","):
            name, _, share = part.partition("=")
            try:
                allocation[name.strip()] = float(share)
            except ValueError:
                raise ValueError(f"--allocation expects ARM=SHARE,ARM=SHARE; got {part!r}") from None
    res = analyze(
        df,
        arm=args.arm,
        control=args.control,
        metrics=args.metric,
        by=args.by,
        covariates=args.covariate,
        ci_method=args.ci_method,
        correction=args.correction,
        alpha=args.alpha,
        allocation=allocation,
    )
    if args.format == "json":
        print(res.to_json())
    elif args.format == "csv":
        res.results.to_csv(sys.stdout, index=False)
    else:
        print(repr(res))
        for w in res.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_power(args: argparse.Namespace) -> int:
    from .power import mde, sample_size

    if args.scenario is not None:
        from .calibration import run_power_cli

        return run_power_cli(args)
    if args.baseline is None or (args.mde is None and args.n is None):
        raise ValueError(
            "power needs --baseline and --mde (sample size) or --n (minimum detectable effect), "
            "or a SCENARIO for simulation-based power"
        )
    if args.mde is not None:
        n = sample_size(args.baseline, args.mde, alpha=args.alpha, power=args.power, ratio=args.ratio)
        print(
            f"n per arm: {n:,} (control: {int(-(-args.ratio * n // 1)):,}) to detect {args.baseline:.2%} -> "
            f"{args.baseline + args.mde:.2%} with power {args.power:.0%} at two-sided alpha {args.alpha}"
        )
    else:
        d = mde(args.baseline, args.n, alpha=args.alpha, power=args.power, ratio=args.ratio)
        print(
            f"minimum detectable effect with {args.n:,} per arm: +{d * 100:.2f} points ({args.baseline:.2%} -> "
            f"{args.baseline + d:.2%}), power {args.power:.0%}, two-sided alpha {args.alpha}"
        )
    return 0


def _prob(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return v


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_commands(sub: Any) -> None:
    """Register analyze, power and report on ``sub`` (an argparse sub-parsers object)."""
    from .analysis import CI_METHODS, CORRECTIONS

    a = sub.add_parser("analyze", help="analyse an experiment table (CSV or Parquet)")
    a.add_argument("data", metavar="DATA", type=Path, help="CSV or Parquet file, one row per unit")
    a.add_argument("--arm", required=True, help="column with the arm label")
    a.add_argument("--control", required=True, help="the control arm's label")
    a.add_argument("--metric", required=True, action="append", help="metric column (repeat for several)")
    a.add_argument("--by", default=None, help="segment column: the same table per group")
    a.add_argument("--covariate", action="append", default=[], help="pre-treatment covariate (Lin's estimator)")
    a.add_argument("--ci-method", choices=list(CI_METHODS), default="wald")
    a.add_argument("--correction", choices=list(CORRECTIONS), default="holm")
    a.add_argument("--alpha", type=_prob, default=0.05)
    a.add_argument("--allocation", default=None, help="planned shares for the SRM check: ARM=SHARE,ARM=SHARE")
    a.add_argument("--format", choices=["table", "json", "csv"], default="table")
    a.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("power", help="sample size / minimum detectable effect, analytic or simulated")
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        nargs="?",
        default=None,
        help="a scenario for simulation-based power (omit for the analytic formula)",
    )
    p.add_argument("--baseline", type=_prob, help="control rate (analytic)")
    p.add_argument("--mde", type=_float, help="absolute minimum detectable effect (analytic): gives n per arm")
    p.add_argument("--n", type=int, help="units per arm (analytic): gives the minimum detectable effect")
    p.add_argument("--alpha", type=_prob, default=0.05)
    p.add_argument("--power", type=_prob, default=0.8)
    p.add_argument("--ratio", type=_float, default=1.0, help="control units per arm unit")
    p.add_argument("--n-leads", default="2000,4000,8000", help="simulation: comma-separated total leads")
    p.add_argument("--replications", type=int, default=200, help="simulation: experiments per size")
    p.add_argument("--metric", default="booked_30d", help="simulation: the metric")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="simulation: worker processes (default: all cores)")
    p.add_argument("--out", type=Path, default=None, help="simulation: write power.csv and power.png here")
    p.set_defaults(func=_cmd_power)

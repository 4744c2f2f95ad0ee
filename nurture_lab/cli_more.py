"""Sub-commands beyond simulate and lint: analyze, power, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .imports import identifier_columns
    from .tables import read_table

    if args.mapping is not None:  # a CRM export: the import schema, checks and identifier dropping
        from .imports import read_leads

        imp = read_leads(args.data, mapping=args.mapping)
        df = imp.leads
        for fix in imp.fixes:
            print(f"import: {fix}", file=sys.stderr)
        if imp.dropped_identifiers:
            print(f"import: dropped identifier columns {imp.dropped_identifiers}", file=sys.stderr)
    else:
        df = read_table(args.data)
        asked = {args.arm, args.by, *args.metric, *args.covariate}
        df = df.drop(columns=[c for c in identifier_columns(df) if c not in asked])
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
    from .cli import int_at_least

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
    a.add_argument(
        "--mapping",
        type=Path,
        default=None,
        help="read DATA as a CRM leads export with this column mapping (TOML [columns] table)",
    )
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
    p.add_argument("--n", type=int_at_least(2), help="units per arm (analytic): gives the minimum detectable effect")
    p.add_argument("--alpha", type=_prob, default=0.05)
    p.add_argument("--power", type=_prob, default=0.8)
    p.add_argument("--ratio", type=_float, default=1.0, help="control units per arm unit")
    p.add_argument("--n-leads", default="2000,4000,8000", help="simulation: comma-separated total leads")
    p.add_argument("--replications", type=int_at_least(2), default=200, help="simulation: experiments per size")
    p.add_argument("--metric", default="booked_30d", help="simulation: the metric")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument(
        "--jobs", type=int_at_least(1), default=None, help="simulation: worker processes (default: all cores)"
    )
    p.add_argument("--out", type=Path, default=None, help="simulation: write power.csv and power.png here")
    p.set_defaults(func=_cmd_power)
    add_report_command(sub)


def _cmd_report(args: argparse.Namespace) -> int:
    import ast

    from .reports import ReportError, render_reports

    params: dict[str, Any] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param expects NAME=VALUE; got {item!r}")
        try:
            params[name.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name.strip()] = value
    if args.control:
        params["control"] = args.control
    if args.arm:
        params["arm"] = args.arm
    lines: Any = "all" if args.all or not args.service_line else args.service_line
    try:
        summary = render_reports(
            scenario=args.scenario,
            service_lines=lines,
            data=args.data,
            mapping=args.mapping,
            seed=args.seed,
            n_leads=args.n_leads,
            out=args.out,
            jobs=args.jobs,
            parameters=params,
            progress=sys.stderr.isatty(),
        )
    except ReportError as e:
        print(f"nurture-lab report: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(summary['reports'])} report(s) and {summary['index']} in {summary['seconds']:.1f} s")
    return 0


def add_report_command(sub: Any) -> None:
    from .cli import int_at_least

    r = sub.add_parser("report", help="one HTML report per service line, plus an index")
    r.add_argument("--scenario", type=Path, default=None, help="scenario to simulate (default: speed_to_lead)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--service-line", action="append", default=[], help="a service line (repeat for several)")
    g.add_argument("--all", action="store_true", help="every service line (the default)")
    r.add_argument(
        "--data", type=Path, default=None, help="a real leads export (CSV or Parquet) instead of a simulation"
    )
    r.add_argument("--mapping", type=Path, default=None, help="column mapping file for --data (TOML)")
    r.add_argument("--control", default=None, help="control arm label (required with --data)")
    r.add_argument("--arm", default=None, help="arm column (default: arm)")
    r.add_argument("--seed", type=int_at_least(0), default=7)
    r.add_argument("--n-leads", type=int_at_least(100), default=20_000)
    r.add_argument("--out", type=Path, default=Path("reports"))
    r.add_argument("--jobs", type=int_at_least(1), default=2, help="worker processes")
    r.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a report template parameter (metric, guardrail, guardrail_margin, alpha)",
    )
    r.set_defaults(func=_cmd_report)

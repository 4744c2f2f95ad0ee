"""``nurture-lab analyze DATA --arm COL --control LABEL --metric COL``: analyse an experiment table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..stats.methods import CI_METHODS, CORRECTIONS
from ._args import prob


def add_parser(sub: Any) -> None:
    a = sub.add_parser("analyze", help="analyse an experiment table (CSV or Parquet)")
    a.add_argument("data", metavar="DATA", type=Path, help="CSV or Parquet file, one row per unit")
    a.add_argument("--arm", required=True, help="column with the arm label")
    a.add_argument("--control", required=True, help="the control arm's label")
    a.add_argument("--metric", action="append", default=[], help="metric column (repeat for several)")
    a.add_argument(
        "--ratio", action="append", default=[], metavar="NUM/DEN", help="a ratio of means, e.g. booked/n_touches"
    )
    a.add_argument("--by", default=None, help="segment column: the same table per group")
    a.add_argument("--covariate", action="append", default=[], help="pre-treatment covariate (Lin's estimator)")
    a.add_argument(
        "--force-covariate",
        action="store_true",
        help="keep a covariate that fails the balance check across arms (recorded in the result)",
    )
    a.add_argument("--ci-method", choices=list(CI_METHODS), default="wald")
    a.add_argument("--correction", choices=list(CORRECTIONS), default="holm")
    a.add_argument("--alpha", type=prob, default=0.05)
    a.add_argument("--allocation", default=None, help="planned shares for the SRM check: ARM=SHARE,ARM=SHARE")
    a.add_argument("--binary", action="append", default=[], metavar="COL", help="declare a metric binary (0/1)")
    a.add_argument("--numeric", action="append", default=[], metavar="COL", help="declare a metric numeric")
    a.add_argument(
        "--sequential",
        action="store_true",
        help="always-valid p-values and confidence sequences (monitoring a running test)",
    )
    a.add_argument(
        "--bayesian",
        action="store_true",
        help="add chance to beat control, probability of being best, risks and credible intervals (Gaussian model)",
    )
    a.add_argument(
        "--prior",
        default=None,
        metavar="MEAN,SD",
        help="with --bayesian: a normal prior on the relative effect, e.g. 0,0.3 (default flat)",
    )
    a.add_argument(
        "--lower-is-better",
        action="append",
        default=[],
        metavar="COL",
        help="with --bayesian: a metric where lower is better (flips chance to win and the risks)",
    )
    a.add_argument("--format", choices=["table", "json", "csv"], default="table")
    a.add_argument(
        "--mapping",
        type=Path,
        default=None,
        help="read DATA as a CRM leads export with this column mapping (TOML [columns] table)",
    )
    add_import_options(a)
    a.set_defaults(func=run)


def add_import_options(parser: Any) -> None:
    """--timezone and --on-error: how a CRM export is read (with --mapping / --data)."""
    parser.add_argument(
        "--timezone",
        default=None,
        help="IANA zone of export times written without an offset, e.g. America/Chicago "
        "(default: inferred from each lead's state, else refused)",
    )
    parser.add_argument(
        "--on-error",
        choices=["raise", "drop"],
        default="raise",
        help="unusable export rows: fail listing them (raise), or drop and list them (drop)",
    )


def parse_allocation(text: str | None) -> dict[str, float] | None:
    """``ARM=SHARE,ARM=SHARE`` -> ``{arm: share}``."""
    if not text:
        return None
    allocation = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        try:
            allocation[name.strip()] = float(share)
        except ValueError:
            raise ParameterError(f"--allocation expects ARM=SHARE,ARM=SHARE; got {part!r}") from None
    return allocation


def parse_prior(text: str | None) -> tuple[float, float] | None:
    """``MEAN,SD`` -> ``(mean, sd)`` of the prior on the relative effect."""
    if not text:
        return None
    parts = text.split(",")
    try:
        mean, sd = (float(x) for x in parts)
    except ValueError:
        raise ParameterError(f"--prior expects MEAN,SD of the relative effect, e.g. 0,0.3; got {text!r}") from None
    return mean, sd


def parse_ratios(items: list[str]) -> list[Any]:
    """``NUM/DEN`` -> :class:`~nurture_lab.stats.ratio.Ratio` (at least one metric in all is required)."""
    from ..stats.ratio import Ratio

    out = []
    for item in items:
        num, sep, den = item.partition("/")
        if not sep or not num.strip() or not den.strip():
            raise ParameterError(f"--ratio expects NUMERATOR/DENOMINATOR columns, e.g. booked/n_touches; got {item!r}")
        out.append(Ratio(num.strip(), den.strip()))
    return out


def run(args: argparse.Namespace) -> int:
    if not args.metric and not args.ratio:
        raise ParameterError("analyze needs at least one --metric COL or --ratio NUM/DEN")
    from ..io.crm import identifier_columns
    from ..io.read import read_table
    from ..stats.analysis import analyze

    if args.mapping is not None:  # a CRM export: the import schema, checks and identifier dropping
        from ..io.crm import read_leads

        imp = read_leads(args.data, mapping=args.mapping, timezone=args.timezone, on_error=args.on_error)
        df = imp.leads
        for fix in imp.fixes:
            print(f"import: {fix}", file=sys.stderr)
        if imp.dropped_identifiers:
            print(f"import: dropped identifier columns {imp.dropped_identifiers}", file=sys.stderr)
    else:
        df = read_table(args.data)
        asked = {args.arm, args.by, *args.metric, *args.covariate, *(c for r in args.ratio for c in r.split("/"))}
        df = df.drop(columns=[c for c in identifier_columns(df) if c not in asked])
    res = analyze(
        df,
        arm=args.arm,
        control=args.control,
        metrics=[*args.metric, *parse_ratios(args.ratio)],
        by=args.by,
        covariates=args.covariate,
        ci_method=args.ci_method,
        correction=args.correction,
        alpha=args.alpha,
        allocation=parse_allocation(args.allocation),
        metric_types={**dict.fromkeys(args.binary, "binary"), **dict.fromkeys(args.numeric, "numeric")} or None,
        sequential=args.sequential,
        force=args.force_covariate,
        bayesian=args.bayesian,
        prior=parse_prior(args.prior),
        lower_is_better=args.lower_is_better,
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

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
    a.add_argument(
        "data", metavar="DATA", help="CSV or Parquet file, one row per unit; or a database URL (duckdb:///file.db)"
    )
    a.add_argument("--table", default=None, help="the table to analyse when DATA is a database URL")
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
    a.add_argument(
        "--ci-method",
        choices=list(CI_METHODS),
        default="wald",
        help="how the confidence interval of a rate difference is computed (default: %(default)s)",
    )
    a.add_argument(
        "--correction",
        choices=list(CORRECTIONS),
        default="holm",
        help="adjustment of p-values for testing several arms and metrics at once (default: %(default)s)",
    )
    a.add_argument(
        "--alpha",
        type=prob,
        default=0.05,
        help="significance level: the accepted chance of a false positive (default: %(default)s)",
    )
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
    a.add_argument(
        "--format",
        choices=["table", "json", "csv"],
        default="table",
        help="table: readable text; json or csv: every column, for other tools (default: %(default)s)",
    )
    a.add_argument(
        "--mapping",
        type=Path,
        default=None,
        help="read DATA as a CRM leads export with this column mapping (TOML [columns] table)",
    )
    add_import_options(a)
    a.set_defaults(func=run)


def add_import_options(parser: Any) -> None:
    """--timezone, --on-error, --date-order, --as-of and --fold-case: how a CRM export is read (with
    --mapping / --data)."""
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
    parser.add_argument(
        "--date-order",
        choices=["dmy", "mdy", "ymd"],
        default=None,
        help="order of dates written with numbers only, e.g. 03/02/2026 (default: detected from the values, "
        "refused when no value decides; ISO dates always work)",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="when the export was taken, with its UTC offset (or read in --timezone); default: its latest "
        "creation or booking time",
    )
    parser.add_argument(
        "--fold-case",
        action="store_true",
        help="merge arm labels that differ only in case into the most common spelling (default: refused)",
    )


def import_options(args: argparse.Namespace) -> dict[str, Any]:
    """The read_leads keyword arguments given by the import options."""
    return {
        "timezone": args.timezone,
        "on_error": args.on_error,
        "date_order": args.date_order,
        "as_of": args.as_of,
        "fold_case": args.fold_case,
    }


def print_import_notes(imp: Any) -> None:
    """What the import did (rows, zones, date orders, as_of, follow-up, fixes), on stderr."""
    for line in imp.notes:
        print(f"import: {line}", file=sys.stderr)
    if imp.dropped_identifiers:
        print(f"import: dropped identifier columns {imp.dropped_identifiers}", file=sys.stderr)


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
    from ..io.warehouse import is_url, open_table
    from ..stats.warehouse import analyze

    df: Any
    if is_url(args.data):  # a database: the statistics are computed there, one row per arm comes back
        if args.mapping is not None:
            raise ParameterError("--mapping reads a CRM export file; with a database URL name the columns directly")
        df = open_table(args.data, args.table)
    elif args.table is not None:
        raise ParameterError(
            f"--table names a table of a database URL (duckdb:///file.db); DATA is a file: {args.data}"
        )
    elif args.mapping is not None:  # a CRM export: the import schema, checks and identifier dropping
        from ..io.crm import read_leads

        imp = read_leads(args.data, mapping=args.mapping, **import_options(args))
        df = imp.leads
        print_import_notes(imp)
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

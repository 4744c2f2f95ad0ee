"""``nurture-lab report``: one HTML report per service line, plus an index."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ._args import MAX_LEADS, int_at_least, writable_dir


def add_parser(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="one HTML report per service line, plus an index",
        description="One HTML report per service line, plus an index.",
        epilog=_params_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--scenario", default=None, help="scenario file or bundled name to simulate (default: speed_to_lead)"
    )
    g = r.add_mutually_exclusive_group()
    g.add_argument("--service-line", action="append", default=[], help="a service line (repeat for several)")
    g.add_argument("--all", action="store_true", help="every service line (the default)")
    r.add_argument(
        "--data",
        default=None,
        help="a real leads export (CSV or Parquet), or a database URL (duckdb:///w.db, postgres://…) with "
        "--table, instead of a simulation",
    )
    r.add_argument("--table", default=None, help="the leads table when --data is a database URL")
    r.add_argument("--mapping", type=Path, default=None, help="column mapping file for --data (TOML)")
    from .analyze import add_import_options

    add_import_options(r)
    r.add_argument("--control", default=None, help="control arm label (required with --data)")
    r.add_argument("--arm", default=None, help="arm column (default: arm)")
    r.add_argument(
        "--seed",
        type=int_at_least(0),
        default=7,
        help="simulation seed: the same seed gives the same reports (default: %(default)s)",
    )
    r.add_argument(
        "--n-leads",
        type=_leads,
        default=20_000,
        help="simulated leads, or 'auto': enough for the overall result to detect the scenario's true effect",
    )
    r.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: %(default)s)")
    r.add_argument("--jobs", type=int_at_least(1), default=None, help="worker processes (default: every core)")
    r.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a report parameter (repeat for several); the parameters are listed below",
    )
    r.set_defaults(func=run)


#: The report parameters ``--param NAME=VALUE`` sets, with their help (the template's own comments;
#: a test keeps the two in step). ``arm`` and ``control`` have options of their own.
REPORT_PARAMETERS = {
    "metric": "primary metric, a 0/1 outcome column (default: booked_30d, bookings within 30 days)",
    "guardrail": "guardrail metric, lower is better (default: opted_out)",
    "guardrail_margin": "non-inferiority margin of the guardrail, absolute: 0.01 is 1 point (default: 0.01)",
    "alpha": "significance level (default: 0.05)",
    "sequential": "True: always-valid p-values and intervals, for a test still running (default: False)",
    "staff_cost_per_hour": "staff cost per hour, for the staff cost per booking (default: 0, not shown)",
    "currency": "currency of staff_cost_per_hour, an ISO 4217 code: USD, EUR, GBP, ... (default: USD)",
    "allocation": "planned share per arm for the sample-ratio check, as 'Control=0.8,Fast Call=0.2' (default: "
    "equal shares; a simulated run: the scenario's)",
    "target_effect": "smallest effect worth shipping, set before the test, absolute: 0.01 is 1 point; the status "
    "(Ship / Roll back / Keep running / Stop) is stated against it (default: 0, the planned MDE)",
}


def _params_epilog() -> str:
    width = max(map(len, REPORT_PARAMETERS)) + 2
    rows = "\n".join(f"  {k.ljust(width)}{v}" for k, v in REPORT_PARAMETERS.items())
    return (
        "report parameters (--param NAME=VALUE):\n" + rows + "\n\n"
        "example: nurture-lab report --service-line orthopedics --param staff_cost_per_hour=32 --param currency=EUR"
    )


def _leads(text: str) -> int | str:
    return "auto" if text.strip().lower() == "auto" else int_at_least(100, MAX_LEADS)(text)


def parse_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are Python literals where they parse as one, else strings."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(f"--param expects NAME=VALUE; got {item!r}")
        if value.strip().lower() in ("true", "false"):  # as a shell user writes it
            params[name.strip()] = value.strip().lower() == "true"
            continue
        try:
            params[name.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name.strip()] = value
    return params


def run(args: argparse.Namespace) -> int:
    from ..io.warehouse import is_url
    from ..reporting.render import ReportError, render_reports
    from .analyze import import_options, print_import_notes

    params = parse_params(args.param)
    writable_dir(args.out)
    if args.control:
        params["control"] = args.control
    if args.arm:
        params["arm"] = args.arm
    lines: Any = "all" if args.all or not args.service_line else args.service_line
    options = import_options(args)
    data: Any = args.data
    if data is not None and is_url(data):
        if not args.table:
            print(
                f"nurture-lab report: --data {data} is a database URL: name its leads table with --table NAME",
                file=sys.stderr,
            )
            return 2
        options["table"] = args.table
    elif args.table is not None:
        print("nurture-lab report: --table names a table of a database URL (--data duckdb:///file.db)", file=sys.stderr)
        return 2
    elif data is not None:
        data = Path(data)
    try:
        run_ = render_reports(
            scenario=args.scenario,
            service_lines=lines,
            data=data,
            mapping=args.mapping,
            read_options=options,
            seed=args.seed,
            n_leads=args.n_leads,
            out=args.out,
            jobs=args.jobs,
            parameters=params,
            progress=None,  # a bar on a terminal, one summary line in a log
            on_import=print_import_notes,
        )
    except ReportError as e:
        print(f"nurture-lab report: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(run_.reports)} report(s) and {run_.index} in {run_.seconds:.1f} s")
    return 0

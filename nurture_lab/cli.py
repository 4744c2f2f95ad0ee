"""The ``nurture-lab`` command line: the same functions as the Python API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import NurtureLabError


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .engine import simulate
    from .scenario import load_scenario
    from .store import write_simulation

    sc = load_scenario(args.scenario)
    res = simulate(sc, seed=args.seed, n_leads=args.n_leads, jobs=args.jobs, progress=sys.stderr.isatty())
    files = write_simulation(res, args.out, identities=args.with_identities)
    leads = res.leads
    print(f"simulated {len(leads):,} leads of scenario {sc.name!r} (seed {args.seed}) -> {args.out}")
    summary = leads.groupby("arm", observed=True)[["contacted", "booked_30d", "opted_out"]].mean()
    summary.insert(0, "n", leads.groupby("arm", observed=True).size())
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    print("files: " + ", ".join(p.name for p in files))
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_scenario
    from .scenario import load_scenario

    findings = lint_scenario(load_scenario(args.scenario))
    if args.format == "json":
        print(json.dumps([f._asdict() for f in findings], indent=2))
    else:
        for f in findings:
            print(f"{f.severity.upper():7} {f.where}: {f.message} [{f.rule}]")
        n_err = sum(f.severity == "error" for f in findings)
        print(f"{len(findings)} finding(s), {n_err} violation(s) in {args.scenario}")
    return 1 if any(f.severity == "error" for f in findings) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nurture-lab",
        description="Simulate, analyse and report healthcare lead-nurturing experiments.",
    )
    p.add_argument("--version", action="version", version=f"nurture-lab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("simulate", help="simulate a scenario and write its files")
    s.add_argument("scenario", metavar="SCENARIO", help="a scenario TOML file")
    s.add_argument("--seed", type=_nonneg_int, default=0)
    s.add_argument("--n-leads", type=_pos_int, default=20_000)
    s.add_argument("--out", required=True, type=Path, help="output folder")
    s.add_argument("--jobs", type=_pos_int, default=1, help="worker processes (results are identical)")
    s.add_argument(
        "--with-identities",
        action="store_true",
        help="also write the synthetic name/email/phone columns (never needed for analysis)",
    )
    s.set_defaults(func=_cmd_simulate)

    s = sub.add_parser("lint", help="cadence compliance findings; exit 1 on a violation")
    s.add_argument("scenario", metavar="SCENARIO")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.set_defaults(func=_cmd_lint)

    from . import cli_more

    cli_more.add_commands(sub)
    return p


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, with one clear message otherwise."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = low - 1
        if v < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return v

    return parse


_pos_int = int_at_least(1)
_nonneg_int = int_at_least(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (NurtureLabError, ValueError, TypeError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"nurture-lab {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nurture-lab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a pager or head that closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``nurture-lab lint SCENARIO``: cadence compliance findings; exit 1 on a violation."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    s = sub.add_parser("lint", help="cadence compliance findings; exit 1 on a violation")
    s.add_argument("scenario", metavar="SCENARIO", help="a scenario TOML file, or a bundled scenario's name")
    s.add_argument(
        "--format", choices=["text", "json"], default="text", help="text: one line per rule; json: every finding"
    )
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scenario.lint import lint_scenario
    from ..scenario.loader import load_scenario

    findings = lint_scenario(load_scenario(args.scenario))
    if args.format == "json":
        print(findings.to_json())
    else:
        for r in findings.summary().itertuples():
            scope = f"{r.n_steps} step{'s' if r.n_steps != 1 else ''} in {r.n_arms} arm{'s' if r.n_arms != 1 else ''}"
            print(f"{r.severity.upper():7} {r.rule} ({scope}; e.g. {r.example}): {r.message}")
        print(f"{len(findings)} finding(s), {findings.n_errors} violation(s) in {args.scenario}")
    return 1 if findings.n_errors else 0

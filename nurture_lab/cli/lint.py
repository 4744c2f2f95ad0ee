"""``nurture-lab lint SCENARIO [--n-leads N]``: compliance findings and what the staffing allows; exit 1 on a violation."""

from __future__ import annotations

import argparse
from typing import Any

from ._args import n_leads_arg


def add_parser(sub: Any) -> None:
    s = sub.add_parser("lint", help="cadence compliance findings; exit 1 on a violation")
    s.add_argument("scenario", metavar="SCENARIO", help="a scenario TOML file, or a bundled scenario's name")
    s.add_argument(
        "--format", choices=["text", "json"], default="text", help="text: one line per rule; json: every finding"
    )
    s.add_argument(
        "--n-leads",
        type=n_leads_arg,
        default=None,
        help="lead volume over the arrival days for the expected first-call wait (default: 20000, as simulate)",
    )
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scenario.lint import lint_scenario
    from ..scenario.loader import load_scenario
    from ..scenario.staffing import DEFAULT_LEADS

    findings = lint_scenario(load_scenario(args.scenario), n_leads=args.n_leads or DEFAULT_LEADS)
    if args.format == "json":
        print(findings.to_json())
    else:
        for r in findings.summary().itertuples():
            if r.n_arms == 0:  # a setting of the scenario, not of an arm's steps
                scope = r.example if r.n_steps == 1 else f"{r.n_steps} settings; e.g. {r.example}"
            else:
                steps = f"{r.n_steps} step{'s' if r.n_steps != 1 else ''}"
                scope = f"{steps} in {r.n_arms} arm{'s' if r.n_arms != 1 else ''}; e.g. {r.example}"
            print(f"{r.severity.upper():7} {r.rule} ({scope}): {r.message}")
        print(f"{len(findings)} finding(s), {findings.n_errors} violation(s) in {args.scenario}")
    return 1 if findings.n_errors else 0

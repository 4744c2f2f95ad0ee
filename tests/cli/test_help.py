"""Every option of every command says what it does; ``report --help`` lists every report parameter."""

from __future__ import annotations

import argparse

from nurture_lab.cli import build_parser
from nurture_lab.cli.report import REPORT_PARAMETERS
from nurture_lab.reporting.render import default_template, template_parameters

from ..conftest import run_cli


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_option_of_every_command_has_help() -> None:
    commands = _commands()
    assert set(commands) == {"simulate", "lint", "analyze", "power", "report", "staffing", "designs"}
    missing = [
        f"{name} {'/'.join(act.option_strings) or act.dest}"
        for name, sp in commands.items()
        for act in sp._actions
        if not isinstance(act, argparse._HelpAction) and not (act.help and act.help.strip())
    ]
    assert not missing, missing


def test_report_help_lists_every_report_parameter_with_its_help() -> None:
    # the template's parameters a user may set (the data paths and the simulation are set by the command)
    fixed = {"service_line", "leads_path", "truth_path", "manifest_path", "scenario", "seed", "n_leads"}
    own_options = {"arm", "control"}  # --arm, --control
    params = set(template_parameters(default_template())) - fixed - own_options
    assert params == set(REPORT_PARAMETERS)
    out = run_cli("report", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for name, help_text in REPORT_PARAMETERS.items():
        assert f"{name} {' '.join(help_text.split())}" in text, name
    assert "staff_cost_per_hour" in text and "currency" in text

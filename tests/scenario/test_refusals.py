"""Scenario files that are impossible or contradict themselves are refused at load (issue 21, §5).

Each case was accepted silently before; each is now one ``ScenarioError`` naming the file, the
table, the key and what was expected (the loader's template), and exit 2 on the command line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import nurture_lab as nl

from ..conftest import ROOT, TINY, run_cli

#: An agents table: weekdays 8:00-18:00, two agents.
TABLE = "agents = [" + ", ".join(["[" + ", ".join(["0"] * 8 + ["2"] * 10 + ["0"] * 6) + "]"] * 5) + ", "
TABLE += ", ".join(["[" + ", ".join(["0"] * 24) + "]"] * 2) + "]"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def template(key: str, table: str, expected: str, got: str | None = None) -> str:
    """The loader's one message, as a regular expression (``got=None``: any value)."""
    shown = ".*" if got is None else re.escape(got)
    return (
        rf"^Invalid value for '{re.escape(key)}' in \[{re.escape(table)}\] of .*s\.toml: expected "
        rf".*{re.escape(expected)}.*; got {shown}\.$"
    )


REFUSED = {
    "holdout_with_reminder": (
        TINY + '\n[arms.held]\nholdout = true\nreminder = { channel = "sms", hours_before = 24 }\n',
        template("reminder", "arms.held", "no reminder for a holdout arm", "Reminder(channel='sms', hours_before=24)"),
    ),
    "unknown_score_key": (
        TINY + '\n[contact_center]\nqueue = "score"\nscore_points = { "intent.urgent" = 3 }\n',
        template("score_points", "contact_center", "a value among: high, medium, low", "'intent.urgent'"),
    ),
    "staffed_hours_beside_agents_table": (
        TINY + "\n[policy]\nstaffed_hours = [8, 18]\n[contact_center]\n" + TABLE + "\n",
        template("staffed_hours", "policy", "no staffed_hours beside a [contact_center] agents table", "[8, 18]"),
    ),
    "staffed_days_beside_agents_table": (
        TINY + "\n[policy]\nstaffed_days = [0, 1]\n[contact_center]\n" + TABLE + "\n",
        template("staffed_days", "policy", "no staffed_days beside", "[0, 1]"),
    ),
    "reminder_at_the_visit": (
        TINY.replace("[arms.fast]", '[arms.fast]\nreminder = { channel = "sms", hours_before = 0 }'),
        template("hours_before", "arms.fast.reminder", "a number in the range (0, 87600]", "0"),
    ),
    "clinic_hours_at_night": (
        TINY + "\n[policy]\nclinic_hours = [0, 4]\n",
        template("clinic_hours", "policy", "overlaps the waking hours 7-22 ([behaviour] waking_hours)", "[0.0, 4.0]"),
    ),
    "min_gap_beyond_the_horizon": (
        TINY + "\n[policy]\nmin_gap_minutes = 5000000\n",
        template("min_gap_minutes", "policy", "at most the horizon, 57600 minutes (horizon_days = 40)", "5000000"),
    ),
    "channel_gap_beyond_the_horizon": (
        TINY + "\n[policy.caps.call]\nmin_gap_minutes = 5000000\n",
        template("min_gap_minutes", "policy.caps.call", "at most the horizon", "5000000"),
    ),
    "voicemail_longer_than_a_conversation": (
        TINY + "\n[contact_center]\nhandle_minutes = { connected = 4, voicemail = 6 }\n",
        template(
            "handle_minutes",
            "contact_center",
            "no_answer <= voicemail <= connected",
            "{'connected': 4, 'voicemail': 6, 'no_answer': 1}",
        ),
    ),
    "score_points_in_a_fifo_queue": (
        TINY + '\n[contact_center]\nqueue = "fifo"\nscore_points = { "intent.high" = 3 }\n',
        template("score_points", "contact_center", 'no score_points with queue = "fifo"', "{'intent.high': 3}"),
    ),
    "relevant_to_an_unknown_line": (
        TINY + '\n[contents.flyer]\nrelevant_to = { service_line = ["oncology"] }\n',
        template("service_line", "contents.flyer.relevant_to", "one of: primary_care, behavioral_health", "'oncology'"),
    ),
    "empty_arm_name": (
        TINY.replace("[arms.fast]", '[arms.""]'),
        template("name", 'arms.""', "a non-empty arm name", "''"),
    ),
    "subnormal_half_life": (
        TINY + "\n[behaviour]\nspeed_half_life_minutes = 5e-324\n",
        template("speed_half_life_minutes", "behaviour", "[1/60 (one second), 5256000]", "5e-324"),
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_contradictions_are_refused_with_file_table_key_and_expectation(tmp_path: Path, case: str) -> None:
    text, match = REFUSED[case]
    with pytest.raises(nl.ScenarioError, match=match):
        nl.load_scenario(write(tmp_path, text))


@pytest.mark.parametrize("case", ["subnormal_half_life", "unknown_score_key", "empty_arm_name"])
def test_the_command_line_exits_2_with_one_message_and_no_numpy_warning(tmp_path: Path, case: str) -> None:
    path = write(tmp_path, REFUSED[case][0])
    for command in ("lint", "simulate"):
        extra = ["--n-leads", "200", "--out", str(tmp_path / "out")] if command == "simulate" else []
        res = subprocess.run(
            [sys.executable, "-W", "error", "-m", "nurture_lab", command, str(path), *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "Warning" not in res.stderr, res.stderr


ACCEPTED = {
    "holdout_without_reminder": TINY + "\n[arms.held]\nholdout = true\n",
    "score_points_in_a_score_queue": TINY
    + '\n[contact_center]\nqueue = "score"\nscore_points = { "intent.high" = 3 }\n',
    "staffed_hours_beside_a_number_of_agents": TINY
    + "\n[policy]\nstaffed_hours = [9, 17]\n[contact_center]\nagents = 3\n",
    "agents_table_alone": TINY + "\n[contact_center]\n" + TABLE + "\n",
    "reminder_half_an_hour_before": TINY.replace(
        "[arms.fast]", '[arms.fast]\nreminder = { channel = "sms", hours_before = 0.5 }'
    ),
    "clinic_hours_partly_awake": TINY + "\n[policy]\nclinic_hours = [5, 8]\n",
    "min_gap_of_the_horizon": TINY + "\n[policy]\nmin_gap_minutes = 57600\n",
    "voicemail_as_long_as_a_conversation": TINY
    + "\n[contact_center]\nhandle_minutes = { connected = 2, voicemail = 2 }\n",
    "relevant_to_a_line_of_the_population": TINY
    + '\n[contents.flyer]\nrelevant_to = { service_line = ["primary_care"] }\n',
    "built_in_relevance_beyond_the_population": TINY + "\n[contents.provider_bio]\neducation = false\n",
    "shortest_half_life": TINY + f"\n[behaviour]\nspeed_half_life_minutes = {1 / 60!r}\n",
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_the_neighbouring_sound_files_still_load(tmp_path: Path, case: str) -> None:
    assert nl.load_scenario(write(tmp_path, ACCEPTED[case])).experiment.arms


def test_the_shortest_half_life_simulates_without_a_numpy_warning(tmp_path: Path) -> None:
    sc = nl.load_scenario(write(tmp_path, ACCEPTED["shortest_half_life"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = nl.simulate(sc, seed=3, n_leads=300, jobs=1, truth=False)
    assert len(res.leads) == 300


def test_shipped_scenarios_still_load_and_lint_clean() -> None:
    for name in nl.bundled_scenarios():
        assert nl.load_scenario(name).experiment.arms
        assert run_cli("lint", name).returncode == 0

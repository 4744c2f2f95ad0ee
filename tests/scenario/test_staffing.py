"""What the lint says about staffing (issue 21, §4 last bullet and §5).

The staffed hours are read from the file's own table; the first-call wait is checked against a
closed-form Erlang C written here (factorials, not the package's Erlang B recursion) and, for the
opening backlog, against what the simulated queue did.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nurture_lab as nl
from nurture_lab.scenario.lint import lint_scenario
from nurture_lab.scenario.staffing import first_call_wait

from ..conftest import ROOT, run_cli, uniform_centre

#: Los Angeles, weekdays 7:00-20:00 (1-2 agents), Saturday 9:00-13:00, Sunday closed.
LA_TABLE = [[0] * 7 + [1] * 2 + [2] * 8 + [1] * 3 + [0] * 4] * 5 + [[0] * 9 + [1] * 4 + [0] * 11] + [[0] * 24]


def _erlang_c(n: int, a: float) -> float:
    """Erlang C in closed form: P(wait) = (a^n / n!) (n / (n - a)) / (sum_{k<n} a^k / k! + that)."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def _with_centre(**kw: object) -> nl.Scenario:
    sc = nl.load_scenario("speed_to_lead")
    return dataclasses.replace(sc, contact_center=nl.ContactCenter(**kw))


def _finding(res: nl.LintResult, rule: str) -> nl.scenario.lint.Finding:
    found = [f for f in res if f.rule == rule]
    assert len(found) == 1, [f.rule for f in res]
    return found[0]


def test_a_centres_staffed_hours_are_read_from_its_table_in_its_zone() -> None:
    res = lint_scenario(_with_centre(agents=LA_TABLE, timezone="America/Los_Angeles", queue="score"))
    # independently: the first and last staffed hour of each row of the table
    spans = {
        d: (row.index(next(v for v in row if v)), 24 - row[::-1].index(next(v for v in row[::-1] if v)))
        for d, row in enumerate(LA_TABLE)
        if any(row)
    }
    assert spans == {0: (7, 20), 1: (7, 20), 2: (7, 20), 3: (7, 20), 4: (7, 20), 5: (9, 13)}
    note = _finding(res, "staffing")
    assert note.severity == "note"
    assert note.message == "the centre is staffed Mon-Fri 7:00-20:00, Sat 9:00-13:00 America/Los_Angeles"
    assert all("8:00-18:00" not in f.message for f in res)  # the policy default no longer speaks for the table
    # a number of agents works [policy] staffed_hours on staffed_days, on the centre's clock
    sc = _with_centre(agents=4, timezone="America/Chicago")
    sc = dataclasses.replace(
        sc, policy=dataclasses.replace(sc.policy, staffed_hours=(9.5, 17.0), staffed_days=(0, 2, 3))
    )
    assert (
        _finding(lint_scenario(sc), "staffing").message
        == "the centre is staffed Mon 9:30-17:00, Wed-Thu 9:30-17:00 America/Chicago"
    )


def test_the_first_call_wait_is_erlang_c_in_its_own_setting(tmp_path: Path) -> None:
    sc = uniform_centre(tmp_path, agents=5)
    n_leads = 45_000
    # by hand: a call connects with 0.25; else a voicemail (half) of 2 min or no answer of 1 min
    handle = 0.25 * 8 + 0.75 * (0.5 * 2 + 0.5 * 1)
    load = n_leads / 28 * 7 / (7 * 1440) * handle  # Erlangs: calls a minute x minutes a call
    p_wait = _erlang_c(5, load)
    expected = p_wait * handle / (5 - load)  # every call is a first call: W = C h / (N - A)
    est = first_call_wait(sc, n_leads)
    assert est is not None
    assert est.handle_minutes == pytest.approx(handle, rel=1e-12)
    assert est.load == pytest.approx(load, rel=1e-12) and est.first_load == pytest.approx(load, rel=1e-12)
    assert est.wait_probability == pytest.approx(p_wait, rel=1e-9)
    assert est.opening_wait_minutes == pytest.approx(0.0, abs=1e-9)  # never closed, never a backlog
    assert est.first_wait_minutes == pytest.approx(expected, rel=1e-9)
    note = _finding(lint_scenario(sc, n_leads=n_leads), "first_call_wait")
    assert note.severity == "note"
    assert f"a first call waits {expected:.1f} min on average" in note.message
    assert f"Erlang C: {p_wait:.0%} of calls wait" in note.message
    assert f"5 agents (Mon-Sun 0:00-24:00 America/New_York) for {n_leads:,} leads over 28 days" in note.message


def test_a_centre_that_cannot_keep_up_is_a_warning_with_the_growing_wait(tmp_path: Path) -> None:
    sc = uniform_centre(tmp_path, agents=2)
    n_leads = 45_000
    load = n_leads / 28 * 7 / (7 * 1440) * 3.125
    days = (load / 2 - 1) * 28 / 2  # a fluid queue: the backlog grows at (A - N) all through the arrivals
    note = _finding(lint_scenario(sc, n_leads=n_leads), "first_call_wait")
    assert note.severity == "warning"
    assert "first calls alone need more agents than there are" in note.message
    assert f"a first call waits about {days:.1f} days on average" in note.message
    capacity = 2 / (load / n_leads)  # leads at which the load equals the agents
    assert f"up to about {capacity:,.0f} leads" in note.message


@pytest.mark.parametrize(("agents", "n_leads"), [(3, 8000), (2, 4000)])
@pytest.mark.parametrize("seed", [0, 1])
def test_the_opening_backlog_is_what_the_queue_did(agents: int, n_leads: int, seed: int) -> None:
    """Mornings after a night (and Mondays after a weekend) of inquiries: Erlang C alone, which assumes
    calls arrive evenly, is off by more than 10x; with the opening backlog the estimate is within a
    factor of 2 of the run (12 seeds gave ratios 0.83-1.59 and 0.67-0.97 for these two centres)."""
    sc = _with_centre(agents=agents)
    est = first_call_wait(sc, n_leads)
    assert est is not None
    res = nl.simulate(sc, seed=seed, n_leads=n_leads, truth=False)
    t = res.touches
    calls = t[(t["channel"] == "call") & (t["status"] == "sent")].sort_values(["lead_id", "sent_at"])
    observed = float(calls.groupby("lead_id")["queue_minutes"].first().mean())
    assert est.erlang_wait_minutes < observed / 10
    assert 0.5 < est.first_wait_minutes / observed < 2.0, (est.first_wait_minutes, observed)


def test_the_shipped_scenarios_state_their_staffing_and_lint_clean() -> None:
    for name in ("speed_to_lead", "content_test"):
        out = subprocess.run(
            [sys.executable, "-W", "error", "-m", "nurture_lab", "lint", name], capture_output=True, text=True, cwd=ROOT
        )
        assert out.returncode == 0 and out.stderr == "", out.stdout + out.stderr
        assert (
            "NOTE    staffing (contact_center): the centre is staffed Mon-Fri 8:00-18:00 America/New_York" in out.stdout
        )
        wait = re.search(r"NOTE    first_call_wait \(contact_center\): (\d+) agents .* for 20,000 leads", out.stdout)
        assert wait is not None and int(wait.group(1)) in (28, 32)
    big = run_cli("lint", "speed_to_lead", "--n-leads", "56000")
    assert big.returncode == 0 and "for 56,000 leads over 28 days" in big.stdout


# --------------------------------------------------------------------------------------
# Lint rules on policy and staffing settings


#: A scenario that lints without a violation (its own tables appended after).
CLEAN = """
name = "clean"
[service_lines.primary_care]
share = 1.0
[experiment]
control = "a"
[arms.a]
steps = [
  { channel = "email", content = "confirmation", anchor = "inquiry", delay_minutes = 1 },
  { channel = "call", content = "generic", anchor = "inquiry", delay_minutes = 5, window = [9, 17] },
]
"""


def _lint_text(tmp_path: Path, extra: str) -> tuple[int, str]:
    p = tmp_path / "s.toml"
    p.write_text(CLEAN + "\n" + extra)
    out = run_cli("lint", str(p))
    return out.returncode, out.stdout


def test_removing_the_florida_and_oklahoma_cap_is_a_violation(tmp_path: Path) -> None:
    code, text = _lint_text(tmp_path, "[policy]\nstate_attempt_caps = {}\n")
    assert code == 1
    assert (
        "ERROR   state_attempts (2 settings; e.g. policy.state_attempt_caps.FL): no cap on calls and texts per 24 hours (unset); FL allows 3"
        in text
    )
    # a population without those states needs no cap
    code, text = _lint_text(
        tmp_path, "[population]\nstates = { CA = 0.5, TX = 0.5 }\n[policy]\nstate_attempt_caps = {}\n"
    )
    assert code == 0 and "state_attempts" not in text


def test_a_cap_of_zero_is_said_to_mean_no_cap_with_the_legal_default(tmp_path: Path) -> None:
    code, text = _lint_text(tmp_path, "[policy.caps.sms]\nper_day = 0\n")
    assert code == 0
    assert (
        "WARNING no_cap (policy.caps.sms.per_day): 0 means no cap; the default is 1 (the FCC healthcare exemption's "
        "limit: texts 1 a day, 3 a week, 47 CFR 64.1200(a)(9)(iv))"
    ) in text
    code, text = _lint_text(tmp_path, "[policy.caps.call]\ntotal = 0\n")
    assert "0 means no cap; the default is 6 (an [ASSUMPTION], no federal cap" in text


def test_a_weekend_only_centre_is_a_warning(tmp_path: Path) -> None:
    table = [[0] * 24] * 5 + [[0] * 9 + [3] * 8 + [0] * 7] * 2
    res = lint_scenario(_with_centre(agents=table))
    w = _finding(res, "weekend_only")
    assert (
        w.severity == "warning"
        and "calls are placed on Sat, Sun only (Sat-Sun 9:00-17:00 America/New_York)" in w.message
    )
    code, text = _lint_text(tmp_path, "[policy]\nstaffed_days = [5, 6]\n[contact_center]\nagents = 3\n")
    assert code == 0 and "WARNING weekend_only (contact_center)" in text
    assert all(f.rule != "weekend_only" for f in lint_scenario(_with_centre(agents=3)))


@pytest.mark.parametrize(
    ("zone", "flagged"),
    [("Asia/Tokyo", True), ("Europe/London", True), ("America/Toronto", False), ("America/Phoenix", False)],
)
def test_a_centre_in_a_zone_no_lead_shares_is_a_warning(zone: str, flagged: bool) -> None:
    res = lint_scenario(_with_centre(agents=3, timezone=zone))
    found = [f for f in res if f.rule == "centre_zone"]
    assert bool(found) == flagged
    if flagged:
        assert found[0].severity == "warning" and f"the centre's clock {zone}" in found[0].message


def test_erlang_c_has_one_home() -> None:
    """The contact centre's Erlang C is the root module's (one formula for the lint, the queue and the report)."""
    from nurture_lab import _erlang
    from nurture_lab.simulation import contact_center as cc

    assert cc.erlang_c_wait is _erlang.erlang_c_wait
    assert cc.erlang_c_agents is _erlang.erlang_c_agents


@pytest.mark.parametrize(
    "centre",
    [
        dict(agents=LA_TABLE, timezone="America/Los_Angeles"),
        dict(agents=7, timezone="America/Chicago"),
    ],
)
def test_the_lints_staffed_week_is_the_queues(centre: dict[str, object]) -> None:
    """The lint reads the same agents-per-minute week as the contact centre's queue (two homes, one answer)."""
    from nurture_lab.scenario.staffing import staffed_week
    from nurture_lab.simulation.calendar import _week_capacity

    sc = _with_centre(**centre)
    sc = dataclasses.replace(sc, policy=dataclasses.replace(sc.policy, staffed_hours=(8.5, 17.25)))
    assert sc.contact_center is not None
    np.testing.assert_array_equal(staffed_week(sc).ravel(), _week_capacity(sc.contact_center, sc.policy))


def test_weekend_only_staffed_days_without_a_centre(tmp_path: Path) -> None:
    code, text = _lint_text(tmp_path, "[policy]\nstaffed_days = [5, 6]\n")
    assert code == 0
    assert (
        "WARNING weekend_only (policy.staffed_days): calls are placed on Sat, Sun only (Sat-Sun 8:00-18:00 in each lead's local time)"
        in text
    )


def test_the_lints_default_volume_is_what_simulate_runs() -> None:
    from nurture_lab.cli import build_parser
    from nurture_lab.scenario.staffing import DEFAULT_LEADS

    args = build_parser().parse_args(["simulate", "speed_to_lead", "--out", "x"])
    assert args.n_leads == DEFAULT_LEADS
    assert build_parser().parse_args(["lint", "speed_to_lead", "--n-leads", "777"]).n_leads == 777

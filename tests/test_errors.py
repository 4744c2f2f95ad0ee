"""One validation helper: every bad argument names the function, the parameter, the value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

import nurture_lab as nl
from nurture_lab.errors import ParameterError, ParameterTypeError, check_param

from .conftest import KNOWN, run_cli


def test_the_message_template() -> None:
    with pytest.raises(
        ParameterError,
        match=r"^The 'n_leads' parameter of simulate must be an int in the range \[1, inf\)\. Got 0 instead\.$",
    ):
        check_param("simulate", "n_leads", 0, kind="int", low=1)
    with pytest.raises(ParameterTypeError, match=r"must be an int in the range \[1, inf\)\. Got '5' instead"):
        check_param("simulate", "n_leads", "5", kind="int", low=1)
    with pytest.raises(TypeError):  # a wrong type is also a TypeError, a wrong value also a ValueError
        check_param("f", "x", "a", kind="number")
    with pytest.raises(ValueError, match=r"must be one of: holm, bh, none\. Got 'bonferroni'"):
        check_param("analyze", "correction", "bonferroni", kind="choice", choices=["holm", "bh", "none"])
    with pytest.raises(ParameterError, match=r"a float in the range \(0, 1\)\. Got nan"):
        check_param("f", "p", float("nan"), low=0, high=1, low_open=True, high_open=True)
    assert check_param("f", "n", 3, kind="int", low=1) == 3


def test_power_at_checks_its_arguments() -> None:
    with pytest.raises(
        ParameterError, match=r"The 'baseline' parameter of power_at must be a float in the range \(0, 1\)\. Got 2"
    ):
        nl.power_at(2, 0.02, 1000)
    with pytest.raises(ParameterError, match=r"The 'n' parameter of power_at must be an int in the range \[2, inf\)"):
        nl.power_at(0.1, 0.02, 1)
    assert 0 < nl.power_at(0.1, 0.02, 1000) < 1


def test_simulate_power_refuses_before_running(tiny: nl.Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from nurture_lab.stats import simulated

    monkeypatch.setattr(simulated, "simulate", lambda *a, **k: pytest.fail("ran before checking its arguments"))
    with pytest.raises(
        ParameterError, match=r"The 'metric' parameter of simulate_power must be one of: .*booked_30d.*\. Got 'nope'"
    ):
        nl.simulate_power(tiny, [2000], metric="nope")
    with pytest.raises(
        ParameterTypeError, match=r"The 'n_leads' parameter of simulate_power must be a list of ints >= 4 .*Got 5000"
    ):
        nl.simulate_power(tiny, 5000)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"'replications' parameter of calibrate must be an int"):
        nl.calibrate(tiny, replications=1)


def test_non_inferiority_names_its_own_alpha() -> None:
    with pytest.raises(
        ParameterError,
        match=r"The 'alpha' parameter of non_inferiority must be a float in the range \(0, 0\.25\)\. Got 0\.3",
    ):
        nl.non_inferiority(KNOWN, "arm", "control", "y", 0.01, alpha=0.3)


def test_a_wrongly_typed_scenario_field_gets_its_message(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'name = "x"\n[service_lines.primary_care]\nshare = 1.0\n[policy]\nstate_quiet_hours = 3\n'
        '[experiment]\ncontrol = "a"\n[arms.a]\nsteps = [{ channel = "email", content = "confirmation" }]\n'
    )
    with pytest.raises(
        nl.ScenarioError,
        match=r"Invalid value for 'state_quiet_hours' in \[policy\] of .*s\.toml: expected a table of state = \[start, end\]; got 3",
    ):
        nl.load_scenario(p)
    res = run_cli("lint", str(p))
    assert res.returncode == 2 and "state_quiet_hours" in res.stderr and "FieldError" not in res.stderr


def test_the_cli_does_not_hide_a_bug_as_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from nurture_lab import cli
    from nurture_lab.cli import lint

    def broken(args: object) -> int:
        raise TypeError("a bug")

    monkeypatch.setattr(lint, "run", broken)
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["lint", "speed_to_lead"])


def test_restrict_names_the_service_lines(speed: nl.Scenario) -> None:
    with pytest.raises(ParameterError, match=r"The 'service_line' parameter of restrict must be one of: primary_care"):
        nl.scenario.restrict(speed, "ortho")

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nurture_lab as nl
from nurture_lab.scenario import Step

from ..conftest import TINY


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_defaults_load_and_are_frozen(speed: nl.Scenario) -> None:
    assert speed.experiment.arm_names == ("within_5_min", "within_1_hour", "next_business_day")
    assert speed.experiment.control == "next_business_day"
    assert len(speed.sha256) == 64
    assert set(speed.service_lines) >= {"primary_care", "behavioral_health", "orthopedics", "dental_implants"}
    assert speed.population.service_lines["behavioral_health"].sensitive
    with pytest.raises(dataclasses.FrozenInstanceError):
        speed.name = "x"  # type: ignore[misc]
    # a variant by dataclasses.replace, never by mutation
    v = dataclasses.replace(speed, horizon_days=30)
    assert v.horizon_days == 30 and speed.horizon_days == 60


def test_arm_changes_make_variants(speed: nl.Scenario) -> None:
    fast = speed.experiment.arm("within_5_min").steps
    hour = speed.experiment.arm("within_1_hour").steps
    assert fast[1].delay_minutes == 5 and hour[1].delay_minutes == 60
    assert fast[2:] == hour[2:]


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "delay_minutes = 1440 }",
            "delay_minuts = 1440 }",
            r"Unknown key 'delay_minuts' in \[arms.slow.steps.1\] of .*s.toml; expected one of: .*delay_minutes",
        ),
        (
            "delay_minutes = 1440 }",
            "delay_minutes = -5 }",
            r"Invalid value for 'delay_minutes' in \[arms.slow.steps.1\] of .*: expected a number in the range \[0, 5256000\]; got -5",
        ),
        (
            "delay_minutes = 1440 }",
            'delay_minutes = "soon" }',
            r"'delay_minutes' in \[arms.slow.steps.1\].*expected a number.*got 'soon'",
        ),
        (
            'channel = "call"',
            'channel = "fax"',
            r"'channel' in \[arms.slow.steps.1\].*one of: email, sms, call, chat, retargeting; got 'fax'",
        ),
        (
            'content = "coverage_faq"',
            'content = "brochure"',
            r"'content' in \[arms.slow.steps.3\] of .*a known content.*got 'brochure'",
        ),
        ("share = 0.4", "share = 0.5", r"service-line shares that sum to 1"),
        ("share = 0.4", "share = 1.4", r"'share' in \[service_lines.behavioral_health\].*\[0, 1\]; got 1.4"),
        ("horizon_days = 40", "horizon_days = 40\nhorizon = 3", r"Unknown key 'horizon' at the top level"),
        ('control = "slow"', 'control = "medium"', r"'control' in \[experiment\].*an arm: slow, fast; got 'medium'"),
        (
            "[arms.fast]\nsteps = [",
            "[arms.fast]\nallocation = 1\nnosteps = [",
            r"Unknown key 'nosteps' in \[arms.fast\]",
        ),
        (
            "[service_lines.primary_care]\nshare = 0.6",
            "[service_lines.primary_care]\nshare = 0.6\nfit_rate = 2",
            r"'fit_rate' in \[service_lines.primary_care\].*\[0, 1\]; got 2",
        ),
        (
            "[service_lines.primary_care]\nshare = 0.6",
            "[service_lines.primary_care]\nshare = 0.6\nintents = { high = 0.5, medium = 0.4, low = 0.2 }",
            r"'intents' in \[service_lines.primary_care\].*shares that sum to 1",
        ),
        (
            'channel = "call"',
            'channel = "call", audience = ["martians"]',
            r"'audience' in \[arms.slow.steps.1\] of .*one of: patient.*got 'martians'",
        ),
    ],
)
def test_bad_values_are_refused_with_location(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in TINY
    with pytest.raises(nl.ScenarioError, match=match):
        nl.load_scenario(write(tmp_path, TINY.replace(old, new, 1)))


def test_arm_without_steps(tmp_path: Path) -> None:
    text = TINY + "\n[arms.empty]\nallocation = 1\n"
    with pytest.raises(nl.ScenarioError, match=r"'steps' in \[arms.empty\].*at least one step"):
        nl.load_scenario(write(tmp_path, text))


def test_holdout_arm_is_allowed(tmp_path: Path) -> None:
    sc = nl.load_scenario(write(tmp_path, TINY + "\n[arms.holdout]\nholdout = true\nallocation = 0.5\n"))
    assert sc.experiment.arm("holdout").steps == ()
    assert sc.experiment.allocation["holdout"] == pytest.approx(0.2)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(nl.ScenarioError, match=r"Scenario file not found: .*nope.toml"):
        nl.load_scenario(tmp_path / "nope.toml")
    with pytest.raises(nl.ScenarioError, match=r"is not valid TOML: .*line 2"):
        nl.load_scenario(write(tmp_path, 'name = "x"\nshare = = 1\n'))


def test_unknown_cadence_reference(tmp_path: Path) -> None:
    text = TINY.replace("[arms.fast]\nsteps = [", '[arms.other]\ncadence = "nope"\n[arms.fast]\nsteps = [')
    with pytest.raises(nl.ScenarioError, match=r"'cadence' in \[arms.other\].*got 'nope'"):
        nl.load_scenario(write(tmp_path, text))


def test_python_construction_raises_plain_errors() -> None:
    with pytest.raises(ValueError, match=r"'delay_minutes' must be a number in the range \[0, 5256000\]. Got -1"):
        Step(channel="sms", content="confirmation", delay_minutes=-1)
    with pytest.raises(TypeError, match=r"'delay_minutes' must be a number"):
        Step(channel="sms", content="confirmation", delay_minutes="1")  # type: ignore[arg-type]


def test_every_shipped_scenario_loads(root: Path) -> None:
    files = sorted((root / "simulations").glob("*.toml"))
    assert files
    for f in files:
        assert nl.load_scenario(f).experiment.arms


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("horizon_days = " + "[" * 5000 + "]" * 5000, "nests arrays or tables too deeply"),
        ("horizon_days = 1e18", r"'horizon_days' in \[top level\].*\[1, 3650\]; got 1e\+18"),
        (
            '[population]\nstart_date = "9999-12-20"',
            "'start_date' in \\[population\\].*between 1971-01-01 and 2200-12-31",
        ),
        ("[population]\narrival_days = 1000000000", r"'arrival_days' in \[population\].*\[1, 3650\]"),
    ],
)
def test_values_that_would_overflow_a_timestamp_are_refused(tmp_path: Path, text: str, match: str) -> None:
    body = TINY.replace("horizon_days = 40\n", "")
    p = tmp_path / "o.toml"
    p.write_text(text + "\n" + body if text.startswith("horizon") else body + "\n" + text + "\n")
    with pytest.raises(nl.ScenarioError, match=match):
        nl.load_scenario(p)


def test_an_arm_that_would_get_no_leads_is_refused(tiny: nl.Scenario) -> None:
    arms = (tiny.experiment.arms[0], dataclasses.replace(tiny.experiment.arms[1], allocation=0.001))
    sc = dataclasses.replace(tiny, experiment=dataclasses.replace(tiny.experiment, arms=arms))
    with pytest.raises(nl.ParameterError, match="Arm 'fast' of scenario 'tiny' would get 0 of 100 leads"):
        nl.simulate(sc, n_leads=100)


def test_restrict_keeps_steps_aimed_at_other_lines_aimed() -> None:
    sc = nl.load_scenario("speed_to_lead")
    bh = nl.scenario.restrict(sc, "behavioral_health")
    assert bh.service_lines == ("behavioral_health",)
    assert sc.experiment.arms[0].steps[5].service_line is not None
    assert bh.experiment.arms[0].steps[5].service_line == ()  # aimed elsewhere: selects no lead here
    res = nl.simulate(bh, seed=1, n_leads=600, jobs=1, truth=False)
    assert (res.touches.loc[res.touches["step"] == 5, "status"] == "not_selected").all()


def test_a_bad_content_in_a_shared_cadence_is_located_in_the_cadence(tmp_path: Path) -> None:
    """A typo in [cadences.X] is named where it is written, not at the first arm that uses it."""
    raw = (Path(__file__).resolve().parents[2] / "simulations" / "speed_to_lead.toml").read_text()
    assert "[cadences.seed_case]" in raw and 'content = "prep_guide"' in raw
    bad = raw.replace('content = "prep_guide"', 'content = "prep_guid"', 1)
    with pytest.raises(
        nl.ScenarioError, match=r"'content' in \[cadences\.seed_case\.steps\.\d+\] of .*got 'prep_guid'"
    ):
        nl.load_scenario(write(tmp_path, bad))

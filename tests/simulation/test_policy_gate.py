"""Every message through one gate: adversarial scenarios and random cadences, checked over the log.

The invariants (tests/simulation/invariants.py) use zoneinfo for local time and recompute windows,
caps and spacing from the event log alone.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nurture_lab as nl
from nurture_lab.scenario import Policy, Reminder, Step
from nurture_lab.scenario.model import CHANNELS

from .invariants import check_invariants

ADVERSARIAL = """
name = "adversarial"
horizon_days = 30

[population]
start_date = "2026-02-26"   # arrivals straddle the spring-forward change of 2026-03-08
arrival_days = 14
states = { FL = 0.5, OK = 0.3, AZ = 0.1, NY = 0.1 }
confidential_rate = 0.1

[service_lines.behavioral_health]
share = 0.5
[service_lines.primary_care]
share = 0.5

[policy]
handoff_failure_rate = 0.3
handoff_failure_mode = "duplicate"

[experiment]
control = "dense"

[arms.dense]
reminder = { channel = "sms", hours_before = 2 }
steps = [
  { channel = "sms", content = "provider_bio", anchor = "inquiry", delay_minutes = 0, owner = "a" },
  { channel = "call", content = "prep_guide", anchor = "inquiry", delay_minutes = 0, owner = "b" },
  { channel = "email", content = "coverage_faq", anchor = "inquiry", delay_minutes = 0, owner = "a" },
  { channel = "sms", content = "booking_link", anchor = "inquiry", delay_minutes = 30, owner = "b", if_no_response = true },
  { channel = "call", content = "confirmation", anchor = "inquiry", delay_minutes = 10, owner = "a", if_no_response = true },
  { channel = "call", content = "confirmation", delay_minutes = 5, owner = "b", if_no_response = true },
  { channel = "retargeting", content = "generic", anchor = "inquiry", delay_minutes = 60, owner = "a" },
  { channel = "chat", content = "generic", anchor = "inquiry", delay_minutes = 90, owner = "b" },
  { channel = "email", content = "prep_guide", anchor = "inquiry", delay_minutes = 120, owner = "a", if_qualified = true },
  { channel = "sms", content = "reactivation", anchor = "inquiry", delay_minutes = 1500, owner = "b" },
]

[arms.call_reminder]
reminder = { channel = "call", hours_before = 30 }
steps = [
  { channel = "call", content = "confirmation", anchor = "inquiry", delay_minutes = 1 },
  { channel = "sms", content = "booking_link", anchor = "inquiry", delay_minutes = 2, if_no_response = true },
  { channel = "sms", content = "booking_link", anchor = "inquiry", delay_minutes = 3, if_no_response = true },
  { channel = "call", content = "confirmation", anchor = "inquiry", delay_minutes = 4, if_no_response = true },
]

[arms.email_reminder]
reminder = { channel = "email", hours_before = 48 }
steps = [
  { channel = "email", content = "provider_bio", anchor = "inquiry", delay_minutes = 0 },
  { channel = "email", content = "provider_bio", anchor = "inquiry", delay_minutes = 1 },
]

[arms.chat_reminder]
reminder = { channel = "chat", hours_before = 24 }
steps = [{ channel = "chat", content = "generic", anchor = "inquiry", delay_minutes = 0 }]

[arms.retargeting_reminder]
reminder = { channel = "retargeting", hours_before = 24 }
steps = [{ channel = "retargeting", content = "generic", anchor = "inquiry", delay_minutes = 0 }]
"""


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory: pytest.TempPathFactory) -> nl.SimulationResult:
    p = tmp_path_factory.mktemp("adv") / "adversarial.toml"
    p.write_text(ADVERSARIAL)
    return nl.simulate(nl.load_scenario(p), seed=11, n_leads=6000, truth=False, jobs=1)


def test_adversarial_scenario_keeps_every_rule(adversarial: nl.SimulationResult) -> None:
    check_invariants(adversarial)
    T = adversarial.touches
    sent = T[T["status"] == "sent"]
    # the scenario really exercises the rules: reminders on every channel, duplicates, the DST week
    assert set(sent.loc[sent["step"] == -1, "channel"].astype(str)) >= {"sms", "call", "email"}
    assert sent["duplicate"].any()
    assert (sent["sent_at"] > pd.Timestamp("2026-03-09", tz="UTC")).sum() > 500
    reasons = " ".join(T["reason"].astype(str).unique())
    for r in (
        "state_24h",
        "min_gap",
        "quiet_hours",
        "sensitive_replaced",
        "confidential",
        "responded",
        "no_chat_session",
        "sensitive_retargeting",
        "cap_day",
        "opted_out",
    ):
        assert r in reasons, r
    # no two touches to one lead at the same instant, in any arm
    assert not sent.duplicated(["lead_id", "sent_at"]).any()


def test_replaced_content_takes_the_replacements_effect(tiny: nl.Scenario) -> None:
    # an arm whose revealing SMS is replaced for sensitive leads == an arm that sends generic content to them
    base = tiny.experiment.arm("slow")
    steps = list(base.steps)
    steps[2] = dataclasses.replace(steps[2], content="booking_link")
    reveal = dataclasses.replace(base, name="reveal", steps=tuple(steps))
    sc = dataclasses.replace(
        tiny,
        contents=dict(tiny.contents)
        | {"booking_link": dataclasses.replace(tiny.contents["booking_link"], reveals_condition=True)},
    )
    steps_g = list(steps)
    steps_g[2] = dataclasses.replace(steps[2], content="generic")
    generic = dataclasses.replace(base, name="generic", steps=tuple(steps_g))
    exp = dataclasses.replace(tiny.experiment, arms=(generic, reveal), control="generic")
    res = nl.simulate(dataclasses.replace(sc, experiment=exp), seed=4, n_leads=20_000)
    # for the sensitive line the revealing content is always replaced: the truth is exactly 0
    assert res.true_effect("booked", "reveal", "behavioral_health") == 0
    assert res.true_effect("booked", "reveal", "primary_care") > 0  # elsewhere the link works


def test_unset_cap_keys_keep_their_defaults(tiny_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "caps.toml"
    p.write_text(tiny_path.read_text().replace("[experiment]", "[policy.caps.sms]\nper_day = 1\n\n[experiment]"))
    caps = nl.load_scenario(p).policy.caps["sms"]
    assert (caps.per_day, caps.per_week) == (1, 3)


channels = st.sampled_from(CHANNELS)
contents = st.sampled_from(["confirmation", "provider_bio", "booking_link", "prep_guide", "generic", "reactivation"])
step_st = st.builds(
    Step,
    channel=channels,
    content=contents,
    delay_minutes=st.sampled_from([0, 1, 5, 30, 60, 240, 900, 1440, 2880, 7200]),
    anchor=st.sampled_from(["inquiry", "previous"]),
    window=st.sampled_from([None, (9.0, 17.0), (7.0, 22.0), (19.0, 21.0), (0.0, 24.0)]),
    owner=st.sampled_from(["a", "b"]),
    if_no_response=st.booleans(),
    if_qualified=st.booleans(),
)
policy_st = st.builds(
    Policy,
    opt_out_scope=st.sampled_from(["all", "channel"]),
    sensitive_content_action=st.sampled_from(["replace", "block"]),
    handoff_failure_rate=st.sampled_from([0.0, 0.5]),
    handoff_failure_mode=st.sampled_from(["drop", "duplicate"]),
    min_gap_minutes=st.sampled_from([0.0, 2.0, 30.0]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    steps=st.lists(step_st, min_size=1, max_size=8),
    reminder=st.one_of(st.none(), st.builds(Reminder, channel=channels, hours_before=st.sampled_from([1, 24, 72]))),
    policy=policy_st,
    start=st.sampled_from(["2026-03-02", "2026-10-26", "2026-06-01"]),
    seed=st.integers(0, 1000),
)
def test_no_random_cadence_breaks_a_rule(tiny: nl.Scenario, steps, reminder, policy, start, seed) -> None:  # type: ignore[no-untyped-def]
    arm = nl.scenario.Arm(name="random", steps=tuple(steps), reminder=reminder)
    pop = dataclasses.replace(
        tiny.population,
        start_date=start,
        arrival_days=10,
        states={"FL": 0.4, "OK": 0.2, "CA": 0.2, "AZ": 0.2},
        confidential_rate=0.2,
    )
    exp = nl.scenario.Experiment(arms=(arm,), control="random")
    sc = dataclasses.replace(tiny, population=pop, policy=policy, experiment=exp)
    check_invariants(nl.simulate(sc, seed=seed, n_leads=400, truth=False, jobs=1))

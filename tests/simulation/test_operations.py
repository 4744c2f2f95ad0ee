"""Compliance and operations gaps (issue 21, section 3), each checked on the touch log with pandas alone
(:func:`.invariants.check_operations`), never with the engine's helpers."""

from __future__ import annotations

import dataclasses

import pytest

import nurture_lab as nl

from .invariants import check_invariants, check_operations


def _scarce(sc: nl.Scenario, agents: int = 3) -> nl.Scenario:
    """Few agents, call reminders, failed handoffs sent twice: calls wait, reminders meet the queue."""
    assert sc.contact_center is not None
    cc = dataclasses.replace(sc.contact_center, agents=agents)
    pol = dataclasses.replace(sc.policy, handoff_failure_rate=0.2, handoff_failure_mode="duplicate")
    arms = tuple(
        dataclasses.replace(a, reminder=dataclasses.replace(a.reminder, channel="call")) if a.reminder else a
        for a in sc.experiment.arms
    )
    # a reminder that names the visit's reason: replaced by generic content for sensitive or confidential leads
    contents = dict(sc.contents) | {"reminder": dataclasses.replace(sc.contents["reminder"], reveals_condition=True)}
    exp = dataclasses.replace(sc.experiment, arms=arms)
    return dataclasses.replace(sc, contact_center=cc, policy=pol, experiment=exp, contents=contents)


@pytest.fixture(scope="module")
def shipped(speed: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(speed, seed=21, n_leads=6000, truth=False)


@pytest.fixture(scope="module")
def scarce(speed: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(_scarce(speed), seed=22, n_leads=4000, truth=False)


def test_the_shipped_scenario_keeps_the_operations_rules(shipped: nl.SimulationResult) -> None:
    check_operations(shipped)
    check_invariants(shipped)


def test_a_scarce_centre_keeps_the_operations_rules(scarce: nl.SimulationResult) -> None:
    check_operations(scarce)
    check_invariants(scarce)


def test_without_a_centre_the_operations_rules_hold(speed: nl.Scenario) -> None:
    res = nl.simulate(dataclasses.replace(_scarce(speed), contact_center=None), seed=23, n_leads=3000, truth=False)
    check_operations(res)


def test_the_checks_see_what_they_check(shipped: nl.SimulationResult, scarce: nl.SimulationResult) -> None:
    """The runs hold what the checks look at: confidential leads called, answered inbound callers with
    touches after, booked leads reminded by call through a waiting queue."""
    for res in (shipped, scarce):
        L, T = res.leads, res.touches
        calls = T[(T["channel"] == "call") & T["handle_minutes"].notna()]
        assert calls["lead_id"].isin(L.loc[L["confidential"], "lead_id"]).sum() > 50
        live = L.loc[(L["source"] == "phone") & ~L["missed_call"], "lead_id"]
        assert T[(T["status"] == "sent") & T["lead_id"].isin(live)]["lead_id"].nunique() > 50
    rem = scarce.touches[(scarce.touches["step"] == -1) & (scarce.touches["channel"] == "call")]
    assert (rem["status"] == "sent").sum() > 100 and (rem["queue_minutes"] > 60).sum() > 10
    assert rem["engaged"].sum() > 20 and (rem["content"] == "generic").sum() > 20
    calls = scarce.touches[scarce.touches["channel"] == "call"]
    assert (calls["status"] == "skipped").sum() > 100

"""Scenarios: the model (frozen dataclasses with sourced defaults), the TOML loader and the lint rules.

Data flow: scenario file -> :func:`load_scenario` -> :class:`Scenario` -> the simulation.
"""

from .loader import bundled_scenarios, load_scenario, restrict, scenario_from_dict, scenario_path
from .model import (
    CHANNELS,
    TCPA_CHANNELS,
    Arm,
    Behaviour,
    ChannelBehaviour,
    ChannelCaps,
    ContactCenter,
    Content,
    Design,
    Experiment,
    Policy,
    Population,
    Reminder,
    Scenario,
    ServiceLine,
    Step,
)

__all__ = [
    "CHANNELS",
    "TCPA_CHANNELS",
    "Arm",
    "Behaviour",
    "ChannelBehaviour",
    "ChannelCaps",
    "ContactCenter",
    "Content",
    "Design",
    "Experiment",
    "Policy",
    "Population",
    "Reminder",
    "Scenario",
    "ServiceLine",
    "Step",
    "bundled_scenarios",
    "load_scenario",
    "restrict",
    "scenario_from_dict",
    "scenario_path",
]

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nurture_lab as nl

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

TINY = """
name = "tiny"
horizon_days = 40

[service_lines.primary_care]
share = 0.6
[service_lines.behavioral_health]
share = 0.4

[experiment]
control = "slow"

[arms.slow]
steps = [
  { channel = "email", content = "confirmation", anchor = "inquiry", delay_minutes = 1 },
  { channel = "call", content = "confirmation", anchor = "inquiry", delay_minutes = 1440 },
  { channel = "sms", content = "provider_bio", delay_minutes = 60 },
  { channel = "email", content = "coverage_faq", anchor = "inquiry", delay_minutes = 4320, if_qualified = true },
]

[arms.fast]
steps = [
  { channel = "email", content = "confirmation", anchor = "inquiry", delay_minutes = 1 },
  { channel = "call", content = "confirmation", anchor = "inquiry", delay_minutes = 5 },
  { channel = "sms", content = "provider_bio", delay_minutes = 60 },
  { channel = "email", content = "coverage_faq", anchor = "inquiry", delay_minutes = 4320, if_qualified = true },
]
"""


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("sc") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="session")
def tiny(tiny_path: Path) -> nl.Scenario:
    return nl.load_scenario(tiny_path)


@pytest.fixture(scope="session")
def speed() -> nl.Scenario:
    return nl.load_scenario(ROOT / "simulations" / "speed_to_lead.toml")


@pytest.fixture(scope="session")
def speed_run(speed: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(speed, seed=11, n_leads=30_000)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)

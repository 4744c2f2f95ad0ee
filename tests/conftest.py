from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m nurture_lab ARGS`` as a user runs it; its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "nurture_lab", *args], capture_output=True, text=True, cwd=cwd)


def binary_frame(counts: dict[str, tuple[int, int]], metric: str = "y") -> pd.DataFrame:
    """A per-unit 0/1 table with ``k`` ones out of ``n`` units per arm."""
    parts = []
    for arm, (k, n) in counts.items():
        parts.append(pd.DataFrame({"arm": arm, metric: np.r_[np.ones(k, dtype=int), np.zeros(n - k, dtype=int)]}))
    return pd.concat(parts, ignore_index=True)


#: 200/2000 vs 250/2000: a known two-arm binary experiment.
KNOWN = binary_frame({"control": (200, 2000), "treat": (250, 2000)})

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


def uniform_centre(tmp_path: Path, agents: int, *, open_all_day: bool = False) -> nl.Scenario:
    """Erlang C's own setting: inquiries spread evenly over every hour of every day, one call each, a
    centre staffed around the clock with ``agents``; ``open_all_day`` also lifts the quiet hours, so
    every call starts when an agent is free."""
    policy = "[policy]\nquiet_hours = [0, 24]\n" if open_all_day else ""
    text = f"""
name = "uniform"
[population]
arrival_days = 28
hour_profile = {[1] * 24}
weekday_profile = {[1] * 7}
[service_lines.primary_care]
share = 1.0
consent = {{ call = 1.0 }}
[behaviour]
preferred_multiplier = 1.0
[behaviour.channels.call]
deliver_rate = 1.0
engage_rate = 0.25
{policy}[contact_center]
agents = {[[agents] * 24] * 7}
voicemail_rate = 0.5
handle_minutes = {{ connected = 8, voicemail = 2, no_answer = 1 }}
inbound_calls = false
[experiment]
control = "a"
[arms.a]
steps = [{{ channel = "call", content = "generic", anchor = "inquiry", delay_minutes = 0 }}]
"""
    p = tmp_path / "uniform.toml"
    p.write_text(text)
    return nl.load_scenario(p)

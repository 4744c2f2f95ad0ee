"""nurture_lab: an experimentation suite for healthcare lead nurturing."""

from .engine import SimulationResult, simulate
from .errors import DataError, NurtureLabError, ScenarioError
from .population import make_leads
from .scenario import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "NurtureLabError",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "__version__",
    "load_scenario",
    "make_leads",
    "simulate",
]

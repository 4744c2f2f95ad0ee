"""nurture_lab: an experimentation suite for healthcare lead nurturing.

Simulate synthetic lead populations and follow-up cadences under the rules that bind every message,
run A/B/n experiments on them, analyse them as a real test, plan real tests, write reports.
"""

from . import datasets, imports, plots, reports, scenario, summaries
from .analysis import AnalysisResult, analyze, non_inferiority, time_to_book
from .calibration import calibrate, simulate_power
from .engine import SimulationResult, simulate
from .errors import DataError, NurtureLabError, ScenarioError
from .lint import lint_scenario
from .population import make_leads
from .power import mde, power_at, sample_size
from .reports import render_reports
from .scenario import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "AnalysisResult",
    "DataError",
    "NurtureLabError",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "__version__",
    "analyze",
    "calibrate",
    "datasets",
    "imports",
    "lint_scenario",
    "load_scenario",
    "make_leads",
    "mde",
    "non_inferiority",
    "plots",
    "power_at",
    "render_reports",
    "reports",
    "sample_size",
    "scenario",
    "simulate",
    "simulate_power",
    "summaries",
    "time_to_book",
]

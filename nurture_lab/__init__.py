"""nurture_lab: an experimentation suite for healthcare lead nurturing.

Simulate synthetic lead populations and follow-up cadences under the rules that bind every message,
run A/B/n experiments on them, analyse them as a real test, plan real tests, write reports.

The public API is flat (``import nurture_lab as nl; nl.simulate(...)``); the package's folders
follow the data flow (``scenario`` -> ``simulation`` -> ``stats`` -> ``reporting``, with ``io`` for
files and ``cli`` for the command line). Names are imported when first used, so
``import nurture_lab`` loads no scientific library, no plotting and no Jupyter.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # scenario
    "Scenario": "scenario.model",
    "load_scenario": "scenario.loader",
    "bundled_scenarios": "scenario.loader",
    "lint_scenario": "scenario.lint",
    "LintResult": "scenario.lint",
    # simulation
    "make_leads": "simulation.population",
    "simulate": "simulation.engine",
    "SimulationResult": "simulation.engine",
    "truth_in": "simulation.engine",
    "ContactCenter": "scenario.model",
    "Design": "scenario.model",
    "erlang_c_agents": "simulation.contact_center",
    # statistics
    "analyze": "stats.warehouse",  # a pandas frame, or an Ibis table reduced in the database
    "AnalysisResult": "stats.analysis",
    "Ratio": "stats.ratio",
    "non_inferiority": "stats.guardrails",
    "NonInferiorityResult": "stats.guardrails",
    "time_to_book": "stats.survival",
    "TimeToBookResult": "stats.survival",
    "sample_size": "stats.power",
    "power_at": "stats.power",
    "mde": "stats.power",
    "monitor": "stats.monitor",
    "MonitorResult": "stats.monitor",
    "simulate_power": "stats.simulated",
    "calibrate": "stats.simulated",
    "PowerResult": "stats.simulated",
    "CalibrationResult": "stats.simulated",
    # what-if designs
    "staffing_curve": "whatif.staffing",
    "compare_send_times": "whatif.send_time",
    "SendTimeResult": "whatif.send_time",
    "StaffingResult": "whatif.staffing",
    "compare_designs": "whatif.designs",
    "DesignsResult": "whatif.designs",
    # files
    "read_leads": "io.crm",
    "read_touches": "io.crm",
    "ImportResult": "io.crm",
    "make_example_export": "io.example",
    "connect": "io.warehouse",
    # reports
    "render_reports": "reporting.render",
    "ReportRun": "reporting.render",
    # errors
    "NurtureLabError": "errors",
    "ScenarioError": "errors",
    "DataError": "errors",
    "ParameterError": "errors",
}
#: modules reachable as attributes: ``nl.datasets.hillstrom()``, ``nl.stats``, ...
_MODULES: dict[str, str] = {
    "datasets": "datasets",
    "scenario": "scenario",
    "simulation": "simulation",
    "stats": "stats",
    "io": "io",
    "reporting": "reporting",
    "whatif": "whatif",
}

__all__ = sorted([*_EXPORTS, *_MODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
    else:
        raise AttributeError(f"module 'nurture_lab' has no attribute {name!r}")
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return __all__

"""Writing and reading a simulation's files: leads.parquet, touches.parquet, truth.csv, manifest.json."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import Any

from ..io import atomic
from .results import SimulationResult


def manifest(res: SimulationResult) -> dict[str, Any]:
    """What made the files: scenario file and hash, seed, n, package version, row counts."""
    from .._version import __version__

    return {
        "scenario": res.scenario.name,
        "scenario_path": res.scenario.path,
        "scenario_sha256": res.scenario.sha256 or hashlib.sha256(repr(res.scenario).encode()).hexdigest(),
        "seed": res.seed,
        "n_leads": res.n_leads,
        "package_version": __version__,
        "python": platform.python_version(),
        "rows": {"leads": len(res.leads), "touches": len(res.touches), "truth": len(res.truth)},
        "arms": list(res.scenario.experiment.arm_names),
        "control": res.scenario.experiment.control,
        "allocation": res.scenario.experiment.allocation,
    }


def write_simulation(res: SimulationResult, out: str | Path, *, identities: bool = False) -> list[Path]:
    """Write the four files of a simulation into ``out`` (each atomically). Returns their paths.

    The synthetic identities (name, email, phone) are left out unless ``identities=True``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    leads = res.leads if identities else res.analysis_frame()
    return [
        atomic.write_parquet(out / "leads.parquet", leads),
        atomic.write_parquet(out / "touches.parquet", res.touches),
        atomic.write_csv(out / "truth.csv", res.truth),
        atomic.write_json(out / "manifest.json", manifest(res)),
    ]

"""Import benchmark: read and analyse a 1,000,000-lead CRM export (CSV). Target (issue 8): <= 10 s.
Run: ``.venv/bin/python benchmarks/bench_imports.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import nurture_lab as nl
from nurture_lab.io.crm import read_leads

N = 1_000_000


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    rng = np.random.default_rng(0)
    created = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(rng.integers(0, 28 * 86400, N), unit="s")
    booked = rng.random(N) < 0.3
    booked_at = pd.Series(created + pd.to_timedelta(rng.exponential(10 * 86400, N).astype(int), unit="s")).where(booked)
    yn = np.array(["Yes", "No"])
    df = pd.DataFrame(
        {
            "lead_id": np.arange(N),
            "name": "Synthetic Person",
            "arm": np.where(rng.random(N) < 0.5, "control", "fast "),
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "service_line": rng.choice(["orthopedics", "primary_care", "cardiology"], N),
            "booked_at": booked_at.dt.strftime("%Y-%m-%dT%H:%M:%S%z").fillna(""),
            "opted_out": yn[(rng.random(N) > 0.02).astype(int)],
        }
    )
    path = tmp / "export.csv"
    df.to_csv(path, index=False)
    t0 = time.perf_counter()
    imp = read_leads(path)
    t1 = time.perf_counter()
    res = nl.analyze(imp.leads, arm="arm", control="control", metrics=["booked_30d", "opted_out"])
    t2 = time.perf_counter()
    print(
        f"import {N:,} leads ({path.stat().st_size / 1e6:.0f} MB CSV): {t1 - t0:.2f} s; analyse: {t2 - t1:.2f} s; "
        f"total {t2 - t0:.2f} s (target <= 10 s)"
    )
    print(f"  dropped identifiers: {imp.dropped_identifiers}; fixes: {imp.fixes}")
    assert len(res.results) == 2


if __name__ == "__main__":
    main()

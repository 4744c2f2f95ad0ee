from __future__ import annotations

import numpy as np
import pytest

import nurture_lab as nl


def test_time_to_book(speed_run: nl.SimulationResult) -> None:
    from statsmodels.duration.survfunc import survdiff

    L = speed_run.leads
    res = nl.time_to_book(L, "arm", "next_business_day", horizon_days=60)
    assert set(res.curves["arm"]) == set(L["arm"].astype(str))
    assert (res.curves.groupby("arm")["survival"].apply(lambda s: (s.diff().dropna() <= 1e-12).all())).all()
    t = np.where(L["booked"], L["days_to_book"], 60.0)
    _chi2, p = survdiff(np.maximum(t, 1e-9), L["booked"].astype(int).to_numpy(), L["arm"].astype(str).to_numpy())
    assert res.logrank_p == pytest.approx(p)
    hr = res.cox.set_index("arm")["hazard_ratio"]
    assert hr["within_5_min"] > 1  # faster calls book sooner

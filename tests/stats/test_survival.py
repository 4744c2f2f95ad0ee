from __future__ import annotations

import numpy as np
import pytest

import nurture_lab as nl


def logrank_by_hand(t: np.ndarray, event: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """The k-sample log-rank test from its definition (observed minus expected, hypergeometric variance)."""
    from scipy import stats

    labels = np.unique(group)
    times = np.unique(t[event])
    o_minus_e = np.zeros(len(labels))
    var = np.zeros((len(labels), len(labels)))
    at_risk_all = np.array([(t >= u).sum() for u in times], dtype=float)
    d_all = np.array([((t == u) & event).sum() for u in times], dtype=float)
    n_j = np.array([[((t >= u) & (group == g)).sum() for g in labels] for u in times], dtype=float)
    d_j = np.array([[((t == u) & event & (group == g)).sum() for g in labels] for u in times], dtype=float)
    o_minus_e = (d_j - n_j * (d_all / at_risk_all)[:, None]).sum(axis=0)
    w = d_all * (at_risk_all - d_all) / np.maximum(at_risk_all - 1, 1) / at_risk_all**2
    for a in range(len(labels)):
        for b in range(len(labels)):
            var[a, b] = np.sum(w * (n_j[:, a] * at_risk_all * (a == b) - n_j[:, a] * n_j[:, b]))
    k = len(labels) - 1
    chi2 = float(o_minus_e[:k] @ np.linalg.solve(var[:k, :k], o_minus_e[:k]))
    return chi2, float(stats.chi2.sf(chi2, k))


def test_time_to_book(speed_run: nl.SimulationResult) -> None:
    L = speed_run.leads
    res = nl.time_to_book(L, "arm", "next_business_day", horizon_days=60)
    assert set(res.curves["arm"]) == set(L["arm"].astype(str))
    assert (res.curves.groupby("arm")["survival"].apply(lambda s: (s.diff().dropna() <= 1e-12).all())).all()
    t = np.round(np.where(L["booked"], L["days_to_book"], 60.0), 6)  # the same censoring, computed here
    chi2, p = logrank_by_hand(np.maximum(t, 1e-9), L["booked"].to_numpy(bool), L["arm"].astype(str).to_numpy())
    assert res.logrank_chi2 == pytest.approx(chi2, rel=1e-3)
    assert res.logrank_p == pytest.approx(p, rel=1e-2, abs=1e-300)
    hr = res.cox.set_index("arm")["hazard_ratio"]
    assert hr["within_5_min"] > 1  # faster calls book sooner

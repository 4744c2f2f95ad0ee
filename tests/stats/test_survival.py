from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl


def logrank_by_hand(t: np.ndarray, event: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """The k-sample log-rank test from its definition (observed minus expected, hypergeometric
    variance), vectorised over event times: counts at risk and events per time by binary search."""
    from scipy import stats

    labels = np.unique(group)
    times = np.unique(t[event])

    def at_risk(x: np.ndarray) -> np.ndarray:  # how many of x are >= each event time
        return x.size - np.searchsorted(np.sort(x), times, side="left")

    def events_at(x: np.ndarray) -> np.ndarray:  # how many of x equal each event time
        xs = np.sort(x)
        return np.searchsorted(xs, times, side="right") - np.searchsorted(xs, times, side="left")

    at_risk_all = at_risk(t).astype(float)
    d_all = events_at(t[event]).astype(float)
    n_j = np.column_stack([at_risk(t[group == g]) for g in labels]).astype(float)
    d_j = np.column_stack([events_at(t[event & (group == g)]) for g in labels]).astype(float)
    o_minus_e = (d_j - n_j * (d_all / at_risk_all)[:, None]).sum(axis=0)
    w = d_all * (at_risk_all - d_all) / np.maximum(at_risk_all - 1, 1) / at_risk_all**2
    var = np.diag((w[:, None] * n_j * at_risk_all[:, None]).sum(axis=0)) - np.einsum("t,ta,tb->ab", w, n_j, n_j)
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


def test_each_lead_is_followed_for_its_own_time() -> None:
    """Recent leads of a real export have short follow-up: censoring them at the horizon misleads."""
    gen = np.random.default_rng(4)
    n = 1200
    arm = np.repeat(["c", "t"], n // 2)
    days = gen.exponential(np.where(arm == "t", 25.0, 35.0))
    follow = gen.uniform(1, 60, n)  # created over two months before the export
    booked = days <= 60
    df = pd.DataFrame({"arm": arm, "booked": booked, "days_to_book": np.where(booked, days, np.nan), "follow": follow})
    created = pd.Timestamp("2026-11-01", tz="UTC") - pd.to_timedelta(follow, unit="D")
    df["created_at"] = created
    res = nl.time_to_book(df, "arm", "c", horizon_days=60, followup_days="follow")
    # what was observable at the export: a booking after the lead's follow-up had not happened yet
    ev = booked & (days <= follow)
    t = np.where(ev, days, follow)
    chi2, _p = logrank_by_hand(t, ev, arm)
    assert res.logrank_chi2 == pytest.approx(chi2, rel=1e-3)
    assert res.medians.set_index("arm").loc["c", "n_booked"] == int(ev[arm == "c"].sum())
    same = nl.time_to_book(df, "arm", "c", horizon_days=60, as_of="2026-11-01")
    assert same.logrank_chi2 == pytest.approx(res.logrank_chi2, rel=1e-6)
    common = nl.time_to_book(df.assign(booked=ev), "arm", "c", horizon_days=60)  # the old rule
    assert abs(common.logrank_chi2 - res.logrank_chi2) > 0.01 * res.logrank_chi2
    with pytest.raises(nl.DataError, match=r"created after as_of"):
        nl.time_to_book(df, "arm", "c", horizon_days=60, as_of="2026-09-01")


def rmst_by_hand(t: np.ndarray, ev: np.ndarray, tau: float) -> float:
    """The area under the Kaplan-Meier step function up to tau, summed step by step."""
    order = np.argsort(t)
    t, ev = t[order], ev[order]
    s, last, area, at_risk = 1.0, 0.0, 0.0, len(t)
    for u in np.unique(t):
        if u > tau:
            break
        d = int(((t == u) & ev).sum())
        area += s * (u - last)
        last = u
        s *= 1 - d / at_risk
        at_risk -= int((t == u).sum())
    return area + s * (tau - last)


def test_restricted_mean_time_to_book(speed_run: nl.SimulationResult) -> None:
    L = speed_run.leads
    res = nl.time_to_book(L, "arm", "next_business_day", horizon_days=60)
    r = res.rmst.set_index("arm")
    t = np.maximum(np.where(L["booked"], L["days_to_book"], 60.0), 1e-9)
    for arm in ("within_5_min", "next_business_day"):
        sel = (L["arm"] == arm).to_numpy()
        assert r.loc[arm, "rmst_days"] == pytest.approx(
            rmst_by_hand(t[sel], L["booked"].to_numpy(bool)[sel], 60.0), rel=1e-9
        )
    assert r.loc["within_5_min", "rmst_diff_days"] < 0  # faster calls: booked sooner
    assert "rmst_diff_days" in res.to_pandas().columns


@pytest.mark.slow
def test_rmst_interval_covers_the_true_difference() -> None:
    """Exponential times to book: the true RMST up to tau is (1 - exp(-tau / m)) * m."""
    from scipy import stats

    tau, m1, m0, n, reps = 30.0, 20.0, 30.0, 300, 200
    truth = (1 - np.exp(-tau / m1)) * m1 - (1 - np.exp(-tau / m0)) * m0
    gen = np.random.default_rng(9)
    covered = 0
    for _ in range(reps):
        days = np.r_[gen.exponential(m0, n), gen.exponential(m1, n)]
        df = pd.DataFrame({"arm": np.repeat(["c", "t"], n), "booked": days <= tau, "days_to_book": days})
        r = nl.time_to_book(df, "arm", "c", horizon_days=tau).rmst.set_index("arm").loc["t"]
        covered += r["rmst_ci_low"] <= truth <= r["rmst_ci_high"]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, 0.95)
    assert lo <= covered <= hi


def test_cox_on_risk_set_counts_equals_statsmodels_phreg() -> None:
    from statsmodels.duration.hazard_regression import PHReg

    gen = np.random.default_rng(12)
    n = 3000
    arm = gen.choice(["c", "a", "b"], n)
    days = np.round(gen.exponential(np.select([arm == "a", arm == "b"], [20.0, 25.0], 30.0)), 1)  # ties, too
    booked = days <= 40
    df = pd.DataFrame({"arm": arm, "booked": booked, "days_to_book": np.where(booked, days, np.nan)})
    res = nl.time_to_book(df, "arm", "c", horizon_days=40).cox.set_index("arm")
    t = np.maximum(np.where(booked, days, 40.0), 1e-9)
    exog = np.column_stack([(arm == g).astype(float) for g in ("a", "b")])
    fit = PHReg(t, exog, status=booked.astype(int), ties="breslow").fit()
    ci = np.exp(fit.conf_int(alpha=0.05))
    for j, g in enumerate(("a", "b")):
        assert res.loc[g, "hazard_ratio"] == pytest.approx(np.exp(fit.params[j]), rel=1e-6)
        assert res.loc[g, "ci_low"] == pytest.approx(ci[j, 0], rel=1e-6)
        assert res.loc[g, "ci_high"] == pytest.approx(ci[j, 1], rel=1e-6)
        assert res.loc[g, "p_value"] == pytest.approx(fit.pvalues[j], rel=1e-5, abs=1e-300)

"""Analysis benchmark: analyse 1,000,000 rows (two arms, one binary metric, SRM included).

Printed beside the floor measured in the same run: a pandas groupby plus statsmodels on the counts
(CI, test, chi-square SRM), and tea-tasting's analysis of the same rows (when installed).
Targets: ratio to the floor <= 2; with covariate adjustment <= 1 s; a ratio metric within 2x of the
binary one; ``sequential=True`` adds at most 20%; at or below tea-tasting's time.
Run: ``.venv/bin/python benchmarks/bench_analysis.py``
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

import nurture_lab as nl

N = 1_000_000


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def floor(df: pd.DataFrame) -> None:
    g = df.groupby("arm", observed=True)["booked"].agg(["sum", "count"])
    c1, n1, c0, n0 = g.loc["treat", "sum"], g.loc["treat", "count"], g.loc["control", "sum"], g.loc["control", "count"]
    confint_proportions_2indep(c1, n1, c0, n0, method="wald", compare="diff")
    test_proportions_2indep(c1, n1, c0, n0, method="wald", compare="diff")
    stats.chisquare(g["count"].to_numpy())


def main() -> None:
    rng = np.random.default_rng(0)
    arm = rng.integers(0, 2, N)
    df = pd.DataFrame(
        {
            "arm": pd.Categorical.from_codes(arm, categories=["control", "treat"]),
            "booked": rng.random(N) < 0.10 + 0.01 * arm,
            "recency": rng.integers(1, 13, N),
            "history": rng.gamma(2.0, 120.0, N),
            "n_touches": rng.integers(1, 8, N),
        }
    )
    nl.analyze(df.head(1000), arm="arm", control="control", metrics=["booked"])  # warm imports
    t_floor = best(lambda: floor(df))
    t_ours = best(lambda: nl.analyze(df, arm="arm", control="control", metrics=["booked"]))
    t_lin = best(
        lambda: nl.analyze(df, arm="arm", control="control", metrics=["booked"], covariates=["recency", "history"]),
        repeat=3,
    )
    print(f"analyze {N:,} rows, 2 arms, 1 binary metric, SRM included")
    print(f"  floor (pandas groupby + statsmodels on counts): {t_floor * 1000:8.1f} ms")
    print(
        f"  nl.analyze:                                     {t_ours * 1000:8.1f} ms   ratio {t_ours / t_floor:.2f} (target <= 2)"
    )
    print(f"  nl.analyze with 2 covariates (Lin, HC2):        {t_lin * 1000:8.1f} ms   (target <= 1000 ms)")
    ratio = nl.Ratio("booked", "n_touches")
    t_ratio = best(lambda: nl.analyze(df, arm="arm", control="control", metrics=[ratio]))
    t_seq = best(lambda: nl.analyze(df, arm="arm", control="control", metrics=["booked"], sequential=True))
    print(
        f"  nl.analyze, ratio metric booked/n_touches:      {t_ratio * 1000:8.1f} ms   "
        f"{t_ratio / t_ours:.2f}x the binary metric (target <= 2)"
    )
    print(
        f"  nl.analyze, sequential=True:                    {t_seq * 1000:8.1f} ms   "
        f"{(t_seq / t_ours - 1) * 100:+.0f}% vs fixed-sample (target <= +20%)"
    )
    t_bayes = best(lambda: nl.analyze(df, arm="arm", control="control", metrics=["booked"], bayesian=True))
    print(
        f"  nl.analyze, bayesian=True:                      {t_bayes * 1000:8.1f} ms   "
        f"{t_bayes / t_ours:.2f}x the plain analysis (target <= 1.3)"
    )
    df3 = df.assign(arm=pd.Categorical.from_codes(rng.integers(0, 4, N), categories=["control", "a", "b", "c"]))
    t_plain3 = best(lambda: nl.analyze(df3, arm="arm", control="control", metrics=["booked"]))
    t_bayes3 = best(lambda: nl.analyze(df3, arm="arm", control="control", metrics=["booked"], bayesian=True))
    print(
        f"  4 arms, bayesian=True (P(best) integrated):     {t_bayes3 * 1000:8.1f} ms   "
        f"{t_bayes3 / t_plain3:.2f}x the plain 4-arm analysis (target <= 1.3)"
    )
    seg = df.assign(line=pd.Categorical.from_codes(rng.integers(0, 8, N), categories=[f"l{i}" for i in range(8)]))
    t_by = best(lambda: nl.analyze(seg, arm="arm", control="control", metrics=["booked"], by="line"))
    res_by = nl.analyze(seg, arm="arm", control="control", metrics=["booked"], by="line")
    d = res_by.results["diff"].to_numpy()
    se = (res_by.results["diff_ci_high"] - res_by.results["diff_ci_low"]).to_numpy() / (2 * 1.959963984540054)
    from nurture_lab.stats.pooling import dersimonian_laird

    t_pool = best(lambda: dersimonian_laird(d, se, 0.05), repeat=20)
    print(
        f"  by=line (8 lines), Q and pooling included:      {t_by * 1000:8.1f} ms   "
        f"the pooling step {t_pool * 1000:.2f} ms = {t_pool / t_by * 100:.2f}% of it (target: pooling <= 30%)"
    )
    try:
        import tea_tasting as tt
    except ImportError:
        print("  tea-tasting: not installed (pip install tea-tasting) - comparison skipped")
        return
    plain = pd.DataFrame({"variant": arm, "booked": df["booked"].to_numpy().astype(int)})
    exp = tt.Experiment(booked=tt.Mean("booked"))
    exp.analyze(plain.head(1000), control=0)
    t_tt = best(lambda: exp.analyze(plain, control=0))
    print(
        f"  tea-tasting Mean on the same rows:              {t_tt * 1000:8.1f} ms   "
        f"nl.analyze is {t_ours / t_tt:.2f}x its time (target <= 1)"
    )


if __name__ == "__main__":
    main()

"""Simulation-based power planning and self-calibration.

``simulate_power`` runs R independent experiments (spawned seeds) per sample size, analyses each
with the same statistics as :func:`nurture_lab.analyze` (on sufficient statistics), and compares
with the true effect the simulator knows. ``calibrate`` checks our own statistics: the A/A
false-positive rate and the coverage of the true effect, each with a binomial confidence interval.

Work is split into batches of replications and mapped over any ``concurrent.futures.Executor``
(processes by default; a Dask ``Client.get_executor()`` works the same). Each replication's seed
depends only on (seed, size, replication), so results are identical whatever the executor.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _random
from .analysis import _adjust, _binary_row, _numeric_row
from .engine import simulate, simulate_stats
from .errors import check_param
from .scenario import Scenario

__all__ = ["CalibrationResult", "PowerResult", "calibrate", "simulate_power"]

BATCH = 10


@dataclass(frozen=True)
class _Batch:
    scenario: Scenario
    metric: str
    size_index: int
    n_leads: int
    seed: int
    reps: tuple[int, ...]
    alpha: float
    ci_method: str
    binary: bool


def _rep_seed(seed: int, size_index: int, rep: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(_random.REPLICATION, size_index, rep))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _run_batch(b: _Batch) -> list[dict[str, Any]]:
    """Each replication: simulate, reduce to sufficient statistics, test every arm vs control."""
    exp = b.scenario.experiment
    out = []
    for rep in b.reps:
        st = simulate_stats(b.scenario, _rep_seed(b.seed, b.size_index, rep), b.n_leads, [b.metric])
        c = st[exp.control]
        rows = []
        for arm in exp.arm_names:
            if arm == exp.control:
                continue
            a = st[arm]
            if b.binary:
                r = _binary_row(
                    a[f"{b.metric}:sum"], int(a["n"]), c[f"{b.metric}:sum"], int(c["n"]), b.ci_method, b.alpha
                )
            else:
                r = _numeric_row(
                    a[f"{b.metric}:sum"],
                    a[f"{b.metric}:sumsq"],
                    int(a["n"]),
                    c[f"{b.metric}:sum"],
                    c[f"{b.metric}:sumsq"],
                    int(c["n"]),
                    b.alpha,
                )
            rows.append(
                {"arm": arm, "diff": r["diff"], "lo": r["diff_ci_low"], "hi": r["diff_ci_high"], "p": r["p_value"]}
            )
        padj = _adjust(np.array([r["p"] for r in rows]), "holm")
        for r, pa in zip(rows, padj):
            out.append({"size_index": b.size_index, "n_leads": b.n_leads, "rep": rep, **r, "p_adjusted": float(pa)})
    return out


def _execute(
    batches: list[_Batch], executor: Executor | None, jobs: int | None, progress: bool, desc: str
) -> list[dict[str, Any]]:
    own = None
    if executor is None:
        workers = jobs or os.cpu_count() or 1
        if workers > 1 and len(batches) > 1:
            own = ProcessPoolExecutor(max_workers=workers)
            executor = own
    try:
        if executor is None:
            it: Iterable[list[dict[str, Any]]] = map(_run_batch, batches)
        else:
            it = executor.map(_run_batch, batches)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(batches), desc=desc, unit="batch")
        results = [row for batch in it for row in batch]
    except KeyboardInterrupt:
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)
            own = None
        raise
    finally:
        if own is not None:
            own.shutdown(wait=True)
    return results


def _true_effects(scenario: Scenario, metric: str, seed: int, truth_leads: int) -> tuple[dict[str, float], float]:
    """True effect of each arm and the control's true mean (common random numbers)."""
    res = simulate(scenario, seed=seed, n_leads=truth_leads, truth=True)
    t = res.truth
    t = t[(t["metric"] == metric) & (t["service_line"] == "all")]
    ctrl = float(t.loc[t["arm"] == scenario.experiment.control, "mean"].iloc[0])
    return dict(zip(t["arm"], t["true_diff"].astype(float))), ctrl


def _binom_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=alpha, method="beta")
    return float(lo), float(hi)


@dataclass(frozen=True)
class PowerResult:
    """Power per (sample size, arm) with Monte Carlo error, bias and coverage of the true effect."""

    table: pd.DataFrame
    replications: pd.DataFrame
    settings: dict[str, Any]

    def n_for_power(self, target: float = 0.8) -> dict[str, float]:
        """Leads (all arms) needed for ``target`` power per arm, interpolated in log n (NaN if not reached)."""
        out = {}
        for arm, g in self.table.groupby("arm"):
            g = g.sort_values("n_leads")
            x, y = np.log(g["n_leads"].to_numpy(float)), g["power"].to_numpy(float)
            if y.max() < target:
                out[str(arm)] = float("nan")
            elif y[0] >= target:
                out[str(arm)] = float(g["n_leads"].iloc[0])
            else:
                i = int(np.argmax(y >= target))
                f = (target - y[i - 1]) / (y[i] - y[i - 1])
                out[str(arm)] = float(np.exp(x[i - 1] + f * (x[i] - x[i - 1])))
        return out

    def plot(self, target: float = 0.8) -> Any:
        from .plots import plot_power_curve

        return plot_power_curve(self.table, target)

    def _repr_html_(self) -> str:
        need = ", ".join(
            f"{a}: {v:,.0f}" if np.isfinite(v) else f"{a}: beyond the largest n" for a, v in self.n_for_power().items()
        )
        return f"<p>Leads needed for 80% power — {need}</p>" + self.table.to_html(
            index=False, float_format="{:.4g}".format
        )


def simulate_power(
    scenario: Scenario,
    n_leads: Sequence[int],
    replications: int = 200,
    metric: str = "booked_30d",
    *,
    seed: int = 0,
    alpha: float = 0.05,
    ci_method: str = "wald",
    executor: Executor | None = None,
    jobs: int | None = None,
    truth_leads: int = 200_000,
    progress: bool = False,
) -> PowerResult:
    """Simulation-based power of the scenario's experiment for each total size in ``n_leads``.

    Args:
        scenario: the experiment to plan.
        n_leads: total leads per experiment (all arms), e.g. ``[2000, 4000, 8000]``.
        replications: independent experiments per size.
        metric: the outcome (binary outcomes use the two-proportion test, others Welch).
        seed: the seed all replications are spawned from.
        executor: any ``concurrent.futures.Executor``; default: processes on all cores (``jobs``).
        truth_leads: leads in the common-random-numbers run that gives the true effect.

    Returns:
        A :class:`PowerResult`: ``table`` has ``n_leads, arm, replications, power, power_se,
        true_effect, mean_estimate, bias, coverage, coverage_se``.
    """
    check_param(
        "simulate_power",
        "scenario",
        type(scenario).__name__,
        "a Scenario",
        isinstance(scenario, Scenario),
        wrong_type=True,
    )
    sizes = [int(n) for n in n_leads]
    check_param(
        "simulate_power",
        "n_leads",
        n_leads,
        "a list of ints >= 2 per arm",
        bool(sizes) and min(sizes) >= 2 * len(scenario.experiment.arms),
    )
    check_param(
        "simulate_power",
        "replications",
        replications,
        "an int in the range [2, inf)",
        isinstance(replications, int) and replications >= 2,
    )
    seed = _random.check_seed(seed, "simulate_power")
    binary = metric not in ("staff_minutes", "n_touches", "days_to_book")
    truth, control_rate = _true_effects(scenario, metric, seed, truth_leads)
    batches = [
        _Batch(scenario, metric, i, n, seed, tuple(range(s, min(s + BATCH, replications))), alpha, ci_method, binary)
        for i, n in enumerate(sizes)
        for s in range(0, replications, BATCH)
    ]
    reps = pd.DataFrame(_execute(batches, executor, jobs, progress, "power"))
    reps["true_effect"] = reps["arm"].map(truth)
    reps["significant"] = reps["p_adjusted"] < alpha
    reps["covered"] = (reps["lo"] <= reps["true_effect"]) & (reps["true_effect"] <= reps["hi"])
    g = reps.groupby(["n_leads", "arm"], sort=True)
    table = g.agg(
        replications=("rep", "size"),
        power=("significant", "mean"),
        true_effect=("true_effect", "first"),
        mean_estimate=("diff", "mean"),
        coverage=("covered", "mean"),
    ).reset_index()
    table["power_se"] = np.sqrt(table["power"] * (1 - table["power"]) / table["replications"])
    table["bias"] = table["mean_estimate"] - table["true_effect"]
    table["coverage_se"] = np.sqrt(table["coverage"] * (1 - table["coverage"]) / table["replications"])
    table = table[
        [
            "n_leads",
            "arm",
            "replications",
            "power",
            "power_se",
            "true_effect",
            "mean_estimate",
            "bias",
            "coverage",
            "coverage_se",
        ]
    ]
    settings = {
        "metric": metric,
        "alpha": alpha,
        "ci_method": ci_method,
        "correction": "holm",
        "seed": seed,
        "replications": replications,
        "truth_leads": truth_leads,
        "control": scenario.experiment.control,
        "control_rate": control_rate,
    }
    return PowerResult(table, reps, settings)


@dataclass(frozen=True)
class CalibrationResult:
    """Observed vs nominal rates of our own statistics, with binomial 95% confidence intervals."""

    table: pd.DataFrame
    settings: dict[str, Any]

    def plot(self) -> Any:
        from .plots import plot_calibration

        return plot_calibration(self.table)

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format="{:.4g}".format)


def calibrate(
    scenario: Scenario,
    n_leads: int = 10_000,
    replications: int = 200,
    metric: str = "booked_30d",
    *,
    seed: int = 0,
    alpha: float = 0.05,
    ci_method: str = "wald",
    executor: Executor | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> CalibrationResult:
    """A/A false-positive rate and A/B coverage of the true effect, each with a binomial CI.

    The A/A experiment is the scenario with its control arm run twice (an arm identical to the
    control has a true effect of exactly 0); the A/B experiment is the scenario as written.
    """
    ctrl = scenario.experiment.arm(scenario.experiment.control)
    twin = dataclasses.replace(ctrl, name=f"{ctrl.name}_copy")
    aa = dataclasses.replace(scenario, experiment=dataclasses.replace(scenario.experiment, arms=(ctrl, twin)))
    r_aa = simulate_power(
        aa,
        [n_leads],
        replications,
        metric,
        seed=seed,
        alpha=alpha,
        ci_method=ci_method,
        executor=executor,
        jobs=jobs,
        truth_leads=20_000,
        progress=progress,
    )
    r_ab = simulate_power(
        scenario,
        [n_leads],
        replications,
        metric,
        seed=seed + 1,
        alpha=alpha,
        ci_method=ci_method,
        executor=executor,
        jobs=jobs,
        progress=progress,
    )
    rows = []
    k = int((r_aa.replications["p"] < alpha).sum())
    n = len(r_aa.replications)
    lo, hi = _binom_ci(k, n)
    rows.append(
        {
            "check": "A/A false-positive rate",
            "nominal": alpha,
            "observed": k / n,
            "ci_low": lo,
            "ci_high": hi,
            "replications": n,
        }
    )
    for arm, g in r_ab.replications.groupby("arm"):
        k, n = int(g["covered"].sum()), len(g)
        lo, hi = _binom_ci(k, n)
        rows.append(
            {
                "check": f"CI coverage of the true effect ({arm})",
                "nominal": 1 - alpha,
                "observed": k / n,
                "ci_low": lo,
                "ci_high": hi,
                "replications": n,
            }
        )
    table = pd.DataFrame(rows)
    table["consistent"] = (table["ci_low"] <= table["nominal"]) & (table["nominal"] <= table["ci_high"])
    return CalibrationResult(
        table,
        {
            "n_leads": n_leads,
            "metric": metric,
            "alpha": alpha,
            "ci_method": ci_method,
            "seed": seed,
            "replications": replications,
        },
    )


def run_power_cli(args: Any) -> int:
    """``nurture-lab power SCENARIO --n-leads 2000,4000 --replications R --jobs N``."""
    import sys
    from pathlib import Path

    from . import _io
    from .scenario import load_scenario

    try:
        sizes = [int(x) for x in str(args.n_leads).split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"--n-leads expects comma-separated integers, e.g. 2000,4000,8000; got {args.n_leads!r}"
        ) from None
    sc = load_scenario(args.scenario)
    res = simulate_power(
        sc,
        sizes,
        args.replications,
        args.metric,
        seed=args.seed,
        alpha=args.alpha,
        jobs=args.jobs,
        progress=sys.stderr.isatty(),
    )
    print(res.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for arm, n in res.n_for_power(args.power).items():
        msg = f"{n:,.0f} leads in all" if np.isfinite(n) else f"more than {max(sizes):,} leads"
        print(f"{arm} vs {sc.experiment.control}: {args.power:.0%} power needs about {msg}")
    if args.out:
        out = Path(args.out)
        _io.write_csv(out / "power.csv", res.table)
        fig = res.plot(args.power)
        _io.write_with(out / "power.png", lambda p: fig.savefig(p, format="png", dpi=120))
        print(f"wrote {out / 'power.csv'} and {out / 'power.png'}")
    return 0

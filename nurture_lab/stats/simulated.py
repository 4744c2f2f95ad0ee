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
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._parallel import DEFAULT_JOBS, map_tasks
from .._results import ResultMixin
from ..errors import ParameterError, check_param, require
from ..scenario.model import Scenario
from ..simulation.engine import simulate, simulate_stats, truth_in
from .estimators import _adjust, _binary_row, _numeric_row
from .sequential import always_valid_p

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
    looks: int = 1
    own_truth: bool = False


def _rep_seed(seed: int, size_index: int, rep: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(_random.REPLICATION, size_index, rep))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _run_batch(b: _Batch) -> list[dict[str, Any]]:
    """Each replication: simulate, reduce to sufficient statistics, test every arm vs control."""
    exp = b.scenario.experiment
    out = []
    for rep in b.reps:
        seed = _rep_seed(b.seed, b.size_index, rep)
        st = simulate_stats(b.scenario, seed, b.n_leads, [b.metric], looks=b.looks, truth=b.own_truth)
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
                    _css(a[f"{b.metric}:sum"], a[f"{b.metric}:sumsq"], a["n"]),
                    int(a["n"]),
                    c[f"{b.metric}:sum"],
                    _css(c[f"{b.metric}:sum"], c[f"{b.metric}:sumsq"], c["n"]),
                    int(c["n"]),
                    b.alpha,
                )
            rows.append(
                {
                    "arm": arm,
                    "diff": r["diff"],
                    "diff_ci_low": r["diff_ci_low"],
                    "diff_ci_high": r["diff_ci_high"],
                    "p_value": r["p_value"],
                    **(_peeking(b, a, c) if b.looks > 1 else {}),
                    **({"true_effect": a[f"{b.metric}:true"] - c[f"{b.metric}:true"]} if b.own_truth else {}),
                }
            )
        padj = _adjust(np.array([r["p_value"] for r in rows]), "holm")
        for r, pa in zip(rows, padj):
            out.append({"size_index": b.size_index, "n_leads": b.n_leads, "rep": rep, **r, "p_adjusted": float(pa)})
    return out


def _peeking(b: _Batch, a: dict[str, float], c: dict[str, float]) -> dict[str, int]:
    """The first of ``b.looks`` interim looks at which the fixed-sample test, and the always-valid
    test, would have declared a difference (0: never)."""
    first = {"naive_first_look": 0, "sequential_first_look": 0}
    m = b.metric
    for k in range(1, b.looks + 1):
        n1, n0 = int(a[f"n@{k}"]), int(c[f"n@{k}"])
        if min(n1, n0) < 2:
            continue
        s1, s0 = a[f"{m}:sum@{k}"], c[f"{m}:sum@{k}"]
        css1, css0 = _css(s1, a[f"{m}:sumsq@{k}"], n1), _css(s0, c[f"{m}:sumsq@{k}"], n0)
        if b.binary:
            row = _binary_row(s1, n1, s0, n0, b.ci_method, b.alpha)
        else:
            row = _numeric_row(s1, css1, n1, s0, css0, n0, b.alpha)
        var = css1 / (n1 - 1) / n1 + css0 / (n0 - 1) / n0
        p_seq = always_valid_p(s1 / n1 - s0 / n0, var, n1 + n0, b.alpha)
        if not first["naive_first_look"] and row["p_value"] < b.alpha:
            first["naive_first_look"] = k
        if not first["sequential_first_look"] and p_seq < b.alpha:
            first["sequential_first_look"] = k
    return first


def _css(total: float, sumsq: float, n: float) -> float:
    """Sum of squares about the mean from raw totals (the engine's counts and minutes: no cancellation)."""
    return max(sumsq - total * total / n, 0.0) if n > 0 else float("nan")


def _true_effects(
    scenario: Scenario, metric: str, seed: int, truth_leads: int, jobs: int | None
) -> tuple[dict[str, float], float]:
    """True effect of each arm and the control's true mean (common random numbers); ``jobs`` as
    :func:`simulate`'s."""
    res = simulate(scenario, seed=seed, n_leads=truth_leads, truth=True, jobs=jobs)
    t = truth_in(res.truth)
    t = t[(t["metric"] == metric) & (t["service_line"] == "all")]
    ctrl = float(t.loc[t["arm"] == scenario.experiment.control, "mean"].iloc[0])
    return dict(zip(t["arm"], t["true_diff"].astype(float))), ctrl


def _binom_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=alpha, method="beta")
    return float(lo), float(hi)


@dataclass(frozen=True, repr=False)
class PowerResult(ResultMixin):
    """Power per (sample size, arm) with Monte Carlo error, bias and coverage of the true effect."""

    table: pd.DataFrame
    replications: pd.DataFrame
    settings: dict[str, Any]

    def _table(self) -> pd.DataFrame:
        return self.table

    def _head(self) -> str:
        s = self.settings
        need = ", ".join(
            f"{a}: {v:,.0f}" if np.isfinite(v) else f"{a}: beyond the largest n" for a, v in self.n_for_power().items()
        )
        return (
            f"PowerResult({s['metric']}, {s['replications']} replications per size, alpha {s['alpha']}; "
            f"leads for 80% power — {need})"
        )

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
        from ..reporting.plots import plot_power_curve

        return plot_power_curve(self.table, target)


#: Outcomes of the engine that are not 0/1 (analysed with Welch's t-test).
NUMERIC_OUTCOMES = ("staff_minutes", "n_touches", "days_to_book", "first_response_minutes", "first_call_minutes")


def _check_power_args(
    func: str, scenario: Any, n_leads: Any, replications: Any, metric: Any, alpha: Any, ci_method: Any
) -> tuple[list[int], bool]:
    """Validate the arguments of simulate_power / calibrate before anything runs; returns (sizes, binary)."""
    from ..simulation.engine import TRUTH_METRICS
    from .analysis import CI_METHODS

    check_param(func, "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    per_arm = 2 * len(scenario.experiment.arms)
    expected = f"a list of ints >= {per_arm} (2 leads per arm), e.g. [2000, 4000]"
    ints = isinstance(n_leads, (list, tuple)) and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in n_leads
    )
    require(func, "n_leads", n_leads, expected, ints, wrong_type=True)
    require(func, "n_leads", n_leads, expected, bool(n_leads) and min(n_leads) >= per_arm)
    check_param(func, "replications", replications, kind="int", low=2)
    check_param(func, "metric", metric, kind="choice", choices=TRUTH_METRICS)
    check_param(func, "alpha", alpha, low=0, high=0.5, low_open=True, high_open=True)
    check_param(func, "ci_method", ci_method, kind="choice", choices=CI_METHODS)
    return [int(n) for n in n_leads], metric not in NUMERIC_OUTCOMES


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
    jobs: int | None = DEFAULT_JOBS,
    truth_leads: int = 200_000,
    progress: bool = False,
    looks: int = 1,
    own_truth: bool = False,
) -> PowerResult:
    """Simulation-based power of the scenario's experiment for each total size in ``n_leads``.

    Args:
        scenario: the experiment to plan.
        n_leads: total leads per experiment (all arms), a list, e.g. ``[2000, 4000, 8000]``.
        replications: independent experiments per size.
        metric: the outcome (binary outcomes use the two-proportion test, others Welch).
        seed: the seed all replications are spawned from.
        executor: any ``concurrent.futures.Executor``; without one, ``jobs`` worker processes
            (default ``None``: every core).
        truth_leads: leads in the common-random-numbers run that gives the true effect.
        own_truth: instead, each replication's own experiment truth (its leads, every one on each
            arm, the contact centre's queue as it ran; needs a ``[contact_center]``). With a binding
            centre the true effect depends on the volume the queue met: a separate large run has
            another queue, and its effect is not the one the replication estimated. ``true_effect``
            in the table is then the mean over the replications.
        looks: interim looks per experiment (equally spaced in arrival order); with more than one,
            each replication also records the first look at which the fixed-sample test
            (``naive_first_look``) and the always-valid test (``sequential_first_look``) rejected.

    Returns:
        A :class:`PowerResult`: ``table`` has ``n_leads, arm, replications, power, power_se,
        true_effect, mean_estimate, bias, coverage, coverage_se``.
    """
    sizes, binary = _check_power_args("simulate_power", scenario, n_leads, replications, metric, alpha, ci_method)
    seed = _random.check_seed(seed, "simulate_power")
    check_param("simulate_power", "looks", looks, kind="int", low=1)
    check_param("simulate_power", "own_truth", own_truth, kind="bool")
    if own_truth and scenario.contact_center is None:
        raise ParameterError(
            f"simulate_power: own_truth=True needs a [contact_center] (scenario {scenario.name!r} has none); "
            "without one the truth does not depend on the run's volume: leave own_truth False."
        )
    truth_jobs = 1 if executor is not None else jobs  # an executor's workers run the replications
    truth, control_rate = (
        ({}, float("nan")) if own_truth else _true_effects(scenario, metric, seed, truth_leads, truth_jobs)
    )
    batches = [
        _Batch(
            scenario,
            metric,
            i,
            n,
            seed,
            tuple(range(s, min(s + BATCH, replications))),
            alpha,
            ci_method,
            binary,
            looks,
            own_truth,
        )
        for i, n in enumerate(sizes)
        for s in range(0, replications, BATCH)
    ]
    done = map_tasks(
        _run_batch,
        batches,
        caller="simulate_power",
        jobs=jobs,
        executor=executor,
        progress=progress,
        desc="power",
        unit="batch",
    )
    reps = pd.DataFrame([row for batch in done for row in batch])
    if not own_truth:
        reps["true_effect"] = reps["arm"].map(truth)
    reps["significant"] = reps["p_adjusted"] < alpha
    reps["covered"] = (reps["diff_ci_low"] <= reps["true_effect"]) & (reps["true_effect"] <= reps["diff_ci_high"])
    g = reps.groupby(["n_leads", "arm"], sort=True)
    table = g.agg(
        replications=("rep", "size"),
        power=("significant", "mean"),
        true_effect=("true_effect", "mean" if own_truth else "first"),
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
        "truth_leads": 0 if own_truth else truth_leads,
        "own_truth": own_truth,
        "control": scenario.experiment.control,
        "control_rate": control_rate,
    }
    return PowerResult(table, reps, settings)


@dataclass(frozen=True, repr=False)
class CalibrationResult(ResultMixin):
    """Observed vs nominal rates of our own statistics, with binomial 95% confidence intervals.

    With ``looks``: the A/A false-positive rate after each interim look, for naive repeated
    fixed-sample tests and for the always-valid test (``looks`` table; :meth:`plot_peeking`).
    """

    table: pd.DataFrame
    settings: dict[str, Any]
    looks: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot_peeking(self) -> Any:
        from ..reporting.plots import plot_peeking

        return plot_peeking(self.looks, self.settings["alpha"])

    def _table(self) -> pd.DataFrame:
        return self.table

    def _head(self) -> str:
        ok = int(self.table["consistent"].sum())
        return f"CalibrationResult({ok} of {len(self.table)} checks consistent with their nominal rate)"

    def plot(self) -> Any:
        from ..reporting.plots import plot_calibration

        return plot_calibration(self.table)


def _peeking_table(reps: pd.DataFrame, looks: int, n_leads: int, alpha: float) -> pd.DataFrame:
    """After each look: the share of A/A experiments already (wrongly) declared different."""
    rows = []
    n = len(reps)
    for k in range(1, looks + 1):
        row: dict[str, Any] = {"look": k, "leads_seen": int(np.ceil(k * n_leads / looks))}
        for name, col in (("naive", "naive_first_look"), ("sequential", "sequential_first_look")):
            hits = int(((reps[col] > 0) & (reps[col] <= k)).sum())
            lo, hi = _binom_ci(hits, n)
            row |= {f"{name}_fpr": hits / n, f"{name}_ci_low": lo, f"{name}_ci_high": hi}
        rows.append(row)
    return pd.DataFrame(rows)


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
    jobs: int | None = DEFAULT_JOBS,
    progress: bool = False,
    looks: int = 1,
) -> CalibrationResult:
    """A/A false-positive rate and A/B coverage of the true effect, each with a binomial CI.

    The A/A experiment is the scenario with its control arm run twice (an arm identical to the
    control has a true effect of exactly 0); the A/B experiment is the scenario as written. Its true
    effect: with a contact centre, each replication's own experiment truth (the same leads, each on
    every arm, the queue as it ran: ``simulate_power(..., own_truth=True)``), since with a binding
    centre the effect depends on the volume the queue met; without one, a 200,000-lead run.

    With ``looks = K > 1`` the analyst is taken to look at every A/A experiment K times as its
    leads arrive: the table adds the false-positive rate of stopping at the first look whose
    fixed-sample p-value is below alpha (naive peeking: inflated) and at the first look whose
    always-valid p-value is (``analyze(..., sequential=True)``: at most alpha), and ``.looks``
    gives both rates after each look.
    """
    _check_power_args("calibrate", scenario, [n_leads], replications, metric, alpha, ci_method)
    check_param("calibrate", "looks", looks, kind="int", low=1)
    centre = scenario.contact_center is not None
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
        truth_leads=n_leads if centre else 20_000,  # the A/A checks read no truth
        progress=progress,
        looks=looks,
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
        own_truth=centre,
    )
    rows = []
    k = int((r_aa.replications["p_value"] < alpha).sum())
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
    peeks = pd.DataFrame()
    if looks > 1:
        reps_aa = r_aa.replications
        peeks = _peeking_table(reps_aa, looks, n_leads, alpha)
        for name, col, expect in (
            ("naive peeking", "naive_first_look", "above nominal"),
            ("always-valid", "sequential_first_look", "at most nominal"),
        ):
            k, n = int((reps_aa[col] > 0).sum()), len(reps_aa)
            lo, hi = _binom_ci(k, n)
            rows.append(
                {
                    "check": f"A/A false-positive rate, {name} at {looks} looks",
                    "nominal": alpha,
                    "observed": k / n,
                    "ci_low": lo,
                    "ci_high": hi,
                    "replications": n,
                    "expected": expect,
                }
            )
    table = pd.DataFrame(rows)
    if "expected" not in table:
        table["expected"] = "nominal"
    table["expected"] = table["expected"].fillna("nominal")
    covers = (table["ci_low"] <= table["nominal"]) & (table["nominal"] <= table["ci_high"])
    table["consistent"] = np.select(
        [table["expected"] == "above nominal", table["expected"] == "at most nominal"],
        [table["ci_low"] > table["nominal"], table["ci_low"] <= table["nominal"]],
        covers,
    ).astype(bool)
    return CalibrationResult(
        table,
        {
            "n_leads": n_leads,
            "metric": metric,
            "alpha": alpha,
            "ci_method": ci_method,
            "seed": seed,
            "replications": replications,
            "looks": looks,
        },
        peeks,
    )

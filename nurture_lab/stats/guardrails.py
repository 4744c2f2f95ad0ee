"""Guardrails: one-sided non-inferiority of each arm against the control, with a stated margin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy import stats

from .._results import ResultMixin
from ..errors import check_param
from .analysis import _require_frame, analyze


@dataclass(frozen=True, repr=False)
class NonInferiorityResult(ResultMixin):
    """One-sided non-inferiority test of each arm against the control: one row per arm."""

    results: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> pd.DataFrame:
        return self.results

    def _head(self) -> str:
        s = self.settings
        return (
            f"NonInferiorityResult(margin {s.get('margin')}, alpha {s.get('alpha')}, "
            f"{'higher' if s.get('higher_is_better') else 'lower'} is better; "
            f"{int(self.results['non_inferior'].sum()) if len(self.results) else 0} of {len(self.results)} arm(s) non-inferior)"
        )


def non_inferiority(
    data: pd.DataFrame,
    arm: str,
    control: str,
    metric: str,
    margin: float,
    *,
    higher_is_better: bool = False,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """Is each arm no worse than the control by more than ``margin`` (absolute)?

    For a guardrail such as opt-outs (lower is better): H0 ``diff >= margin`` vs H1 ``diff < margin``,
    a one-sided Wald test (statsmodels ``test_proportions_2indep`` with ``value=margin``) for binary
    metrics, Welch for numeric ones. The CI shown is the two-sided 1 - 2*alpha interval, so
    "non-inferior" is the same as its bound lying on the good side of the margin.
    """
    from statsmodels.stats.proportion import test_proportions_2indep

    df = _require_frame(data, "non_inferiority")
    check_param(
        "non_inferiority",
        "margin",
        margin,
        low=0,
        low_open=True,
        expected="a number > 0 (absolute, in the metric's units)",
    )
    check_param("non_inferiority", "alpha", alpha, low=0, high=0.25, low_open=True, high_open=True)
    base = analyze(df, arm=arm, control=control, metrics=[metric], correction="none", alpha=2 * alpha)
    rows = []
    for _, r in base.results.iterrows():
        if r["metric_type"] == "binary":
            c1, n1 = r["arm_value"] * r["n_arm"], int(r["n_arm"])
            c0, n0 = r["control_value"] * r["n_control"], int(r["n_control"])
            value = -margin if higher_is_better else margin
            alt = "larger" if higher_is_better else "smaller"
            p = float(
                test_proportions_2indep(
                    round(c1),
                    n1,
                    round(c0),
                    n0,
                    value=value,
                    method="wald",
                    compare="diff",
                    alternative=alt,
                    return_results=True,
                ).pvalue
            )
        else:
            se = (r["diff_ci_high"] - r["diff_ci_low"]) / (2 * stats.norm.ppf(1 - alpha))
            z = (r["diff"] + margin) / se if higher_is_better else (r["diff"] - margin) / se
            p = float(stats.norm.sf(z)) if higher_is_better else float(stats.norm.cdf(z))
        if higher_is_better:
            verdict = r["diff_ci_low"] > -margin
        else:
            verdict = r["diff_ci_high"] < margin
        rows.append(
            {
                "metric": metric,
                "arm": r["arm"],
                "control": control,
                "control_value": r["control_value"],
                "arm_value": r["arm_value"],
                "diff": r["diff"],
                "diff_ci_low": r["diff_ci_low"],
                "diff_ci_high": r["diff_ci_high"],
                "margin": margin,
                "p_value": p,
                "non_inferior": bool(verdict),
                "test": "one-sided non-inferiority (wald)"
                if r["metric_type"] == "binary"
                else "one-sided non-inferiority (welch)",
            }
        )
    settings = {"alpha": alpha, "margin": margin, "higher_is_better": higher_is_better, "ci_level": 1 - 2 * alpha}
    return NonInferiorityResult(pd.DataFrame(rows), settings)

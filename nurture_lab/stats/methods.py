"""The names of the statistical methods a caller can choose, and the row every estimator returns
(light: no numpy, for the command line)."""

from __future__ import annotations

from typing import Any

__all__ = ["CI_METHODS", "CORRECTIONS", "comparison_row"]

#: ci_method -> (statsmodels CI method, matching statsmodels test method)
CI_METHODS: dict[str, tuple[str, str]] = {
    "wald": ("wald", "wald"),
    "newcombe": ("newcomb", "score"),
    "agresti-caffo": ("agresti-caffo", "agresti-caffo"),
}
#: correction -> statsmodels' name for it
CORRECTIONS: dict[str, str | None] = {"holm": "holm", "bh": "fdr_bh", "none": None}


def comparison_row(
    control: float,
    arm: float,
    diff: float,
    ci: tuple[float, float],
    rel: tuple[float, float, float],
    p: float,
    test: str,
    ci_method: str,
) -> dict[str, Any]:
    """One arm-vs-control result row, as every estimator returns it (the columns of ``analyze``)."""
    return {
        "control_value": control,
        "arm_value": arm,
        "diff": diff,
        "diff_ci_low": ci[0],
        "diff_ci_high": ci[1],
        "rel_lift": rel[0],
        "rel_ci_low": rel[1],
        "rel_ci_high": rel[2],
        "p_value": p,
        "test": test,
        "ci_method": ci_method,
    }

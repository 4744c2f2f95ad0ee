"""The names of the statistical methods a caller can choose (light: no numpy, for the command line)."""

from __future__ import annotations

__all__ = ["CI_METHODS", "CORRECTIONS"]

#: ci_method -> (statsmodels CI method, matching statsmodels test method)
CI_METHODS: dict[str, tuple[str, str]] = {
    "wald": ("wald", "wald"),
    "newcombe": ("newcomb", "score"),
    "agresti-caffo": ("agresti-caffo", "agresti-caffo"),
}
#: correction -> statsmodels' name for it
CORRECTIONS: dict[str, str | None] = {"holm": "holm", "bh": "fdr_bh", "none": None}

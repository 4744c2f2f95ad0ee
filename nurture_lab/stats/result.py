"""The result of :func:`nurture_lab.analyze`: one row per (metric, arm vs control[, group]), on either path."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._results import ResultMixin

__all__ = ["RESULT_COLUMNS", "AnalysisResult"]


RESULT_COLUMNS = [
    "metric",
    "arm",
    "control",
    "n_control",
    "n_arm",
    "control_value",
    "arm_value",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "rel_lift",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_adjusted",
    "adj_ci_low",
    "adj_ci_high",
    "significant",
    "test",
    "ci_method",
    "metric_type",
]


@dataclass(frozen=True, repr=False)
class AnalysisResult(ResultMixin):
    """Tidy results of :func:`analyze`: one row per (metric, arm vs control[, group]).

    ``results`` is a DataFrame; ``srm`` the sample-ratio check; ``settings`` how it was computed.
    """

    results: pd.DataFrame
    srm: dict[str, Any]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()

    _json_extras = ("srm", "settings", "warnings")

    def _table(self) -> pd.DataFrame:
        return self.results

    def _display(self) -> pd.DataFrame:
        return self.summary()

    def _head(self) -> str:
        s = self.settings
        return (
            f"AnalysisResult({len(self.results)} comparisons; ci_method={s['ci_method']}, "
            f"correction={s['correction']}, alpha={s['alpha']}; SRM p={_fmt_p(self.srm['p_value'])}"
            f"{' FLAGGED' if self.srm['flagged'] else ''})"
        )

    def row(self, metric: str, arm: str, group: Any = None) -> pd.Series:
        r = self.results
        sel = (r["metric"] == metric) & (r["arm"] == arm)
        by = self.settings.get("by")
        if by is not None and group is not None:
            sel &= r[by] == group
        if not sel.any():
            raise KeyError(f"no result for metric={metric!r}, arm={arm!r}, group={group!r}")
        return r[sel].iloc[0]

    def summary(self) -> pd.DataFrame:
        """A display table: values in percent for binary metrics, CIs as text."""
        r = self.results
        out = pd.DataFrame()
        by = self.settings.get("by")
        if by:
            out[by] = r[by]
        out["metric"] = r["metric"]
        out["arm"] = r["arm"] + " vs " + r["control"]
        pct = r["metric_type"] == "binary"
        fmt = lambda v, p: f"{v * 100:.2f}%" if p else f"{v:.3g}"  # noqa: E731
        out["control"] = [fmt(v, p) for v, p in zip(r["control_value"], pct)]
        out["arm value"] = [fmt(v, p) for v, p in zip(r["arm_value"], pct)]
        out["difference (CI)"] = [
            (f"{d * 100:+.2f} pts ({lo * 100:+.2f}, {hi * 100:+.2f})" if p else f"{d:+.3g} ({lo:+.3g}, {hi:+.3g})")
            for d, lo, hi, p in zip(r["diff"], r["diff_ci_low"], r["diff_ci_high"], pct)
        ]
        out["relative lift (CI)"] = [
            _rel_text(v, lo, hi) for v, lo, hi in zip(r["rel_lift"], r["rel_ci_low"], r["rel_ci_high"])
        ]
        out["p"] = r["p_value"].map(_fmt_p)
        out["p adjusted"] = r["p_adjusted"].map(_fmt_p)
        out["adjusted CI"] = [
            (f"({lo * 100:+.2f}, {hi * 100:+.2f})" if p else f"({lo:+.3g}, {hi:+.3g})")
            for lo, hi, p in zip(r["adj_ci_low"], r["adj_ci_high"], pct)
        ]
        out["test"] = r["test"]
        if "chance_to_win" in r.columns:  # bayesian=True: the posterior beside the frequentist numbers
            out["chance to beat control"] = [f"{v:.1%}" if np.isfinite(v) else "n/a" for v in r["chance_to_win"]]
            out["risk if shipped"] = [
                (f"{v * 100:.2f} pts" if p else f"{v:.3g}") if np.isfinite(v) else "n/a"
                for v, p in zip(r["risk_ship"], pct)
            ]
        return out

    def _repr_html_(self) -> str:
        warn = "".join(f"<p style='color:#a60'>⚠ {html.escape(w)}</p>" for w in self.warnings)
        return warn + super()._repr_html_()


def _rel_text(v: float, lo: float, hi: float) -> str:
    """A relative lift and its interval; an interval with no finite bound (a control rate of 0, or not
    distinguishable from 0: Fieller's interval is then unbounded) says so instead of 'nan'."""
    if not np.isfinite(v):
        return "n/a"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{v * 100:+.1f}% ({lo * 100:+.1f}%, {hi * 100:+.1f}%)"
    return f"{v * 100:+.1f}% (interval unbounded)"


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"

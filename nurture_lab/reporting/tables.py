"""Small tidy tables for notebooks: funnel, policy decisions, staff time, golden numbers."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..stats.analysis import AnalysisResult

__all__ = ["funnel_table", "golden", "policy_table", "staff_table"]

STAGES = ("contacted", "qualified", "booked", "attended")


def funnel_table(leads: pd.DataFrame, arm: str = "arm") -> pd.DataFrame:
    """Inquiry -> contacted -> qualified -> booked -> attended, percent of leads, per arm."""
    cols = [c for c in STAGES if c in leads.columns]
    t = leads.groupby(arm, observed=True)[cols].mean().mul(100).round(1)
    t.insert(0, "leads", leads.groupby(arm, observed=True).size())
    return t


def policy_table(touches: pd.DataFrame) -> pd.DataFrame:
    """Planned touches by what the policy gate did (sent / deferred / skipped / not selected) and why, per channel."""
    reason = touches["reason"].astype(str)
    status = touches["status"].astype(str)
    action = status.str.replace("_", " ").where(~((status == "sent") & (reason != "")), "deferred")
    t = pd.crosstab(
        [action.rename("action"), reason.replace("", "-").rename("reason")],
        touches["channel"].astype(str).rename("channel"),
    )
    t["all"] = t.sum(axis=1)
    return t.sort_values("all", ascending=False)


def staff_table(leads: pd.DataFrame, arm: str = "arm") -> pd.DataFrame:
    """Staff minutes per lead and per booking, touches per lead, per arm."""
    g = leads.groupby(arm, observed=True)
    out = pd.DataFrame(
        {
            "staff minutes per lead": g["staff_minutes"].mean(),
            "touches per lead": g["n_touches"].mean(),
            "staff minutes per booking": g["staff_minutes"].sum() / g["booked"].sum(),
        }
    )
    return out.round(2)


def golden(result: AnalysisResult, digits: int = 4) -> str:
    """A rounded, stable text rendering of a result's key numbers (for regression-checked notebook cells)."""
    r = result.results
    by = result.settings.get("by")
    lines = []
    for _, row in r.iterrows():
        g = f"{row[by]} | " if by else ""
        lines.append(
            f"{g}{row['metric']} | {row['arm']} vs {row['control']}: diff {row['diff']:+.{digits}f} "
            f"[{row['diff_ci_low']:+.{digits}f}, {row['diff_ci_high']:+.{digits}f}] p_adj {row['p_adjusted']:.{digits}f}"
        )
    lines.append(f"SRM p = {result.srm['p_value']:.{digits}f}")
    return "\n".join(lines)


def peeking_summary(calibration: Any) -> pd.DataFrame:
    """The peeking study in words: false-alarm rate after the last look, naive vs always-valid."""
    t = calibration.table
    rows = t[t["check"].str.contains("looks")]
    return pd.DataFrame(
        {
            "how the analyst looks": rows["check"].str.replace("A/A false-positive rate, ", "", regex=False),
            "false alarms": [
                f"{v:.1%} ({lo:.1%} to {hi:.1%})"
                for v, lo, hi in zip(rows["observed"], rows["ci_low"], rows["ci_high"])
            ],
            "promised": [f"{a:.0%}" for a in rows["nominal"]],
            "as expected": ["yes" if c else "no" for c in rows["consistent"]],
        }
    )

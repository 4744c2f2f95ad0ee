"""What a simulation returns: :class:`SimulationResult`, the outcome columns, the truth table in its
settings, and the joining of per-chunk frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..scenario.model import Scenario
from .calendar import DAY
from .leads import Leads
from .population import IDENTITY_COLUMNS
from .state import ArmState

__all__ = [
    "OUTCOME_COLUMNS",
    "SETTINGS",
    "TRUTH_METRICS",
    "SimulationResult",
    "arm_outcomes",
    "concat_cats",
    "truth_in",
    "truth_sums",
    "truth_table",
    "union_categories",
]

OUTCOME_COLUMNS: dict[str, str] = {
    "arm": "assigned arm",
    "first_response_minutes": "minutes from inquiry to the first touch sent (NaN: none)",
    "first_call_minutes": "minutes from inquiry to the first call attempt (NaN: none)",
    "contacted": "engaged at least once: a click, a reply or an answered call",
    "contacted_minutes": "minutes from inquiry to the first engagement (NaN: never)",
    "qualified": "contacted and found to fit",
    "booked": "booked within the horizon (and before being lost)",
    "booked_at": "UTC time of booking (NaT: not booked)",
    "visit_at": "UTC time of the booked visit, in clinic hours (NaT: not booked)",
    "days_to_book": "days from inquiry to booking (NaN: not booked)",
    "booked_7d": "booked within 7 days",
    "booked_30d": "booked within 30 days",
    "attended": "booked and attended the visit",
    "reminded": "a visit reminder was sent",
    "opted_out": "opted out of at least one channel",
    "opted_out_at": "UTC time of the first opt-out (NaT: none)",
    "lost": "booked elsewhere (lost to a competitor) within the horizon",
    "lost_at": "UTC time the lead booked elsewhere (NaT: not lost)",
    "n_touches": "touches sent (count)",
    "staff_minutes": "staff time spent on the lead, minutes (with a contact centre: agents' handle time)",
    "missed_call": "an inbound phone inquiry that rang while the contact centre was closed or every agent "
    "busy (False without a [contact_center]); answered ones were a conversation at once",
}


#: Settings of the truth table: ``experiment`` — every lead on the arm while the arms share the
#: contact centre as randomised (and a learning send-time policy learns from the arm's own leads, as
#: in the experiment); ``rollout`` — every lead on the arm with the same staff (the policy learning
#: from every lead). Without a contact centre or learning policy staff are unlimited and the two coincide.
SETTINGS: tuple[str, ...] = ("experiment", "rollout")


#: Outcomes whose mean the truth table reports.
TRUTH_METRICS: tuple[str, ...] = (
    "contacted",
    "qualified",
    "booked",
    "booked_7d",
    "booked_30d",
    "attended",
    "opted_out",
    "lost",
    "n_touches",
    "staff_minutes",
)


def arm_outcomes(
    st: ArmState,
    booked: np.ndarray,
    booked_min: np.ndarray,
    visit: np.ndarray,
    attended: np.ndarray,
    reminded: np.ndarray,
    lost: np.ndarray,
    loss: np.ndarray,
) -> dict[str, np.ndarray]:
    """The per-lead outcomes of an arm's run (:data:`OUTCOME_COLUMNS`; ``*_min``: minutes since inquiry,
    made UTC times when the frame is built)."""
    days_to_book = booked_min / DAY

    def when(x: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(x), x, np.nan)

    return {
        "first_response_minutes": when(st.first_sent),
        "first_call_minutes": when(st.first_call),
        "contacted": np.isfinite(st.contacted),
        "contacted_minutes": when(st.contacted),
        "qualified": np.isfinite(st.qualified_at),
        "booked": booked,
        "booked_min": booked_min,
        "visit_min": visit,
        "days_to_book": days_to_book,
        "booked_7d": booked & (days_to_book <= 7),
        "booked_30d": booked & (days_to_book <= 30),
        "attended": attended,
        "reminded": reminded,
        "opted_out": np.isfinite(st.opted_any),
        "opted_out_min": when(st.opted_any),
        "lost": lost,
        "lost_min": np.where(lost, loss, np.nan),
        "n_touches": st.n_sent,
        "staff_minutes": st.staff,
        "missed_call": st.missed,
    }


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    Attributes:
        leads: one row per lead: population columns, ``arm`` and the outcomes in :data:`OUTCOME_COLUMNS`.
        touches: one row per planned touch: :data:`TOUCH_COLUMNS`.
        truth: the true mean of each outcome under every arm (every lead run through every arm
            with common random numbers), overall (``service_line == "all"``) and per service line,
            in both :data:`SETTINGS`; columns ``setting, arm, service_line, metric, n, mean,
            true_diff`` (vs the control arm in the same setting).
    """

    scenario: Scenario
    seed: int
    n_leads: int
    leads: pd.DataFrame
    touches: pd.DataFrame
    truth: pd.DataFrame = field(default_factory=pd.DataFrame)

    def true_effect(self, metric: str, arm: str, service_line: str = "all", setting: str = "experiment") -> float:
        """True difference in the mean of ``metric`` between ``arm`` and the control.

        ``setting``: ``"experiment"`` (the arms sharing the contact centre as randomised) or
        ``"rollout"`` (every lead on ``arm`` with the same staff); see :data:`SETTINGS`.
        """
        t = self.truth
        row = t[
            (t["metric"] == metric)
            & (t["arm"] == arm)
            & (t["service_line"] == service_line)
            & (t["setting"] == setting)
        ]
        if row.empty:
            raise KeyError(
                f"no truth for metric={metric!r}, arm={arm!r}, service_line={service_line!r}, setting={setting!r}"
            )
        return float(row["true_diff"].iloc[0])

    def analysis_frame(self) -> pd.DataFrame:
        """The leads without direct identifiers (what analyses and reports may see)."""
        return self.leads.drop(columns=[c for c in IDENTITY_COLUMNS if c in self.leads])

    def __repr__(self) -> str:
        arms = self.leads["arm"].value_counts().sort_index().to_dict()
        return (
            f"SimulationResult(scenario={self.scenario.name!r}, seed={self.seed}, n_leads={self.n_leads}, "
            f"arms={arms}, touches={len(self.touches)})"
        )


def truth_in(truth: pd.DataFrame, setting: str = "experiment") -> pd.DataFrame:
    """The rows of a truth table for one setting (``experiment`` or ``rollout``; see :data:`SETTINGS`).

    A table without a ``setting`` column (written before settings existed) is returned as it is.
    """
    if "setting" not in truth.columns:
        return truth
    return truth[truth["setting"] == setting].reset_index(drop=True)


def truth_sums(arm: str, out: dict[str, np.ndarray], lead: Leads, setting: str) -> list[pd.DataFrame]:
    sl = lead.codes["service_line"]
    n_sl = len(lead.cats["service_line"])
    counts = np.bincount(sl, minlength=n_sl)
    return [
        pd.DataFrame(
            {
                "setting": setting,
                "arm": arm,
                "metric": metric,
                "service_line": lead.cats["service_line"],
                "sum": np.bincount(sl, weights=out[metric].astype(np.float64), minlength=n_sl),
                "n": counts,
            }
        )
        for metric in TRUTH_METRICS
    ]


def truth_table(parts: list[pd.DataFrame], sc: Scenario) -> pd.DataFrame:
    cols = ["setting", "arm", "service_line", "metric", "n", "mean", "true_diff"]
    if not parts or all(p.empty for p in parts):
        return pd.DataFrame(columns=cols)
    t = pd.concat(parts, ignore_index=True)
    keys = ["setting", "arm", "metric", "service_line"]
    per = t.groupby(keys, sort=False, observed=True)[["sum", "n"]].sum().reset_index()
    overall = per.groupby(["setting", "arm", "metric"], sort=False)[["sum", "n"]].sum().reset_index()
    overall["service_line"] = "all"
    t = pd.concat([overall, per], ignore_index=True)
    t["mean"] = t["sum"] / t["n"].where(t["n"] > 0)
    ctrl = t[t["arm"] == sc.experiment.control].set_index(["setting", "metric", "service_line"])["mean"]
    t["true_diff"] = (
        t["mean"].to_numpy()
        - ctrl.reindex(pd.MultiIndex.from_frame(t[["setting", "metric", "service_line"]])).to_numpy()
    )
    # the experiment setting first: what a filter on arm, metric and line finds first
    t["_o"] = (t["setting"] != "experiment").astype(int)
    return t.sort_values("_o", kind="stable")[cols].reset_index(drop=True)


def union_categories(cats: list[pd.Index]) -> pd.Index:
    """One set of categories for pieces of a column: theirs when all agree, else the sorted union."""
    if all(c.equals(cats[0]) for c in cats[1:]):
        return cats[0]
    return cats[0].append(cats[1:]).unique().sort_values()


def concat_cats(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames, unifying categoricals whose categories differ between chunks.

    Each differing column is recoded to the sorted union of the categories first, so the
    concatenation joins integer codes (pandas would otherwise turn every value into a string).
    """
    if len(frames) == 1:
        return frames[0]
    for c in frames[0].columns:
        if isinstance(frames[0][c].dtype, pd.CategoricalDtype):
            cats = union_categories([f[c].cat.categories for f in frames])
            for f in frames:  # the frames are this run's own: recoded in place, no copy
                if not f[c].cat.categories.equals(cats):
                    f[c] = f[c].cat.set_categories(cats)
    return pd.concat(frames, ignore_index=True)

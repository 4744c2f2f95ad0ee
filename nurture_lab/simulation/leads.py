"""One chunk's leads as arrays: what a lead IS (population columns the engine reads, the policy's
per-lead inputs, the daylight-saving changes each lead meets), subsets and ids.

Time unit: minutes since the lead's inquiry; ``created_min`` is UTC minutes since the epoch.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..scenario.model import Scenario
from .calendar import DAY, dst_transitions
from .policy import state_inputs

__all__ = ["Ids", "Leads", "subset_leads", "timeline_days"]


@dataclass
class Leads:
    """Numpy views of one chunk of leads."""

    n: int
    lead_id: np.ndarray
    created_min: np.ndarray  # UTC minutes since epoch
    local0: np.ndarray  # local wall-clock minutes at the inquiry
    codes: dict[str, np.ndarray]
    cats: dict[str, list[str]]
    consent: dict[str, np.ndarray]
    confidential: np.ndarray
    fit: np.ndarray
    decision_min: np.ndarray
    responsiveness: np.ndarray
    preferred_hour: np.ndarray
    hazard_per_min: np.ndarray
    clock: np.ndarray
    self_book: np.ndarray
    appt_min: np.ndarray
    show_u: np.ndarray
    quiet_start: np.ndarray
    quiet_end: np.ndarray
    sensitive: np.ndarray
    base_no_show: np.ndarray
    #: came in through chat (a chat session exists); calls and texts per 24 h allowed by the state (0: no cap)
    from_chat: np.ndarray
    state_cap: np.ndarray
    #: Position of each lead in its chunk (random draws are indexed by it) and the chunk size.
    pos: np.ndarray
    n_chunk: int
    #: The daylight-saving changes each lead meets within the horizon, the k-th of every lead under key
    #: k (one array per change: gathers read contiguous memory): UTC minute (inf: none) and delta.
    dst_at: dict[int, np.ndarray] = field(default_factory=dict)
    dst_delta: dict[int, np.ndarray] = field(default_factory=dict)

    def shift(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Change of the UTC offset (minutes) between each lead's inquiry and ``t`` minutes after it (DST)."""
        out = np.zeros(np.shape(t))
        if not self.dst_at:
            return out
        ct = self.created_min[idx] + t
        if self._before_dst(ct):
            return out
        for k in range(len(self.dst_at)):
            out += np.where(ct >= self.dst_at[k][idx], self.dst_delta[k][idx], 0.0)
        return out

    def local(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes of the leads ``idx`` at ``t`` minutes after their inquiry.

        When every moment asked comes before the first daylight-saving change of the chunk (most
        of a run: the changes fall weeks after most inquiries) the shift is zero and is not added
        (adding +0.0 changes no number: a local time is never -0.0)."""
        if self.dst_at and self._before_dst(self.created_min[idx] + t):
            return self.local0[idx] + t  # type: ignore[no-any-return]
        return self.local0[idx] + t + self.shift(idx, t)

    def _before_dst(self, ct: np.ndarray) -> bool:
        """Whether every UTC minute ``ct`` comes before the chunk's first daylight-saving change (no
        lead's clock has changed yet; False if any is NaN)."""
        return bool(ct.size == 0 or ct.max() < self._first_dst)

    @functools.cached_property
    def _first_dst(self) -> float:
        """The earliest daylight-saving change any lead of the chunk meets (inf: none); once per chunk."""
        return min((float(a.min()) for a in self.dst_at.values() if a.size), default=np.inf)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, sc: Scenario) -> Leads:
        created_min = df["created_at"].dt.as_unit("s").astype("int64").to_numpy() / 60.0
        off = df["utc_offset_minutes"].to_numpy().astype(np.float64)
        codes, cats = {}, {}
        for c in ("service_line", "audience", "source", "intent", "coverage", "state", "preferred_channel"):
            codes[c] = df[c].cat.codes.to_numpy().astype(np.int64)
            cats[c] = [str(x) for x in df[c].cat.categories]
        qs, qe, caps = state_inputs(sc.policy, cats["state"])
        lines = [sc.population.service_lines[s] for s in cats["service_line"]]
        sens = np.array([ln.sensitive for ln in lines], dtype=bool)
        nos = np.array([ln.no_show_rate for ln in lines])
        sl = codes["service_line"]
        return cls(
            n=len(df),
            lead_id=df["lead_id"].to_numpy(),
            created_min=created_min,
            local0=created_min + off,
            codes=codes,
            cats=cats,
            consent={
                "email": df["consent_email"].to_numpy(),
                "sms": df["consent_sms"].to_numpy(),
                "call": df["consent_call"].to_numpy(),
            },
            confidential=df["confidential"].to_numpy(),
            fit=df["fit"].to_numpy(),
            decision_min=df["decision_days"].to_numpy().astype(np.float64) * DAY,
            responsiveness=df["responsiveness"].to_numpy().astype(np.float64),
            preferred_hour=df["preferred_hour"].to_numpy().astype(np.float64),
            hazard_per_min=df["competitor_hazard"].to_numpy().astype(np.float64) / DAY,
            clock=df["competitor_clock"].to_numpy().astype(np.float64),
            self_book=df["self_book"].to_numpy(),
            appt_min=df["appointment_lead_days"].to_numpy().astype(np.float64) * DAY,
            show_u=df["show_u"].to_numpy().astype(np.float64),
            quiet_start=qs[codes["state"]],
            quiet_end=qe[codes["state"]],
            sensitive=sens[sl],
            base_no_show=nos[sl],
            from_chat=(np.array([c == "chat" for c in cats["source"]], dtype=bool)[codes["source"]]),
            state_cap=caps[codes["state"]],
            pos=np.arange(len(df)),
            n_chunk=len(df),
            # the daylight-saving table covers the whole timeline: through the visits and their reminders
            **dst_per_lead(df, created_min, timeline_days(sc, df)),
        )

    def matches(self, step: Any) -> np.ndarray:
        """Leads selected by a step's static conditions."""
        conds = step.conditions
        if not conds:
            return np.ones(self.n, dtype=bool)
        parts = []
        for col, values in conds.items():
            wanted = np.array([c in values for c in self.cats[col]], dtype=bool)
            parts.append(wanted[self.codes[col]] if wanted.size else np.zeros(self.n, dtype=bool))
        return np.logical_and.reduce(parts) if step.match == "all" else np.logical_or.reduce(parts)

    def relevant(self, content: Any, idx: np.ndarray) -> np.ndarray:
        """Which of the leads ``idx`` a content speaks to."""
        out = np.zeros(idx.size, dtype=bool)
        for col, values in content.relevant_to.items():
            wanted = np.array([c in values for c in self.cats[col]], dtype=bool)
            out |= wanted[self.codes[col][idx]]
        return out


def timeline_days(sc: Scenario, df: pd.DataFrame) -> float:
    """Days after an inquiry the engine may place a message: horizon, visit, a week's slack (30-day steps)."""
    appt = float(np.max(df["appointment_lead_days"].to_numpy(), initial=0.0))
    return float(np.ceil((sc.horizon_days + appt + 10) / 30) * 30)


def dst_per_lead(df: pd.DataFrame, created_min: np.ndarray, horizon_days: float) -> dict[str, dict[int, np.ndarray]]:
    """For each lead, the daylight-saving changes of its zone between its inquiry and the horizon."""
    if not len(df):
        return {}
    tz = df["timezone"].cat.codes.to_numpy()
    zones = tuple(str(z) for z in df["timezone"].cat.categories)
    horizon = horizon_days * DAY
    first_day = float(created_min.min() // DAY * DAY)  # a day-granular key: chunks share the cache
    trans = [
        (c, at, d)
        for c, at, d in dst_transitions(zones, first_day, horizon_days)
        if created_min.min() < at <= created_min.max() + horizon
    ]
    per: list[list[tuple[float, float]]] = [[] for _ in zones]
    for c, at, d in trans:
        per[c].append((at, d))
    k = max((len(p) for p in per), default=0)
    at_arr = np.full((len(df), k), np.inf)
    delta = np.zeros((len(df), k))
    for code, items in enumerate(per):
        mine = tz == code
        for j, (at, d) in enumerate(items):
            after = mine & (created_min < at)  # only changes after the inquiry shift its clock
            at_arr[after, j] = at
            delta[after, j] = d
    return {"dst_at": dict(enumerate(at_arr.T.copy())), "dst_delta": dict(enumerate(delta.T.copy()))}


@dataclass(frozen=True)
class Ids:
    """What the observed frames need of a chunk's leads (see :func:`_observed_leads`)."""

    n: int
    lead_id: np.ndarray
    created_min: np.ndarray


def subset_leads(lead: Leads, sel: Any) -> Leads:
    """The leads ``sel`` (a mask, an index array, or a slice: then views, no copies)."""
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(lead):
        v = getattr(lead, f.name)
        if f.name == "n":
            kw[f.name] = len(lead.lead_id[sel])
        elif f.name in ("cats", "n_chunk"):
            kw[f.name] = v
        elif isinstance(v, dict):
            kw[f.name] = {k: x[sel] for k, x in v.items()}
        else:
            kw[f.name] = v[sel]
    return Leads(**kw)

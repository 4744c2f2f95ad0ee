"""The cadence engine: a vectorised simulation of multi-channel follow-up.

Time unit: minutes since the lead's inquiry (``t``). Local wall-clock minutes are
``created_at + utc_offset + t``. Steps are processed in cadence order for all leads at once
(arrays, never a Python loop per lead); a lead's sends are monotone in time, so the state at a
send is known from the sends before it. Ties: a step planned at the same minute as the previous
one is sent after it.

Per step and lead: the policy layer first (stop states, consent, confidentiality, sensitive
content, ownership handoff, send window / quiet hours / staffed hours, frequency caps — each
skip or deferral logged with a reason), then delivery, engagement, opt-out, qualification and
booking. After the cadence: self-booking, loss to a competitor, the visit reminder and attendance.

Common random numbers: every random draw a lead meets at step slot ``k`` comes from the stream
``(seed, chunk, STEP, k)``, whatever the arm, so running every lead through every arm gives the
true effect of each arm, and an arm identical to the control has a true effect of exactly 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._parallel import DEFAULT_JOBS, map_tasks
from ..scenario.model import CHANNELS, TCPA_CHANNELS, Arm, Scenario
from .behaviour import loss_time
from .calendar import dst_transitions as _dst_transitions
from .calendar import in_window, next_in_window
from .policy import REASON_CODE as R
from .policy import REASONS, stop_reason
from .population import IDENTITY_COLUMNS, make_leads_chunk
from .touchlog import TOUCH_COLUMNS, owner_categories, touch_frame, utc_from_minutes

__all__ = ["OUTCOME_COLUMNS", "REASONS", "TOUCH_COLUMNS", "SimulationResult", "simulate"]

DAY = 1440.0
WEEK = 7 * DAY
INF = np.inf

OUTCOME_COLUMNS: dict[str, str] = {
    "arm": "assigned arm",
    "first_response_minutes": "minutes from inquiry to the first touch sent (NaN: none)",
    "first_call_minutes": "minutes from inquiry to the first call attempt (NaN: none)",
    "contacted": "engaged at least once: a click, a reply or an answered call",
    "contacted_minutes": "minutes from inquiry to the first engagement (NaN: never)",
    "qualified": "contacted and found to fit",
    "booked": "booked within the horizon (and before being lost)",
    "booked_at": "UTC time of booking (NaT: not booked)",
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
    "staff_minutes": "staff time spent on the lead, minutes",
}
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


# --------------------------------------------------------------------------------------
# Result


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    Attributes:
        leads: one row per lead: population columns, ``arm`` and the outcomes in :data:`OUTCOME_COLUMNS`.
        touches: one row per planned touch: :data:`TOUCH_COLUMNS`.
        truth: the true mean of each outcome under every arm (every lead run through every arm
            with common random numbers), overall (``service_line == "all"``) and per service line;
            columns ``arm, service_line, metric, n, mean, true_diff`` (vs the control arm).
    """

    scenario: Scenario
    seed: int
    n_leads: int
    leads: pd.DataFrame
    touches: pd.DataFrame
    truth: pd.DataFrame = field(default_factory=pd.DataFrame)

    def true_effect(self, metric: str, arm: str, service_line: str = "all") -> float:
        """True difference in the mean of ``metric`` between ``arm`` and the control."""
        t = self.truth
        row = t[(t["metric"] == metric) & (t["arm"] == arm) & (t["service_line"] == service_line)]
        if row.empty:
            raise KeyError(f"no truth for metric={metric!r}, arm={arm!r}, service_line={service_line!r}")
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


# --------------------------------------------------------------------------------------
# One chunk, one arm


@dataclass
class _Leads:
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
    #: Position of each lead in its chunk (random draws are indexed by it) and the chunk size.
    pos: np.ndarray
    n_chunk: int
    #: The daylight-saving changes each lead meets within the horizon: UTC minute (inf: none) and delta.
    dst_at: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    dst_delta: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def shift(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Change of the UTC offset (minutes) between each lead's inquiry and ``t`` minutes after it (DST)."""
        out = np.zeros(np.shape(t))
        if self.dst_at.shape[1] == 0:
            return out
        c = self.created_min[idx]
        for k in range(self.dst_at.shape[1]):
            out += np.where(c + t >= self.dst_at[idx, k], self.dst_delta[idx, k], 0.0)
        return out

    def local(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes of the leads ``idx`` at ``t`` minutes after their inquiry."""
        return self.local0[idx] + t + self.shift(idx, t)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, sc: Scenario) -> _Leads:
        created_min = df["created_at"].dt.as_unit("s").astype("int64").to_numpy() / 60.0
        off = df["utc_offset_minutes"].to_numpy().astype(np.float64)
        codes, cats = {}, {}
        for c in ("service_line", "audience", "source", "intent", "coverage", "state", "preferred_channel"):
            codes[c] = df[c].cat.codes.to_numpy().astype(np.int64)
            cats[c] = [str(x) for x in df[c].cat.categories]
        pol = sc.policy
        qs = np.array([pol.state_quiet_hours.get(s, pol.quiet_hours)[0] for s in cats["state"]]) * 60
        qe = np.array([pol.state_quiet_hours.get(s, pol.quiet_hours)[1] for s in cats["state"]]) * 60
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
            pos=np.arange(len(df)),
            n_chunk=len(df),
            **_dst_per_lead(df, created_min, sc.horizon_days),
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


def _dst_per_lead(df: pd.DataFrame, created_min: np.ndarray, horizon_days: float) -> dict[str, np.ndarray]:
    """For each lead, the daylight-saving changes of its zone between its inquiry and the horizon."""
    if not len(df):
        return {}
    tz = df["timezone"].cat.codes.to_numpy()
    zones = tuple(str(z) for z in df["timezone"].cat.categories)
    horizon = horizon_days * DAY
    first_day = float(created_min.min() // DAY * DAY)  # a day-granular key: chunks share the cache
    trans = [
        (c, at, d)
        for c, at, d in _dst_transitions(zones, first_day, horizon_days)
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
    return {"dst_at": at_arr, "dst_delta": delta}


class _Uniforms:
    """The per-step uniforms of one chunk, drawn once and shared by every arm (common random numbers)."""

    def __init__(self, seed: int, chunk: int, n: int) -> None:
        self.seed, self.chunk, self.n = seed, chunk, n
        self._cache: dict[int, np.ndarray] = {}

    def __call__(self, k: int) -> np.ndarray:
        if k not in self._cache:
            self._cache[k] = _random.stream(self.seed, self.chunk, _random.STEP, k).random((self.n, 7))
        return self._cache[k]


def _run_arm(
    sc: Scenario, arm: Arm, lead: _Leads, uniforms: _Uniforms, record: np.ndarray | None
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Run every lead of a chunk through one arm. ``record`` selects the leads whose touches are logged.

    Each step works on the leads it selects only (index arrays), so the cost grows with the
    number of planned touches, not with leads x steps.
    """
    n = lead.n
    beh, pol = sc.behaviour, sc.policy
    horizon = sc.horizon_days * DAY
    chi = {c: i for i, c in enumerate(CHANNELS)}
    pref_all = np.array([chi[c] for c in lead.cats["preferred_channel"]])[lead.codes["preferred_channel"]]
    scope_all = pol.opt_out_scope == "all"

    booked_at = np.where(lead.self_book, lead.decision_min * beh.self_book_delay_factor, INF)
    decision = lead.decision_min.copy()
    contacted = np.full(n, INF)
    qualified_at = np.full(n, INF)
    disqualified = np.zeros(n, dtype=bool)
    opted = np.full((len(CHANNELS), n), INF)  # opt-out time per channel
    opted_any = np.full(n, INF)
    first_sent = np.full(n, INF)
    first_call = np.full(n, INF)
    last_event = np.zeros(n)
    n_sent = np.zeros(n, dtype=np.int64)
    staff = np.zeros(n)
    prev_owner = np.full(n, -1, dtype=np.int64)
    sends: dict[int, list[np.ndarray]] = {i: [] for i in range(len(CHANNELS))}
    owners: dict[str, int] = {}
    log: list[dict[str, np.ndarray]] = []
    staffed_days = np.zeros(7, dtype=bool)
    staffed_days[list(pol.staffed_days)] = True
    all_days = np.ones(7, dtype=bool)
    mult = beh.contacted_hazard_multiplier
    content_codes = {c: i for i, c in enumerate(sc.contents)}
    owner_codes = {o: i for i, o in enumerate(owner_categories(sc))}

    for k, step in enumerate(arm.steps):
        u_chunk = uniforms(k)
        ch = chi[step.channel]
        cb = beh.channels[step.channel]
        caps = pol.caps[step.channel]
        content = sc.contents[step.content]
        owner = owners.setdefault(step.owner, len(owners))
        # static and dynamic conditions (judged at the planned time) select the leads of this step
        sel = lead.matches(step)
        if step.anchor == "inquiry":
            planned_all = np.full(n, float(step.delay_minutes))
        else:
            planned_all = last_event + step.delay_minutes
        if step.if_no_response:
            sel &= contacted > planned_all
        if step.if_qualified:
            sel &= (qualified_at <= planned_all) & (booked_at > planned_all)
        idx = np.flatnonzero(sel)
        m = idx.size
        if m == 0:
            sends[ch].append(np.full(n, np.nan))
            continue
        u = u_chunk[lead.pos[idx]]
        planned = planned_all[idx]
        t = np.maximum(planned, last_event[idx])
        reason = np.where(t > planned, R["after_previous"], 0)
        c_contacted = contacted[idx]
        c_booked = booked_at[idx]
        c_disq = disqualified[idx]
        c_opted = opted_any[idx] if scope_all else opted[ch][idx]
        c_hazard = lead.hazard_per_min[idx]
        c_clock = lead.clock[idx]

        state = (c_hazard, c_clock, c_contacted, mult, c_opted, c_disq, c_booked)
        skip = stop_reason(t, *state)
        if step.channel in lead.consent:
            skip = np.where((skip == 0) & ~lead.consent[step.channel][idx], R["no_consent"], skip)
        if step.channel == "sms":
            skip = np.where((skip == 0) & lead.confidential[idx], R["confidential"], skip)
        if step.channel == "chat":
            chat_code = lead.cats["source"].index("chat") if "chat" in lead.cats["source"] else -1
            skip = np.where((skip == 0) & (lead.codes["source"][idx] != chat_code), R["no_chat_session"], skip)
        sensitive = lead.sensitive[idx]
        if step.channel == "retargeting":
            skip = np.where((skip == 0) & sensitive, R["sensitive_retargeting"], skip)
        replaced = np.zeros(m, dtype=bool)
        if step.channel == "sms" and content.reveals_condition:
            if pol.sensitive_content_action == "block":
                skip = np.where((skip == 0) & sensitive, R["sensitive_blocked"], skip)
            else:
                replaced = sensitive & (skip == 0)
        if pol.handoff_failure_rate > 0:
            po = prev_owner[idx]
            failed = (po >= 0) & (po != owner) & (skip == 0) & (u[:, 4] < pol.handoff_failure_rate)
        else:
            failed = np.zeros(m, dtype=bool)
        if pol.handoff_failure_mode == "drop":
            skip = np.where(failed, R["handoff_dropped"], skip)

        # timing: the allowed daily window (send window, quiet hours, staffed hours), then the caps
        a: Any = 0.0
        b: Any = DAY
        days = all_days
        if step.window is not None:
            a, b = step.window[0] * 60, step.window[1] * 60
        local = lead.local(idx, t)
        if step.channel in TCPA_CHANNELS:
            qs, qe = lead.quiet_start[idx], lead.quiet_end[idx]
            reason = np.where((reason == 0) & ~in_window(local, qs, qe, all_days), R["quiet_hours"], reason)
            a, b = np.maximum(a, qs), np.minimum(b, qe)
        if step.channel == "call":
            sa, sb = pol.staffed_hours[0] * 60, pol.staffed_hours[1] * 60
            reason = np.where((reason == 0) & ~in_window(local, sa, sb, staffed_days), R["staffed_hours"], reason)
            a, b, days = np.maximum(a, sa), np.minimum(b, sb), staffed_days
        if step.window is not None:
            wa, wb = step.window[0] * 60, step.window[1] * 60
            reason = np.where((reason == 0) & ~in_window(local, wa, wb, all_days), R["send_window"], reason)
        prev = np.stack([s[idx] for s in sends[ch]], axis=1) if sends[ch] else np.empty((m, 0))
        live = skip == 0
        if caps.total and prev.shape[1] >= caps.total:
            skip = np.where(live & (np.sum(np.isfinite(prev), axis=1) >= caps.total), R["cap_total"], skip)
            live = skip == 0
        desc = -np.sort(-np.where(np.isfinite(prev), prev, -INF), axis=1)  # most recent first
        for _ in range(8):
            # the next allowed local time, back to minutes since inquiry with the offset at t; a DST
            # change in between is caught on the next pass, which re-reads the local time at t_new
            loc = lead.local(idx, t)
            t_new = t + (next_in_window(loc, a, b, days) - loc)
            for cap, span, code in ((caps.per_day, DAY, "cap_day"), (caps.per_week, WEEK, "cap_week")):
                if cap and desc.shape[1] >= cap:
                    free_at = desc[:, cap - 1] + span
                    blocked = free_at > t_new
                    reason = np.where(live & blocked & (reason == 0), R[code], reason)
                    t_new = np.where(blocked, free_at, t_new)
            ok = ~np.isnan(t_new)
            changed = live & ok & (t_new != t)
            t = np.where(live & ok, t_new, t)
            skip = np.where(live & ~ok, R["no_allowed_time"], skip)
            live = skip == 0
            if not changed.any():
                break
        # after deferral: within the horizon, and not stopped meanwhile
        skip = np.where(live & (t > horizon), R["after_horizon"], skip)
        live = skip == 0
        skip = np.where(live, stop_reason(t, *state), skip)
        send = skip == 0

        # behaviour at the send
        delivered = send & (u[:, 0] < cb.deliver_rate)
        hour = (lead.local(idx, t) % DAY) / 60.0
        speed = beh.speed_floor + (1 - beh.speed_floor) * np.exp2(-t / beh.speed_half_life_minutes)
        rel = lead.relevant(content, idx) & ~replaced
        c_sent = n_sent[idx]
        p_eng = (
            cb.engage_rate
            * lead.responsiveness[idx]
            * speed
            * beh.fatigue ** c_sent.astype(np.float64)
            * np.where(pref_all[idx] == ch, beh.preferred_multiplier, 1.0)
            * np.where(np.abs(hour - lead.preferred_hour[idx]) <= 2, beh.preferred_hour_multiplier, 1.0)
            * np.where(rel, beh.relevance_multiplier, 1.0)
        )
        recent = np.sum(prev > (t - WEEK)[:, None], axis=1) if prev.shape[1] else np.zeros(m)
        p_opt = cb.opt_out_rate * (1 + beh.opt_out_frequency_slope * recent)
        opt_now = delivered & (u[:, 2] < p_opt)
        engaged = delivered & (u[:, 1] < np.minimum(p_eng, 1.0)) & ~opt_now
        dup = send & failed if pol.handoff_failure_mode == "duplicate" else np.zeros(m, dtype=bool)
        if dup.any():  # the duplicate still goes through the caps
            within = [(caps.per_day, DAY), (caps.per_week, WEEK)]
            for cap, span in within:
                if cap:
                    dup &= np.sum(prev > (t - span)[:, None], axis=1) + 2 <= cap
            if caps.total:
                dup &= np.sum(np.isfinite(prev), axis=1) + 2 <= caps.total
        opt_dup = dup & (u[:, 5] < p_opt * (1 + beh.opt_out_frequency_slope))
        opt_t = np.where(opt_now | opt_dup, t, INF)
        opted[ch][idx] = np.minimum(opted[ch][idx], opt_t)
        opted_any[idx] = np.minimum(opted_any[idx], opt_t)

        staff[idx] += (
            np.where(send, cb.staff_minutes, 0.0)
            + np.where(engaged, cb.staff_minutes_engaged, 0.0)
            + np.where(dup, cb.staff_minutes, 0.0)
        )
        n_sent[idx] = c_sent + send + dup
        first_sent[idx] = np.where(send, np.minimum(first_sent[idx], t), first_sent[idx])
        if step.channel == "call":
            first_call[idx] = np.where(send, np.minimum(first_call[idx], t), first_call[idx])
        sent_full = np.full(n, np.nan)
        sent_full[idx] = np.where(send, t, np.nan)
        sends[ch].append(sent_full)
        if dup.any():
            sends[ch].append(sent_full.copy())
        prev_owner[idx] = np.where(send, owner, prev_owner[idx])
        last_event[idx] = np.where(send, t, np.maximum(planned, last_event[idx]))

        c_contacted = np.where(engaged, np.minimum(c_contacted, t), c_contacted)
        contacted[idx] = c_contacted
        fit_now = engaged & lead.fit[idx]
        was_qualified = qualified_at[idx] <= t
        qualified_at[idx] = np.where(fit_now, np.minimum(qualified_at[idx], t), qualified_at[idx])
        disqualified[idx] = c_disq | (engaged & ~lead.fit[idx])
        # a qualified lead who only reads the message: no contact, but the content still works
        read = delivered & ~engaged & ~opt_now & was_qualified & (u[:, 6] < cb.read_rate)
        c_dec = decision[idx]
        if content.education:
            shrink = (fit_now | read) & rel & (c_dec > t)
            c_dec = np.where(shrink, t + (c_dec - t) * beh.education_decision_factor, c_dec)
            decision[idx] = c_dec
        p_book = beh.book_rate * content.booking_multiplier * np.where(rel, beh.relevance_multiplier, 1.0)
        p_book = np.where(read, p_book * beh.read_book_factor, p_book)
        books = (fit_now | read) & (u[:, 3] < np.minimum(p_book, 1.0))
        booked_at[idx] = np.where(books, np.minimum(c_booked, np.maximum(t, c_dec)), c_booked)

        if record is not None:
            rows = record[idx]
            r_idx = idx[rows]
            k_ = r_idx.size
            reason_out = np.where(skip > 0, skip, np.where(replaced & send, R["sensitive_replaced"], reason))
            log.append(
                {
                    "lead_idx": r_idx,
                    "step": np.full(k_, k, dtype=np.int16),
                    "channel": np.full(k_, ch, dtype=np.int8),
                    "content": np.where(replaced[rows], content_codes["generic"], content_codes[step.content]),
                    "owner": np.full(k_, owner_codes[step.owner], dtype=np.int16),
                    "planned": planned[rows],
                    "sent": np.where(send, t, np.nan)[rows],
                    "reason": reason_out[rows].astype(np.int8),
                    "delivered": delivered[rows],
                    "engaged": engaged[rows],
                    "opted_out": opt_now[rows],
                }
            )
            drows = dup & rows
            if drows.any():
                k_ = int(drows.sum())
                log.append(
                    {
                        "lead_idx": idx[drows],
                        "step": np.full(k_, k, dtype=np.int16),
                        "channel": np.full(k_, ch, dtype=np.int8),
                        "content": np.full(k_, content_codes[step.content]),
                        "owner": np.full(k_, owner_codes[step.owner], dtype=np.int16),
                        "planned": t[drows],
                        "sent": t[drows],
                        "reason": np.full(k_, R["handoff_duplicate"], dtype=np.int8),
                        "delivered": np.ones(k_, dtype=bool),
                        "engaged": np.zeros(k_, dtype=bool),
                        "opted_out": opt_dup[drows],
                    }
                )

    # after the cadence: loss, booking, the visit
    loss = loss_time(lead.hazard_per_min, lead.clock, contacted, mult)
    booked = (booked_at < loss) & (booked_at <= horizon)
    lost = (loss <= horizon) & ~(booked_at < loss)
    booked_min = np.where(booked, booked_at, np.nan)
    visit = booked_min + lead.appt_min
    reminded = np.zeros(n, dtype=bool)
    if arm.reminder is not None and booked.any():
        rch = arm.reminder.channel
        ri = chi[rch]
        rt = np.maximum(visit - arm.reminder.hours_before * 60, booked_min)
        ok = booked.copy()
        if rch in lead.consent:
            ok &= lead.consent[rch]
        ok &= (opted_any if scope_all else opted[ri]) > np.nan_to_num(rt, nan=INF)
        if rch == "sms":
            ok &= ~lead.confidential
        rsent = rt.copy()
        if rch in TCPA_CHANNELS:
            everyone = np.arange(n)
            rsent = np.nan_to_num(rt)
            for _ in range(3):  # a DST change between the two times is caught by the next pass
                loc = lead.local(everyone, rsent)
                rsent = rsent + (next_in_window(loc, lead.quiet_start, lead.quiet_end, all_days) - loc)
        too_late = ok & ~(rsent < visit)
        reminded = ok & ~too_late
        staff += np.where(reminded, beh.channels[rch].staff_minutes, 0.0)
        n_sent += reminded
        if record is not None:
            rows = booked & record
            k_ = int(rows.sum())
            rskip = np.where(reminded, 0, np.where(too_late, R["after_visit"], R["no_consent"]))
            rreason = np.where(reminded & (rsent > rt), R["quiet_hours"], rskip)
            log.append(
                {
                    "lead_idx": np.flatnonzero(rows),
                    "step": np.full(k_, -1, dtype=np.int16),
                    "channel": np.full(k_, ri, dtype=np.int8),
                    "content": np.full(k_, content_codes["reminder"]),
                    "owner": np.full(k_, owner_codes["scheduling"], dtype=np.int16),
                    "planned": rt[rows],
                    "sent": np.where(reminded, rsent, np.nan)[rows],
                    "reason": rreason[rows].astype(np.int8),
                    "delivered": reminded[rows],
                    "engaged": np.zeros(k_, dtype=bool),
                    "opted_out": np.zeros(k_, dtype=bool),
                }
            )
    odds0 = lead.base_no_show / (1 - lead.base_no_show)
    weeks = lead.appt_min / WEEK
    odds = odds0 * beh.no_show_odds_per_week ** (weeks - 1) * np.where(reminded, beh.reminder_odds_ratio, 1.0)
    attended = booked & (lead.show_u >= odds / (1 + odds))
    days_to_book = booked_min / DAY
    return {
        "first_response_minutes": np.where(np.isfinite(first_sent), first_sent, np.nan),
        "first_call_minutes": np.where(np.isfinite(first_call), first_call, np.nan),
        "contacted": np.isfinite(contacted),
        "contacted_minutes": np.where(np.isfinite(contacted), contacted, np.nan),
        "qualified": np.isfinite(qualified_at),
        "booked": booked,
        "booked_min": booked_min,
        "days_to_book": days_to_book,
        "booked_7d": booked & (days_to_book <= 7),
        "booked_30d": booked & (days_to_book <= 30),
        "attended": attended,
        "reminded": reminded,
        "opted_out": np.isfinite(opted_any),
        "opted_out_min": np.where(np.isfinite(opted_any), opted_any, np.nan),
        "lost": lost,
        "lost_min": np.where(lost, loss, np.nan),
        "n_touches": n_sent,
        "staff_minutes": staff,
    }, log


# --------------------------------------------------------------------------------------
# Assignment and chunks


def assign(sc: Scenario, leads: pd.DataFrame, seed: int, chunk: int) -> np.ndarray:
    """Random assignment stratified by service line with the planned allocation (arm index per lead).

    Within each service line of the chunk, arm counts follow the allocation by largest
    remainder and labels are randomly permuted.
    """
    rng = _random.stream(seed, chunk, _random.ASSIGNMENT)
    n = len(leads)
    alloc = np.array(list(sc.experiment.allocation.values()))
    sl = leads["service_line"].cat.codes.to_numpy()
    key = rng.random(n)
    out = np.zeros(n, dtype=np.int64)
    for s in np.unique(sl):
        idx = np.flatnonzero(sl == s)
        m = idx.size
        exact = alloc * m
        counts = np.floor(exact).astype(np.int64)
        rem = m - counts.sum()
        order = np.argsort(-(exact - counts) + rng.random(len(alloc)) * 1e-9, kind="stable")
        counts[order[:rem]] += 1
        labels = np.repeat(np.arange(len(alloc)), counts)
        out[idx[np.argsort(key[idx], kind="stable")]] = labels
    return out


@dataclass(frozen=True)
class _ChunkJob:
    scenario: Scenario
    seed: int
    chunk: int
    first_id: int
    n: int
    truth: bool
    potential: bool = False


def _simulate_chunk(job: _ChunkJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sc = job.scenario
    df = make_leads_chunk(sc, job.seed, job.chunk, job.first_id, job.n)
    lead = _Leads.from_frame(df, sc)
    arm_idx = assign(sc, df, job.seed, job.chunk)
    arms = sc.experiment.arms
    observed: dict[str, np.ndarray] = {}
    logs: list[tuple[int, list[dict[str, np.ndarray]]]] = []
    truth_rows = []
    sl = lead.codes["service_line"]
    n_sl = len(lead.cats["service_line"])
    uniforms = _Uniforms(job.seed, job.chunk, lead.n)
    parts: list[dict[str, np.ndarray]] = []
    positions: list[np.ndarray] = []
    # observed-only runs: gather the chunk once in arm order, so each arm is a slice (views, no copies)
    order = np.argsort(arm_idx, kind="stable")
    bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
    by_arm = None if job.truth else _subset(lead, order)
    for a, arm in enumerate(arms):
        mine = arm_idx == a
        pos = order[bounds[a] : bounds[a + 1]]
        if job.truth:
            out, log = _run_arm(sc, arm, lead, uniforms, mine)
            parts.append({k: v[pos] for k, v in out.items()})
        else:
            assert by_arm is not None
            sub = _subset(by_arm, slice(bounds[a], bounds[a + 1]))
            out_sub, log = _run_arm(sc, arm, sub, uniforms, np.ones(pos.size, dtype=bool))
            for d in log:
                d["lead_idx"] = pos[d["lead_idx"]]
            parts.append(out_sub)
            out = out_sub
        positions.append(pos)
        logs.append((a, log))
        if job.potential:
            frame = pd.DataFrame({m: out[m] for m in TRUTH_METRICS})
            frame.insert(0, "arm", arm.name)
            frame.insert(0, "lead_id", lead.lead_id)
            truth_rows.append(frame)
        elif job.truth:
            for metric in TRUTH_METRICS:
                v = out[metric].astype(np.float64)
                sums = np.bincount(sl, weights=v, minlength=n_sl)
                counts = np.bincount(sl, minlength=n_sl)
                truth_rows.append(
                    pd.DataFrame(
                        {
                            "arm": arm.name,
                            "metric": metric,
                            "service_line": lead.cats["service_line"],
                            "sum": sums,
                            "n": counts,
                        }
                    )
                )
    if job.potential:
        return df, pd.DataFrame(), pd.concat(truth_rows, ignore_index=True)
    # the observed outcome of each lead is its outcome under its own arm
    inverse = np.empty(lead.n, dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(lead.n)
    for key in parts[0]:
        observed[key] = np.concatenate([p[key] for p in parts])[inverse]
    leads = df
    leads.insert(1, "arm", pd.Categorical.from_codes(arm_idx, categories=[a.name for a in arms]))
    for key, v in observed.items():
        if key.endswith("_min"):
            leads[key[:-4] + "_at"] = utc_from_minutes(lead.created_min, v).array
        else:
            leads[key] = v
    touches = touch_frame(sc, lead.lead_id, lead.created_min, arms, logs)
    truth = pd.concat(truth_rows, ignore_index=True) if truth_rows else pd.DataFrame()
    return leads, touches, truth


def _subset(lead: _Leads, sel: Any) -> _Leads:
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
    return _Leads(**kw)


def _concat_cats(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames, unifying categoricals whose categories differ between chunks."""
    if len(frames) == 1:
        return frames[0]
    cols = {}
    for c in frames[0].columns:
        if isinstance(frames[0][c].dtype, pd.CategoricalDtype):
            cats = frames[0][c].cat.categories
            if any(not f[c].cat.categories.equals(cats) for f in frames[1:]):
                union = pd.api.types.union_categoricals([f[c] for f in frames], sort_categories=True)
                cols[c] = union
    out = pd.concat(frames, ignore_index=True)
    for c, v in cols.items():
        out[c] = pd.Categorical(v)
    return out


def _truth_table(parts: list[pd.DataFrame], sc: Scenario) -> pd.DataFrame:
    if not parts or all(p.empty for p in parts):
        return pd.DataFrame(columns=["arm", "service_line", "metric", "n", "mean", "true_diff"])
    t = pd.concat(parts, ignore_index=True)
    per = t.groupby(["arm", "metric", "service_line"], sort=False, observed=True)[["sum", "n"]].sum().reset_index()
    overall = per.groupby(["arm", "metric"], sort=False)[["sum", "n"]].sum().reset_index()
    overall["service_line"] = "all"
    t = pd.concat([overall, per], ignore_index=True)
    t["mean"] = t["sum"] / t["n"].where(t["n"] > 0)
    ctrl = t[t["arm"] == sc.experiment.control].set_index(["metric", "service_line"])["mean"]
    t["true_diff"] = (
        t["mean"].to_numpy() - ctrl.reindex(pd.MultiIndex.from_frame(t[["metric", "service_line"]])).to_numpy()
    )
    return t[["arm", "service_line", "metric", "n", "mean", "true_diff"]]


def simulate(
    scenario: Scenario,
    seed: int = 0,
    n_leads: int = 10_000,
    *,
    truth: bool = True,
    executor: Executor | None = None,
    jobs: int | None = DEFAULT_JOBS,
    progress: bool = False,
) -> SimulationResult:
    """Simulate the scenario's experiment.

    Args:
        scenario: a loaded :class:`Scenario`.
        seed: the run's seed (int >= 0). Same seed, same frames, on one process or many.
        n_leads: number of leads (int >= 1), simulated in chunks of ``CHUNK_SIZE``.
        truth: also run every lead through every arm to compute ``.truth`` (costs one pass per arm).
        executor: an optional ``concurrent.futures.Executor`` to spread chunks over
            (processes, or a Dask ``Client.get_executor()``); results are identical to serial.
        jobs: without an executor, the number of worker processes (default ``None``: every core;
            1 = in this process). A run of one chunk always runs in this process.
        progress: show a tqdm progress bar over chunks.

    Returns:
        A :class:`SimulationResult` with ``.leads``, ``.touches`` and ``.truth``.

    Raises:
        ParameterTypeError: ``scenario`` is not a Scenario (also a ``TypeError``).
        ParameterError: ``n_leads``, ``seed`` or ``jobs`` out of range (also a ``ValueError``).

    Example:
        >>> import nurture_lab as nl
        >>> sc = nl.load_scenario("speed_to_lead")  # doctest: +SKIP
        >>> nl.simulate(sc, seed=7, n_leads=2000)  # doctest: +SKIP
        SimulationResult(scenario='speed_to_lead', seed=7, n_leads=2000, ...)
    """
    from ..errors import check_param

    check_param(
        "simulate", "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)"
    )
    n_leads = check_param("simulate", "n_leads", n_leads, kind="int", low=1)
    seed = _random.check_seed(seed, "simulate")
    tasks = [_ChunkJob(scenario, seed, c, first, n, truth) for c, first, n in _random.chunks(n_leads)]
    results = map_tasks(
        _simulate_chunk,
        tasks,
        caller="simulate",
        jobs=jobs,
        executor=executor,
        progress=progress,
        desc="simulate",
        unit="chunk",
    )
    leads = _concat_cats([r[0] for r in results])
    touches = _concat_cats([r[1] for r in results])
    tr = _truth_table([r[2] for r in results], scenario)
    return SimulationResult(scenario, seed, n_leads, leads, touches, tr)


def potential_outcomes(scenario: Scenario, seed: int = 0, n_leads: int = 10_000) -> pd.DataFrame:
    """Every lead's outcome under every arm (common random numbers): ``lead_id, arm, <metrics>``.

    The leads are those of ``simulate(scenario, seed, n_leads)``; this is what ``.truth`` averages.
    """
    jobs = [_ChunkJob(scenario, seed, c, first, n, True, True) for c, first, n in _random.chunks(n_leads)]
    parts = [_simulate_chunk(j) for j in jobs]
    pot = pd.concat([p[2] for p in parts], ignore_index=True)
    leads = pd.concat([p[0] for p in parts], ignore_index=True)
    seg = leads.drop(columns=list(IDENTITY_COLUMNS))
    return pot.merge(seg, on="lead_id", how="left")


def simulate_stats(
    scenario: Scenario, seed: int, n_leads: int, metrics: Iterable[str], looks: int = 1
) -> dict[str, dict[str, float]]:
    """A lean observed-only run for replications: per arm and metric, ``n``, ``sum`` and ``sumsq``.

    Same leads, assignment and draws as :func:`simulate` (so the same numbers), without the touch
    log or the data frames. With ``looks = K > 1`` it also gives the running totals an analyst
    would have seen at K equally spaced looks in arrival order (the first ``k * n_leads / K`` leads):
    keys ``n@k``, ``<metric>:sum@k``, ``<metric>:sumsq@k`` for k = 1..K.
    """
    metrics = list(metrics)
    arms = scenario.experiment.arms
    stops = np.ceil(np.arange(1, looks + 1) * n_leads / looks).astype(np.int64)
    keys = [f"{m}:{k}" for m in metrics for k in ("sum", "sumsq")]
    acc = {a.name: {"n": 0.0} | dict.fromkeys(keys, 0.0) for a in arms}
    if looks > 1:
        for st in acc.values():
            st.update({f"{k}@{j}": 0.0 for k in ["n", *keys] for j in range(1, looks + 1)})
    for c, first, n in _random.chunks(n_leads):
        df = make_leads_chunk(scenario, seed, c, first, n, identities=False)
        lead = _Leads.from_frame(df, scenario)
        arm_idx = assign(scenario, df, seed, c)
        uniforms = _Uniforms(seed, c, lead.n)
        order = np.argsort(arm_idx, kind="stable")
        bounds = np.searchsorted(arm_idx[order], np.arange(len(arms) + 1))
        by_arm = _subset(lead, order)
        for a, arm in enumerate(arms):
            out, _ = _run_arm(scenario, arm, _subset(by_arm, slice(bounds[a], bounds[a + 1])), uniforms, None)
            st = acc[arm.name]
            st["n"] += float(bounds[a + 1] - bounds[a])
            # leads of this arm seen by each look: positions ascend within the arm (arrival order)
            seen = np.searchsorted(first + order[bounds[a] : bounds[a + 1]], stops) if looks > 1 else None
            if seen is not None:
                for j, k in enumerate(seen, start=1):
                    st[f"n@{j}"] += float(k)
            for m in metrics:
                v = out[m].astype(np.float64)
                st[f"{m}:sum"] += float(v.sum())
                st[f"{m}:sumsq"] += float((v * v).sum())
                if seen is not None:
                    cs, cq = np.r_[0.0, np.cumsum(v)], np.r_[0.0, np.cumsum(v * v)]
                    for j, k in enumerate(seen, start=1):
                        st[f"{m}:sum@{j}"] += float(cs[k])
                        st[f"{m}:sumsq@{j}"] += float(cq[k])
    return acc

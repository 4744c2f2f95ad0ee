"""The policy invariants, checked over a run's event log with an independent clock.

Local times come from zoneinfo via pandas (``tz_convert`` to each lead's zone), never from the
engine's own offset tables; windows and caps are recomputed from the log alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import nurture_lab as nl
from nurture_lab.scenario.model import VISIBLE_CHANNELS
from nurture_lab.simulation.policy import DEFERRALS, REASONS

TCPA = ("sms", "call")


def local_time(touches: pd.DataFrame, leads: pd.DataFrame, col: str = "sent_at") -> pd.DataFrame:
    """Local hour (with minutes as a fraction) and weekday of each row, by the lead's real time zone."""
    tz = touches["lead_id"].map(leads.set_index("lead_id")["timezone"]).astype(str)
    out = pd.DataFrame(index=touches.index, columns=["hour", "weekday"], dtype=float)
    for zone, idx in tz.groupby(tz).groups.items():
        loc = touches.loc[idx, col].dt.tz_convert(zone)
        out.loc[idx, "hour"] = (loc.dt.hour + loc.dt.minute / 60 + loc.dt.second / 3600).to_numpy()
        out.loc[idx, "weekday"] = loc.dt.day_of_week.to_numpy()
    return out


def _max_in_window(s: pd.DataFrame, span: str) -> int:
    """Most messages of one lead in any window (t - span, t] over the rows ``s`` (lead_id, sent_at)."""
    if s.empty:
        return 0
    s = s.sort_values(["lead_id", "sent_at"])
    counts = s.set_index("sent_at").groupby("lead_id")["lead_id"].rolling(span).count()
    return int(counts.max())


def check_step_windows(sc: nl.Scenario, sent: pd.DataFrame, leads: pd.DataFrame) -> None:
    """Every cadence message went out inside its step's ``window`` in the lead's local time (zoneinfo)."""
    steps = {a.name: a.steps for a in sc.experiment.arms}
    rows = sent[sent["step"] >= 0]
    win = [steps[str(a)][int(k)].window for a, k in zip(rows["arm"], rows["step"], strict=True)]
    has = np.array([w is not None for w in win], dtype=bool)
    if not has.any():
        return
    rows = rows[has]
    lo = np.array([w[0] for w in win if w is not None])
    hi = np.array([w[1] for w in win if w is not None])
    hour = local_time(rows, leads)["hour"].to_numpy(dtype=float)
    bad = ~((hour >= lo - 1e-6) & (hour < hi))
    assert not bad.any(), f"messages outside their step's window:\n{rows[bad].head()}"


def check_invariants(res: nl.SimulationResult) -> None:
    """Every rule of the policy gate holds for every message the run sent (steps, reminders, duplicates)."""
    sc, pol = res.scenario, res.scenario.policy
    L = res.leads.set_index("lead_id")
    T = res.touches
    sent = T[T["status"] == "sent"]
    state = sent["lead_id"].map(L["state"]).astype(str)

    # the log: statuses, and every reason is a reason code or a '+' list of deferrals
    assert set(T["status"].astype(str)) <= {"sent", "skipped", "not_selected"}
    for label in set(T["reason"].astype(str)):
        assert label in REASONS or all(p in DEFERRALS for p in label.split("+")), label
    skipped = T[T["status"] == "skipped"]
    assert (skipped["reason"] != "").all() and skipped["sent_at"].isna().all()
    assert (T.loc[T["status"] == "not_selected", "reason"] == "").all()
    deferred = sent[sent["deferred_minutes"] > 1e-3]
    assert (deferred["reason"] != "").all(), "a deferral without a reason"
    assert (sent["sent_at"] >= sent["planned_at"] - pd.Timedelta("1ms")).all()
    n_sent = sent.groupby("lead_id").size().reindex(L.index, fill_value=0)
    assert (n_sent == L["n_touches"]).all(), "n_touches disagrees with the log"

    # quiet hours in the lead's local time (zoneinfo), with the state windows
    tcpa = sent[sent["channel"].isin(TCPA)]
    hour = local_time(tcpa, res.leads)["hour"]
    st = state[tcpa.index]
    start = st.map(lambda s: pol.state_quiet_hours.get(s, pol.quiet_hours)[0]).astype(float)
    end = st.map(lambda s: pol.state_quiet_hours.get(s, pol.quiet_hours)[1]).astype(float)
    bad = ~((hour >= start - 1e-6) & (hour < end))
    assert not bad.any(), f"texts or calls in quiet hours:\n{tcpa[bad].head()}"
    # each step's own send window (local hours), whatever its send-time policy
    check_step_windows(sc, sent, res.leads)
    # calls only in staffed hours on staffed days (reminders and duplicates included): the contact
    # centre's clock when there is one, else the lead's
    calls = sent[sent["channel"] == "call"]
    cc = sc.contact_center
    if cc is None:
        cl = local_time(calls, res.leads)
        assert cl["weekday"].isin(pol.staffed_days).all(), "a call on an unstaffed day"
        assert ((cl["hour"] >= pol.staffed_hours[0] - 1e-6) & (cl["hour"] < pol.staffed_hours[1])).all()
        assert calls["queue_minutes"].isna().all() and calls["handle_minutes"].isna().all()
        assert not res.leads["missed_call"].any()
    else:
        check_centre(res)

    # consent, confidential communication, chat sessions, sensitive lines
    for ch in ("email", "sms", "call"):
        s = sent[sent["channel"] == ch]
        assert s["lead_id"].map(L[f"consent_{ch}"]).all(), f"{ch} sent without consent"
    private = sent[sent["channel"].isin(["sms", "retargeting"])]
    assert not private["lead_id"].map(L["confidential"]).any(), "a text or ad to a confidential lead"
    chat = sent[sent["channel"] == "chat"]
    assert (chat["lead_id"].map(L["source"]).astype(str) == "chat").all(), "chat without a chat session"
    sens = [n for n, s in sc.population.service_lines.items() if s.sensitive]
    line = sent["lead_id"].map(L["service_line"]).astype(str)
    assert not (sent["channel"].eq("retargeting") & line.isin(sens)).any(), "retargeting on a sensitive line"
    reveal = [n for n, c in sc.contents.items() if c.reveals_condition]
    at_risk = line.isin(sens) | sent["lead_id"].map(L["confidential"]).astype(bool)
    shown = sent["channel"].isin(VISIBLE_CHANNELS) & sent["content"].isin(reveal) & at_risk
    assert not shown.any(), f"condition-revealing content where others may see it:\n{sent[shown].head()}"

    # nothing after booking, loss or opt-out (a visit reminder is for booked leads by design)
    nurture = sent[sent["step"] >= 0]  # visit reminders are step -1 (their content may be replaced)
    stops = ["booked_at", "lost_at"] + (["opted_out_at"] if pol.opt_out_scope == "all" else [])
    for col in stops:
        stop = nurture["lead_id"].map(L[col])
        after = stop.notna() & (nurture["sent_at"] > stop)
        assert not after.any(), f"sent after {col}:\n{nurture[after].head()}"
    if pol.opt_out_scope == "channel":
        outs = T[T["opted_out"]].groupby(["lead_id", "channel"], observed=True)["sent_at"].min()
        m = sent[["lead_id", "channel", "sent_at"]].merge(
            outs.rename("out_at").reset_index(), on=["lead_id", "channel"], how="left"
        )
        assert not (m["out_at"].notna() & (m["sent_at"] > m["out_at"])).any(), "sent on a channel after its opt-out"
    else:
        out_at = sent["lead_id"].map(L["opted_out_at"])
        assert not (out_at.notna() & (sent["sent_at"] > out_at)).any(), "sent after an opt-out"

    # conditions judged at the moment of sending
    steps = {a.name: a.steps for a in sc.experiment.arms}
    flag = sent.apply(
        lambda r: (
            (steps[r["arm"]][r["step"]].if_no_response, steps[r["arm"]][r["step"]].if_qualified)
            if r["step"] >= 0
            else (False, False)
        ),
        axis=1,
        result_type="expand",
    )
    if len(flag):
        nr = sent[flag[0].astype(bool)]
        answered = nr["lead_id"].map(L["contacted_minutes"])
        since = (nr["sent_at"] - nr["lead_id"].map(L["created_at"])).dt.total_seconds() / 60
        assert not (answered.notna() & (answered < since - 1e-3)).any(), "a 'no response' step after a response"
        q = sent[flag[1].astype(bool)]
        assert q["lead_id"].map(L["qualified"]).all(), "an 'if qualified' step to an unqualified lead"

    # caps over sliding windows, counting every message on the channel (reminders, duplicates)
    for ch, caps in pol.caps.items():
        s = sent[sent["channel"] == ch][["lead_id", "sent_at"]]
        if s.empty:
            continue
        if caps.total:
            total = T[(T["status"] == "sent") & (T["channel"] == ch) & (T["step"] >= 0)]
            assert total.groupby("lead_id").size().reindex(L.index, fill_value=0).max() <= caps.total, f"{ch} total cap"
        for cap, span in ((caps.per_day, "1D"), (caps.per_week, "7D")):
            if cap:
                assert _max_in_window(s, span) <= cap, f"{ch} cap {cap}/{span} exceeded"
    # Florida and Oklahoma: calls and texts together, 3 per 24 hours
    for st_name, cap in pol.state_attempt_caps.items():
        s = tcpa[state[tcpa.index] == st_name][["lead_id", "sent_at"]]
        assert _max_in_window(s, "1D") <= cap, f"{st_name}: more than {cap} calls and texts in 24 h"

    # spacing: no two touches to one lead closer than min_gap_minutes (nor on one channel than its gap)
    s = sent.sort_values(["lead_id", "sent_at"])
    gap = s.groupby("lead_id")["sent_at"].diff().dt.total_seconds() / 60
    assert not (gap < pol.min_gap_minutes - 1e-3).any(), "two touches closer than min_gap_minutes"
    s = sent.sort_values(["lead_id", "channel", "sent_at"])
    gap = s.groupby(["lead_id", "channel"], observed=True)["sent_at"].diff().dt.total_seconds() / 60
    need = s["channel"].astype(str).map(lambda c: pol.caps[c].min_gap_minutes).astype(float)
    assert not (gap < need - 1e-3).any(), "two touches on one channel closer than its gap"

    # no text stacked on a call (either order)
    s = tcpa.sort_values(["lead_id", "sent_at"])
    same_lead = s["lead_id"].eq(s["lead_id"].shift())
    switch = same_lead & s["channel"].astype(str).ne(s["channel"].astype(str).shift())
    gap = (s["sent_at"] - s["sent_at"].shift()).dt.total_seconds() / 60
    assert not (switch & (gap < pol.call_text_gap_minutes - 1e-3)).any(), "a text stacked on a call"

    # visits in clinic hours on clinic days, local time
    booked = res.leads[res.leads["booked"]]
    if len(booked):
        v = local_time(booked, res.leads, "visit_at")
        assert v["weekday"].isin(pol.clinic_days).all(), "a visit on a closed day"
        assert ((v["hour"] >= pol.clinic_hours[0] - 1e-6) & (v["hour"] < pol.clinic_hours[1])).all()
        assert (booked["visit_at"] >= booked["booked_at"]).all()
    rem = sent[sent["step"] == -1]
    assert (rem["sent_at"] < rem["lead_id"].map(L["visit_at"])).all(), "a reminder after the visit"

    # one row per planned touch: each lead of an arm has one row per step (duplicates aside)
    planned = T[T["step"] >= 0]
    first = planned[~planned["duplicate"]]
    per = first.groupby(["lead_id", "step"]).size()
    assert (per == 1).all(), "a step logged twice for one lead"
    n_steps = res.leads["arm"].astype(str).map({a.name: len(a.steps) for a in sc.experiment.arms})
    rows = first.groupby("lead_id").size().reindex(res.leads["lead_id"], fill_value=0).to_numpy()
    assert (rows == n_steps.to_numpy()).all(), "a planned touch missing from the log"


def agents_on_shift(sc: nl.Scenario, minutes_utc: pd.DatetimeIndex) -> np.ndarray:
    """Agents on shift at each UTC minute, from the scenario's table and the centre's zone (zoneinfo)."""
    cc, pol = sc.contact_center, sc.policy
    assert cc is not None
    loc = minutes_utc.tz_convert(cc.timezone)
    wd, hour = loc.day_of_week.to_numpy(), (loc.hour + loc.minute / 60).to_numpy()
    if isinstance(cc.agents, tuple):
        table = np.array(cc.agents)
        return table[wd, loc.hour.to_numpy()]
    on = np.isin(wd, pol.staffed_days) & (hour >= pol.staffed_hours[0]) & (hour < pol.staffed_hours[1])
    return np.where(on, cc.agents, 0)


def call_spans(res: nl.SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Every call an agent was on, as UTC minutes: start and handle minutes (calls made from the log,
    inbound calls answered live from their ring with the connected handle time)."""
    cc = res.scenario.contact_center
    assert cc is not None
    T = res.touches
    made = T[(T["status"] == "sent") & (T["channel"] == "call")]
    start = made["sent_at"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    start = start // 60_000  # an agent's time counts from the minute the call starts in
    handle = made["handle_minutes"].to_numpy().astype(np.int64)
    L = res.leads
    live = L[(L["source"] == "phone") & ~L["missed_call"]] if cc.inbound_calls else L.iloc[:0]
    ring = np.ceil(live["created_at"].astype("datetime64[ms, UTC]").astype("int64").to_numpy() / 60_000)
    start = np.concatenate([start, ring.astype(np.int64)])
    handle = np.concatenate([handle, np.full(ring.size, cc.handle_minutes["connected"])])
    return start, handle


def concurrent_calls(res: nl.SimulationResult) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Calls in progress in each UTC minute (see :func:`call_spans`)."""
    start, handle = call_spans(res)
    g0 = int(start.min())
    n = int((start + handle).max()) - g0 + 1
    d = np.zeros(n + 1, dtype=np.int64)
    np.add.at(d, start - g0, 1)
    np.add.at(d, start - g0 + handle, -1)
    minutes = pd.to_datetime((np.arange(n) + g0) * 60, unit="s", utc=True)
    return pd.DatetimeIndex(minutes), np.cumsum(d)[:n]


def check_centre(res: nl.SimulationResult) -> None:
    """The contact centre: calls start only with a free agent on shift; a call may end after its shift."""
    cc = res.scenario.contact_center
    assert cc is not None
    T = res.touches
    calls = T[(T["status"] == "sent") & (T["channel"] == "call")]
    assert calls["handle_minutes"].isin(list(cc.handle_minutes.values())).all(), "a call without its handle time"
    assert (calls["queue_minutes"] >= 0).all()
    connected = calls[calls["engaged"]]
    assert (connected["handle_minutes"] == cc.handle_minutes["connected"]).all(), "an answered call not connected"
    minutes, busy = concurrent_calls(res)
    agents = agents_on_shift(res.scenario, minutes)
    # a call starts only with a free agent on shift: at each start, the calls in progress (it included)
    # are at most the agents on shift
    start, _ = call_spans(res)
    at = start - int(minutes[0].timestamp() // 60)
    over = busy[at] > agents[at]
    assert not over.any(), (
        f"{busy[at][over].max()} calls at once at {minutes[at][over][0]}, {agents[at][over][0]} agents"
    )
    # a call in progress may run past its shift's end, never beyond the longest handle time
    hmax = max(cc.handle_minutes.values())
    recent = pd.Series(agents).rolling(hmax, min_periods=1).max().to_numpy()
    assert (busy <= recent).all(), "more calls in progress than agents on shift within the longest call"
    # staff minutes are the agents' handle time for calls
    missed = res.leads["missed_call"]
    assert (res.leads.loc[missed, "source"] == "phone").all(), "a missed call that was not an inbound call"


def recomputed_staff_minutes(res: nl.SimulationResult) -> pd.Series:
    """Each lead's staff minutes from the touch log and the scenario's rates alone: a call an agent made
    costs its handle minutes (with a contact centre), any other send its channel's minutes (and the
    engaged minutes when engaged); an inbound call answered live costs a connected call."""
    sc = res.scenario
    cc = sc.contact_center
    T = res.touches
    sent = T[T["status"] == "sent"]
    ch = sent["channel"].astype(str)
    base = ch.map(lambda c: sc.behaviour.channels[c].staff_minutes).astype(float)
    extra = ch.map(lambda c: sc.behaviour.channels[c].staff_minutes_engaged).astype(float)
    cost = base + np.where(sent["engaged"], extra, 0.0)
    if cc is not None:
        cost = cost.where(ch != "call", sent["handle_minutes"].astype(float))
    out = cost.groupby(sent["lead_id"]).sum().reindex(res.leads["lead_id"], fill_value=0.0)
    if cc is not None and cc.inbound_calls:
        live = ((res.leads["source"] == "phone") & ~res.leads["missed_call"]).to_numpy()
        out = out + np.where(live, cc.handle_minutes["connected"], 0.0)
    return out


def check_operations(res: nl.SimulationResult) -> None:
    """Compliance and operations (issue 21, section 3), from the log and zone-free timestamps alone:
    a placed call is a sent call and its minutes are staff minutes; a booked lead's reminder is never
    skipped as lost or disqualified and never sent at or after the visit; a replaced message logs the
    generic content; with a contact centre, no voicemail to a lead who asked for confidential
    communication, an answered inbound call is a touch for the spacing rules, a skipped call has no
    queue minutes and a connected reminder call is engaged."""
    pol, cc = res.scenario.policy, res.scenario.contact_center
    L = res.leads.set_index("lead_id")
    T = res.touches
    placed = T[(T["channel"] == "call") & T["handle_minutes"].notna()]
    assert (placed["status"] == "sent").all(), f"a call an agent placed logged as skipped:\n{placed.head()}"
    staff = recomputed_staff_minutes(res).to_numpy()
    assert np.allclose(staff, res.leads["staff_minutes"].to_numpy(), atol=1e-6), "staff minutes disagree with the log"
    rem = T[T["step"] == -1]
    stopped = rem["reason"].astype(str).isin(["lost", "disqualified"])
    assert not stopped.any(), f"a booked lead's reminder skipped as lost or disqualified:\n{rem[stopped].head()}"
    sent_rem = rem[rem["status"] == "sent"]
    visit = sent_rem["lead_id"].map(L["visit_at"])
    late = ~(sent_rem["sent_at"] <= visit - pd.Timedelta(minutes=1))
    assert not late.any(), f"a reminder sent at or after the visit:\n{sent_rem[late].head()}"
    replaced = T["reason"].astype(str).str.split("+").map(lambda r: "sensitive_replaced" in r)
    assert (T.loc[replaced, "content"] == "generic").all(), "a replaced message logged with its own content"
    if cc is None:
        return
    hm = cc.handle_minutes
    skipped_calls = T[(T["channel"] == "call") & (T["status"] == "skipped")]
    assert skipped_calls["queue_minutes"].isna().all(), "queue minutes on a call that was not placed"
    if hm["connected"] not in (hm["voicemail"], hm["no_answer"]):
        answered = rem[(rem["channel"] == "call") & (rem["handle_minutes"] == hm["connected"])]
        assert answered["engaged"].all(), "a connected reminder call not logged as engaged"
    if hm["voicemail"] not in (hm["no_answer"], hm["connected"]):
        vm = placed["handle_minutes"] == hm["voicemail"]
        conf = placed["lead_id"].map(L["confidential"]).astype(bool)
        assert vm[~conf].any() or not (~conf).any() or len(placed) < 200, "no voicemail at all: the check is blind"
        assert not (vm & conf).any(), "a voicemail left for a lead who asked for confidential communication"
    if cc.inbound_calls:
        live = L.index[(L["source"] == "phone") & ~L["missed_call"]]
        s = T[(T["status"] == "sent") & T["lead_id"].isin(live)]
        since = (s["sent_at"] - s["lead_id"].map(L["created_at"])).dt.total_seconds() / 60
        ch = s["channel"].astype(str)
        need = ch.map(
            lambda c: max(
                pol.min_gap_minutes,
                pol.caps["call"].min_gap_minutes if c == "call" else 0,
                pol.call_text_gap_minutes if c == "sms" else 0,
            )
        ).astype(float)
        close = since < need - 1e-3
        assert not close.any(), f"a touch too close to the answered inbound call:\n{s[close].head()}"

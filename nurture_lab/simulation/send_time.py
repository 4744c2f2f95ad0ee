"""Send-time policies: when in the lead's local day a cadence step goes out (``Step.send_time``).

A step's delay gives its planned time, as always. A policy other than ``"planned"`` then picks a
local time of day ``target`` and moves the planned time to the next moment at or after it whose
local time is ``target`` (a step is never sent before its delay; one held behind the lead's call
waiting for an agent, to the next such moment after the call settled: :func:`.cadence.gate_held`):

* ``"random"`` — a uniform time in the step's allowed window (below);
* ``"oracle"`` — the lead's true preferred hour (a check: no sender knows it);
* ``"audience_best"`` — the hour with the best engagement rate for the lead's audience, learned from
  this run's earlier randomised sends on the step's channel (below);
* ``"lead_best"`` — the best such hour within :data:`LEAD_REACH` hours of the local hour at which the
  lead first engaged, if it engaged before this step's planned time; else ``"audience_best"``.

**The allowed window.** The daily local window [lo, hi) where the step may go out: its own
``window``, within the lead's legal calling hours for calls and texts
(:func:`~nurture_lab.simulation.policy.call_window`, the window the gate's ``quiet_hours`` and
``send_window`` rules enforce) and, for calls without a contact centre, within staffed hours. A target
outside it moves to its nearest edge (``lo``, or a minute before ``hi``), never past it. The message
then goes through the same gate as every message (:func:`~nurture_lab.simulation.policy.gate`):
spacing, caps and days may still move it; an empty window leaves the planned time to the gate.

**Learning, causal.** The learner reads only *randomised* sends (a ``"random"`` step's, and the
exploration sends of a learning step) that the gate did not defer: their time does not depend on
the lead, so the engagement rate per local hour is an unbiased estimate of that hour's rate.
(Learning from the hours at which engagement happened under a fixed schedule is biased: engagement
follows the send, so it clusters at whatever hour one always sent; see
:func:`nurture_lab.whatif.send_time.schedule_bias`.) For a lead who arrived on UTC day ``d`` it
uses the sends of this arm's run made on days before ``d`` — all of them past when the lead's step
goes out — per channel x audience x local hour of the send:
``rate = (engaged + PRIOR_SENDS * nearby) / (sent + PRIOR_SENDS)``, shrunk towards the rate of the
hours within :data:`POOL_HOURS` of it, ``nearby = (engaged' + PRIOR_SENDS * audience rate) /
(sent' + PRIOR_SENDS)`` (primes: summed over those hours), itself shrunk towards the audience's
rate over all hours: a sparse hour borrows from its neighbours, a well-sent hour speaks for itself.

**Exploration.** A share :data:`EXPLORE` of a learning step's leads (by their own draw) get a
random time; so does a lead whose audience had fewer than :data:`MIN_ENGAGED` engagements with the
channel's randomised sends before its arrival day. A learning step runs in two groups: the
explorers first (their engagement joins the history), then the others. A run learns within each
chunk of leads (``CHUNK_SIZE``; chunks run independently) and within each arm.

Draws: step ``k``'s exploration and random-time uniforms are the stream slot ``K_SEND_TIME + k``
(common random numbers: the same per lead under every arm). Time unit: minutes since the inquiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _random
from ..scenario.model import TCPA_CHANNELS
from .calendar import DAY
from .draws import K_SEND_TIME
from .policy import Message, call_window

__all__ = [
    "EXPLORE",
    "LEAD_REACH",
    "LEARNING",
    "MIN_ENGAGED",
    "POOL_HOURS",
    "PRIOR_SENDS",
    "SendHistory",
    "StepTiming",
    "allowed_window",
    "group_count",
    "learning_step",
    "learns",
    "next_local",
]

#: Share of a learning step's leads sent at a random time (exploration).
EXPLORE = 0.2
#: Shrinkage: this many pseudo-sends at the rate of the level above (hour -> nearby hours -> audience).
PRIOR_SENDS = 20.0
#: Fewer engagements with the channel's randomised sends to the audience before the lead's arrival
#: day: the lead explores (rare engagement, an e-mail's, says little about hours until it adds up).
MIN_ENGAGED = 40
#: ``lead_best`` looks this many hours either side of the lead's first engagement (the reach of
#: ``near_preferred_hour`` in the behaviour model).
LEAD_REACH = 2
#: An hour's rate is shrunk towards the rate of the hours within this many of it (a moving sum over
#: 5 hours; a preference spans hours, the behaviour's ±2 h).
POOL_HOURS = 2
LEARNING = ("audience_best", "lead_best")
U_EXPLORE, U_WHEN = 0, 1


@dataclass
class SendHistory:
    """One arm run's randomised sends per channel: audience code, UTC day, local hour of the send, engaged."""

    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def add(self, channel: str, aud: np.ndarray, day: np.ndarray, hour: np.ndarray, engaged: np.ndarray) -> None:
        self.parts.setdefault(channel, []).append((aud, day, hour, engaged))

    def rates(self, channel: str, n_aud: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
        """Per audience x day ``d`` x local hour: the shrunk engagement rate of the channel's sends made
        on days before ``d``, and per audience x day their engagements (channels engage at their own
        rates: each learns from its own sends)."""
        cells = n_aud * n_days * 24
        sent = np.zeros(cells)
        eng = np.zeros(cells)
        for aud, day, hour, engaged in self.parts.get(channel, []):
            # a send on day d informs the leads of days d + 1 on (later sends inform no lead here)
            late = day + 1 >= n_days
            key = (aud * n_days + np.where(late, 0, day + 1)) * 24 + hour
            sent += np.bincount(key[~late], minlength=cells)
            eng += np.bincount(key[~late], weights=engaged[~late].astype(np.float64), minlength=cells)
        n = np.cumsum(sent.reshape(n_aud, n_days, 24), axis=1)
        e = np.cumsum(eng.reshape(n_aud, n_days, 24), axis=1)
        n_aud_day = n.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            base = np.where(n_aud_day > 0, e.sum(axis=2) / n_aud_day, 0.0)
        near = (_pool_hours(e) + PRIOR_SENDS * base[:, :, None]) / (_pool_hours(n) + PRIOR_SENDS)
        return (e + PRIOR_SENDS * near) / (n + PRIOR_SENDS), e.sum(axis=2)


def _pool_hours(x: np.ndarray) -> np.ndarray:
    """Sums over the hours within :data:`POOL_HOURS` of each hour (last axis; no wrap past midnight)."""
    k = POOL_HOURS
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(k + 1, k)]), axis=-1)
    return c[..., 2 * k + 1 :] - c[..., : -2 * k - 1]  # type: ignore[no-any-return]


def allowed_window(msg: Message, st: Any) -> tuple[np.ndarray, np.ndarray]:
    """The daily local window [lo, hi) (minutes of the day) of a step's messages (module docstring)."""
    m = msg.idx.size
    if msg.channel in TCPA_CHANNELS:
        lo, hi = call_window(msg, st)
    elif msg.window is not None:
        lo, hi = np.full(m, msg.window[0] * 60), np.full(m, msg.window[1] * 60)
    else:
        lo, hi = np.zeros(m), np.full(m, DAY)
    if msg.channel == "call" and st.clock is None:
        lo, hi = np.maximum(lo, st.pol.staffed_hours[0] * 60), np.minimum(hi, st.pol.staffed_hours[1] * 60)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def next_local(lead: Any, idx: np.ndarray, planned: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The first moment at or after ``planned`` (minutes after each lead's inquiry) whose local time of
    day is ``target`` (local minutes; re-read once after a daylight-saving change in between). A time
    of day the clocks skip (2:30 on the spring-forward day) is read as zoneinfo reads it, the moment it
    would have been (3:30), not the hour before."""
    tod = lead.local(idx, planned) % DAY
    guess = planned + (target - tod) % DAY  # today's time of day if still ahead, else tomorrow's
    t = _reread(lead, idx, guess, target)
    # today's time of day, though behind the plan's clock time, may be a skipped one read forward
    today = _reread(lead, idx, planned + (target - tod), target)
    return np.maximum(np.where((target < tod) & (today >= planned), today, t), planned)  # type: ignore[no-any-return]


def _reread(lead: Any, idx: np.ndarray, guess: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``guess`` (a moment placed at ``target`` with the wrong UTC offset across a daylight-saving
    change) moved to the moment whose local time of day is ``target``; where the clocks skip that
    time, the later of the two readings (the moment it would have been)."""
    fixed = guess + _wrap(target - lead.local(idx, guess) % DAY)
    exists = np.abs(_wrap(lead.local(idx, fixed) % DAY - target)) < 1e-6
    return np.where(exists, fixed, np.maximum(guess, fixed))  # type: ignore[no-any-return]


def _wrap(d: np.ndarray) -> np.ndarray:
    """A difference of times of day (minutes) brought within half a day of 0."""
    return (d + DAY / 2) % DAY - DAY / 2  # type: ignore[no-any-return]


def learns(arm: Any) -> bool:
    """Whether an arm's run learns send times from its own sends (a step with a learning policy): one
    lead's send time then depends on the other leads of the run, so a run that puts leads of other
    arms through the arm (the truth) must say whose sends teach it."""
    return learning_step(arm) is not None


def learning_step(arm: Any) -> int | None:
    """The arm's first step with a learning send-time policy (None: none)."""
    return next((k for k, step in enumerate(arm.steps) if step.send_time in LEARNING), None)


def group_count(policy: str) -> int:
    """The groups a step with this send-time policy is sent in (:meth:`StepTiming.groups`): a learning
    policy's explorers, then the others; any other policy's leads at once."""
    return 2 if policy in LEARNING else 1


@dataclass
class StepTiming:
    """One step's send-time policy over the leads ``msg.idx`` (see the module docstring)."""

    policy: str
    msg: Message
    st: Any
    history: SendHistory
    u: np.ndarray  # per lead: (explore, when) uniforms
    lo: np.ndarray
    hi: np.ndarray
    #: per lead of the run, whose randomised sends the learner reads (None: every lead's)
    teaches: np.ndarray | None = None

    @classmethod
    def make(
        cls,
        policy: str,
        msg: Message,
        st: Any,
        history: SendHistory,
        draws: Any,
        k: int,
        teaches: np.ndarray | None = None,
    ) -> StepTiming:
        lead = st.lead
        u = _random.stream(draws.seed, draws.chunk, _random.STEP, K_SEND_TIME + k).random((lead.n_chunk, 2))
        lo, hi = allowed_window(msg, st)
        return cls(policy, msg, st, history, u[lead.pos[msg.idx]], lo, hi, teaches)

    def groups(self) -> list[np.ndarray]:
        """The rows of the step's leads in the order they are sent: explorers first, then the others."""
        rows = np.arange(self.msg.idx.size)
        if group_count(self.policy) == 1:
            return [rows]
        explore = self.u[:, U_EXPLORE] < EXPLORE
        return [rows[explore], rows[~explore]]

    def planned(self, rows: np.ndarray, first: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The planned times of the rows (their policy's target, next at or after the step's own plan),
        which of them are randomised (the learner's data), and the target (local minute of the day;
        NaN where the window is empty). ``first``: the explorers' group."""
        lead, idx, planned = self.st.lead, self.msg.idx[rows], self.msg.planned[rows]
        lo, hi = self.lo[rows], self.hi[rows]
        rand = lo + self.u[rows, U_WHEN] * np.maximum(hi - lo, 0.0)
        if self.policy == "random" or (self.policy in LEARNING and first):
            target, randomised = rand, np.ones(rows.size, dtype=bool)
        elif self.policy == "oracle":
            target, randomised = lead.preferred_hour[idx] * 60.0, np.zeros(rows.size, dtype=bool)
        else:
            hour, known = self.best_hours(idx, planned, lo, hi)
            target, randomised = np.where(known, hour * 60.0, rand), ~known
        target = np.clip(target, lo, np.maximum(hi - 1.0, lo))
        ok = lo < hi  # an empty window: the planned time, for the gate to judge
        at = np.where(ok, next_local(lead, idx, planned, target), planned)
        return at, randomised & ok, np.where(ok, target, np.nan)

    def best_hours(
        self, idx: np.ndarray, planned: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The learned best local hour of each lead, and whether it is known (enough earlier sends)."""
        lead = self.st.lead
        aud, day = lead.codes["audience"], self.day(lead.created_min)
        n_days = int(day.max()) + 1
        rate, n_engaged = self.history.rates(self.msg.channel, len(lead.cats["audience"]), n_days)
        a, d = aud[idx], day[idx]
        score = rate[a, d, :]  # (m, 24)
        h = np.arange(24) * 60.0
        allowed = (h[None, :] < hi[:, None]) & (h[None, :] + 60 > lo[:, None])
        score = np.where(allowed, score, -np.inf)
        known = n_engaged[a, d] >= MIN_ENGAGED
        if self.policy == "lead_best":
            engaged = self.st.contacted[idx] <= planned
            own = np.floor(lead.local(idx, np.where(engaged, self.st.contacted[idx], 0.0)) % DAY / 60.0)
            near = np.abs(np.arange(24)[None, :] - own[:, None]) <= LEAD_REACH
            narrowed = np.where(near & engaged[:, None], score, -np.inf)
            usable = engaged & np.isfinite(narrowed).any(axis=1)
            score = np.where(usable[:, None], narrowed, score)
            # no audience history yet: the lead's own hour
            own_only = usable & ~known
            best = np.where(own_only, own, np.argmax(score, axis=1))
            return best.astype(np.float64), known | own_only
        return np.argmax(score, axis=1).astype(np.float64), known

    def day(self, abs_min: np.ndarray) -> np.ndarray:
        """UTC day of a moment, counted from the first inquiry of the run's leads."""
        first = np.floor(self.st.lead.created_min.min() / DAY)
        return (np.floor(abs_min / DAY) - first).astype(np.int64)

    def learn(self, rows: np.ndarray, randomised: np.ndarray, res: Any, t: np.ndarray, engaged: Any) -> None:
        """The randomised sends of the rows that the gate did not defer (their hour is the draw's, not
        the gate's) join the history, with whether the lead engaged. ``res``: the gate's decision."""
        if self.policy == "oracle":
            return
        lead, idx = self.st.lead, self.msg.idx[rows]
        keep = randomised & res.send & (res.defer == 0)
        if self.teaches is not None:
            keep &= self.teaches[idx]
        if not keep.any():
            return
        i, tk = idx[keep], t[keep]
        hour = (np.floor(lead.local(i, tk) % DAY / 60.0)).astype(np.int64) % 24
        day = np.maximum(self.day(lead.created_min[i] + tk), 0)
        eng = np.broadcast_to(np.asarray(engaged, dtype=bool), keep.shape)[keep]
        self.history.add(self.msg.channel, lead.codes["audience"][i], day, hour, eng)

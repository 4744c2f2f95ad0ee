"""When should a message go out? Send-time policies compared under randomisation (issue 25, section 3).

:func:`compare_send_times` runs the scenario's control cadence once per send-time policy (every
step, or the steps named, with ``send_time = <policy>``; see :mod:`nurture_lab.simulation.send_time`),
every lead on it: a one-arm scenario per policy, so each policy's run is its rollout truth, and the
leads and their draws are the same under every policy (common random numbers: a difference between
two policies is the effect of the send time alone). Each (policy, replication) is one task for
:func:`nurture_lab._parallel.map_tasks`; replication ``r`` runs on a seed spawned from ``(seed, r)``,
and a task returns a few totals, so the result is identical whatever runs the tasks.

Per policy: 30-day bookings per 1,000 leads with a 95% Monte Carlo interval (t over replications),
the paired difference from the first policy with its interval, engagement per message sent, the
share of messages sent within 2 hours of the lead's (latent) preferred hour, and the gate check:
sent messages whose local time — from the lead's time zone with zoneinfo, not the engine's offsets —
falls outside the step's window, the lead's legal calling hours (calls, texts) or staffed hours (calls
without a contact centre). It must be 0.

:func:`schedule_bias` shows why the history of a fixed schedule cannot say when to send: a lead
engages when a message reaches it, so the hours of engagement are the hours one sent at.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _random
from .._parallel import DEFAULT_JOBS, map_tasks
from .._results import ResultMixin
from ..errors import ParameterError, check_param
from ..scenario.model import SEND_TIMES, TCPA_CHANNELS, Scenario
from ..simulation.engine import simulate

__all__ = [
    "SendTimeResult",
    "compare_send_times",
    "engagement_by_hour",
    "fixed_schedule",
    "gate_violations",
    "policy_scenario",
    "schedule_bias",
]

FUNC = "compare_send_times"
#: Messages within this many hours of the lead's preferred hour meet it (behaviour: near_preferred_hour).
NEAR_HOURS = 2.0
#: schedule_bias: an hour needs this many expected engagements (messages x their step's rate) to be picked.
MIN_EXPECTED = 20.0
INTERVAL_TEXT = "95% t interval over replications (paired for the differences)"


def policy_scenario(sc: Scenario, policy: str, steps: Sequence[int] | None = None) -> Scenario:
    """The scenario with one arm, named ``policy``: the control arm's cadence with ``send_time = policy``
    on its steps (or on the step indices ``steps``), every lead on it."""
    arm = sc.experiment.arm(sc.experiment.control)
    chosen = range(len(arm.steps)) if steps is None else steps
    new = tuple(dataclasses.replace(s, send_time=policy) if i in chosen else s for i, s in enumerate(arm.steps))
    one = dataclasses.replace(arm, name=policy, steps=new, allocation=1.0)
    exp = dataclasses.replace(sc.experiment, arms=(one,), control=policy)
    return dataclasses.replace(sc, experiment=exp)


def _local(frame: pd.DataFrame, leads: pd.DataFrame, col: str) -> tuple[pd.Series, pd.Series]:
    """Local hour (with minutes as a fraction) and weekday of each row's ``col``, in its lead's zone (zoneinfo)."""
    tz = frame["lead_id"].map(leads.set_index("lead_id")["timezone"]).astype(str)
    hour = pd.Series(np.nan, index=frame.index)
    wday = pd.Series(np.nan, index=frame.index)
    for zone, idx in tz.groupby(tz).groups.items():
        loc = frame.loc[idx, col].dt.tz_convert(zone)
        hour.loc[idx] = (loc.dt.hour + loc.dt.minute / 60 + loc.dt.second / 3600).to_numpy()
        wday.loc[idx] = loc.dt.day_of_week.to_numpy()
    return hour, wday


def gate_violations(sc: Scenario, leads: pd.DataFrame, touches: pd.DataFrame) -> int:
    """Cadence messages sent outside their step's window, the lead's legal calling hours (calls and
    texts) or, for calls without a contact centre, staffed hours and days — local times from zoneinfo."""
    sent = touches[(touches["status"] == "sent") & (touches["step"] >= 0)]
    if sent.empty:
        return 0
    pol = sc.policy
    hour, wday = _local(sent, leads, "sent_at")
    bad = pd.Series(False, index=sent.index)
    windows = {a.name: [s.window for s in a.steps] for a in sc.experiment.arms}
    win = [windows[str(a)][int(k)] for a, k in zip(sent["arm"], sent["step"], strict=True)]
    lo = pd.Series([w[0] if w else 0.0 for w in win], index=sent.index)
    hi = pd.Series([w[1] if w else 24.0 for w in win], index=sent.index)
    bad |= (hour < lo - 1e-6) | (hour >= hi)
    tcpa = sent["channel"].astype(str).isin(TCPA_CHANNELS)
    state = sent["lead_id"].map(leads.set_index("lead_id")["state"]).astype(str)
    q = state.map(lambda s: pol.state_quiet_hours.get(s, pol.quiet_hours))
    bad |= tcpa & ((hour < q.str[0].astype(float) - 1e-6) | (hour >= q.str[1].astype(float)))
    if sc.contact_center is None:
        call = sent["channel"].astype(str) == "call"
        a, b = pol.staffed_hours
        bad |= call & ((hour < a - 1e-6) | (hour >= b) | ~wday.isin(pol.staffed_days))
    return int(bad.sum())


@dataclass(frozen=True)
class _Task:
    scenario: Scenario  # one arm: the policy
    policy: str
    rep: int
    seed: int
    n_leads: int


def _run(t: _Task) -> dict[str, Any]:
    """One replication of one policy, reduced to totals."""
    res = simulate(t.scenario, seed=t.seed, n_leads=t.n_leads, truth=False, jobs=1)
    leads, touches = res.leads, res.touches
    sent = touches[(touches["status"] == "sent") & (touches["step"] >= 0)]
    hour, _ = _local(sent, leads, "sent_at")
    pref = sent["lead_id"].map(leads.set_index("lead_id")["preferred_hour"]).astype(float)
    return {
        "policy": t.policy,
        "rep": t.rep,
        "seed": t.seed,
        "n": float(len(leads)),
        "bookings": float(leads["booked_30d"].sum()),
        "sent": float(len(sent)),
        "engaged": float(sent["engaged"].sum()),
        "near_preferred_hour": float(((hour - pref).abs() <= NEAR_HOURS).sum()),
        "gate_violations": float(gate_violations(t.scenario, leads, touches)),
    }


def _check(scenario: Any, policies: Any, replications: Any, n_leads: Any, seed: Any, steps: Any) -> list[str]:
    check_param(FUNC, "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    if isinstance(policies, str) or not isinstance(policies, Sequence) or not policies:
        raise ParameterError(
            f"{FUNC}: 'policies' must be a non-empty list of: {', '.join(SEND_TIMES)}; got {policies!r}."
        )
    for p in policies:
        check_param(FUNC, "policies", p, kind="str", choices=SEND_TIMES)
    if len(set(policies)) != len(policies):
        raise ParameterError(f"{FUNC}: 'policies' must be distinct; got {list(policies)!r}.")
    check_param(FUNC, "replications", replications, kind="int", low=1, high=100_000)
    check_param(FUNC, "n_leads", n_leads, kind="int", low=1, high=20_000_000)
    _random.check_seed(seed, FUNC)
    n_steps = len(scenario.experiment.arm(scenario.experiment.control).steps)
    for k in steps or ():
        check_param(FUNC, "steps", k, kind="int", low=0, high=n_steps - 1)
    return [str(p) for p in policies]


def compare_send_times(
    scenario: Scenario,
    policies: Sequence[str] = ("planned", "random", "audience_best", "lead_best", "oracle"),
    replications: int = 10,
    n_leads: int = 5_000,
    seed: int = 0,
    *,
    steps: Sequence[int] | None = None,
    jobs: int | None = DEFAULT_JOBS,
    executor: Executor | None = None,
    progress: bool = False,
) -> SendTimeResult:
    """Bookings, engagement and gate checks of the control cadence under each send-time policy.

    Args:
        scenario: a loaded scenario; its control arm's cadence is the one timed.
        policies: send-time policies (``nurture_lab.scenario.model.SEND_TIMES``); the first is the
            reference of the paired differences.
        replications: runs per policy (different leads; the same leads under every policy).
        n_leads: leads per run.
        seed: the base seed; replication ``r`` runs on a seed spawned from ``(seed, r)``.
        steps: the step indices the policy applies to (default: every step).
        jobs, executor: where the runs go (see :func:`nurture_lab._parallel.map_tasks`); results
            are identical whatever runs them.
        progress: a progress bar over the runs.

    Returns:
        A :class:`SendTimeResult`: one row per policy.

    Raises:
        ParameterError: a bad argument (an unknown policy, ``replications=0``, ...).

    Example:
        >>> import nurture_lab as nl
        >>> sc = nl.load_scenario("content_test")  # doctest: +SKIP
        >>> nl.compare_send_times(sc, ["random", "audience_best", "oracle"], replications=4)  # doctest: +SKIP
    """
    pols = _check(scenario, policies, replications, n_leads, seed, steps)
    seeds = [_random.replication_seed(seed, r) for r in range(replications)]
    tasks = [_Task(policy_scenario(scenario, p, steps), p, r, s, n_leads) for p in pols for r, s in enumerate(seeds)]
    runs = pd.DataFrame(
        map_tasks(_run, tasks, caller=FUNC, jobs=jobs, executor=executor, progress=progress, desc="send times")
    )
    settings = {
        "scenario": scenario.name,
        "policies": pols,
        "steps": None if steps is None else [int(k) for k in steps],
        "n_leads": n_leads,
        "seed": seed,
        "replications": replications,
        "replication_seeds": seeds,
        "interval": INTERVAL_TEXT,
    }
    return SendTimeResult(summarise(runs, pols), runs, settings)


def _t_interval(x: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if x.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return float(x.mean()) - half, float(x.mean()) + half


def summarise(runs: pd.DataFrame, policies: list[str]) -> pd.DataFrame:
    """One row per policy from the per-run totals (paired differences from the first policy)."""
    per = runs.assign(b=1000 * runs["bookings"] / runs["n"]).pivot(index="rep", columns="policy", values="b")
    rows = []
    for p in policies:
        g = runs[runs["policy"] == p]
        lo, hi = _t_interval(per[p].to_numpy())
        d = (per[p] - per[policies[0]]).to_numpy()
        dlo, dhi = _t_interval(d)
        rows.append(
            {
                "policy": p,
                "bookings_per_1000": float(per[p].mean()),
                "bookings_ci_low": lo,
                "bookings_ci_high": hi,
                "diff": float(d.mean()),
                "diff_ci_low": dlo,
                "diff_ci_high": dhi,
                "engaged_per_send": float(g["engaged"].sum() / g["sent"].sum()) if g["sent"].sum() else math.nan,
                "near_preferred_hour": float(g["near_preferred_hour"].sum() / g["sent"].sum())
                if g["sent"].sum()
                else math.nan,
                "sends_per_lead": float(g["sent"].sum() / g["n"].sum()),
                "gate_violations": int(g["gate_violations"].sum()),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False)
class SendTimeResult(ResultMixin):
    """What :func:`compare_send_times` returns: ``table`` (one row per policy), ``runs`` (per policy
    and replication: leads, bookings, messages sent, engaged, near the preferred hour, gate
    violations) and ``settings``.

    Columns: ``policy``, ``bookings_per_1000`` (30-day bookings per 1,000 leads, mean over
    replications) with ``bookings_ci_low/high``, ``diff`` (the paired difference from the first
    policy, same leads and draws) with ``diff_ci_low/high``, ``engaged_per_send``,
    ``near_preferred_hour`` (share of messages sent within 2 hours of the lead's preferred hour),
    ``sends_per_lead``, ``gate_violations`` (must be 0; module docstring).
    """

    table: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def _table(self) -> pd.DataFrame:
        return self.table

    def _head(self) -> str:
        s = self.settings
        return (
            f"SendTimeResult({s['scenario']!r}: {len(s['policies'])} policies, {s['n_leads']:,} leads, "
            f"{s['replications']} replications, diff vs {s['policies'][0]!r})"
        )

    def formatted(self) -> pd.DataFrame:
        """The table for a reader: bookings and the paired difference with their 95% Monte Carlo
        intervals, engagement per message and the share sent near the lead's hour as percentages."""
        t = self.table
        first = t["policy"].iloc[0]

        def rng(v: float, lo: float, hi: float, sign: bool = False) -> str:
            f = "{:+.1f}" if sign else "{:.1f}"
            return f"{f.format(v)} ({f.format(lo)} to {f.format(hi)})" if np.isfinite(lo) else f.format(v)

        return pd.DataFrame(
            {
                "policy": t["policy"],
                "30-day bookings per 1,000 (95% MC)": [
                    rng(r[0], r[1], r[2])
                    for r in t[["bookings_per_1000", "bookings_ci_low", "bookings_ci_high"]].to_numpy()
                ],
                f"vs {first} (paired)": [
                    "—" if p == first else rng(r[0], r[1], r[2], sign=True)
                    for p, r in zip(t["policy"], t[["diff", "diff_ci_low", "diff_ci_high"]].to_numpy(), strict=True)
                ],
                "engaged per message": [f"{v:.1%}" for v in t["engaged_per_send"]],
                "sent near the lead's hour": [f"{v:.0%}" for v in t["near_preferred_hour"]],
                "gate violations": t["gate_violations"].astype(int),
            }
        )

    def summary(self) -> str:
        """The formatted table as text."""
        return self.formatted().to_string(index=False)

    def plot(self, ax: Any = None) -> Any:
        """Each policy's bookings per 1,000 leads minus the first policy's (paired: same leads and draws),
        with its 95% Monte Carlo interval; the labels give the bookings and engagement per message."""
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.6 * len(t) + 1.4))
        y = np.arange(len(t))[::-1]
        ax.barh(y, t["diff"], color="#9ecae1")
        err = [t["diff"] - t["diff_ci_low"], t["diff_ci_high"] - t["diff"]]
        ax.errorbar(t["diff"], y, xerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        labels = [
            f"{p}\n{b:.1f} per 1,000, {e:.1%} engaged"
            for p, b, e in zip(t["policy"], t["bookings_per_1000"], t["engaged_per_send"], strict=True)
        ]
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(f"30-day bookings per 1,000 leads minus {t['policy'].iloc[0]!r} (paired, 95% MC interval)")
        ax.set_title(f"Send-time policies: {self.settings['scenario']}")
        return ax


def fixed_schedule(sc: Scenario, hour: int, steps: Sequence[int] | None = None) -> Scenario:
    """The control cadence with its steps (or the steps ``steps``) sent at ``hour`` local time (their
    window ``[hour, hour + 1)``)."""
    one = policy_scenario(sc, "planned")
    arm = one.experiment.arms[0]
    chosen = range(len(arm.steps)) if steps is None else steps
    new = tuple(
        dataclasses.replace(s, window=(float(hour), float(hour + 1))) if i in chosen else s
        for i, s in enumerate(arm.steps)
    )
    arm = dataclasses.replace(arm, name=f"fixed_{hour}", steps=new)
    return dataclasses.replace(one, experiment=dataclasses.replace(one.experiment, arms=(arm,), control=arm.name))


def engagement_by_hour(
    sc: Scenario, n_leads: int, seed: int, steps: Sequence[int] | None = None, on_time: bool = False
) -> pd.DataFrame:
    """Messages of the steps ``steps`` (default: all) sent and engaged per audience and local hour of
    the send (zoneinfo), in one run (``on_time``: only the messages the gate did not defer);
    ``expected``: the engagements were each message engaged at the
    rate of its step among its audience (steps differ by channel and delay, and hours mix them
    differently: a 7:00 send can only be an e-mail)."""
    res = simulate(sc, seed=seed, n_leads=n_leads, truth=False, jobs=1)
    sent = res.touches[(res.touches["status"] == "sent") & (res.touches["step"] >= 0)]
    if steps is not None:
        sent = sent[sent["step"].isin(list(steps))]
    if on_time:  # only messages sent when planned: a deferred one's hour is the gate's, not random
        sent = sent[sent["reason"].astype(str) == ""]
    hour, _ = _local(sent, res.leads, "sent_at")
    engaged = sent["engaged"].astype(float)
    audience = sent["lead_id"].map(res.leads.set_index("lead_id")["audience"]).astype(str)
    frame = pd.DataFrame(
        {
            "audience": audience,
            "hour": np.floor(hour).astype(int),
            "engaged": engaged,
            "expected": engaged.groupby([sent["step"], audience]).transform("mean"),
        }
    )
    out = frame.groupby(["audience", "hour"]).agg(
        sent=("engaged", "size"), engaged=("engaged", "sum"), expected=("expected", "sum")
    )
    return out.reset_index()


def schedule_bias(
    scenario: Scenario, hour: int = 10, n_leads: int = 20_000, seed: int = 0, steps: Sequence[int] | None = None
) -> pd.DataFrame:
    """Where a learner puts each audience's best hour: from a fixed schedule's engagement, or from
    randomised sends — beside the audience's true preferred hour.

    ``naive_pick``: the local hour at which most engagement happened when the steps (``steps``;
    default all) went out at ``hour`` (:func:`fixed_schedule`) — ``hour`` itself: a lead engages when
    a message reaches it, so a fixed schedule's engagement clusters at the schedule's hour whatever
    the leads prefer. ``randomised_pick``: the hour with the best engagement when each of those steps
    went out at a uniformly random time in its window (``send_time = "random"``; messages the gate
    deferred are left out: their hour is the gate's): engaged over expected (each message at its
    step's rate in its audience: steps differ by channel and delay), among the hours with at least
    :data:`MIN_EXPECTED` expected engagements (-1: none; an hour of rare e-mail engagement alone is
    noise). Pooling neighbouring hours would pull the pick towards a window's edge, where fewer,
    better hours are pooled. ``true_hour``: the median preferred hour of the audience's leads
    (latent; known in simulation only).

    Example:
        >>> import nurture_lab as nl
        >>> from nurture_lab.whatif.send_time import schedule_bias
        >>> schedule_bias(nl.load_scenario("content_test"), hour=11, steps=[3, 4, 5, 6, 7, 8])  # doctest: +SKIP
    """
    check_param("schedule_bias", "scenario", scenario, kind="instance", types=Scenario, expected="a Scenario")
    check_param("schedule_bias", "hour", hour, kind="int", low=0, high=23)
    fixed = engagement_by_hour(fixed_schedule(scenario, hour, steps), n_leads, seed, steps)
    rand = engagement_by_hour(policy_scenario(scenario, "random", steps), n_leads, seed, steps, on_time=True)
    leads = simulate(policy_scenario(scenario, "planned"), seed=seed, n_leads=min(n_leads, 5000), truth=False).leads
    rows = []
    for aud, g in rand.groupby("audience"):
        by = g.set_index("hour")[["sent", "engaged", "expected"]].reindex(range(24), fill_value=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (by["engaged"] / by["expected"]).to_numpy(dtype=float)
        f = fixed[fixed["audience"] == aud]
        rows.append(
            {
                "audience": aud,
                "true_hour": float(leads.loc[leads["audience"] == aud, "preferred_hour"].median()),
                "naive_pick": int(f.loc[f["engaged"].idxmax(), "hour"]) if len(f) else -1,
                "randomised_pick": int(np.nanargmax(np.where(by["expected"] >= MIN_EXPECTED, ratio, np.nan)))
                if (by["expected"] >= MIN_EXPECTED).any()
                else -1,
                "engaged_fixed": float(f["engaged"].sum()),
                "engaged_randomised": float(g["engaged"].sum()),
            }
        )
    return pd.DataFrame(rows)

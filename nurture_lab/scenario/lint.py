"""Cadence compliance lint: what the policy layer will block or defer, before anything runs.

``error`` findings are steps that, as written, would break a rule (TCPA quiet hours, frequency
caps, HIPAA minimum necessary); the policy layer would stop or move them, but the cadence should
be fixed. ``warning`` findings are sends the policy will defer or skip for some leads, and
settings that are allowed but risky (no cap, a centre in no lead's zone, a weekend-only centre, a
queue that cannot keep up). ``note`` findings state what the staffing allows: the centre's staffed
hours on its own clock and the expected first-call wait (Erlang C plus the opening backlog; see
:mod:`nurture_lab.scenario.staffing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import pandas as pd

from .._results import ResultMixin
from .finding import SEVERITIES, Finding
from .lint_design import design_findings
from .lint_send_time import send_time_findings
from .lint_staffing import staffed_span, staffing_findings
from .model import DEFAULT_CAPS, TCPA_CHANNELS, VISIBLE_CHANNELS, Arm, Scenario, Step
from .staffing import DEFAULT_LEADS, describe_staffing, nominal_minutes, planned_minutes

#: The widest calling hours the law allows: TCPA 8:00-21:00 local [PR] 47 CFR 64.1200(c)(1);
#: Florida (Fla. Stat. 501.059(8)(b)) and Oklahoma (Okla. Stat. tit. 15, 775C.4) 8:00-20:00 [PR].
LEGAL_HOURS: tuple[float, float] = (8.0, 21.0)
STATE_LEGAL_HOURS: dict[str, tuple[float, float]] = {"FL": (8.0, 20.0), "OK": (8.0, 20.0)}
#: Calls and texts together per 24 hours: Florida (Fla. Stat. 501.059(8)(a)) and Oklahoma (Okla.
#: Stat. tit. 15, 775C.4) allow 3 [PR].
STATE_ATTEMPT_LIMITS: dict[str, int] = {"FL": 3, "OK": 3}
#: What a channel's default caps rest on, said when a cap of 0 (no cap) replaces one.
CAP_BASIS: dict[str, str] = {
    "sms": "the FCC healthcare exemption's limit: texts 1 a day, 3 a week, 47 CFR 64.1200(a)(9)(iv)",
    "call": "an [ASSUMPTION], no federal cap; Florida and Oklahoma still allow 3 calls and texts per 24 h",
    "email": "an [ASSUMPTION], no legal cap",
}

__all__ = ["Finding", "LintResult", "lint_scenario"]


@dataclass(frozen=True, repr=False)
class LintResult(ResultMixin, Sequence[Finding]):
    """The findings of :func:`lint_scenario`: a sequence of :class:`Finding` with the result protocol."""

    findings: tuple[Finding, ...]
    scenario: str = ""
    #: The lead volume the first-call wait was estimated for.
    n_leads: int = DEFAULT_LEADS

    _json_extras = ("settings",)

    @property
    def settings(self) -> dict[str, Any]:
        n = {sev: sum(f.severity == sev for f in self.findings) for sev in SEVERITIES}
        return {
            "scenario": self.scenario,
            "n_leads": self.n_leads,
            "n_errors": n["error"],
            "n_warnings": n["warning"],
            "n_notes": n["note"],
        }

    @property
    def n_errors(self) -> int:
        """Findings of severity ``error`` (violations: the command line exits 1)."""
        return sum(f.severity == "error" for f in self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    @overload
    def __getitem__(self, i: int) -> Finding: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Finding]: ...
    def __getitem__(self, i: int | slice) -> Finding | Sequence[Finding]:
        return self.findings[i]

    def _table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.findings), columns=list(Finding._fields))

    def summary(self) -> pd.DataFrame:
        """One row per (severity, rule): how many steps and arms it concerns, and one example."""
        t = self._table()
        if t.empty:
            return pd.DataFrame(columns=["severity", "rule", "n_steps", "n_arms", "example", "message"])
        t["arm"] = t["where"].str.extract(r"^arms\.([^.\s]+)", expand=False)
        g = t.groupby(["severity", "rule"], sort=False)
        out = g.agg(
            n_steps=("where", "size"),
            n_arms=("arm", "nunique"),
            example=("where", "first"),
            message=("message", "first"),
        )
        out = out.reset_index()
        out["_order"] = out["severity"].map({sev: i for i, sev in enumerate(SEVERITIES)})
        return out.sort_values(["_order", "rule"], kind="stable").drop(columns="_order").reset_index(drop=True)

    def _head(self) -> str:
        st = self.settings
        return (
            f"LintResult({self.scenario or 'scenario'}: {st['n_errors']} violation(s), {st['n_warnings']} warning(s), "
            f"{st['n_notes']} note(s))"
        )


def _hh(h: float) -> str:
    return f"{int(h):d}:{round((h % 1) * 60):02d}"


def _dur(minutes: float) -> str:
    """A planned delay in words: minutes, hours or days."""
    if minutes < 120:
        return f"{minutes:g} min"
    if minutes < 2880:
        return f"{minutes / 60:.3g} h"
    return f"{minutes / 1440:.3g} days"


def _share_range(consent: list[float]) -> str:
    """Share of leads without consent: one number when every line has the same, else a range."""
    lo, hi = 1 - max(consent), 1 - min(consent)
    return f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%}-{hi:.0%}"


def _policy_findings(sc: Scenario) -> list[Finding]:
    """Policy settings that the law or the defaults do not allow."""
    pol = sc.policy
    out: list[Finding] = []
    windows = {"policy.quiet_hours": (pol.quiet_hours, LEGAL_HOURS)}
    for st, w in pol.state_quiet_hours.items():
        windows[f"policy.state_quiet_hours.{st}"] = (w, STATE_LEGAL_HOURS.get(st, LEGAL_HOURS))
    for st, legal in STATE_LEGAL_HOURS.items():
        if st in sc.population.states and st not in pol.state_quiet_hours:
            windows[f"policy.state_quiet_hours.{st} (unset: quiet_hours applies)"] = (pol.quiet_hours, legal)
    for where, (w, legal) in windows.items():
        if w[0] < legal[0] or w[1] > legal[1]:
            out.append(
                Finding(
                    "error",
                    "legal_hours",
                    where,
                    f"calls and texts allowed {_hh(w[0])}-{_hh(w[1])} local, wider than the law's "
                    f"{_hh(legal[0])}-{_hh(legal[1])} (TCPA; Florida and Oklahoma 8:00-20:00)",
                )
            )
    out += _cap_findings(sc)
    if pol.handoff_failure_rate > 0 and pol.handoff_failure_mode == "duplicate":
        out.append(
            Finding(
                "warning",
                "handoff_duplicate",
                "policy.handoff_failure_mode",
                f"{pol.handoff_failure_rate:.0%} of handoffs send the touch twice; the second send passes the same "
                "rules (caps, quiet hours, spacing) and counts against the caps",
            )
        )
    return out


def _cap_findings(sc: Scenario) -> list[Finding]:
    """Caps above their defaults or removed (0 means no cap), and the state limits on calls and texts."""
    out: list[Finding] = []
    for ch, caps in sc.policy.caps.items():
        base = DEFAULT_CAPS[ch]
        for key in ("per_day", "per_week", "total"):
            mine, default = getattr(caps, key), getattr(base, key)
            if default and mine == 0:
                out.append(
                    Finding(
                        "warning",
                        "no_cap",
                        f"policy.caps.{ch}.{key}",
                        f"0 means no cap; the default is {default} ({CAP_BASIS.get(ch, 'an [ASSUMPTION]')})",
                    )
                )
            elif default and mine > default:
                out.append(
                    Finding(
                        "warning",
                        "caps_above_default",
                        f"policy.caps.{ch}.{key}",
                        f"{mine} where the default is {default} ({CAP_BASIS.get(ch, 'an [ASSUMPTION]')})",
                    )
                )
    state_caps = sc.policy.state_attempt_caps
    for st, limit in STATE_ATTEMPT_LIMITS.items():
        if sc.population.states.get(st, 0) == 0:
            continue
        cap = state_caps.get(st)
        if cap is None or cap > limit:
            shown = (
                "no cap on calls and texts per 24 hours (unset)"
                if cap is None
                else f"{cap} calls and texts per 24 hours"
            )
            out.append(
                Finding(
                    "error",
                    "state_attempts",
                    f"policy.state_attempt_caps.{st}",
                    f"{shown}; {st} allows {limit} (Fla. Stat. 501.059(8)(a); Okla. Stat. tit. 15, 775C.4)",
                )
            )
    return out


def _reminder_findings(sc: Scenario, arm: Arm, staffing: str) -> list[Finding]:
    """What the policy gate will do to an arm's visit reminders."""
    r = arm.reminder
    if r is None:
        return []
    where = f"arms.{arm.name}.reminder ({r.channel})"
    out: list[Finding] = []
    sens = [n for n, sl in sc.population.service_lines.items() if sl.sensitive]
    if r.channel == "retargeting" and sens:
        out.append(
            Finding(
                "error",
                "sensitive_retargeting",
                where,
                f"retargeting reminders for sensitive line(s) {', '.join(sens)} disclose health information; "
                "they will be skipped",
            )
        )
    if r.channel == "chat":
        out.append(
            Finding("warning", "no_chat_session", where, "chat reminders reach only leads who came in through chat")
        )
    if r.channel in ("email", "sms", "call"):
        consent = [sl.consent[r.channel] for sl in sc.population.service_lines.values()]
        if min(consent) < 1:
            out.append(
                Finding(
                    "warning",
                    "consent",
                    where,
                    f"{r.channel} reminders need consent: {_share_range(consent)} of booked leads have none",
                )
            )
    if r.channel in TCPA_CHANNELS:
        out.append(
            Finding(
                "warning",
                "quiet_hours",
                where,
                f"a reminder falling in quiet hours is moved to the next allowed time; it counts against the "
                f"{r.channel} caps like any {r.channel}",
            )
        )
    if r.channel == "call":
        out.append(
            Finding("warning", "staffed_hours", where, f"call reminders are placed in staffed hours only: {staffing}")
        )
    return out


def _targets_sensitive(sc: Scenario, step: Step) -> list[str]:
    lines = [n for n, sl in sc.population.service_lines.items() if sl.sensitive]
    if step.service_line is not None and step.match == "all":
        lines = [n for n in lines if n in step.service_line]
    return lines


def lint_scenario(sc: Scenario, n_leads: int = DEFAULT_LEADS) -> LintResult:
    """Return the compliance findings of every arm's cadence, and what the staffing allows.

    Args:
        sc: a loaded scenario.
        n_leads: the lead volume over the arrival days for the first-call wait (default: what
            ``nurture-lab simulate`` runs, 20,000).

    Returns:
        A :class:`LintResult`: iterate it for the findings, or ``.to_pandas()``.

    Example:
        >>> import nurture_lab as nl
        >>> [f.rule for f in nl.lint_scenario(nl.load_scenario("tests/fixtures/bad_cadence.toml"))]  # doctest: +SKIP
        ['quiet_hours', 'sensitive_content', 'cap_week', ...]
    """
    from ..errors import check_param

    check_param("lint_scenario", "sc", sc, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    n_leads = check_param("lint_scenario", "n_leads", n_leads, kind="int", low=1)
    pol = sc.policy
    findings: list[Finding] = []
    consent_noted: set[tuple[str, str]] = set()  # one consent note per arm and channel
    states = list(sc.population.states)
    q_start = max([pol.quiet_hours[0]] + [pol.state_quiet_hours[s][0] for s in states if s in pol.state_quiet_hours])
    q_end = min([pol.quiet_hours[1]] + [pol.state_quiet_hours[s][1] for s in states if s in pol.state_quiet_hours])
    findings += _policy_findings(sc)
    staffing = describe_staffing(sc)
    sh = staffed_span(sc)
    for arm in sc.experiment.arms:
        times = nominal_minutes(arm)
        planned = planned_minutes(arm)
        findings += _reminder_findings(sc, arm, staffing)
        findings += send_time_findings(sc, arm, (q_start, q_end))
        for i in range(1, len(planned)):
            if planned[i] < planned[i - 1]:
                s = arm.steps[i]
                findings.append(
                    Finding(
                        "warning",
                        "step_order",
                        f"arms.{arm.name}.steps.{i} ({s.channel} {s.content})",
                        f"planned {_dur(planned[i])} after the inquiry, before step {i - 1} "
                        f"({_dur(planned[i - 1])}); steps go out in listed order, so it waits for step {i - 1}",
                    )
                )
        for i, step in enumerate(arm.steps):
            where = f"arms.{arm.name}.steps.{i} ({step.channel} {step.content})"
            content = sc.contents[step.content]
            if step.channel in TCPA_CHANNELS:
                if step.window is not None and (step.window[0] < q_start or step.window[1] > q_end):
                    findings.append(
                        Finding(
                            "error",
                            "quiet_hours",
                            where,
                            f"send window {_hh(step.window[0])}-{_hh(step.window[1])} reaches outside the allowed hours "
                            f"{_hh(q_start)}-{_hh(q_end)} local (TCPA quiet hours, 47 CFR 64.1200(c)(1); FL/OK "
                            "8:00-20:00); such sends will be deferred",
                        )
                    )
                elif step.window is None:
                    findings.append(
                        Finding(
                            "warning",
                            "quiet_hours",
                            where,
                            f"no send window: sends falling outside the allowed hours {_hh(q_start)}-{_hh(q_end)} local "
                            "will be deferred",
                        )
                    )
                consent = [sl.consent[step.channel] for sl in sc.population.service_lines.values()]
                if min(consent) < 1 and (arm.name, step.channel) not in consent_noted:
                    consent_noted.add((arm.name, step.channel))
                    findings.append(
                        Finding(
                            "warning",
                            "consent",
                            where,
                            f"{step.channel} steps need consent: {_share_range(consent)} of leads "
                            "(by service line) have none and will be skipped",
                        )
                    )
            if (
                step.channel == "call"
                and step.window is not None
                and (step.window[0] < sh[0] or step.window[1] > sh[1])
            ):
                findings.append(
                    Finding(
                        "warning",
                        "staffed_hours",
                        where,
                        f"calls are placed only in staffed hours ({staffing}); the rest of the window is deferred",
                    )
                )
            sens = _targets_sensitive(sc, step)
            if step.channel in VISIBLE_CHANNELS and content.reveals_condition and sens:
                action = "replaced by a generic message" if pol.sensitive_content_action == "replace" else "blocked"
                seen = {"sms": "an SMS preview", "call": "a voicemail", "email": "an e-mail subject or preview"}
                findings.append(
                    Finding(
                        "error",
                        "sensitive_content",
                        where,
                        f"content '{step.content}' reveals the service line in {seen.get(step.channel, 'an ad')} "
                        f"others may see, for sensitive line(s) {', '.join(sens)} (HIPAA minimum necessary); "
                        f"it will be {action}",
                    )
                )
            if step.channel == "retargeting" and sens:
                findings.append(
                    Finding(
                        "error",
                        "sensitive_retargeting",
                        where,
                        f"retargeting ads for sensitive line(s) {', '.join(sens)} disclose health information; "
                        "they will be skipped",
                    )
                )
            if times[i] > sc.horizon_days * 1440:
                findings.append(
                    Finding(
                        "warning",
                        "after_horizon",
                        where,
                        f"planned {times[i] / 1440:.1f} days after the inquiry, "
                        f"past the {sc.horizon_days:g}-day horizon",
                    )
                )
        # frequency caps on the nominal schedule
        for channel, caps in pol.caps.items():
            idx_all = [i for i, s in enumerate(arm.steps) if s.channel == channel]
            t = np.array([times[i] for i in idx_all])
            for cap, span, rule, label in (
                (caps.per_day, 1440, "cap_day", "a day"),
                (caps.per_week, 10080, "cap_week", "a week"),
            ):
                if not cap or t.size <= cap:
                    continue
                counts = [(int(np.sum((t > x - span) & (t <= x))), j) for j, x in enumerate(t)]
                worst, j = max(counts)
                if worst > cap:
                    findings.append(
                        Finding(
                            "error",
                            rule,
                            f"arms.{arm.name}.steps.{idx_all[j]} ({channel})",
                            f"{worst} {channel} touches within {label} (cap {cap}); later ones will be deferred",
                        )
                    )
            if caps.total and len(idx_all) > caps.total:
                findings.append(
                    Finding(
                        "error",
                        "cap_total",
                        f"arms.{arm.name} ({channel})",
                        f"{len(idx_all)} {channel} steps, more than the total cap of {caps.total}; the extra will be "
                        "skipped",
                    )
                )
    findings += staffing_findings(sc, n_leads)
    findings += design_findings(sc)
    return LintResult(tuple(findings), sc.name, n_leads)

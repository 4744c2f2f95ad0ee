"""Cadence compliance lint: what the policy layer will block or defer, before anything runs.

``error`` findings are steps that, as written, would break a rule (TCPA quiet hours, frequency
caps, HIPAA minimum necessary); the policy layer would stop or move them, but the cadence should
be fixed. ``warning`` findings are sends the policy will defer or skip for some leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import numpy as np
import pandas as pd

from .._results import ResultMixin
from .model import TCPA_CHANNELS, Arm, Scenario, Step

__all__ = ["Finding", "LintResult", "lint_scenario"]


class Finding(NamedTuple):
    severity: str  # "error" or "warning"
    rule: str
    where: str
    message: str


@dataclass(frozen=True, repr=False)
class LintResult(ResultMixin, Sequence[Finding]):
    """The findings of :func:`lint_scenario`: a sequence of :class:`Finding` with the result protocol."""

    findings: tuple[Finding, ...]
    scenario: str = ""

    _json_extras = ("settings",)

    @property
    def settings(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "n_errors": self.n_errors, "n_warnings": len(self) - self.n_errors}

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
        out["_order"] = (out["severity"] != "error").astype(int)
        return out.sort_values(["_order", "rule"], kind="stable").drop(columns="_order").reset_index(drop=True)

    def _head(self) -> str:
        return f"LintResult({self.scenario or 'scenario'}: {self.n_errors} violation(s), {len(self) - self.n_errors} warning(s))"


def _hh(h: float) -> str:
    return f"{int(h):d}:{round((h % 1) * 60):02d}"


def _share_range(consent: list[float]) -> str:
    """Share of leads without consent: one number when every line has the same, else a range."""
    lo, hi = 1 - max(consent), 1 - min(consent)
    return f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%}-{hi:.0%}"


def _nominal_minutes(arm: Arm) -> list[float]:
    """Planned minute of each step if nothing were deferred."""
    out: list[float] = []
    prev = 0.0
    for s in arm.steps:
        t = s.delay_minutes if s.anchor == "inquiry" else prev + s.delay_minutes
        t = max(t, prev)
        out.append(t)
        prev = t
    return out


def _targets_sensitive(sc: Scenario, step: Step) -> list[str]:
    lines = [n for n, sl in sc.population.service_lines.items() if sl.sensitive]
    if step.service_line is not None and step.match == "all":
        lines = [n for n in lines if n in step.service_line]
    return lines


def lint_scenario(sc: Scenario) -> LintResult:
    """Return the compliance findings of every arm's cadence.

    Returns:
        A :class:`LintResult`: iterate it for the findings, or ``.to_pandas()``.

    Example:
        >>> import nurture_lab as nl
        >>> [f.rule for f in nl.lint_scenario(nl.load_scenario("tests/fixtures/bad_cadence.toml"))]  # doctest: +SKIP
        ['quiet_hours', 'sensitive_content', 'cap_week', ...]
    """
    from ..errors import check_param

    check_param("lint_scenario", "sc", sc, kind="instance", types=Scenario, expected="a Scenario (see load_scenario)")
    pol = sc.policy
    findings: list[Finding] = []
    consent_noted: set[tuple[str, str]] = set()  # one consent note per arm and channel
    states = list(sc.population.states)
    q_start = max([pol.quiet_hours[0]] + [pol.state_quiet_hours[s][0] for s in states if s in pol.state_quiet_hours])
    q_end = min([pol.quiet_hours[1]] + [pol.state_quiet_hours[s][1] for s in states if s in pol.state_quiet_hours])
    for arm in sc.experiment.arms:
        times = _nominal_minutes(arm)
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
            if step.channel == "call":
                sh = pol.staffed_hours
                if step.window is not None and (step.window[0] < sh[0] or step.window[1] > sh[1]):
                    findings.append(
                        Finding(
                            "warning",
                            "staffed_hours",
                            where,
                            f"calls are placed only in staffed hours {_hh(sh[0])}-{_hh(sh[1])}; the rest of the window "
                            "is deferred",
                        )
                    )
            sens = _targets_sensitive(sc, step)
            if step.channel == "sms" and content.reveals_condition and sens:
                action = "replaced by a generic message" if pol.sensitive_content_action == "replace" else "blocked"
                findings.append(
                    Finding(
                        "error",
                        "sensitive_content",
                        where,
                        f"content '{step.content}' reveals the service line in an SMS others may see, for sensitive "
                        f"line(s) {', '.join(sens)} (HIPAA minimum necessary); it will be {action}",
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
    return LintResult(tuple(findings), sc.name)

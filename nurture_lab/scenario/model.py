"""The scenario model: populations, cadences and experiments as frozen, validated dataclasses.

A scenario is declarative. ``load_scenario(path)`` reads a TOML file, refuses unknown keys,
wrong types and out-of-range values with one message naming the file, the table and the key,
and returns a frozen :class:`Scenario`. Anything the file leaves out takes the default written
beside its field below, with its source from DOMAIN.md (grades: [PR] peer-reviewed or
regulatory, [OBS] observational, [VENDOR] a vendor's claim, [ASSUMPTION] our own guess).

Time units: minutes for delays, days for horizons and decision times, local clock hours
(0-24) for windows. Weekdays are numbered Monday = 0 … Sunday = 6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    check_bool,
    check_field,
    check_mix,
    check_number,
    check_prob,
    check_str,
    check_str_tuple,
    field_error,
)
from .design import Design

__all__ = [
    "CHANNELS",
    "Arm",
    "Behaviour",
    "ChannelBehaviour",
    "ChannelCaps",
    "ContactCenter",
    "Content",
    "Design",
    "Experiment",
    "Policy",
    "Population",
    "Reminder",
    "Scenario",
    "ServiceLine",
    "Step",
]

CHANNELS: tuple[str, ...] = ("email", "sms", "call", "chat", "retargeting")
#: Channels that count as calls under the TCPA (texts are calls): quiet hours apply.
TCPA_CHANNELS: tuple[str, ...] = ("sms", "call")
#: Channels others may see: an SMS preview on a lock screen, a voicemail, an e-mail subject and
#: preview, an ad. Condition-revealing content is replaced or blocked there for sensitive lines and
#: for leads who asked for confidential communication (HIPAA minimum necessary).
VISIBLE_CHANNELS: tuple[str, ...] = ("sms", "call", "email", "retargeting")
INTENTS: tuple[str, ...] = ("high", "medium", "low")
CONDITION_KEYS: tuple[str, ...] = ("service_line", "audience", "source", "intent", "coverage")
#: Upper bounds that keep every timestamp representable (ten years; in minutes for delays).
MAX_DAYS = 3650
MAX_MINUTES = MAX_DAYS * 1440
#: The shortest speed-to-lead half-life: one second (the engine's finest time), in minutes.
MIN_HALF_LIFE = 1 / 60

# State -> IANA time zone. Shares below are roughly proportional to the US population
# (Census 2020) over the states listed [ASSUMPTION].
STATE_TIMEZONES: dict[str, str] = {
    "CA": "America/Los_Angeles",
    "WA": "America/Los_Angeles",
    "AZ": "America/Phoenix",
    "CO": "America/Denver",
    "TX": "America/Chicago",
    "IL": "America/Chicago",
    "OK": "America/Chicago",
    "MN": "America/Chicago",
    "TN": "America/Chicago",
    "FL": "America/New_York",
    "NY": "America/New_York",
    "PA": "America/New_York",
    "OH": "America/New_York",
    "GA": "America/New_York",
    "NC": "America/New_York",
    "MI": "America/Detroit",
    "MA": "America/New_York",
}


def _freeze(x: Any) -> Any:
    return tuple(x) if isinstance(x, list) else x


# --------------------------------------------------------------------------------------
# Population


@dataclass(frozen=True)
class ServiceLine:
    """One service line: its share of inquiries and how its leads differ.

    Defaults are generic; :data:`SERVICE_LINE_DEFAULTS` holds the per-line values from DOMAIN.md.
    """

    share: float
    #: Condition-revealing: content naming it must not appear where others may see it (HIPAA).
    sensitive: bool = False
    #: Median days from inquiry to a decision to book, and the log-normal sigma [ASSUMPTION].
    decision_days_median: float = 10.0
    decision_days_sigma: float = 0.8
    #: Share of inquiries that fit the service, location, coverage and level of care [ASSUMPTION].
    fit_rate: float = 0.8
    #: Share that book by themselves with no follow-up at all, e.g. online [ASSUMPTION].
    self_book_rate: float = 0.12
    #: No-show rate at a one-week lead time: ~23% average over 105 studies [PR] Dantas 2018.
    no_show_rate: float = 0.23
    #: Mean days from booking to the visit (exponential) [ASSUMPTION].
    appointment_lead_days: float = 10.0
    audiences: Mapping[str, float] = field(
        default_factory=lambda: {"patient": 0.72, "caregiver": 0.18, "referral_partner": 0.07, "employer": 0.03}
    )  # [ASSUMPTION] DOMAIN.md section 1 lists the audiences, not their shares
    sources: Mapping[str, float] = field(
        default_factory=lambda: {
            "web_form": 0.30,
            "phone": 0.15,
            "chat": 0.08,
            "appointment_request": 0.08,
            "event": 0.03,
            "paid_search": 0.14,
            "paid_social": 0.06,
            "organic_search": 0.08,
            "directory": 0.04,
            "referral_form": 0.04,
        }
    )  # [ASSUMPTION]
    intents: Mapping[str, float] = field(
        default_factory=lambda: {"high": 0.3, "medium": 0.4, "low": 0.3}
    )  # [ASSUMPTION]
    coverage: Mapping[str, float] = field(
        default_factory=lambda: {
            "commercial": 0.50,
            "medicare": 0.20,
            "medicaid": 0.17,
            "marketplace": 0.05,
            "self_pay": 0.08,
        }
    )  # [ASSUMPTION] roughly the US insured mix
    #: Per-channel consent rates; texts need SMS consent (TCPA) [ASSUMPTION].
    consent: Mapping[str, float] = field(default_factory=lambda: {"email": 0.92, "sms": 0.55, "call": 0.88})
    #: Optional local-hour arrival profile (24 weights) replacing the population's.
    hour_profile: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_prob("share", self.share)
        check_bool("sensitive", self.sensitive)
        check_number("decision_days_median", self.decision_days_median, low=0, low_open=True, high=MAX_DAYS)
        check_number("decision_days_sigma", self.decision_days_sigma, low=0)
        for k in ("fit_rate", "self_book_rate", "no_show_rate"):
            check_prob(k, getattr(self, k))
        check_number("appointment_lead_days", self.appointment_lead_days, low=0, high=MAX_DAYS)
        for k in ("audiences", "sources", "intents", "coverage"):
            object.__setattr__(self, k, check_mix(k, getattr(self, k), INTENTS if k == "intents" else None))
        if not isinstance(self.consent, Mapping):
            raise field_error("consent", "a table of channel = rate", self.consent, True)
        for ch, rate in self.consent.items():
            check_str("consent", ch, ("email", "sms", "call"))
            check_prob(f"consent.{ch}", rate)
        object.__setattr__(self, "consent", {"email": 1.0, "sms": 0.0, "call": 1.0} | dict(self.consent))
        if self.hour_profile is not None:
            object.__setattr__(self, "hour_profile", _profile("hour_profile", self.hour_profile, 24))


def _profile(key: str, values: Any, n: int) -> tuple[float, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)) or len(values) != n:
        raise field_error(key, f"a list of {n} non-negative weights", values, True)
    out = tuple(float(check_number(key, v, low=0)) for v in values)
    if sum(out) <= 0:
        raise field_error(key, "weights with a positive sum", values)
    return out


#: Per-line values from DOMAIN.md section 2 ("Decision length"; no-show rows).
SERVICE_LINE_DEFAULTS: dict[str, dict[str, Any]] = {
    # 0-14 days [ASSUMPTION, DOMAIN.md]
    "primary_care": {"decision_days_median": 3.0, "decision_days_sigma": 0.9, "appointment_lead_days": 7.0},
    "pediatrics": {
        "decision_days_median": 2.0,
        "decision_days_sigma": 0.9,
        "appointment_lead_days": 5.0,
        "audiences": {"patient": 0.05, "caregiver": 0.90, "referral_partner": 0.05},
    },
    # crisis hours to 3 days, therapy 1-6 weeks; no-show 30-50% [PR] Psychiatric Services 2010;
    # up to 40% of inquiries after hours [VENDOR]
    "behavioral_health": {
        "sensitive": True,
        "decision_days_median": 5.0,
        "decision_days_sigma": 1.3,
        "no_show_rate": 0.35,
        "appointment_lead_days": 9.0,
        # about 39% outside 8:00-18:00, within the cited "up to 40%"
        "hour_profile": (2, 2, 1, 1, 1, 2, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 4, 3, 3, 3),
    },
    # 1-8 weeks [ASSUMPTION, DOMAIN.md]
    "orthopedics": {"decision_days_median": 18.0, "decision_days_sigma": 0.7, "appointment_lead_days": 12.0},
    "cardiology": {"decision_days_median": 12.0, "decision_days_sigma": 0.8, "appointment_lead_days": 14.0},
    # 1-6 months to a consult [ASSUMPTION, DOMAIN.md]
    "dental_implants": {
        "decision_days_median": 45.0,
        "decision_days_sigma": 0.7,
        "appointment_lead_days": 10.0,
        "coverage": {"commercial": 0.35, "medicare": 0.10, "medicaid": 0.05, "marketplace": 0.05, "self_pay": 0.45},
    },
    "elective_surgery": {
        "decision_days_median": 50.0,
        "decision_days_sigma": 0.7,
        "appointment_lead_days": 14.0,
        "coverage": {"commercial": 0.45, "medicare": 0.10, "medicaid": 0.05, "marketplace": 0.05, "self_pay": 0.35},
    },
    "specialty_consultation": {"decision_days_median": 14.0, "decision_days_sigma": 0.8},
}


@dataclass(frozen=True)
class Population:
    """Who the leads are and when they arrive."""

    service_lines: Mapping[str, ServiceLine]
    #: First day of arrivals (local dates) and how many days arrivals span.
    start_date: str = "2026-01-05"
    arrival_days: int = 28
    #: Local-hour arrival weights: most inquiries in the working day, a tail after hours [ASSUMPTION].
    hour_profile: tuple[float, ...] = (
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.6,
        1.5,
        3,
        5,
        7,
        7.5,
        7.5,
        7,
        7,
        7,
        6.5,
        6,
        5.5,
        5,
        4.5,
        4,
        3.5,
        2.5,
        1.5,
    )
    #: Monday..Sunday arrival weights [ASSUMPTION].
    weekday_profile: tuple[float, ...] = (1.15, 1.1, 1.05, 1.0, 0.9, 0.75, 0.8)
    states: Mapping[str, float] = field(
        default_factory=lambda: {
            "CA": 0.16,
            "TX": 0.12,
            "FL": 0.10,
            "NY": 0.09,
            "PA": 0.06,
            "IL": 0.06,
            "OH": 0.05,
            "GA": 0.05,
            "NC": 0.05,
            "MI": 0.04,
            "AZ": 0.04,
            "WA": 0.04,
            "CO": 0.03,
            "OK": 0.02,
            "MN": 0.03,
            "MA": 0.03,
            "TN": 0.03,
        }
    )  # [ASSUMPTION] ~ Census 2020 population over these states
    age_groups: Mapping[str, float] = field(
        default_factory=lambda: {"0-17": 0.12, "18-34": 0.22, "35-49": 0.22, "50-64": 0.24, "65+": 0.20}
    )  # [ASSUMPTION]
    preferred_channel: Mapping[str, float] = field(
        default_factory=lambda: {"email": 0.35, "sms": 0.35, "call": 0.30}
    )  # [ASSUMPTION]
    #: Share asking for confidential communication: no texts, no voicemail (HIPAA) [ASSUMPTION].
    confidential_rate: float = 0.02
    #: Mean latent responsiveness is 1; this gamma shape sets its spread [ASSUMPTION].
    responsiveness_shape: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.service_lines, Mapping) or not self.service_lines:
            raise field_error("service_lines", "a non-empty table of service lines", self.service_lines, True)
        total = sum(sl.share for sl in self.service_lines.values())
        if abs(total - 1.0) > 1e-6:
            shares = {k: v.share for k, v in self.service_lines.items()}
            raise field_error("share", "service-line shares that sum to 1", f"{shares} (sum {total:.6g})")
        check_str("start_date", self.start_date)
        try:
            import datetime as _dt

            day = _dt.date.fromisoformat(self.start_date)
        except ValueError:
            raise field_error("start_date", "an ISO date like 2026-01-05", self.start_date) from None
        if not 1971 <= day.year <= 2200:
            raise field_error("start_date", "a date between 1971-01-01 and 2200-12-31", self.start_date)
        check_number("arrival_days", self.arrival_days, low=1, high=MAX_DAYS, integer=True)
        object.__setattr__(self, "hour_profile", _profile("hour_profile", self.hour_profile, 24))
        object.__setattr__(self, "weekday_profile", _profile("weekday_profile", self.weekday_profile, 7))
        object.__setattr__(self, "states", check_mix("states", self.states, STATE_TIMEZONES))
        object.__setattr__(self, "age_groups", check_mix("age_groups", self.age_groups))
        object.__setattr__(
            self, "preferred_channel", check_mix("preferred_channel", self.preferred_channel, ("email", "sms", "call"))
        )
        check_prob("confidential_rate", self.confidential_rate)
        check_number("responsiveness_shape", self.responsiveness_shape, low=0, low_open=True)


# --------------------------------------------------------------------------------------
# Behaviour


@dataclass(frozen=True)
class ChannelBehaviour:
    """Per-touch rates of one channel."""

    deliver_rate: float
    #: A click, a reply, an answered call: a two-way contact (never an email open).
    engage_rate: float
    opt_out_rate: float
    staff_minutes: float = 0.0
    staff_minutes_engaged: float = 0.0
    #: Read without a click or reply (an e-mail opened, a text read): no contact, but content works.
    read_rate: float = 0.0

    def __post_init__(self) -> None:
        for k in ("deliver_rate", "engage_rate", "opt_out_rate", "read_rate"):
            check_prob(k, getattr(self, k))
        check_number("staff_minutes", self.staff_minutes, low=0)
        check_number("staff_minutes_engaged", self.staff_minutes_engaged, low=0)


DEFAULT_CHANNELS: dict[str, ChannelBehaviour] = {
    # hard bounce ~0.4%, click 3.0%, unsubscribe 0.3% per send: [VENDOR] Campaign Monitor 2022
    # read: healthcare open rate 23.7% [VENDOR] Campaign Monitor 2022 (opens overstated since Apple MPP)
    "email": ChannelBehaviour(0.996, 0.03, 0.003, staff_minutes=0.2, staff_minutes_engaged=5.0, read_rate=0.24),
    # two-way healthcare SMS: reply up to ~50%, opt-out 0.3-1.2% per message [VENDOR] TextUs, DMText
    "sms": ChannelBehaviour(0.98, 0.30, 0.008, staff_minutes=0.5, staff_minutes_engaged=5.0, read_rate=0.8),
    # 10-30% of attempts reach the person [OBS/VENDOR] LRM study, Velocify; staff time: about 1 minute
    # an attempt (no answer under a minute, a voicemail 1-2), 8 when it connects (5-10) [VENDOR, DOMAIN.md]
    "call": ChannelBehaviour(1.0, 0.30, 0.002, staff_minutes=1.0, staff_minutes_engaged=7.0),
    "chat": ChannelBehaviour(1.0, 0.30, 0.002, staff_minutes=2.0, staff_minutes_engaged=8.0),  # [ASSUMPTION]
    "retargeting": ChannelBehaviour(1.0, 0.005, 0.0),  # [ASSUMPTION] an ad impression, rarely clicked
}


@dataclass(frozen=True)
class Behaviour:
    """How leads respond. Every number is a parameter an experiment may vary."""

    channels: Mapping[str, ChannelBehaviour] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    #: Engagement decays with time since inquiry: floor + (1 - floor) * 2**(-minutes / half-life).
    #: Half-life 10-60 min for a hot lead [ASSUMPTION, DOMAIN.md]; the observational studies
    #: (Oldroyd & Elkington 2007; HBR 2011) likely overstate the causal effect, hence the floor.
    speed_half_life_minutes: float = 30.0
    speed_floor: float = 0.5
    #: Engagement multiplier when the channel is the lead's preferred one [ASSUMPTION].
    preferred_multiplier: float = 1.4
    #: Multiplier within two hours of the lead's preferred hour; ±10-20% [ASSUMPTION, DOMAIN.md].
    preferred_hour_multiplier: float = 1.15
    #: Audience-specific preferred hours: {audience = local hour}; a lead of a listed audience has
    #: a preferred hour drawn uniformly within ``preferred_hour_spread`` hours of its audience's
    #: (empty, the default: every lead's is uniform 8..20, whatever its audience) [ASSUMPTION].
    preferred_hour_by_audience: Mapping[str, float] = field(default_factory=dict)
    preferred_hour_spread: int = 2
    #: Per prior touch sent, engagement is multiplied by this [ASSUMPTION].
    fatigue: float = 0.92
    #: Engagement and booking multiplier for content relevant to the lead's segment [ASSUMPTION].
    relevance_multiplier: float = 1.3
    #: Engaging with relevant education shortens the remaining decision time by this factor [ASSUMPTION].
    education_decision_factor: float = 0.7
    #: Probability that a qualified lead who engages decides to book [ASSUMPTION]. With the seed
    #: cadence about 31% of leads book within 60 days, below the ~40% of inbound healthcare
    #: marketing leads reported by [VENDOR] Liine (a vendor figure, likely optimistic).
    book_rate: float = 0.7
    #: A qualified lead who reads a message without replying books with book_rate times this [ASSUMPTION].
    read_book_factor: float = 0.15
    #: Opt-out risk is multiplied by 1 + slope * (same-channel sends in the previous 7 days) [ASSUMPTION].
    opt_out_frequency_slope: float = 0.5
    #: Daily hazard of booking elsewhere before first contact, by intent [ASSUMPTION].
    competitor_daily_hazard: Mapping[str, float] = field(
        default_factory=lambda: {"high": 0.02, "medium": 0.008, "low": 0.003}
    )
    #: Readiness to book by intent: an odds ratio on the probability of booking (book_rate, and a
    #: reader's) [ASSUMPTION]. A lead who says it is ready to book soon converts more often, as a
    #: high-intent lead is also the one competitors take first (competitor_daily_hazard); with these
    #: defaults high-intent leads book more than low-intent ones. Set all three to 1 to let intent
    #: act through the competitor hazard alone (high intent then books least).
    intent_book_odds_ratio: Mapping[str, float] = field(
        default_factory=lambda: {"high": 2.0, "medium": 1.0, "low": 0.5}
    )
    #: Once contacted, the competitor hazard is multiplied by this [ASSUMPTION].
    contacted_hazard_multiplier: float = 0.25
    #: A self-booking lead books at this multiple of its decision time [ASSUMPTION].
    self_book_delay_factor: float = 1.5
    #: Online bookings (self-scheduling, a booking link) happen in these local waking hours [ASSUMPTION].
    waking_hours: tuple[float, float] = (7.0, 22.0)
    #: No-show odds ratio per week of lead time; >4 weeks has OR 5.45 [PR] Marshfield study.
    no_show_odds_per_week: float = 1.3
    #: No-show odds ratio when a reminder was sent; cf. +6.8% relative [PR] Milkman et al. PNAS 2022.
    reminder_odds_ratio: float = 0.8

    def __post_init__(self) -> None:
        if not isinstance(self.channels, Mapping):
            raise field_error("channels", "a table of channel tables", self.channels, True)
        for ch in self.channels:
            check_str("channels", ch, CHANNELS)
        object.__setattr__(self, "channels", dict(DEFAULT_CHANNELS) | dict(self.channels))
        # below a second the decay is finer than the engine's clock (and 2**(-t / tiny) overflows)
        check_field(
            "speed_half_life_minutes",
            self.speed_half_life_minutes,
            kind="number",
            low=MIN_HALF_LIFE,
            high=MAX_MINUTES,
            expected=f"a number of minutes in the range [1/60 (one second), {MAX_MINUTES}]",
        )
        object.__setattr__(self, "waking_hours", _window("waking_hours", self.waking_hours))
        for k in (
            "speed_floor",
            "fatigue",
            "education_decision_factor",
            "book_rate",
            "contacted_hazard_multiplier",
            "read_book_factor",
        ):
            check_prob(k, getattr(self, k))
        for k in (
            "preferred_multiplier",
            "preferred_hour_multiplier",
            "relevance_multiplier",
            "opt_out_frequency_slope",
            "self_book_delay_factor",
            "no_show_odds_per_week",
            "reminder_odds_ratio",
        ):
            check_number(k, getattr(self, k), low=0)
        self._check_preferred_hours()
        for name in ("competitor_daily_hazard", "intent_book_odds_ratio"):
            table = getattr(self, name)
            if not isinstance(table, Mapping) or set(table) != set(INTENTS):
                raise field_error(name, "a table with keys high, medium, low", table, True)
            for k, v in table.items():
                check_number(f"{name}.{k}", v, low=0)

    def _check_preferred_hours(self) -> None:
        """``preferred_hour_by_audience``: a table of audience = local hour in [0, 23]."""
        table = self.preferred_hour_by_audience
        if not isinstance(table, Mapping):
            raise field_error("preferred_hour_by_audience", "a table of audience = local hour", table, True)
        for k, v in table.items():
            check_number(f"preferred_hour_by_audience.{k}", v, low=0, high=23, integer=True)
        object.__setattr__(self, "preferred_hour_by_audience", dict(table))
        check_number("preferred_hour_spread", self.preferred_hour_spread, low=0, high=12, integer=True)


# --------------------------------------------------------------------------------------
# Policy


@dataclass(frozen=True)
class ChannelCaps:
    """Frequency caps of one channel; 0 means no cap."""

    per_day: int = 0
    per_week: int = 0
    total: int = 0
    #: Minimum minutes between two messages on this channel to one lead.
    min_gap_minutes: float = 0.0

    def __post_init__(self) -> None:
        for k in ("per_day", "per_week", "total"):
            check_number(k, getattr(self, k), low=0, high=10_000, integer=True)
        check_number("min_gap_minutes", self.min_gap_minutes, low=0, high=MAX_MINUTES)


DEFAULT_CAPS: dict[str, ChannelCaps] = {
    # FCC healthcare exemption: at most 1 a day and 3 a week for texts [PR] 47 CFR 64.1200(a)(9)(iv)
    "sms": ChannelCaps(per_day=1, per_week=3),
    # calls: at most 3 a day and 6 attempts in total [ASSUMPTION, DOMAIN.md]; two hours between two
    # call attempts (contact centres space attempts 2-4 hours apart on a day [ASSUMPTION, DOMAIN.md])
    "call": ChannelCaps(per_day=3, total=6, min_gap_minutes=120.0),
    # email: at most 1 a day and 3 a week [ASSUMPTION, DOMAIN.md]
    "email": ChannelCaps(per_day=1, per_week=3),
    "chat": ChannelCaps(),
    "retargeting": ChannelCaps(),
}


@dataclass(frozen=True)
class Policy:
    """The rules applied before every send (DOMAIN.md section 3)."""

    #: No calls or texts before 8:00 or after 21:00 local [PR] TCPA, 47 CFR 64.1200(c)(1).
    quiet_hours: tuple[float, float] = (8.0, 21.0)
    #: Stricter state windows: Florida and Oklahoma 8:00-20:00 for sales calls and texts [PR].
    state_quiet_hours: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"FL": (8.0, 20.0), "OK": (8.0, 20.0)}
    )
    caps: Mapping[str, ChannelCaps] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    #: Calls are placed by staff in these local hours on these weekdays [ASSUMPTION].
    staffed_hours: tuple[float, float] = (8.0, 18.0)
    staffed_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    #: What happens to condition-revealing content in an SMS for a sensitive line:
    #: "replace" sends a generic message instead, "block" skips it (HIPAA minimum necessary).
    sensitive_content_action: str = "replace"
    #: An opt-out stops the channel it came on ("channel") or every channel ("all") [ASSUMPTION].
    opt_out_scope: str = "all"
    #: Probability that a handoff between owner teams fails [ASSUMPTION; 0 = clear ownership].
    handoff_failure_rate: float = 0.0
    #: A failed handoff drops the touch ("drop") or sends it twice ("duplicate").
    handoff_failure_mode: str = "drop"
    #: Minimum minutes between any two messages to one lead, whatever the channel [ASSUMPTION]:
    #: no two touches at the same instant; short enough that a 5-minute call follows a
    #: 1-minute confirmation e-mail.
    min_gap_minutes: float = 2.0
    #: Minimum minutes between a call and a text to one lead, either order: do not stack a text on top
    #: of a call [ASSUMPTION, DOMAIN.md section 3].
    call_text_gap_minutes: float = 30.0
    #: Calls and texts together per 24 hours, by state: Florida (Fla. Stat. 501.059(8)(a)) and
    #: Oklahoma (Okla. Stat. tit. 15, 775C.4) allow 3 [PR].
    state_attempt_caps: Mapping[str, int] = field(default_factory=lambda: {"FL": 3, "OK": 3})
    #: Visits take place in clinic hours on clinic days, local time [ASSUMPTION].
    clinic_hours: tuple[float, float] = (8.0, 17.0)
    clinic_days: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "quiet_hours", _window("quiet_hours", self.quiet_hours))
        if not isinstance(self.state_quiet_hours, Mapping):
            raise field_error("state_quiet_hours", "a table of state = [start, end]", self.state_quiet_hours, True)
        object.__setattr__(
            self,
            "state_quiet_hours",
            {
                check_str("state_quiet_hours", s, STATE_TIMEZONES): _window(f"state_quiet_hours.{s}", w)
                for s, w in self.state_quiet_hours.items()
            },
        )
        if not isinstance(self.caps, Mapping):
            raise field_error("caps", "a table of channel caps", self.caps, True)
        for ch in self.caps:
            check_str("caps", ch, CHANNELS)
        object.__setattr__(self, "caps", dict(DEFAULT_CAPS) | dict(self.caps))
        object.__setattr__(self, "staffed_hours", _window("staffed_hours", self.staffed_hours))
        object.__setattr__(self, "staffed_days", _weekdays("staffed_days", self.staffed_days))
        object.__setattr__(self, "clinic_hours", _window("clinic_hours", self.clinic_hours))
        object.__setattr__(self, "clinic_days", _weekdays("clinic_days", self.clinic_days))
        check_number("min_gap_minutes", self.min_gap_minutes, low=0, high=MAX_MINUTES)
        check_number("call_text_gap_minutes", self.call_text_gap_minutes, low=0, high=MAX_MINUTES)
        if not isinstance(self.state_attempt_caps, Mapping):
            raise field_error(
                "state_attempt_caps", "a table of state = calls and texts per 24 h", self.state_attempt_caps, True
            )
        object.__setattr__(
            self,
            "state_attempt_caps",
            {
                check_str("state_attempt_caps", s, STATE_TIMEZONES): int(
                    check_number(f"state_attempt_caps.{s}", v, low=1, high=1000, integer=True)
                )
                for s, v in self.state_attempt_caps.items()
            },
        )
        check_str("sensitive_content_action", self.sensitive_content_action, ("replace", "block"))
        check_str("opt_out_scope", self.opt_out_scope, ("channel", "all"))
        check_prob("handoff_failure_rate", self.handoff_failure_rate)
        check_str("handoff_failure_mode", self.handoff_failure_mode, ("drop", "duplicate"))


#: Minutes an agent spends on a call attempt, by outcome [VENDOR, DOMAIN.md "Contact-centre
#: capacity"]: a connected scheduling call 5-10 minutes (8: the 7-minute conversation plus a minute
#: of wrap-up, the engine's staff time without a centre); a voicemail 1-2; no answer under a minute
#: (1: the queue works in whole minutes).
DEFAULT_HANDLE_MINUTES: dict[str, int] = {"connected": 8, "voicemail": 2, "no_answer": 1}
#: Points of the lead score that orders the queue with ``queue = "score"`` (higher first): the
#: simple priority of DOMAIN.md (high intent, referral partner, fresh lead first); a few named
#: points, nothing learned (the seed warns that scoring should stay simple) [ASSUMPTION: the weights].
DEFAULT_SCORE_POINTS: dict[str, int] = {
    "intent.high": 2,
    "intent.medium": 1,
    "audience.referral_partner": 2,
    "new_lead": 2,
}
SCORE_COLUMNS: tuple[str, ...] = ("intent", "source", "service_line", "audience")


@dataclass(frozen=True)
class ContactCenter:
    """The contact centre that places calls: a finite number of agents working one shared queue.

    Without a ``[contact_center]`` table capacity is unlimited (every call starts when the policy
    gate allows it). With one, every call attempt of every arm waits in one queue; an agent takes
    it when free, for ``handle_minutes`` of the call's outcome.
    """

    #: The centre's clock: staffed hours and days are the centre's, not each lead's.
    timezone: str = "America/New_York"
    #: Agents on shift: one number for every staffed hour of ``[policy] staffed_hours`` on
    #: ``staffed_days`` (centre time), or a weekday x hour table (7 rows Monday..Sunday of 24
    #: numbers) whose non-zero cells are the staffed hours.
    agents: Any = 4
    #: Agent minutes per call attempt by outcome (see :data:`DEFAULT_HANDLE_MINUTES`).
    handle_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_HANDLE_MINUTES))
    #: Share of unanswered calls that reach a voicemail [ASSUMPTION].
    voicemail_rate: float = 0.6
    #: Queue order within a round of calls: "fifo" (first requested, first served) or "score"
    #: (higher lead score first, then fifo).
    queue: str = "fifo"
    #: Lead-score points: ``"<column>.<value>" = points`` for intent, source, service_line or
    #: audience, and ``new_lead`` for a call requested within ``new_lead_hours`` of the inquiry.
    score_points: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SCORE_POINTS))
    new_lead_hours: float = 1.0
    #: Inbound phone inquiries ring the centre: answered live when an agent is free, else a
    #: missed call whose callback is the cadence's first call.
    inbound_calls: bool = True

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        tz = check_str("timezone", self.timezone)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise field_error("timezone", "an IANA time zone such as America/New_York", tz) from None
        a = self.agents
        if isinstance(a, (list, tuple)):
            if len(a) != 7 or any(isinstance(r, str) or not isinstance(r, (list, tuple)) or len(r) != 24 for r in a):
                raise field_error("agents", "a number, or 7 rows (Monday..Sunday) of 24 hourly numbers", a, True)
            table = tuple(
                tuple(
                    int(check_number(f"agents[{d}][{h}]", v, low=0, high=100_000, integer=True))
                    for h, v in enumerate(r)
                )
                for d, r in enumerate(a)
            )
            if not any(any(r) for r in table):
                raise field_error("agents", "at least one staffed hour with an agent", "all zero")
            object.__setattr__(self, "agents", table)
        elif isinstance(a, bool) or not isinstance(a, (int, float)):
            raise field_error(
                "agents", "a number of agents (1-100000), or 7 rows (Monday..Sunday) of 24 hourly numbers", a, True
            )
        else:
            object.__setattr__(self, "agents", int(check_number("agents", a, low=1, high=100_000, integer=True)))
        if not isinstance(self.handle_minutes, Mapping):
            raise field_error("handle_minutes", "a table of outcome = minutes", self.handle_minutes, True)
        hm = dict(DEFAULT_HANDLE_MINUTES)
        for k, v in self.handle_minutes.items():
            check_str("handle_minutes", k, tuple(DEFAULT_HANDLE_MINUTES))
            hm[k] = int(check_number(f"handle_minutes.{k}", v, low=1, high=240, integer=True))
        if not hm["no_answer"] <= hm["voicemail"] <= hm["connected"]:
            # a voicemail is an unanswered call plus a message; a message is shorter than a conversation
            raise field_error(
                "handle_minutes",
                "no_answer <= voicemail <= connected minutes (a voicemail is an unanswered call plus a "
                "message, shorter than a conversation)",
                hm,
            )
        object.__setattr__(self, "handle_minutes", hm)
        check_prob("voicemail_rate", self.voicemail_rate)
        check_str("queue", self.queue, ("fifo", "score"))
        if not isinstance(self.score_points, Mapping):
            raise field_error("score_points", 'a table of "column.value" = points', self.score_points, True)
        pts: dict[str, int] = {}
        for k, v in self.score_points.items():
            col = str(k).split(".", 1)[0]
            if k != "new_lead" and (col not in SCORE_COLUMNS or "." not in str(k)):
                raise field_error(
                    "score_points",
                    'keys "intent.<value>", "source.<value>", "service_line.<value>", "audience.<value>" or "new_lead"',
                    k,
                )
            pts[str(k)] = int(check_number(f"score_points.{k}", v, low=-10, high=10, integer=True))
        object.__setattr__(self, "score_points", pts)
        check_number("new_lead_hours", self.new_lead_hours, low=0, high=24 * 30)
        check_bool("inbound_calls", self.inbound_calls)


def _weekdays(key: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise field_error(key, "a non-empty list of weekdays 0-6 (Monday = 0)", value, True)
    for d in value:
        check_number(key, d, low=0, high=6, integer=True)
    return tuple(int(d) for d in value)


def _window(key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or len(value) != 2:
        raise field_error(key, "a [start, end] pair of local hours", value, True)
    a = float(check_number(key, value[0], low=0, high=24))
    b = float(check_number(key, value[1], low=0, high=24))
    if not a < b:
        raise field_error(key, "a window whose start is before its end", list(value))
    return (a, b)


# --------------------------------------------------------------------------------------
# Content and cadences


@dataclass(frozen=True)
class Content:
    """A kind of message. ``relevant_to`` names the segments it speaks to."""

    #: Names a service line or condition: unsafe where others may see it for sensitive lines.
    reveals_condition: bool = False
    #: Education shortens the decision time of a lead it is relevant to.
    education: bool = False
    #: Booking multiplier when engaged (a booking link makes booking easier) [ASSUMPTION].
    booking_multiplier: float = 1.0
    #: Segments it is relevant to, e.g. {coverage = ["self_pay"], audience = ["caregiver"]}.
    relevant_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_bool("reveals_condition", self.reveals_condition)
        check_bool("education", self.education)
        check_number("booking_multiplier", self.booking_multiplier, low=0)
        if not isinstance(self.relevant_to, Mapping):
            raise field_error("relevant_to", "a table of segment column = [values]", self.relevant_to, True)
        object.__setattr__(
            self,
            "relevant_to",
            {
                check_str("relevant_to", k, CONDITION_KEYS): check_str_tuple(f"relevant_to.{k}", v)
                for k, v in self.relevant_to.items()
            },
        )


#: Built-in contents [ASSUMPTION: which segment each speaks to].
DEFAULT_CONTENTS: dict[str, Content] = {
    "confirmation": Content(),
    "education": Content(education=True),
    "provider_bio": Content(
        reveals_condition=True,
        education=True,
        relevant_to={
            "service_line": (
                "orthopedics",
                "cardiology",
                "elective_surgery",
                "dental_implants",
                "specialty_consultation",
            )
        },
    ),
    "coverage_faq": Content(
        reveals_condition=True,
        education=True,
        relevant_to={"coverage": ("self_pay", "medicaid", "marketplace")},
    ),
    "prep_guide": Content(reveals_condition=True, education=True),
    "booking_link": Content(booking_multiplier=1.3),
    "reactivation": Content(booking_multiplier=1.1),
    "reminder": Content(),
    "generic": Content(),
}


#: A cadence step's send-time policies (see :mod:`nurture_lab.simulation.send_time`).
SEND_TIMES: tuple[str, ...] = ("planned", "random", "audience_best", "lead_best", "oracle")


@dataclass(frozen=True)
class Step:
    """One touch of a cadence.

    ``anchor`` says what ``delay_minutes`` counts from: the inquiry, or the previous step's
    send (or, if it was skipped, its planned time). ``window`` is an optional local-hour send
    window. Static conditions (service_line, audience, source, intent, coverage) select leads;
    ``match`` combines them ("all" or "any"). Dynamic conditions are checked at send time.
    """

    channel: str
    content: str
    delay_minutes: float = 0.0
    anchor: str = "previous"
    window: tuple[float, float] | None = None
    owner: str = "contact_center"
    service_line: tuple[str, ...] | None = None
    audience: tuple[str, ...] | None = None
    source: tuple[str, ...] | None = None
    intent: tuple[str, ...] | None = None
    coverage: tuple[str, ...] | None = None
    match: str = "all"
    #: Only if the lead has not engaged yet.
    if_no_response: bool = False
    #: Only if the lead is qualified and has not booked.
    if_qualified: bool = False
    #: When in the lead's local day the step goes out (:data:`SEND_TIMES`; the gate still decides):
    #: "planned" (its delay), "random" (a uniform time in the allowed window), "audience_best",
    #: "lead_best" (learned from the run's earlier engagement), "oracle" (the lead's true preferred hour).
    send_time: str = "planned"

    def __post_init__(self) -> None:
        check_str("channel", self.channel, CHANNELS)
        check_str("send_time", self.send_time, SEND_TIMES)
        check_str("content", self.content)
        check_number("delay_minutes", self.delay_minutes, low=0, high=MAX_MINUTES)
        check_str("anchor", self.anchor, ("inquiry", "previous"))
        if self.window is not None:
            object.__setattr__(self, "window", _window("window", self.window))
        check_str("owner", self.owner)
        for k in CONDITION_KEYS:
            v = getattr(self, k)
            if v is not None:
                object.__setattr__(self, k, check_str_tuple(k, v))
        check_str("match", self.match, ("all", "any"))
        check_bool("if_no_response", self.if_no_response)
        check_bool("if_qualified", self.if_qualified)

    @property
    def conditions(self) -> dict[str, tuple[str, ...]]:
        """The static conditions that are set."""
        return {k: v for k in CONDITION_KEYS if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Reminder:
    """A reminder before a booked visit."""

    channel: str = "sms"
    hours_before: float = 24.0

    def __post_init__(self) -> None:
        check_str("channel", self.channel, CHANNELS)
        # 0 would remind at the visit itself: a reminder comes before the visit
        check_number("hours_before", self.hours_before, low=0, low_open=True, high=MAX_DAYS * 24)


@dataclass(frozen=True)
class Arm:
    """One arm of the experiment: a cadence (no steps = a no-contact holdout)."""

    name: str
    steps: tuple[Step, ...]
    allocation: float = 1.0
    reminder: Reminder | None = None
    holdout: bool = False

    def __post_init__(self) -> None:
        check_str("name", self.name)
        if not self.name.strip():
            raise field_error("name", "a non-empty arm name", self.name)
        check_number("allocation", self.allocation, low=0, low_open=True)
        check_bool("holdout", self.holdout)
        if self.holdout and self.reminder is not None:
            raise field_error(
                "reminder", "no reminder for a holdout arm (holdout = true: no contact at all)", self.reminder
            )
        if not self.steps and not self.holdout:
            raise field_error("steps", "at least one step (or holdout = true for a no-contact arm)", [])
        if self.steps and self.holdout:
            raise field_error("holdout", "false for an arm with steps", self.holdout)


@dataclass(frozen=True)
class Experiment:
    """Arms, the control, and random assignment stratified by service line."""

    arms: tuple[Arm, ...]
    control: str

    def __post_init__(self) -> None:
        names = [a.name for a in self.arms]
        if len(names) < 1:
            raise field_error("arms", "at least one arm", names)
        if self.control not in names:
            raise field_error("control", "the name of an arm: " + ", ".join(names), self.control)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def allocation(self) -> dict[str, float]:
        """Planned share of each arm."""
        total = sum(a.allocation for a in self.arms)
        return {a.name: a.allocation / total for a in self.arms}

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: population, behaviour, policy, contents and experiment."""

    name: str
    population: Population
    experiment: Experiment
    behaviour: Behaviour = field(default_factory=Behaviour)
    policy: Policy = field(default_factory=Policy)
    contents: Mapping[str, Content] = field(default_factory=lambda: dict(DEFAULT_CONTENTS))
    description: str = ""
    #: Outcomes are followed this many days after the inquiry.
    horizon_days: float = 60.0
    #: The contact centre (None: unlimited capacity, every call starts when the gate allows it).
    contact_center: ContactCenter | None = None
    #: How leads are assigned to arms: the planned allocation (default) or an adaptive rule.
    design: Design = field(default_factory=Design)
    path: str = ""
    sha256: str = ""

    def __post_init__(self) -> None:
        check_str("name", self.name)
        check_number("horizon_days", self.horizon_days, low=1, high=MAX_DAYS)
        object.__setattr__(self, "contents", dict(DEFAULT_CONTENTS) | dict(self.contents))
        self._check_segment_values()
        self._check_gaps()
        self._check_clinic_hours()
        n_arms = len(self.experiment.arms)
        if self.design.min_probability is not None and self.design.min_probability * n_arms > 1:
            raise field_error(
                "design.min_probability", f"at most 1 / {n_arms} with {n_arms} arms", self.design.min_probability
            )
        for arm in self.experiment.arms:
            for i, step in enumerate(arm.steps):
                if step.content not in self.contents:
                    raise field_error(
                        f"arms.{arm.name}.steps.{i}.content",
                        "a known content: " + ", ".join(sorted(self.contents)),
                        step.content,
                    )
                for k, v in step.conditions.items():
                    known = self.categories(k)
                    for x in v:
                        if known is not None and x not in known:
                            raise field_error(f"arms.{arm.name}.steps.{i}.{k}", "one of: " + ", ".join(known), x)

        known_aud = self.categories("audience") or ()
        for aud in self.behaviour.preferred_hour_by_audience:
            if aud not in known_aud:
                raise field_error(
                    "behaviour.preferred_hour_by_audience", "audiences among: " + ", ".join(known_aud), aud
                )

    def _check_segment_values(self) -> None:
        """Values named in ``relevant_to`` and in the score points must be values some lead can have."""
        for name, content in self.contents.items():
            if name in DEFAULT_CONTENTS and content.relevant_to == DEFAULT_CONTENTS[name].relevant_to:
                continue  # a built-in's own segments may name lines this population does not have
            for col, values in content.relevant_to.items():
                known = self.categories(col) or ()
                for v in values:
                    if v not in known:
                        raise field_error(f"contents.{name}.relevant_to.{col}", "one of: " + ", ".join(known), v)
        cc = self.contact_center
        for key in () if cc is None else cc.score_points:
            col, _, value = key.partition(".")
            allowed = self.categories(col) if key not in DEFAULT_SCORE_POINTS else None
            if allowed is not None and value not in allowed:
                raise field_error(
                    "contact_center.score_points", f'"{col}.<value>" keys with a value among: {", ".join(allowed)}', key
                )

    def _check_gaps(self) -> None:
        """A spacing rule longer than the horizon would allow one touch per lead: a contradiction."""
        horizon = self.horizon_days * 1440
        expected = f"at most the horizon, {horizon:g} minutes (horizon_days = {self.horizon_days:g})"
        gaps = {"policy.min_gap_minutes": self.policy.min_gap_minutes}
        gaps["policy.call_text_gap_minutes"] = self.policy.call_text_gap_minutes
        gaps |= {f"policy.caps.{ch}.min_gap_minutes": c.min_gap_minutes for ch, c in self.policy.caps.items()}
        for key, gap in gaps.items():
            if gap > horizon:
                raise field_error(key, expected, gap)

    def _check_clinic_hours(self) -> None:
        """Visits in hours when, by the scenario's own behaviour, nobody is awake: a contradiction."""
        (a, b), (wa, wb) = self.policy.clinic_hours, self.behaviour.waking_hours
        if b <= wa or a >= wb:
            raise field_error(
                "policy.clinic_hours",
                f"a window that overlaps the waking hours {wa:g}-{wb:g} ([behaviour] waking_hours)",
                [a, b],
            )

    @property
    def service_lines(self) -> tuple[str, ...]:
        return tuple(self.population.service_lines)

    def categories(self, column: str) -> tuple[str, ...] | None:
        """All values a segment column can take in this population."""
        sls = self.population.service_lines
        if column == "service_line":
            return tuple(sls)
        if column in ("audience", "source", "intent", "coverage"):
            attr = {"audience": "audiences", "source": "sources", "intent": "intents", "coverage": "coverage"}[column]
            seen: dict[str, None] = {}
            for sl in sls.values():
                seen.update(dict.fromkeys(getattr(sl, attr)))
            return tuple(seen)
        return None

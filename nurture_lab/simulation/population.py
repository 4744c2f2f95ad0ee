"""Synthetic lead populations.

``make_leads(population, n_leads, seed)`` returns one row per lead. Arrivals follow a weekday
and local-hour profile (so some inquiries come after hours); every segment column is drawn from
its service line's mix; latent columns carry what the cadence engine needs. Identities come from
Faker, seeded, for display only — no report or log may show them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .. import _random
from ..scenario.model import INTENTS, STATE_TIMEZONES, Behaviour, Population, Scenario
from .calendar import DAY, dst_transitions

__all__ = ["IDENTITY_COLUMNS", "LEAD_COLUMNS", "local_arrival", "make_leads"]

#: Direct identifiers: display only; dropped before any analysis or report.
IDENTITY_COLUMNS: tuple[str, ...] = ("name", "email", "phone")

#: Population columns with their meaning and unit.
LEAD_COLUMNS: dict[str, str] = {
    "lead_id": "int64, unique within a run",
    "created_at": "inquiry time, UTC",
    "state": "US state (two letters)",
    "timezone": "IANA time zone of the state",
    "utc_offset_minutes": "local minus UTC at the inquiry, minutes (used for the whole horizon)",
    "service_line": "service line",
    "audience": "patient, caregiver, referral_partner, employer",
    "source": "where the inquiry came from",
    "intent": "high, medium, low",
    "coverage": "coverage type",
    "age_group": "age band of the patient",
    "consent_email": "may be e-mailed",
    "consent_sms": "gave SMS consent (texts count as calls under the TCPA)",
    "consent_call": "may be called",
    "preferred_channel": "email, sms, call",
    "confidential": "asked for confidential communication (no texts or voicemail)",
    "fit": "fits the service, location, coverage and level of care (latent until qualified)",
    "decision_days": "latent days from inquiry until ready to book",
    "responsiveness": "latent engagement multiplier, mean 1",
    "preferred_hour": "latent local hour at which the lead reads messages",
    "competitor_hazard": "latent daily hazard of booking elsewhere before first contact",
    "competitor_clock": "latent Exp(1) draw: lost when the integrated hazard reaches it",
    "self_book": "latent: books without any follow-up",
    "appointment_lead_days": "latent days from booking to the visit",
    "show_u": "latent uniform deciding attendance",
    "name": "synthetic (Faker), display only",
    "email": "synthetic (Faker), display only",
    "phone": "synthetic (Faker), display only",
}

IDENTITY_POOL = 4096


@lru_cache(maxsize=1)
def _identity_pool() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A fixed, seeded pool of Faker identities; each run's seed picks leads' identities from it.

    Faker is slow per call (~0.1 ms), so the pool is made once per process.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20260105)
    names, emails, phones = [], [], []
    for i in range(IDENTITY_POOL):
        first, last = fake.first_name(), fake.last_name()
        names.append(f"{first} {last}")
        emails.append(f"{first}.{last}{i}@example.org".lower())
        phones.append(f"({fake.random_int(200, 999)}) 555-{fake.random_int(0, 9999):04d}")
    return tuple(names), tuple(emails), tuple(phones)


def _categories(population: Population) -> dict[str, tuple[str, ...]]:
    lines = population.service_lines.values()

    def union(attr: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sl in lines:
            seen.update(dict.fromkeys(getattr(sl, attr)))
        return tuple(seen)

    return {
        "service_line": tuple(population.service_lines),
        "audience": union("audiences"),
        "source": union("sources"),
        "intent": INTENTS,
        "coverage": union("coverage"),
        "state": tuple(population.states),
        "timezone": tuple(sorted(set(STATE_TIMEZONES[s] for s in population.states))),
        "age_group": tuple(population.age_groups),
        "preferred_channel": tuple(population.preferred_channel),
    }


def _draw(rng: np.random.Generator, mix: Mapping[str, float], cats: tuple[str, ...], n: int) -> np.ndarray:
    p = np.array([mix.get(c, 0.0) for c in cats])
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(cats) - 1)


def _offsets(population: Population, tzs: tuple[str, ...]) -> np.ndarray:
    """UTC offset in minutes per (time zone, arrival day + 1), taken at local noon; column 0 is the day before."""
    return _offset_table(population.start_date, population.arrival_days, tuple(tzs))


@lru_cache(maxsize=64)
def _offset_table(start_date: str, arrival_days: int, tzs: tuple[str, ...]) -> np.ndarray:
    """:func:`_offsets`, read-only, cached per process on what it reads: every chunk of a power
    study's replications asks for the same table (about 200 zone look-ups)."""
    start = dt.date.fromisoformat(start_date)
    out = np.zeros((len(tzs), arrival_days + 1), dtype=np.int64)
    for i, tz in enumerate(tzs):
        z = ZoneInfo(tz)
        for d in range(arrival_days + 1):
            noon = dt.datetime.combine(start + dt.timedelta(days=d - 1), dt.time(12), tzinfo=z)
            off = noon.utcoffset()
            out[i, d] = 0 if off is None else int(off.total_seconds() // 60)
    out.setflags(write=False)
    return out


def _chunk(
    population: Population, seed: int, chunk: int, first_id: int, n: int, identities: bool = True
) -> pd.DataFrame:
    rng = _random.stream(seed, chunk, _random.POPULATION)
    cats = _categories(population)
    lines = list(population.service_lines.values())
    sl = _draw(rng, {k: v.share for k, v in population.service_lines.items()}, cats["service_line"], n)
    cols: dict[str, np.ndarray] = {"service_line": sl}
    by_line = [np.flatnonzero(sl == k) for k in range(len(lines))]
    for col, attr in (
        ("audience", "audiences"),
        ("source", "sources"),
        ("intent", "intents"),
        ("coverage", "coverage"),
    ):
        codes = np.zeros(n, dtype=np.int64)
        for line, idx in zip(lines, by_line, strict=True):
            codes[idx] = _draw(rng, getattr(line, attr), cats[col], idx.size)
        cols[col] = codes
    st = _draw(rng, population.states, cats["state"], n)
    cols["state"] = st
    state_tz = np.array([cats["timezone"].index(STATE_TIMEZONES[s]) for s in cats["state"]])
    cols["timezone"] = state_tz[st]
    cols["age_group"] = _draw(rng, population.age_groups, cats["age_group"], n)
    cols["preferred_channel"] = _draw(rng, population.preferred_channel, cats["preferred_channel"], n)

    # Arrivals: a day by weekday weight, a local hour by the line's hour profile, a uniform second.
    start = dt.date.fromisoformat(population.start_date)
    days = np.arange(population.arrival_days)
    wday = np.array([(start + dt.timedelta(days=int(d))).weekday() for d in days])
    wd = np.array(population.weekday_profile)[wday]
    day = np.searchsorted(np.cumsum(wd / wd.sum()), rng.random(n), side="right").clip(0, len(days) - 1)
    hour = np.zeros(n, dtype=np.int64)
    hour_u = rng.random(n)
    for line, idx in zip(lines, by_line, strict=True):
        prof = np.array(line.hour_profile or population.hour_profile)
        hour[idx] = np.searchsorted(np.cumsum(prof / prof.sum()), hour_u[idx], side="right").clip(0, 23)
    second = rng.integers(0, 3600, n)
    epoch_day = (start - dt.date(1970, 1, 1)).days
    local_s = (epoch_day + day) * 86400 + hour * 3600 + second
    # the offset in force at the local time: US zones change at 2:00, so before 2:00 the day before's holds
    table = _offsets(population, cats["timezone"])
    offsets = np.where(hour < 2, table[cols["timezone"], day], table[cols["timezone"], day + 1])
    created_s = local_s - offsets * 60
    # the offset in force at that instant (an inquiry in the spring-forward gap is an hour later locally)
    first = float(epoch_day * DAY - DAY)
    true_off = table[cols["timezone"], day].astype(np.float64)
    since = (epoch_day + day - 1) * DAY + DAY / 2 - true_off  # UTC minute of the day before's local noon
    created_min = created_s / 60.0
    for code, at, delta in dst_transitions(cats["timezone"], first, population.arrival_days + 2):
        true_off += np.where((cols["timezone"] == code) & (since < at) & (at <= created_min), delta, 0.0)
    offsets = true_off.astype(np.int64)

    u = rng.random((n, 8))
    decision = np.zeros(n)
    z = rng.standard_normal(n)
    e_appt = rng.exponential(1.0, n)

    def per_line(value: Callable[[Any], float]) -> np.ndarray:
        """A service line's parameter for each lead."""
        return np.array([value(line) for line in lines], dtype=np.float64)[sl]

    consent = {}
    for j, c in enumerate(("email", "sms", "call")):
        consent[c] = u[:, j] < per_line(lambda x: x.consent[c])  # noqa: B023 (called at once)
    fit = u[:, 3] < per_line(lambda x: x.fit_rate)
    self_book = u[:, 4] < per_line(lambda x: x.self_book_rate)
    appt = per_line(lambda x: x.appointment_lead_days) * e_appt
    for line, idx in zip(lines, by_line, strict=True):
        decision[idx] = np.exp(np.log(line.decision_days_median) + line.decision_days_sigma * z[idx])
    shape = population.responsiveness_shape
    responsiveness = rng.gamma(shape, 1.0 / shape, n)
    preferred_hour = rng.integers(8, 21, n)
    clock = rng.exponential(1.0, n)
    confidential = u[:, 5] < population.confidential_rate
    show_u = u[:, 6]
    ident = rng.integers(0, IDENTITY_POOL, n)

    def cat(col: str) -> pd.Categorical:
        return pd.Categorical.from_codes(cols[col], dtype=_category_type(cats[col]))

    df = pd.DataFrame(
        {
            "lead_id": np.arange(first_id, first_id + n, dtype=np.int64),
            "created_at": pd.to_datetime(created_s, unit="s", utc=True),
            "state": cat("state"),
            "timezone": cat("timezone"),
            "utc_offset_minutes": offsets.astype(np.int16),
            "service_line": cat("service_line"),
            "audience": cat("audience"),
            "source": cat("source"),
            "intent": cat("intent"),
            "coverage": cat("coverage"),
            "age_group": cat("age_group"),
            "consent_email": consent["email"],
            "consent_sms": consent["sms"],
            "consent_call": consent["call"],
            "preferred_channel": cat("preferred_channel"),
            "confidential": confidential,
            "fit": fit,
            "decision_days": decision.astype(np.float32),
            "responsiveness": responsiveness.astype(np.float32),
            "preferred_hour": preferred_hour.astype(np.int8),
            "competitor_hazard": np.zeros(n, dtype=np.float32),  # filled below by intent
            "competitor_clock": clock.astype(np.float32),
            "self_book": self_book,
            "appointment_lead_days": appt.astype(np.float32),
            "show_u": show_u.astype(np.float32),
        }
    )
    if identities:
        for col, (inverse, dtype) in zip(("name", "email", "phone"), _identity_categories(), strict=True):
            df[col] = pd.Categorical.from_codes(inverse[ident], dtype=dtype)
    return df


@lru_cache(maxsize=256)
def _category_type(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical type of a column's categories, made once per process: building it from the
    list checks the categories again for every chunk (a power study builds thousands)."""
    return pd.CategoricalDtype(list(categories))


@lru_cache(maxsize=1)
def _identity_categories() -> tuple[tuple[np.ndarray, pd.CategoricalDtype], ...]:
    """For each identity pool (names, e-mails, phones): each entry's code among the pool's sorted
    distinct values, and that categorical type; made once per process, as the pool."""
    out = []
    for pool in _identity_pool():
        uniq, inverse = np.unique(np.array(pool, dtype=object), return_inverse=True)
        out.append((inverse, pd.CategoricalDtype(list(uniq))))
    return tuple(out)


def _hazards(df: pd.DataFrame, scenario_hazard: dict[str, float]) -> None:
    h = np.array([scenario_hazard[i] for i in df["intent"].cat.categories], dtype=np.float32)
    df["competitor_hazard"] = h[df["intent"].cat.codes.to_numpy()]


def make_leads(
    population: Population | Scenario,
    n_leads: int,
    seed: int = 0,
    *,
    competitor_daily_hazard: dict[str, float] | None = None,
    identities: bool = True,
) -> pd.DataFrame:
    """Make a synthetic lead population.

    Args:
        population: a :class:`Population`, or a :class:`Scenario` (its population and its
            behaviour's competitor hazards and audience preferred hours are used).
        n_leads: number of leads, >= 1.
        seed: the run's seed; leads are made in chunks of ``CHUNK_SIZE`` with spawned streams.
        competitor_daily_hazard: daily hazard by intent (default: the scenario's, or the
            defaults of :class:`Behaviour`).
        identities: add the synthetic ``name, email, phone`` columns (display only).

    Returns:
        One row per lead with the columns of :data:`LEAD_COLUMNS`; repeated strings are categoricals.

    Example:
        >>> import nurture_lab as nl
        >>> sc = nl.load_scenario("simulations/speed_to_lead.toml")  # doctest: +SKIP
        >>> nl.make_leads(sc, n_leads=1000, seed=7).shape  # doctest: +SKIP
        (1000, 28)
    """
    from ..errors import check_param
    from ..scenario.model import Behaviour

    check_param("make_leads", "population", population, kind="instance", types=(Population, Scenario))
    n_leads = check_param("make_leads", "n_leads", n_leads, kind="int", low=1)
    seed = _random.check_seed(seed, "make_leads")
    if isinstance(population, Scenario):
        hazard = dict(population.behaviour.competitor_daily_hazard)
        pop = population.population
    else:
        hazard = dict(Behaviour().competitor_daily_hazard)
        pop = population
    if competitor_daily_hazard is not None:
        hazard = dict(competitor_daily_hazard)
    parts = [_chunk(pop, seed, c, first, n, identities) for c, first, n in _random.chunks(n_leads)]
    if isinstance(population, Scenario) and population.behaviour.preferred_hour_by_audience:
        for (c, _, _), part in zip(_random.chunks(n_leads), parts, strict=True):
            _audience_hours(part, population.behaviour, seed, c)
    df = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    _hazards(df, hazard)
    return df


def make_leads_chunk(
    scenario: Scenario, seed: int, chunk: int, first_id: int, n: int, identities: bool = True
) -> pd.DataFrame:
    """One chunk of :func:`make_leads` (the unit of parallel work)."""
    df = _chunk(scenario.population, seed, chunk, first_id, n, identities)
    _hazards(df, dict(scenario.behaviour.competitor_daily_hazard))
    if scenario.behaviour.preferred_hour_by_audience:
        _audience_hours(df, scenario.behaviour, seed, chunk)
    return df


def _audience_hours(df: pd.DataFrame, beh: Behaviour, seed: int, chunk: int) -> None:
    """``[behaviour] preferred_hour_by_audience``: a listed audience's leads prefer an hour uniform within
    ``preferred_hour_spread`` of the audience's (clipped to 0..23), from their own stream (the other
    columns keep their draws)."""
    rng = _random.stream(seed, chunk, _random.POPULATION, 1)
    spread = int(beh.preferred_hour_spread)
    offset = rng.integers(-spread, spread + 1, len(df))
    centre = df["audience"].map({k: float(v) for k, v in beh.preferred_hour_by_audience.items()}).astype(float)
    own = centre.notna().to_numpy()
    hour = np.clip(centre.to_numpy() + offset, 0, 23)
    df["preferred_hour"] = np.where(own, hour, df["preferred_hour"].to_numpy()).astype(np.int8)


def local_arrival(leads: pd.DataFrame) -> pd.Series:
    """Each lead's inquiry time on its own wall clock (UTC time plus the lead's offset at the inquiry)."""
    return leads["created_at"] + pd.to_timedelta(leads["utc_offset_minutes"].astype(int), unit="min")


def summary(leads: pd.DataFrame, staffed_hours: tuple[float, float] = (8, 18)) -> pd.DataFrame:
    """Headline facts of a population: size, after-hours share, weekend share, consent and fit rates."""
    local = local_arrival(leads)
    hour = local.dt.hour
    rows = {
        "leads": f"{len(leads):,}",
        "after hours (outside staffed hours)": f"{((hour < staffed_hours[0]) | (hour >= staffed_hours[1])).mean():.1%}",
        "weekend": f"{(local.dt.day_of_week >= 5).mean():.1%}",
        "email consent": f"{leads['consent_email'].mean():.1%}",
        "SMS consent": f"{leads['consent_sms'].mean():.1%}",
        "call consent": f"{leads['consent_call'].mean():.1%}",
        "fit the service": f"{leads['fit'].mean():.1%}",
        "high intent": f"{(leads['intent'] == 'high').mean():.1%}",
        "median decision time (days)": f"{leads['decision_days'].median():.1f}",
    }
    return pd.DataFrame({"fact": list(rows), "value": list(rows.values())})

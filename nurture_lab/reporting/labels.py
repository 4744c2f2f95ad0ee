"""Human labels for metrics, arms and service lines, and file-name-safe slugs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = [
    "ASSUMED_EQUAL",
    "METRIC_LABELS",
    "arm_label",
    "metric_label",
    "p_text",
    "slug",
    "split_text",
    "text_label",
    "upper_first",
]

#: The planned split when a report was given none (the sample-ratio check then assumes equal shares).
ASSUMED_EQUAL = "equal shares, assumed: no split was given"


#: Every label names its window: a booking within 30 days and a kept appointment by the end of the
#: follow-up (the days after each inquiry the data cover) are different windows, and say so.
METRIC_LABELS = {
    "booked_30d": "bookings within 30 days",
    "booked_7d": "bookings within 7 days",
    "booked": "bookings within the follow-up",
    "contacted": "leads reached within the follow-up",
    "qualified": "leads qualified within the follow-up",
    "attended": "kept appointments within the follow-up",
    "opted_out": "opt-outs within the follow-up",
    "lost": "leads lost to a competitor within the follow-up",
    "staff_minutes": "staff minutes per lead",
}


def slug(name: str) -> str:
    """A file-name-safe form of a service line's name."""

    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_") or "all"


def metric_label(m: str) -> str:
    return METRIC_LABELS.get(m, m.replace("_", " "))


def arm_label(a: str) -> str:
    return str(a).replace("_", " ")


def text_label(a: object) -> str:
    """An arm, line or file name for report text (Markdown/HTML): human, and escaped — labels come
    from the data, and a CRM export may hold anything, ``<script>`` included."""
    import html

    return html.escape(arm_label(str(a)))


def upper_first(text: str) -> str:
    """Sentence case that keeps a name's own capitals ("Text First arm", not str.capitalize's "Text first arm")."""
    return text[:1].upper() + text[1:]


def split_text(shares: Mapping[str, float], label: Callable[[object], str] = text_label) -> str:
    """A split in words, each arm's share of the whole: "Control 80%, Fast Call 20%"."""
    total = sum(shares.values())
    return ", ".join(f"{label(a)} {v / total:.0%}" for a, v in shares.items())


def p_text(p: float) -> str:
    """A sample-ratio p-value as the reports say it: "p < 0.001" at the check's flag, else three decimals."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

"""The touch log: one row per planned touch, as the engine records it (:func:`log_rows`,
:func:`log_gated` append to an arm's event log; :func:`touch_columns` turns it into columns).

Columns are listed in :data:`TOUCH_COLUMNS` with their meaning; reason codes in
:data:`nurture_lab.simulation.policy.REASONS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..scenario.model import CHANNELS, Arm, Scenario
from .policy import BIT, DEFERRALS, REASONS, GateResult

STATUSES: tuple[str, ...] = ("sent", "skipped", "not_selected")
#: Codes of :data:`STATUSES` in the event log.
SENT, SKIPPED, NOT_SELECTED = 0, 1, 2

__all__ = [
    "NOT_SELECTED",
    "SENT",
    "SKIPPED",
    "TOUCH_COLUMNS",
    "empty_touches",
    "log_gated",
    "log_rows",
    "owner_categories",
    "reason_labels",
    "touch_columns",
    "touch_frame",
    "utc_from_minutes",
]

TOUCH_COLUMNS: dict[str, str] = {
    "lead_id": "the lead",
    "arm": "the lead's arm",
    "step": "index of the step in the arm's cadence (visit reminders: -1; a handoff duplicate has its step's index)",
    "channel": "email, sms, call, chat, retargeting",
    "content": "content sent (generic when sensitive content was replaced)",
    "owner": "owner team of the step",
    "planned_at": "UTC time the cadence planned the touch",
    "sent_at": "UTC time it was sent (NaT: skipped)",
    "status": "sent, skipped (a policy rule stopped it) or not_selected (the step's conditions exclude the lead)",
    "reason": "why skipped (one stop rule), or every rule that deferred it joined by '+' ('' for neither)",
    "deferred_minutes": "sent_at - planned_at, minutes (NaN: skipped)",
    "delivered": "delivered (not bounced)",
    "engaged": "clicked, replied or answered",
    "opted_out": "the lead opted out on this touch",
    "duplicate": "the second send of a failed handoff (handoff_failure_mode = 'duplicate')",
    "queue_minutes": "calls with a contact centre: minutes the call waited for a free agent (NaN: not a call, "
    "no [contact_center], or skipped)",
    "handle_minutes": "calls with a contact centre: agent minutes spent on it (connected, voicemail or no answer)",
}


def owner_categories(sc: Scenario) -> list[str]:
    """All owner teams of a scenario's steps (and 'scheduling', which sends visit reminders)."""
    return sorted({s.owner for a in sc.experiment.arms for s in a.steps} | {"scheduling"})


def utc_from_minutes(base_min: np.ndarray, offset_min: np.ndarray) -> pd.Series:
    """UTC timestamps (ms resolution) from minutes since the epoch plus an offset; NaN -> NaT."""
    ms = np.add(base_min, offset_min, dtype=np.float64)
    ms *= 60_000.0
    nat = np.isnan(ms)
    ms[nat] = 0.0
    np.rint(ms, out=ms)  # to the nearest millisecond, ties to even
    ints = ms.astype(np.int64)
    ints[nat] = np.iinfo(np.int64).min  # NaT
    return pd.Series(pd.DatetimeIndex(ints.view("M8[ms]"), copy=False).tz_localize("UTC"), copy=False)


def touch_frame(
    sc: Scenario,
    lead_id: np.ndarray,
    created_min: np.ndarray,
    arms: Iterable[Arm],
    logs: list[tuple[int, list[dict[str, np.ndarray]]]],
) -> pd.DataFrame:
    """The touch log of one chunk from the engine's event log (see :func:`touch_columns`)."""
    return pd.DataFrame(touch_columns(sc, lead_id, created_min, arms, logs), copy=False)


def touch_columns(
    sc: Scenario,
    lead_id: np.ndarray,
    created_min: np.ndarray,
    arms: Iterable[Arm],
    logs: list[tuple[int, list[dict[str, np.ndarray]]]],
) -> dict[str, Any]:
    """The touch log's columns (name -> array) from the engine's event log: ``logs`` holds
    ``(arm, batches)``, each batch a dict of aligned arrays whose ``lead_idx`` indexes ``lead_id``
    and ``created_min``."""
    arm_names = [a.name for a in arms]
    parts = [(a, d) for a, log in logs for d in log]
    if not parts:
        # the same kinds of array as a chunk with touches (numpy arrays, categoricals, zoned times),
        # so the columns of an empty chunk join those of the others
        return {
            c: v.array if isinstance(v.dtype, pd.api.extensions.ExtensionDtype) else v.to_numpy()
            for c, v in empty_touches(sc, arm_names).items()
        }

    def cat(key: str) -> np.ndarray:
        return np.concatenate([d[key] for _, d in parts])

    def cat_or_nan(key: str) -> np.ndarray:
        if not any(key in d for _, d in parts):
            return np.full(sum(d["lead_idx"].size for _, d in parts), np.nan, dtype=np.float32)
        return np.concatenate(
            [d[key] if key in d else np.full(d["lead_idx"].size, np.nan, dtype=np.float32) for _, d in parts]
        ).astype(np.float32, copy=False)

    idx = cat("lead_idx")
    arm = np.concatenate([np.full(d["lead_idx"].size, a, dtype=np.int8) for a, d in parts])
    base = created_min[idx]
    planned = cat("planned").astype(np.float64, copy=False)
    sent = cat("sent").astype(np.float64, copy=False)
    owners = owner_categories(sc)
    owner_codes = cat("owner")
    codes, labels = reason_labels(cat("skip"), cat("defer"), cat("duplicate"))
    # every reason code is a category (so frames of several runs concatenate); combinations follow
    cats = list(REASONS) + sorted(set(labels) - set(REASONS))
    pos = {c: i for i, c in enumerate(cats)}
    reason = pd.Categorical.from_codes(np.array([pos[lb] for lb in labels], dtype=np.int32)[codes], categories=cats)
    return {
        "lead_id": lead_id[idx],
        "arm": pd.Categorical.from_codes(arm, categories=arm_names),
        "step": cat("step"),
        "channel": pd.Categorical.from_codes(cat("channel"), categories=list(CHANNELS)),
        "content": pd.Categorical.from_codes(cat("content"), categories=list(sc.contents)),
        "owner": pd.Categorical.from_codes(owner_codes, categories=owners),
        "planned_at": utc_from_minutes(base, planned).array,
        "sent_at": utc_from_minutes(base, sent).array,
        "status": pd.Categorical.from_codes(cat("status"), categories=list(STATUSES)),
        "reason": reason,
        "deferred_minutes": (sent - planned).astype(np.float32),
        "delivered": cat("delivered"),
        "engaged": cat("engaged"),
        "opted_out": cat("opted_out"),
        "duplicate": cat("duplicate"),
        "queue_minutes": cat_or_nan("queue"),
        "handle_minutes": cat_or_nan("handle"),
    }


def empty_touches(sc: Scenario, arm_names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series([], dtype=np.int64),
            "arm": pd.Categorical([], categories=arm_names),
            "step": pd.Series([], dtype=np.int16),
            "channel": pd.Categorical([], categories=list(CHANNELS)),
            "content": pd.Categorical([], categories=list(sc.contents)),
            "owner": pd.Categorical([], categories=owner_categories(sc)),
            "planned_at": pd.Series([], dtype="datetime64[ms, UTC]"),
            "sent_at": pd.Series([], dtype="datetime64[ms, UTC]"),
            "status": pd.Categorical([], categories=list(STATUSES)),
            "reason": pd.Categorical([], categories=list(REASONS)),
            "deferred_minutes": pd.Series([], dtype=np.float32),
            "delivered": pd.Series([], dtype=bool),
            "engaged": pd.Series([], dtype=bool),
            "opted_out": pd.Series([], dtype=bool),
            "duplicate": pd.Series([], dtype=bool),
            "queue_minutes": pd.Series([], dtype=np.float32),
            "handle_minutes": pd.Series([], dtype=np.float32),
        }
    )


def log_rows(
    log: list[dict[str, np.ndarray]],
    idx: np.ndarray,
    *,
    step: int,
    ch: int,
    content: np.ndarray | int,
    owner: int,
    planned: np.ndarray,
    sent: np.ndarray | float,
    skip: np.ndarray | int,
    defer: np.ndarray | int,
    status: np.ndarray | int,
    delivered: np.ndarray | bool = False,
    engaged: np.ndarray | bool = False,
    opted_out: np.ndarray | bool = False,
    duplicate: bool = False,
    queue: np.ndarray | None = None,
    handle: np.ndarray | None = None,
) -> None:
    """Append touch-log rows for the chunk positions ``idx`` (arrays are aligned with ``idx``)."""
    k = idx.size
    if k == 0:
        return

    def arr(v: Any, dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=dtype), (k,))

    row = {
        "lead_idx": idx,
        "step": arr(step, np.int16),
        "channel": arr(ch, np.int8),
        "content": arr(content, np.int16),
        "owner": arr(owner, np.int16),
        "planned": arr(planned, np.float64),
        "sent": arr(sent, np.float64),
        "skip": arr(skip, np.int16),
        "defer": arr(defer, np.int32),
        "status": arr(status, np.int8),
        "delivered": arr(delivered, bool),
        "engaged": arr(engaged, bool),
        "opted_out": arr(opted_out, bool),
        "duplicate": arr(duplicate, bool),
    }
    if queue is not None:
        row["queue"] = arr(queue, np.float32)
        row["handle"] = arr(handle, np.float32)
    log.append(row)


def log_gated(
    log: list[dict[str, np.ndarray]],
    rec: np.ndarray,
    at: np.ndarray,
    r: GateResult,
    planned: np.ndarray,
    where: dict[str, int],
    codes: tuple[int, int],
    **outcome: Any,
) -> None:
    """Log a gated batch (chunk positions ``at``) for the recorded leads; ``codes``: (content, generic).

    A skipped call has no queue minutes (it was not placed)."""
    rows = rec[at]
    if "queue" in outcome:
        outcome["queue"] = np.where(r.send, outcome["queue"], np.nan)
    log_rows(
        log,
        at[rows],
        step=where["step"],
        ch=where["ch"],
        content=np.where(r.replaced, codes[1], codes[0])[rows],
        owner=where["owner"],
        planned=planned[rows],
        sent=r.t[rows],
        skip=r.skip[rows],
        defer=r.defer[rows],
        status=np.where(r.send, SENT, SKIPPED)[rows],
        **{key: v[rows] if isinstance(v, np.ndarray) else v for key, v in outcome.items()},
    )


def reason_labels(
    skip: np.ndarray, defer: np.ndarray, duplicate: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """Reason codes and their labels for the touch log: the skip reason, else every deferral joined by '+'."""
    d = defer.astype(np.int64)
    if duplicate is not None:
        d = d | np.where(duplicate, BIT["handoff_duplicate"], 0)
    # one integer key per label: deferral masks below 2**len(DEFERRALS), skip codes above
    top = 1 << len(DEFERRALS)
    key = np.where(skip > 0, top + skip.astype(np.int64), d)
    present = np.flatnonzero(np.bincount(key, minlength=1))
    lookup = np.zeros(present[-1] + 1 if present.size else 1, dtype=np.int64)
    lookup[present] = np.arange(present.size)
    labels = [REASONS[k - top] if k >= top else "+".join(name for name, bit in BIT.items() if k & bit) for k in present]
    return lookup[key], labels

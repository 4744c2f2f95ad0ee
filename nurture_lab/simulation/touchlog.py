"""The touch log: one row per planned touch, as the engine records it (:func:`log_rows`,
:func:`log_gated` append to an arm's event log; :class:`TouchColumns` turns it into columns).

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
from .results import union_categories

STATUSES: tuple[str, ...] = ("sent", "skipped", "not_selected")
#: Codes of :data:`STATUSES` in the event log.
SENT, SKIPPED, NOT_SELECTED = 0, 1, 2

__all__ = [
    "NOT_SELECTED",
    "SENT",
    "SKIPPED",
    "TOUCH_COLUMNS",
    "TouchColumns",
    "empty_touches",
    "log_gated",
    "log_rows",
    "log_size",
    "owner_categories",
    "reason_labels",
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
    ints = np.empty(np.broadcast_shapes(np.shape(base_min), np.shape(offset_min)), dtype=np.int64)
    _utc_ms(base_min, offset_min, ints)
    return _utc(ints)


def _utc_ms(base_min: np.ndarray, offset_min: np.ndarray, out: np.ndarray) -> None:
    """Into ``out`` (int64): milliseconds since the epoch of minutes ``base + offset``, to the nearest
    millisecond (ties to even); NaN -> NaT's integer."""
    ms = np.add(base_min, offset_min, dtype=np.float64)
    ms *= 60_000.0
    nat = np.isnan(ms)
    ms[nat] = 0.0
    np.rint(ms, out=ms)
    out[...] = ms
    out[nat] = np.iinfo(np.int64).min  # NaT


def _utc(ints: np.ndarray) -> pd.Series:
    """UTC timestamps from milliseconds since the epoch (int64; its minimum is NaT)."""
    return pd.Series(pd.DatetimeIndex(ints.view("M8[ms]"), copy=False).tz_localize("UTC"), copy=False)


Logs = list[tuple[int, list[dict[str, np.ndarray]]]]


def touch_frame(
    sc: Scenario,
    lead_id: np.ndarray,
    created_min: np.ndarray,
    arms: Iterable[Arm],
    logs: Logs,
) -> pd.DataFrame:
    """The touch log of one chunk from the engine's event log (see :class:`TouchColumns`)."""
    out = TouchColumns(sc, arms, log_size(logs))
    out.write(lead_id, created_min, logs)
    return out.frame()


def log_size(logs: Logs) -> int:
    """Rows in an event log (``(arm, batches)`` pairs)."""
    return sum(d["lead_idx"].size for _a, log in logs for d in log)


#: Event-log fields copied as they are, by touch-log column.
_COPIED = {
    "step": "step",
    "channel": "channel",
    "content": "content",
    "owner": "owner",
    "status": "status",
    "delivered": "delivered",
    "engaged": "engaged",
    "opted_out": "opted_out",
    "duplicate": "duplicate",
}
#: Event-log fields of calls with a contact centre (NaN where a batch has none), by touch-log column.
_CALLS = {"queue_minutes": "queue", "handle_minutes": "handle"}


class TouchColumns:
    """The touch log's columns, written in place from the engine's event logs chunk by chunk.

    Each batch of a chunk's event log (``(arm, batches)``, each batch a dict of aligned arrays whose
    ``lead_idx`` indexes the chunk's ``lead_id`` and ``created_min``) goes straight to its rows of
    the final columns, so the log is copied once (per-chunk columns joined afterwards would copy it
    twice and hold both). ``rows``: the rows of every chunk to be written (see :func:`log_size`).

    The ``reason`` categories are every reason code then each chunk's combinations of deferrals
    (sorted), as for a single chunk; where chunks' combinations differ, the sorted union
    (:func:`.results.union_categories`, as :func:`.results.concat_cats` joins frames of chunks).
    """

    def __init__(self, sc: Scenario, arms: Iterable[Arm], rows: int) -> None:
        self.sc, self.arm_names, self.rows = sc, [a.name for a in arms], rows
        self.cols: dict[str, np.ndarray] = {}
        self.lo = 0
        self.reasons: list[tuple[int, int, list[str]]] = []  # per chunk: its rows and reason categories

    def _alloc(self, lead_id: np.ndarray, d: dict[str, np.ndarray]) -> None:
        n, e = self.rows, np.empty
        self.cols = {"lead_id": e(n, lead_id.dtype), "arm": e(n, np.int8)}
        self.cols |= {c: e(n, d[k].dtype) for c, k in _COPIED.items()}
        self.cols |= {"planned_at": e(n, np.int64), "sent_at": e(n, np.int64), "reason": e(n, np.int32)}
        self.cols |= {"deferred_minutes": e(n, np.float32)}
        self.cols |= {c: np.full(n, np.nan, dtype=np.float32) for c in _CALLS}

    def write(self, lead_id: np.ndarray, created_min: np.ndarray, logs: Logs) -> None:
        """Write one chunk's event log (its ``lead_id`` and ``created_min`` by chunk position)."""
        chunk_lo = self.lo
        skip, defer, dup = [], [], []
        for a, log in logs:
            for d in log:
                if not self.cols:
                    self._alloc(lead_id, d)
                idx = d["lead_idx"]
                lo, hi = self.lo, self.lo + idx.size
                cols = self.cols
                cols["lead_id"][lo:hi] = lead_id[idx]
                cols["arm"][lo:hi] = a
                for c, k in _COPIED.items():
                    cols[c][lo:hi] = d[k]
                base = created_min[idx]
                planned = d["planned"].astype(np.float64, copy=False)
                sent = d["sent"].astype(np.float64, copy=False)
                _utc_ms(base, planned, cols["planned_at"][lo:hi])
                _utc_ms(base, sent, cols["sent_at"][lo:hi])
                cols["deferred_minutes"][lo:hi] = sent - planned
                for c, k in _CALLS.items():
                    if k in d:
                        cols[c][lo:hi] = d[k]
                skip.append(d["skip"])
                defer.append(d["defer"])
                dup.append(d["duplicate"])
                self.lo = hi
        if self.lo == chunk_lo:
            self.reasons.append((chunk_lo, chunk_lo, list(REASONS)))
            return
        codes, labels = reason_labels(np.concatenate(skip), np.concatenate(defer), np.concatenate(dup))
        # every reason code is a category (so frames of several runs concatenate); combinations follow
        cats = list(REASONS) + sorted(set(labels) - set(REASONS))
        pos = {c: i for i, c in enumerate(cats)}
        self.cols["reason"][chunk_lo : self.lo] = np.array([pos[lb] for lb in labels], dtype=np.int32)[codes]
        self.reasons.append((chunk_lo, self.lo, cats))

    def frame(self) -> pd.DataFrame:
        """The touch log (the columns are let go into it)."""
        assert self.lo == self.rows, "rows written differ from the rows announced"
        if not self.rows:
            return empty_touches(self.sc, self.arm_names)
        cols, cat = self.cols, pd.Categorical.from_codes
        reason_cats = union_categories([pd.Index(c) for _lo, _hi, c in self.reasons])
        for lo, hi, c in self.reasons:  # a chunk whose categories are not the union's: recoded to it
            if not reason_cats.equals(pd.Index(c)):
                cols["reason"][lo:hi] = reason_cats.get_indexer(c)[cols["reason"][lo:hi]]
        out = {
            "lead_id": cols.pop("lead_id"),
            "arm": cat(cols.pop("arm"), categories=self.arm_names),
            "step": cols.pop("step"),
            "channel": cat(cols.pop("channel"), categories=list(CHANNELS)),
            "content": cat(cols.pop("content"), categories=list(self.sc.contents)),
            "owner": cat(cols.pop("owner"), categories=owner_categories(self.sc)),
            "planned_at": _utc(cols.pop("planned_at")).array,
            "sent_at": _utc(cols.pop("sent_at")).array,
            "status": cat(cols.pop("status"), categories=list(STATUSES)),
            "reason": cat(cols.pop("reason"), categories=reason_cats),
        }
        out |= {c: cols.pop(c) for c in ("deferred_minutes", "delivered", "engaged", "opted_out", "duplicate")}
        out |= {c: cols.pop(c) for c in _CALLS}
        return pd.DataFrame(out, copy=False)


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

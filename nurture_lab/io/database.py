"""Leads from a database table (issue 22): only the mapped columns leave the database, as text.

:func:`read_lead_rows` is the database half of :func:`nurture_lab.read_leads`: it opens the table
(an Ibis table, or a ``duckdb:///…`` / ``postgres://…`` URL and a table name), checks that every
mapped column exists, counts missing required values in SQL, selects the canonical columns only
(identifier columns are never selected), ordered by ``lead_id``, and returns them as the text a CSV
export of the same rows would hold, so the file import's checks and derivations run unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["read_lead_rows"]


def _safe_url(url: str) -> str:
    """The URL without its password (messages and reports never show it)."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", str(url))


def _open(source: Any, table: str | None) -> tuple[Any, str]:
    """The Ibis table and its label for messages: ``table 'leads' of duckdb:///w.db``."""
    if not isinstance(source, str):
        name = source.get_name() if hasattr(source, "get_name") else "the table"
        if table is not None:
            raise DataError(f"table={table!r} names a table of a database URL; an Ibis table was given.")
        return source, f"table '{name}'"
    from .warehouse import open_table

    if not table:
        from .warehouse import connect

        names = ", ".join(connect(source).list_tables())
        raise DataError(
            f"Name the table of {_safe_url(source)} to read (table='leads', CLI --table NAME); it has: {names}."
        )
    return open_table(source, table), f"table '{table}' of {_safe_url(source)}"


def _as_text(col: pd.Series) -> pd.Series:
    """A column as the text a CSV export holds: ISO times (with the offset when the type has a zone),
    true/false, numbers as written; missing values stay missing."""
    missing = col.isna()
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        text = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    elif pd.api.types.is_datetime64_any_dtype(col):
        text = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    elif pd.api.types.is_bool_dtype(col):
        text = col.map({True: "true", False: "false"})
    else:
        text = col.astype(object).astype(str)
    return text.astype(object).where(~missing, np.nan)  # missing as a CSV read gives it


def read_lead_rows(
    source: Any, table: str | None, cmap: Mapping[str, str], where: str, on_error: str
) -> tuple[str, pd.DataFrame, list[str]]:
    """``(label, rows as text with canonical names, identifier columns not read)`` of a leads table.

    Raises:
        DataError: no table named, a missing table or mapped column (naming the table and its
            columns), or (``on_error="raise"``) required values missing in the table, counted in SQL.
    """
    from .crm import LEAD_COLUMNS, LEAD_REQUIRED, _did_you_mean, identifier_columns

    t, label = _open(source, table)
    columns = [str(c) for c in t.columns]
    for key, col in cmap.items():
        if col not in columns:
            raise DataError(
                f"'{key}' in [columns] of {where} maps to column '{col}', which {label} does not have"
                f"{_did_you_mean(col, columns)}; its columns: {', '.join(columns)}."
            )
    named = {**{c: c for c in LEAD_COLUMNS if c in columns and c not in cmap.values()}, **dict(cmap)}
    ids = [c for c in identifier_columns(pd.DataFrame(columns=columns)) if c not in named.values()]
    missing = [c for c in LEAD_REQUIRED if c not in named]
    if missing:
        raise DataError(
            f"{label} lacks required column(s) {missing}; its columns: {', '.join(columns)}. "
            "Map the table's names with mapping={'lead_id': 'Lead ID', ...} or a [columns] table."
        )
    if on_error == "raise":
        _missing_required(t, named, label)
    rows = t.select(**{k: t[v] for k, v in named.items()}).order_by(t[named["lead_id"]]).to_pandas()
    raw = pd.DataFrame({c: _as_text(rows[c]) for c in rows.columns})
    ids += [c for c in identifier_columns(raw) if c not in LEAD_REQUIRED]
    raw.attrs["database"] = True
    return label, raw, ids


def _missing_required(t: Any, named: Mapping[str, str], label: str) -> None:
    """Count the rows without each required value in the database; refuse them with column and count."""
    from .crm import LEAD_REQUIRED

    counts = t.aggregate(n=t.count(), **{c: t[named[c]].isnull().sum() for c in LEAD_REQUIRED}).to_pandas()
    bad = {c: int(counts[c].iloc[0] or 0) for c in LEAD_REQUIRED}
    if any(bad.values()):
        per_column = ", ".join(f"{c}: {n:,}" for c, n in bad.items() if n)
        raise DataError(
            f"{label}: required values are missing (rows by column, counted in the database — {per_column}) "
            f"of {int(counts['n'].iloc[0]):,} rows; expected a value in every row. Fix the table, or drop and "
            "list these rows: on_error='drop' (CLI --on-error drop)."
        )

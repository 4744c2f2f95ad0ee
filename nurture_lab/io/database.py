"""Leads from a database table (issue 22): only the mapped columns leave the database, as text.

The database half of :func:`nurture_lab.read_leads`: open the table (an Ibis table, or a
``duckdb:///…`` / ``postgres://…`` URL and a table name), count missing required values in SQL,
and select the canonical columns only (identifier columns are never selected), ordered by
``lead_id``, as the text a CSV export of the same rows would hold, so the file import's checks and
derivations run unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .warehouse import safe_url

__all__ = ["fetch_text", "missing_required", "open_table"]


def open_table(source: Any, table: str | None) -> tuple[Any, str]:
    """The Ibis table and its label for messages: ``table 'leads' of duckdb:///w.db``."""
    if not isinstance(source, str):
        name = source.get_name() if hasattr(source, "get_name") else "the table"
        if table is not None:
            raise DataError(f"table={table!r} names a table of a database URL; an Ibis table was given.")
        return source, f"table '{name}'"
    from .warehouse import open_table as open_named

    if not table:
        from .warehouse import connect

        names = ", ".join(connect(source).list_tables())
        raise DataError(
            f"Name the table of {safe_url(source)} to read (table='leads', CLI --table NAME); it has: {names}."
        )
    return open_named(source, table), f"table '{table}' of {safe_url(source)}"


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


def fetch_text(t: Any, named: Mapping[str, str], order_by: str) -> pd.DataFrame:
    """Only the ``named`` columns (canonical name -> the table's name), ordered by ``order_by``, as text."""
    rows = t.select(**{k: t[v] for k, v in named.items()}).order_by(t[named[order_by]]).to_pandas()
    raw = pd.DataFrame({c: _as_text(rows[c]) for c in rows.columns})
    raw.attrs["database"] = True  # problems are numbered by row, not by line
    return raw


def missing_required(t: Any, named: Mapping[str, str], required: tuple[str, ...], label: str) -> None:
    """Count the rows without each required value in the database; refuse them with column and count."""
    counts = t.aggregate(n=t.count(), **{c: t[named[c]].isnull().sum() for c in required}).to_pandas()
    bad = {c: int(counts[c].iloc[0] or 0) for c in required}
    if any(bad.values()):
        per_column = ", ".join(f"{c}: {n:,}" for c, n in bad.items() if n)
        raise DataError(
            f"{label}: required values are missing (rows by column, counted in the database — {per_column}) "
            f"of {int(counts['n'].iloc[0]):,} rows; expected a value in every row. Fix the table, or drop and "
            "list these rows: on_error='drop' (CLI --on-error drop)."
        )

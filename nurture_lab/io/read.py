"""Reading a per-unit table (CSV, gzip CSV or Parquet) with clear, located errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from ..errors import DataError

__all__ = ["read_table"]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet (``.parquet``, ``.pq``) file.

    Raises:
        DataError: the file is missing, empty, not UTF-8, or cannot be parsed (with its line).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Data file not found: {p} (expected a CSV or Parquet file).")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        try:
            return pd.read_parquet(p)
        except Exception as e:  # pyarrow raises several types
            raise DataError(f"{p} is not a readable Parquet file: {e}") from None
    if p.stat().st_size == 0:
        raise DataError(f"{p} is empty: expected a header row and one row per unit.")
    try:
        df = pd.read_csv(p, low_memory=False)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{p} is not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r}); re-export it as UTF-8."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{p} is empty: expected a header row and one row per unit.") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{p} could not be parsed as CSV: {e}") from None
    if df.shape[1] == 1 and len(df) and _looks_delimited(p):
        raise DataError(
            f"{p} has a single column {df.columns[0]!r}: the delimiter looks like ';' or a tab, not ','. "
            "Re-export with commas."
        )
    return df


def _looks_delimited(p: Path) -> bool:
    import gzip

    opener = gzip.open if p.name.lower().endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8", errors="replace") as f:  # type: ignore[operator]
        head = f.readline()
    try:
        return csv.Sniffer().sniff(head, delimiters=";\t|").delimiter in ";\t|"
    except csv.Error:
        return False

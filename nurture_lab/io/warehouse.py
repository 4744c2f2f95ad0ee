"""Connecting to where the data live: an Ibis backend by URL (DuckDB files by default, no server).

``nl.connect("duckdb:///warehouse.db")`` opens an embedded DuckDB file; any other Ibis URL
(``postgres://user:pass@host/db``) opens that backend when its driver is installed.
``connect(url).table("leads")`` is a table that :func:`nurture_lab.analyze` reduces in the database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import DataError

__all__ = ["connect", "is_url", "open_table", "safe_url"]


def safe_url(url: str) -> str:
    """The URL without its password (messages and reports never show it)."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", str(url))


def is_url(text: str) -> bool:
    """Whether a DATA argument names a database (``scheme://...``) rather than a file."""
    return "://" in str(text)


def connect(url: str) -> Any:
    """An Ibis connection for ``url``: ``duckdb:///path.db`` (an existing file; read only) or any Ibis URL.

    Raises:
        DataError: a DuckDB file that does not exist, or a URL no installed backend can open.
    """
    try:
        import ibis
    except ImportError:  # pragma: no cover - ibis comes with the dev extra
        raise DataError(
            "Database URLs need Ibis: pip install 'nurture-lab[warehouse]' (DuckDB) or 'nurture-lab[postgres]'."
        ) from None
    scheme, _, rest = str(url).partition("://")
    if scheme == "duckdb":
        path = duckdb_path(rest)
        if not path.is_file():
            raise DataError(
                f"DuckDB file not found: {path} (from {url}); expected duckdb:///file.db (a path from the working "
                "folder) or duckdb:////absolute/path/file.db."
            )
        return ibis.duckdb.connect(str(path), read_only=True)
    try:
        return ibis.connect(str(url))
    except Exception as e:  # each backend raises its own kinds
        raise DataError(f"Cannot connect to {scheme}://…: {type(e).__name__}: {e}") from None


def duckdb_path(rest: str) -> Path:
    """The file of a ``duckdb://`` URL's rest, read as SQLAlchemy reads ``sqlite:`` URLs (and as the
    README writes them): ``duckdb:///w.db`` is ``w.db`` from the working folder, ``duckdb:////data/w.db``
    the absolute ``/data/w.db``. A three-slash absolute path (Ibis' own spelling, ``duckdb:///data/w.db``)
    is taken when no such file exists from the working folder and the absolute one does."""
    path = Path(rest[1:] if rest.startswith("/") else rest)
    if not path.is_file() and rest.startswith("/") and Path(rest).is_file():
        return Path(rest)
    return path


def open_table(url: str, table: str | None) -> Any:
    """The table ``table`` of the database at ``url``, refused with the tables it has when missing."""
    con = connect(url)
    names = list(con.list_tables())
    if not table:
        raise DataError(f"Name the table of {safe_url(url)} to analyse (CLI --table NAME); it has: {', '.join(names)}.")
    if table not in names:
        raise DataError(f"Table '{table}' not found in {safe_url(url)}; its tables: {', '.join(names)}.")
    return con.table(table)

"""The one result protocol every result object follows (tea-tasting's result containers are the model).

A result holds one tidy table — one row per comparison, arm, check or finding — plus the
settings that made it. Every result offers the same five faces:

- ``to_pandas()``: the tidy table as a DataFrame (a copy);
- ``to_dicts()``: the same rows as plain Python dicts (NaN -> None, numpy scalars -> Python);
- ``to_json()``: one JSON object ``{"results": [...], <extras>}``;
- ``repr()``: a short head line and the table as text;
- ``_repr_html_()``: the same for notebooks.

The same thing has the same column name everywhere: ``diff``, ``diff_ci_low``, ``diff_ci_high``,
``p_value``, ``p_adjusted``, ``n_arm``, ``n_control``, ``control_value``, ``arm_value``.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

__all__ = ["ResultMixin", "plain"]


def plain(v: Any) -> Any:
    """A JSON-ready copy of ``v``: numpy scalars to Python, NaN and NA to None, keys to str."""
    import numpy as np
    import pandas as pd

    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.isoformat()
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v


class ResultMixin:
    """Mixin for result objects. A subclass implements ``_table()`` and may set the class attributes below."""

    #: Attribute names added beside ``"results"`` in :meth:`to_json`.
    _json_extras: tuple[str, ...] = ("settings",)
    #: How many rows ``repr`` prints before it says how many more there are.
    _repr_rows: int = 20

    def _table(self) -> Any:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _head(self) -> str:
        """The first line of ``repr``: the class name and what the table holds."""
        return f"{type(self).__name__}({len(self._table())} rows)"

    def _display(self) -> Any:
        """The table shown by ``repr`` and in notebooks (default: the tidy table)."""
        return self._table()

    def to_pandas(self) -> Any:
        """The tidy table as a pandas DataFrame (a copy)."""
        return self._table().copy()

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows of the tidy table as plain dicts (JSON-ready)."""
        return [{str(k): plain(v) for k, v in r.items()} for r in self._table().to_dict(orient="records")]

    def to_json(self, indent: int | None = 2) -> str:
        """One JSON object: ``{"results": [...]}`` plus the result's extras (settings, ...)."""
        obj: dict[str, Any] = {"results": self.to_dicts()}
        for name in self._json_extras:
            obj[name] = plain(getattr(self, name))
        return json.dumps(obj, indent=indent, allow_nan=True)

    def __repr__(self) -> str:
        table = self._display()
        text = table.head(self._repr_rows).to_string(index=False) if len(table) else "(no rows)"
        more = f"\n... {len(table) - self._repr_rows} more rows" if len(table) > self._repr_rows else ""
        return f"{self._head()}\n{text}{more}"

    def _repr_html_(self) -> str:
        table = self._display()
        return f"<p>{html.escape(self._head())}</p>" + table.to_html(index=False, escape=True, na_rep="–")
